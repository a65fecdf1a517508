import copy
import uuid

import pytest
from django.utils import timezone

from console.exceptions import Conflict, DomainError, NotAllowed
from console.models import AuditEvent
from experiments import services
from experiments.documents import experiment_to_document, validate_experiment_document
from experiments.models import Experiment, ExperimentStatus, LayerBucket, lifecycle_steps
from gates import services as gate_services
from gates.models import FeatureGate
from tests.experiments.factories import (
    experiment_document,
    group,
    layer_document,
    parameter,
)
from tests.gates.factories import condition, config_document, gate_document, segment_document


def _state(project):
    """Everything a refused write must leave unchanged."""
    return (
        list(Experiment.objects.filter(project=project).order_by("pk").values()),
        list(LayerBucket.objects.order_by("pk").values()),
        list(Experiment.tags.through.objects.order_by("pk").values()),
        AuditEvent.objects.count(),
    )


def _events(action_prefix="experiment."):
    return list(AuditEvent.objects.filter(action__startswith=action_prefix).order_by("pk"))


@pytest.fixture
def beta_gate(project, project_admin):
    return gate_services.gate_create(
        actor=project_admin, project=project, document=gate_document("beta")
    )


@pytest.fixture
def layer(project, project_admin):
    return services.layer_create(actor=project_admin, project=project, document=layer_document())


def _create(project, actor, **fields):
    return services.experiment_create(
        actor=actor, project=project, document=experiment_document(**fields)
    )


def _layered(name, allocation, **fields):
    fields.setdefault("parameters", [{"name": "color", "type": "string"}])
    return experiment_document(name, layerID="checkout_layer", allocation=allocation, **fields)


# ---------------------------------------------------------------- create


def test_experiment_create__member_with_full_document__saved_and_audited_once(
    project, project_member, beta_gate
):
    # Given
    gate_services.segment_create(
        actor=project_member, project=project, document=segment_document("staff")
    )
    document = experiment_document(
        tags=["core"],
        allocation=40.5,
        targetingGateID="BETA",
        parameters=[
            parameter(),
            parameter("discount", "number", 0),
            parameter("express", "boolean", False),
            parameter("banner", "object", {"text": "hi"}),
        ],
        groups=[
            group("Control", 33.33, {"color": "grey"}),
            group("Blue", 33.33, {"color": "blue", "discount": 2.5}),
            group("Green", 33.34, {"color": "green", "express": True, "banner": {}}),
        ],
        overrides=[{"group": "blue", "unitIDs": ["u1", 7], "segments": ["Staff"]}],
    )
    # When
    experiment = services.experiment_create(
        actor=project_member, project=project, document=document
    )
    # Then
    experiment.refresh_from_db()
    assert uuid.UUID(experiment.salt)
    assert uuid.UUID(experiment.layer_salt)
    assert (experiment.status, experiment.revision) == (ExperimentStatus.DRAFT, 1)
    assert experiment.owner == project_member
    assert experiment.targeting_gate == beta_gate
    doc = experiment_to_document(experiment)
    assert doc["allocation"] == 40.5
    assert doc["targetingGateID"] == "beta"
    assert [g["size"] for g in doc["groups"]] == [33.33, 33.33, 33.34]
    assert len({g["id"] for g in doc["groups"]}) == 3
    assert doc["groups"][1]["parameterValues"] == {
        "color": "blue",
        "discount": 2.5,
        "express": False,
        "banner": {"text": "hi"},
    }
    assert doc["overrides"] == [{"group": "Blue", "unitIDs": ["u1", "7"], "segments": ["staff"]}]
    assert doc["tags"] == ["core"]
    assert doc["owner"] == project_member.email
    assert doc["launchedGroupID"] is None
    [event] = _events()
    assert (event.action, event.actor, event.project) == (
        "experiment.created",
        project_member,
        project,
    )
    assert event.after == doc


def test_experiment_create__document_round_trips__validating_its_own_document_changes_nothing(
    project, project_admin, layer
):
    # Given
    experiment = services.experiment_create(
        actor=project_admin, project=project, document=_layered("in_layer", 30)
    )
    document = experiment_to_document(experiment)
    # When
    cleaned = validate_experiment_document(project, document, existing=experiment)
    # Then
    assert cleaned == document
    assert document["parameters"][0]["defaultValue"] == "grey"  # the layer's


@pytest.mark.parametrize("role_fixture", ["project_viewer", "outsider"])
def test_experiment_create__viewer_or_outsider__refused_and_nothing_saved(
    project, role_fixture, request
):
    # Given
    actor = request.getfixturevalue(role_fixture)
    before = _state(project)
    # When / Then
    with pytest.raises(NotAllowed):
        _create(project, actor)
    assert _state(project) == before


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        (
            {"groups": [group("A", 50), group("B", 40)]},
            "group_sizes",
            "groups",
        ),
        (
            {"groups": [group("A", 50, {"color": 3}), group("B", 50)]},
            "wrong_type",
            "groups[0].parameterValues.color",
        ),
        (
            {"parameters": [parameter("discount", "number", "ten")]},
            "wrong_type",
            "parameters[0].defaultValue",
        ),
        (
            {"groups": [group("A", 50, {"colour": "x"}), group("B", 50)]},
            "unknown_parameter",
            "groups[0].parameterValues.colour",
        ),
        ({"targetingGateID": "no_such_gate"}, "unknown_gate", "targetingGateID"),
        (
            {"targetingConditions": [condition("passes_gate", None, "nope")]},
            "unknown_gate",
            "targetingConditions[0].targetValue",
        ),
        (
            {"targetingConditions": [condition("country", "between", ["US"])]},
            "operator_not_allowed",
            "targetingConditions[0].operator",
        ),
        ({"allocation": 40.25}, "percentage_precision", "allocation"),
        ({"allocation": 101}, "percentage_out_of_range", "allocation"),
        ({"groups": []}, "no_groups", "groups"),
        ({"groups": [group("A", 50), group("a", 50)]}, "duplicate", "groups[1].name"),
        (
            {"groups": [group("A", 50.001), group("B", 49.999)]},
            "percentage_precision",
            "groups[0].size",
        ),
        ({"name": "bad name!"}, "invalid_name", "name"),
        ({"idType": "deviceID"}, "unknown_unit_type", "idType"),
        ({"layerID": "no_such_layer"}, "unknown_layer", "layerID"),
        ({"status": "running"}, "status_read_only", "status"),
        ({"tags": ["nope"]}, "unknown_tag", "tags[0]"),
        (
            {
                "overrides": [
                    {"group": "Control", "unitIDs": ["u1"], "segments": []},
                    {"group": "Test", "unitIDs": ["u1"], "segments": []},
                ]
            },
            "conflicting_override",
            "overrides[1].unitIDs[0]",
        ),
        (
            {"overrides": [{"group": "Nobody", "unitIDs": ["u1"], "segments": []}]},
            "unknown_group",
            "overrides[0].group",
        ),
        (
            {"overrides": [{"group": "Test", "unitIDs": [], "segments": ["ghosts"]}]},
            "unknown_segment",
            "overrides[0].segments[0]",
        ),
    ],
)
def test_experiment_create__bad_input__domain_error_and_nothing_saved(
    project, project_admin, fields, code, field
):
    # Given
    before = _state(project)
    # When
    with pytest.raises(DomainError) as exc:
        _create(project, project_admin, **fields)
    # Then
    assert (exc.value.code, exc.value.field) == (code, field)
    assert exc.value.message
    assert _state(project) == before


def test_experiment_create__both_targetings__refused(project, project_admin, beta_gate):
    # When / Then
    with pytest.raises(DomainError) as exc:
        _create(
            project,
            project_admin,
            targetingGateID="beta",
            targetingConditions=[condition("country", "any", ["US"])],
        )
    assert exc.value.code == "targeting_exclusive"


def test_experiment_create__layer_parameter_rules__refused(project, project_admin, layer):
    # Given
    cases = [
        ([{"name": "shape", "type": "string"}], "unknown_layer_parameter"),
        ([{"name": "discount", "type": "string"}], "wrong_type"),
        ([{"name": "color", "type": "string", "defaultValue": "red"}], "layer_default"),
    ]
    for parameters, code in cases:
        # When / Then
        with pytest.raises(DomainError) as exc:
            services.experiment_create(
                actor=project_admin,
                project=project,
                document=_layered("x", 10, parameters=parameters),
            )
        assert exc.value.code == code


def test_experiment_create__name_taken_by_experiment_or_config__conflict(project, project_admin):
    # Given
    _create(project, project_admin, name="taken")
    gate_services.dynamic_config_create(
        actor=project_admin, project=project, document=config_document("settings")
    )
    before = _state(project)
    # When / Then
    for name in ("TAKEN", "settings"):
        with pytest.raises(Conflict) as exc:
            _create(project, project_admin, name=name)
        assert exc.value.code == "duplicate"
    assert _state(project) == before


def test_experiment_create__layer_without_enough_free_buckets__conflict(
    project, project_admin, layer
):
    # Given
    running = services.experiment_create(
        actor=project_admin, project=project, document=_layered("big", 60)
    )
    services.experiment_start(actor=project_admin, experiment=running)
    before = _state(project)
    # When
    with pytest.raises(Conflict) as exc:
        services.experiment_create(
            actor=project_admin, project=project, document=_layered("too_big", 40.1)
        )
    # Then
    assert (exc.value.code, exc.value.field) == ("layer_full", "allocation")
    assert "40%" in exc.value.message
    assert _state(project) == before
    services.experiment_create(actor=project_admin, project=project, document=_layered("fits", 40))


def test_experiment_start__layer_filled_since_created__conflict_and_still_draft(
    project, project_admin, layer
):
    # Given
    first = services.experiment_create(
        actor=project_admin, project=project, document=_layered("first", 60)
    )
    second = services.experiment_create(
        actor=project_admin, project=project, document=_layered("second", 60)
    )
    services.experiment_start(actor=project_admin, experiment=first)
    before = _state(project)
    # When
    with pytest.raises(Conflict) as exc:
        services.experiment_start(actor=project_admin, experiment=second)
    # Then
    assert exc.value.code == "layer_full"
    assert _state(project) == before
    assert Experiment.objects.get(pk=second.pk).status == ExperimentStatus.DRAFT


# ---------------------------------------------------------------- update


def test_experiment_update__draft__groups_replaced_ids_kept_and_audited_once(
    project, project_admin
):
    # Given
    experiment = _create(project, project_admin)
    document = experiment_to_document(experiment)
    control_id = document["groups"][0]["id"]
    document["groups"] = [
        document["groups"][0] | {"size": 20},
        group("Blue", 40, {"color": "blue"}),
        group("Green", 40, {"color": "green"}),
    ]
    # When
    updated = services.experiment_update(
        actor=project_admin, experiment=experiment, document=document, expected_revision=1
    )
    # Then
    assert updated.revision == 2
    groups = Experiment.objects.get(pk=experiment.pk).groups
    assert [g["name"] for g in groups] == ["Control", "Blue", "Green"]
    assert groups[0]["id"] == control_id
    created, event = _events()
    assert event.action == "experiment.updated"
    assert set(event.before) == set(event.after) == {"groups"}


def test_experiment_update__identical_document__nothing_recorded(project, project_admin):
    # Given
    experiment = _create(project, project_admin)
    # When
    services.experiment_update(
        actor=project_admin, experiment=experiment, document=experiment_to_document(experiment)
    )
    # Then
    assert Experiment.objects.get(pk=experiment.pk).revision == 1
    assert len(_events()) == 1


def test_experiment_update__stale_revision__conflict(project, project_admin):
    # Given
    experiment = _create(project, project_admin)
    document = experiment_to_document(experiment) | {"description": "new"}
    services.experiment_update(actor=project_admin, experiment=experiment, document=document)
    # When / Then
    with pytest.raises(Conflict) as exc:
        services.experiment_update(
            actor=project_admin,
            experiment=experiment,
            document=document | {"description": "newer"},
            expected_revision=1,
        )
    assert exc.value.code == "stale_revision"


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d["groups"][0].update(size=40) or d["groups"][1].update(size=60), "groups"),
        (lambda d: d["groups"][1]["parameterValues"].update(color="red"), "groups"),
        (lambda d: d["groups"].append(group("Third", 0)), "groups"),
        (lambda d: d["parameters"][0].update(defaultValue="black"), "parameters"),
        (lambda d: d.update(idType="stableID"), "idType"),
    ],
)
def test_experiment_update__running_groups_or_sizes_changed__conflict_nothing_saved(
    project, project_admin, edit, field
):
    # Given
    experiment = services.experiment_start(
        actor=project_admin, experiment=_create(project, project_admin)
    )
    document = copy.deepcopy(experiment_to_document(experiment))
    edit(document)
    before = _state(project)
    # When
    with pytest.raises(Conflict) as exc:
        services.experiment_update(actor=project_admin, experiment=experiment, document=document)
    # Then
    assert (exc.value.code, exc.value.field) == ("experiment_running", field)
    assert "Reset" in exc.value.message
    assert _state(project) == before


def test_experiment_update__running_descriptions_targeting_and_overrides__saved(
    project, project_admin, beta_gate
):
    # Given
    experiment = services.experiment_start(
        actor=project_admin, experiment=_create(project, project_admin)
    )
    document = experiment_to_document(experiment)
    document["description"] = "Now with notes"
    document["groups"][0]["description"] = "Today's grey"
    document["targetingGateID"] = "beta"
    document["overrides"] = [{"group": "Test", "unitIDs": ["qa-1"], "segments": []}]
    # When
    services.experiment_update(actor=project_admin, experiment=experiment, document=document)
    # Then
    assert experiment_to_document(Experiment.objects.get(pk=experiment.pk)) == document


def test_experiment_update__running_allocation_lowered__conflict(project, project_admin):
    # Given
    experiment = services.experiment_start(
        actor=project_admin, experiment=_create(project, project_admin, allocation=50)
    )
    # When / Then
    with pytest.raises(Conflict) as exc:
        services.experiment_update(
            actor=project_admin,
            experiment=experiment,
            document=experiment_to_document(experiment) | {"allocation": 40},
        )
    assert exc.value.code == "allocation_decrease"


def test_experiment_update__running_allocation_raised__buckets_added_none_moved(
    project, project_admin, layer
):
    # Given
    experiment = services.experiment_create(
        actor=project_admin, project=project, document=_layered("grows", 20)
    )
    experiment = services.experiment_start(actor=project_admin, experiment=experiment)
    at_20 = set(experiment.buckets.values_list("bucket", flat=True))
    # When
    services.experiment_update(
        actor=project_admin,
        experiment=experiment,
        document=experiment_to_document(experiment) | {"allocation": 50},
    )
    # Then
    at_50 = set(experiment.buckets.values_list("bucket", flat=True))
    assert (len(at_20), len(at_50)) == (200, 500)
    assert at_20 < at_50


def test_experiment_update__raised_beyond_free_buckets__conflict(project, project_admin, layer):
    # Given
    for name, allocation in (("other", 70), ("grows", 20)):
        services.experiment_start(
            actor=project_admin,
            experiment=services.experiment_create(
                actor=project_admin, project=project, document=_layered(name, allocation)
            ),
        )
    experiment = Experiment.objects.get(name="grows")
    before = _state(project)
    # When
    with pytest.raises(Conflict) as exc:
        services.experiment_update(
            actor=project_admin,
            experiment=experiment,
            document=experiment_to_document(experiment) | {"allocation": 31},
        )
    # Then
    assert exc.value.code == "layer_full"
    assert _state(project) == before


def test_experiment_update__decided__only_descriptive_fields(project, project_admin):
    # Given
    experiment = services.experiment_start(
        actor=project_admin, experiment=_create(project, project_admin, allocation=50)
    )
    experiment = services.experiment_abandon(actor=project_admin, experiment=experiment)
    document = experiment_to_document(experiment)
    # When / Then
    with pytest.raises(Conflict) as exc:
        services.experiment_update(
            actor=project_admin, experiment=experiment, document=document | {"allocation": 60}
        )
    assert exc.value.code == "experiment_decided"
    services.experiment_update(
        actor=project_admin, experiment=experiment, document=document | {"hypothesis": "Nope."}
    )
    assert Experiment.objects.get(pk=experiment.pk).hypothesis == "Nope."


def test_experiment_update__viewer__refused(project, project_admin, project_viewer):
    # Given
    experiment = _create(project, project_admin)
    # When / Then
    with pytest.raises(NotAllowed):
        services.experiment_update(
            actor=project_viewer,
            experiment=experiment,
            document=experiment_to_document(experiment) | {"description": "x"},
        )


# ---------------------------------------------------------------- lifecycle


def test_experiment_start__member__running_buckets_taken_and_audited(
    project, project_member, layer
):
    # Given
    experiment = services.experiment_create(
        actor=project_member, project=project, document=_layered("starts", 25)
    )
    # When
    experiment = services.experiment_start(actor=project_member, experiment=experiment)
    # Then
    experiment.refresh_from_db()
    assert experiment.status == ExperimentStatus.RUNNING
    assert experiment.started_at is not None
    assert experiment.revision == 2
    assert experiment.buckets.count() == 250
    created, started = _events()
    assert started.action == "experiment.started"
    assert (started.before, started.after) == ({"status": "setup"}, {"status": "active"})


def test_experiment_start__twice__illegal_transition(project, project_admin):
    # Given
    experiment = services.experiment_start(
        actor=project_admin, experiment=_create(project, project_admin)
    )
    # When / Then
    with pytest.raises(DomainError) as exc:
        services.experiment_start(actor=project_admin, experiment=experiment)
    assert exc.value.code == "illegal_transition"


def test_experiment_start__targeting_gate_archived_since__refused(
    project, project_admin, beta_gate
):
    # Given
    experiment = _create(project, project_admin, targetingGateID="beta")
    # archived behind the services' back: gate_archive refuses while an experiment uses it
    FeatureGate.objects.filter(pk=beta_gate.pk).update(
        archived_at=timezone.now(), status="archived"
    )
    # When / Then
    with pytest.raises(DomainError) as exc:
        services.experiment_start(actor=project_admin, experiment=experiment)
    assert exc.value.code == "unknown_gate"
    assert Experiment.objects.get(pk=experiment.pk).status == ExperimentStatus.DRAFT


def test_experiment_start__viewer__refused(project, project_admin, project_viewer):
    # Given
    experiment = _create(project, project_admin)
    # When / Then
    with pytest.raises(NotAllowed):
        services.experiment_start(actor=project_viewer, experiment=experiment)


def test_experiment_ship__group_by_name__shipped_buckets_freed_audited(
    project, project_admin, layer
):
    # Given
    experiment = services.experiment_create(
        actor=project_admin, project=project, document=_layered("ships", 30)
    )
    experiment = services.experiment_start(actor=project_admin, experiment=experiment)
    # When
    experiment = services.experiment_ship(actor=project_admin, experiment=experiment, group="test")
    # Then
    experiment.refresh_from_db()
    assert experiment.status == ExperimentStatus.SHIPPED
    assert experiment.launched_group_id == experiment.groups[1]["id"]
    assert (experiment.decided_by, experiment.buckets.count()) == (project_admin, 0)
    event = _events()[-1]
    assert event.action == "experiment.shipped"
    assert event.after == {"status": "decision_made", "launchedGroupID": experiment.groups[1]["id"]}


def test_experiment_ship__unknown_group_or_draft__refused(project, project_admin):
    # Given
    draft = _create(project, project_admin)
    running = services.experiment_start(
        actor=project_admin, experiment=_create(project, project_admin, name="running")
    )
    # When / Then
    with pytest.raises(DomainError) as exc:
        services.experiment_ship(actor=project_admin, experiment=draft, group="Test")
    assert exc.value.code == "illegal_transition"
    with pytest.raises(DomainError) as exc:
        services.experiment_ship(actor=project_admin, experiment=running, group="Purple")
    assert (exc.value.code, exc.value.field) == ("unknown_group", "group")
    assert Experiment.objects.get(pk=running.pk).status == ExperimentStatus.RUNNING


def test_experiment_abandon__running__abandoned_and_audited(project, project_admin):
    # Given
    experiment = services.experiment_start(
        actor=project_admin, experiment=_create(project, project_admin)
    )
    # When
    experiment = services.experiment_abandon(actor=project_admin, experiment=experiment)
    # Then
    assert Experiment.objects.get(pk=experiment.pk).status == ExperimentStatus.ABANDONED
    assert _events()[-1].action == "experiment.abandoned"


def test_experiment_reset__shipped__draft_with_new_salts_and_audited(project, project_admin, layer):
    # Given
    experiment = services.experiment_create(
        actor=project_admin, project=project, document=_layered("again", 30)
    )
    experiment = services.experiment_start(actor=project_admin, experiment=experiment)
    experiment = services.experiment_ship(actor=project_admin, experiment=experiment, group="Test")
    old_salt, old_layer_salt = experiment.salt, experiment.layer_salt
    # When
    experiment = services.experiment_reset(actor=project_admin, experiment=experiment)
    # Then
    experiment.refresh_from_db()
    assert experiment.status == ExperimentStatus.DRAFT
    assert experiment.salt != old_salt
    assert experiment.layer_salt != old_layer_salt
    assert (experiment.launched_group_id, experiment.started_at) == ("", None)
    event = _events()[-1]
    assert event.action == "experiment.reset"
    assert event.before["salt"] == old_salt
    assert event.after["salt"] == experiment.salt
    assert (event.before["status"], event.after["status"]) == ("decision_made", "setup")


def test_experiment_reset__draft__illegal_transition(project, project_admin):
    # When / Then
    with pytest.raises(DomainError) as exc:
        services.experiment_reset(actor=project_admin, experiment=_create(project, project_admin))
    assert exc.value.code == "illegal_transition"


def test_experiment_archive__running_refused_abandoned_archived_name_freed(project, project_admin):
    # Given
    experiment = services.experiment_start(
        actor=project_admin, experiment=_create(project, project_admin)
    )
    # When / Then
    with pytest.raises(DomainError):
        services.experiment_archive(actor=project_admin, experiment=experiment)
    experiment = services.experiment_abandon(actor=project_admin, experiment=experiment)
    experiment = services.experiment_archive(actor=project_admin, experiment=experiment)
    assert Experiment.objects.get(pk=experiment.pk).archived_at is not None
    assert _events()[-1].action == "experiment.archived"
    with pytest.raises(Conflict) as exc:
        services.experiment_update(
            actor=project_admin,
            experiment=experiment,
            document=experiment_to_document(experiment) | {"description": "x"},
        )
    assert exc.value.code == "archived"
    _create(project, project_admin)  # the name is free again


def test_every_write__one_audit_event_each(project, project_admin, layer):
    # Given
    count = AuditEvent.objects.count()
    experiment = services.experiment_create(
        actor=project_admin, project=project, document=_layered("audited", 10)
    )
    steps = [
        lambda e: services.experiment_update(
            actor=project_admin,
            experiment=e,
            document=experiment_to_document(e) | {"description": "v2"},
        ),
        lambda e: services.experiment_start(actor=project_admin, experiment=e),
        lambda e: services.experiment_update(
            actor=project_admin,
            experiment=e,
            document=experiment_to_document(e) | {"allocation": 20},
        ),
        lambda e: services.experiment_ship(actor=project_admin, experiment=e, group="Control"),
        lambda e: services.experiment_reset(actor=project_admin, experiment=e),
        lambda e: services.experiment_start(actor=project_admin, experiment=e),
        lambda e: services.experiment_abandon(actor=project_admin, experiment=e),
        lambda e: services.experiment_archive(actor=project_admin, experiment=e),
    ]
    # When / Then
    assert AuditEvent.objects.count() == count + 1
    for n, step in enumerate(steps, start=2):
        experiment = step(experiment)
        assert AuditEvent.objects.count() == count + n
        assert Experiment.objects.get(pk=experiment.pk).revision == n


# ---------------------------------------------------------------- the lifecycle, derived once


def _in_status(project, actor, status: str, name: str) -> Experiment:
    experiment = _create(project, actor, name=name)
    if status == ExperimentStatus.DRAFT:
        return experiment
    if status == ExperimentStatus.ARCHIVED:
        return services.experiment_archive(actor=actor, experiment=experiment)
    experiment = services.experiment_start(actor=actor, experiment=experiment)
    if status == ExperimentStatus.SHIPPED:
        group_name = experiment.groups[0]["name"]
        return services.experiment_ship(actor=actor, experiment=experiment, group=group_name)
    if status == ExperimentStatus.ABANDONED:
        return services.experiment_abandon(actor=actor, experiment=experiment)
    return experiment


STEP_SERVICES = {
    "start": lambda actor, exp: services.experiment_start(actor=actor, experiment=exp),
    "ship": lambda actor, exp: services.experiment_ship(
        actor=actor, experiment=exp, group=exp.groups[0]["name"]
    ),
    "abandon": lambda actor, exp: services.experiment_abandon(actor=actor, experiment=exp),
    "reset": lambda actor, exp: services.experiment_reset(actor=actor, experiment=exp),
    "archive": lambda actor, exp: services.experiment_archive(actor=actor, experiment=exp),
}


@pytest.mark.parametrize("status", list(ExperimentStatus))
def test_lifecycle_steps__what_the_page_offers__exactly_what_the_services_accept(
    project, project_member, status
):
    # Given one experiment per step, in `status`
    offered = lifecycle_steps(status)
    accepted = set()
    for step, run in STEP_SERVICES.items():
        experiment = _in_status(project, project_member, status, f"exp_{status}_{step}")
        assert experiment.status == status
        # When each step's service is asked
        try:
            run(project_member, experiment)
        except DomainError:
            continue
        accepted.add(step)
    # Then the page's buttons (lifecycle_steps) are those the services accept
    assert offered == accepted
