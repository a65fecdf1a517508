"""Rules that span gates and experiments, enforced through gates.hooks."""

import pytest

from console.exceptions import Conflict
from experiments import services as experiment_services
from gates import services as gate_services
from gates.models import DynamicConfig, FeatureGate, Segment
from tests.experiments.factories import experiment_document, holdout_document
from tests.gates.factories import condition, config_document, gate_document, rule, segment_document


def test_gate_archive__targeted_by_an_experiment__refused(project, project_admin):
    # Given
    gate = gate_services.gate_create(
        actor=project_admin, project=project, document=gate_document("beta_users")
    )
    experiment_services.experiment_create(
        actor=project_admin,
        project=project,
        document=experiment_document(targetingGateID="beta_users"),
    )
    # When / Then
    with pytest.raises(Conflict) as exc:
        gate_services.gate_archive(actor=project_admin, gate=gate)
    assert exc.value.code == "in_use"
    assert "experiment checkout_button" in exc.value.message
    assert FeatureGate.objects.get(pk=gate.pk).archived_at is None


def test_segment_archive__in_an_experiment_override__refused(project, project_admin):
    # Given
    segment = gate_services.segment_create(
        actor=project_admin,
        project=project,
        document=segment_document(
            "staff", rules=[rule(conditions=[condition("email", "str_ends_with_any", ["@corp"])])]
        ),
    )
    document = experiment_document()
    document["overrides"] = [{"group": "Test", "unitIDs": [], "segments": ["staff"]}]
    experiment_services.experiment_create(actor=project_admin, project=project, document=document)
    # When / Then
    with pytest.raises(Conflict):
        gate_services.segment_archive(actor=project_admin, segment=segment)
    assert Segment.objects.get(pk=segment.pk).archived_at is None


def test_dynamic_config_create__name_of_an_experiment__conflict(project, project_admin):
    # Given
    experiment_services.experiment_create(
        actor=project_admin, project=project, document=experiment_document("pricing")
    )
    # When / Then
    with pytest.raises(Conflict) as exc:
        gate_services.dynamic_config_create(
            actor=project_admin, project=project, document=config_document("Pricing")
        )
    assert exc.value.code == "duplicate"
    assert not DynamicConfig.objects.exists()


def test_gate_create__name_of_a_holdout__conflict(project, project_admin):
    # Given
    experiment_services.holdout_create(
        actor=project_admin, project=project, document=holdout_document("q3_holdout")
    )
    # When / Then
    with pytest.raises(Conflict):
        gate_services.gate_create(
            actor=project_admin, project=project, document=gate_document("q3_holdout")
        )
    assert not FeatureGate.objects.filter(name="q3_holdout").exists()
