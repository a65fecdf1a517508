"""The change set lifecycle through the services: submit, approve, apply, stale, rebase."""

import pytest

from console.exceptions import Conflict, NotAllowed
from console.models import ConfigSpec, RulesetVersion
from gates.documents import gate_to_document
from gates.models import FeatureGate
from reviews.models import ChangeSetState
from reviews.services import (
    ChangeInput,
    changeset_apply,
    changeset_approve,
    changeset_rebase,
)
from tests.gates.factories import rule
from tests.reviews.conftest import create_gate, submit, update_gate

pytestmark = pytest.mark.django_db


def test_a_production_change_waits_for_review_and_nothing_changes(project, project_member):
    change_set = submit(project_member, project, create_gate())
    assert change_set.state == ChangeSetState.IN_REVIEW
    assert change_set.environments == ["development", "staging", "production"]
    assert not FeatureGate.objects.filter(project=project).exists()
    assert not RulesetVersion.objects.filter(project=project).exists()


def test_approval_applies_and_publishes_a_version(project, project_member, project_admin):
    change_set = submit(project_member, project, create_gate())
    change_set = changeset_approve(actor=project_admin, change_set=change_set)
    assert change_set.state == ChangeSetState.APPLIED
    gate = FeatureGate.objects.get(project=project, name="new_checkout")
    assert change_set.changes.get().entity_id == gate.pk
    version = change_set.ruleset_version
    assert version.number == 1
    assert ConfigSpec.objects.filter(ruleset_version=version).count() == 3
    assert (
        "new_checkout"
        in ConfigSpec.objects.get(ruleset_version=version, environment__name="production").v1_json
    )


def test_the_author_cannot_approve(project, project_member):
    change_set = submit(project_member, project, create_gate())
    with pytest.raises(NotAllowed):
        changeset_approve(actor=project_member, change_set=change_set)


def test_development_only_rule_needs_no_review(project, live_gate, project_member):
    document = gate_to_document(live_gate)
    document["rules"].append(rule("Devs", environments=["development"]))
    change_set = submit(
        project_member, project, ChangeInput("gate", "update", "new_checkout", document)
    )
    assert change_set.environments == ["development"]
    assert change_set.state == ChangeSetState.APPLIED


def test_second_change_set_on_the_same_gate_becomes_stale_and_rebases(
    project, live_gate, project_member, reviewer, project_admin
):
    first = submit(project_member, project, update_gate("new_checkout", isEnabled=False))
    second = submit(reviewer, project, update_gate("new_checkout", description="Better words"))
    changeset_approve(actor=project_admin, change_set=first)
    second.refresh_from_db()
    assert second.state == ChangeSetState.STALE
    with pytest.raises(Conflict) as exc:
        changeset_apply(actor=project_admin, change_set=second)
    assert exc.value.code == "stale"
    rebased = changeset_rebase(actor=reviewer, change_set=second)
    assert rebased.state == ChangeSetState.IN_REVIEW
    change = rebased.changes.get()
    assert change.payload["isEnabled"] is False  # theirs kept
    assert change.payload["description"] == "Better words"  # mine kept
    changeset_approve(actor=project_admin, change_set=rebased)
    gate = FeatureGate.objects.get(pk=live_gate.pk)
    assert (gate.is_enabled, gate.description) == (False, "Better words")


def test_impact_preview_counts_the_users_a_rollout_moves(project, live_gate, project_member):
    from reviews.impact import impact_preview

    document = gate_to_document(live_gate)
    document["rules"][0]["passPercentage"] = 60  # 10% -> 60%
    change_set = submit(
        project_member, project, ChangeInput("gate", "update", "new_checkout", document)
    )
    impact = impact_preview(change_set, sample_size=4000)
    assert impact.error is None
    # The same rule everywhere: one item for the three environments
    [item] = impact.entities
    assert item.environments == ["development", "staging", "production"]
    share = item.changed / 4000
    assert 0.46 < share < 0.54  # about half the users move from fail to pass
    assert all(e["before"] is False and e["after"] is True for e in item.examples)
