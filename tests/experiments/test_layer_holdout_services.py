import pytest

from console.exceptions import Conflict, DomainError, NotAllowed
from console.models import AuditEvent, Environment
from console.specs.builder import build_spec
from console.specs.evaluator import Evaluator
from experiments import services
from experiments.documents import holdout_to_document, layer_to_document
from experiments.models import Holdout, Layer
from gates import services as gate_services
from tests.experiments.factories import (
    experiment_document,
    holdout_document,
    layer_document,
    parameter,
)
from tests.gates.factories import gate_document


def _state(model, project):
    return (
        list(model.objects.filter(project=project).order_by("pk").values()),
        AuditEvent.objects.count(),
    )


def _layered(name="in_layer", allocation=10, **fields):
    return experiment_document(
        name,
        layerID="checkout_layer",
        allocation=allocation,
        parameters=[{"name": "color", "type": "string"}],
        **fields,
    )


# ---------------------------------------------------------------- layers


def test_layer_create__member__saved_and_audited_once(project, project_member):
    # When
    layer = services.layer_create(actor=project_member, project=project, document=layer_document())
    # Then
    layer.refresh_from_db()
    assert layer.revision == 1
    doc = layer_to_document(layer)
    assert doc == {
        "name": "checkout_layer",
        "description": "Checkout page experiments",
        "idType": "userID",
        "parameters": [parameter(), parameter("discount", "number", 0)],
    }
    [event] = AuditEvent.objects.filter(action__startswith="layer.")
    assert (event.action, event.after) == ("layer.created", doc)


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        (
            {"parameters": [parameter("discount", "number", "ten")]},
            "wrong_type",
            "parameters[0].defaultValue",
        ),
        ({"parameters": [{"name": "x", "type": "string"}]}, "missing_default", "parameters[0]"),
        ({"parameters": [parameter("x", "date", 1)]}, "invalid_type", "parameters[0].type"),
        (
            {"parameters": [parameter("x"), parameter("X")]},
            "duplicate",
            "parameters[1].name",
        ),
        (
            {"parameters": [parameter("big", "number", 2**60)]},
            "unsafe_integer",
            "parameters[0].defaultValue",
        ),
    ],
)
def test_layer_create__bad_input__domain_error_and_nothing_saved(
    project, project_admin, fields, code, field
):
    # Given
    before = _state(Layer, project)
    # When
    with pytest.raises(DomainError) as exc:
        services.layer_create(
            actor=project_admin, project=project, document=layer_document(**fields)
        )
    # Then
    assert (exc.value.code, exc.value.field) == (code, field)
    assert _state(Layer, project) == before


def test_layer_create__viewer__refused(project, project_viewer):
    # When / Then
    with pytest.raises(NotAllowed):
        services.layer_create(actor=project_viewer, project=project, document=layer_document())


def test_layer_update__defaults_changed_and_parameter_added__experiments_follow(
    project, project_admin
):
    # Given
    layer = services.layer_create(actor=project_admin, project=project, document=layer_document())
    services.experiment_create(actor=project_admin, project=project, document=_layered())
    document = layer_to_document(layer)
    document["parameters"][0]["defaultValue"] = "white"
    document["parameters"].append(parameter("express", "boolean", True))
    # When
    services.layer_update(actor=project_admin, layer=layer, document=document, expected_revision=1)
    # Then
    spec = build_spec(
        project, Environment.objects.get(project=project, name="production"), time_ms=1
    )
    [experiment] = spec["dynamic_configs"]
    assert experiment["defaultValue"] == {"color": "white", "discount": 0, "express": True}
    assert Layer.objects.get(pk=layer.pk).revision == 2
    event = AuditEvent.objects.filter(action="layer.updated").get()
    assert set(event.after) == {"parameters"}


def test_layer_update__parameter_an_experiment_sets__conflict(project, project_admin):
    # Given
    layer = services.layer_create(actor=project_admin, project=project, document=layer_document())
    services.experiment_create(actor=project_admin, project=project, document=_layered())
    before = _state(Layer, project)
    for parameters in (
        [parameter("discount", "number", 0)],  # color removed
        [parameter("color", "number", 0), parameter("discount", "number", 0)],  # retyped
    ):
        # When
        with pytest.raises(Conflict) as exc:
            services.layer_update(
                actor=project_admin,
                layer=layer,
                document=layer_to_document(layer) | {"parameters": parameters},
            )
        # Then
        assert (exc.value.code, exc.value.field) == ("in_use", "parameters")
    with pytest.raises(Conflict):
        services.layer_update(
            actor=project_admin,
            layer=layer,
            document=layer_to_document(layer) | {"idType": "stableID"},
        )
    assert _state(Layer, project) == before


def test_layer_archive__with_live_experiment__conflict_then_archived(project, project_admin):
    # Given
    layer = services.layer_create(actor=project_admin, project=project, document=layer_document())
    experiment = services.experiment_create(
        actor=project_admin, project=project, document=_layered()
    )
    # When / Then
    with pytest.raises(Conflict) as exc:
        services.layer_archive(actor=project_admin, layer=layer)
    assert exc.value.code == "in_use"
    services.experiment_archive(actor=project_admin, experiment=experiment)
    layer = services.layer_archive(actor=project_admin, layer=layer)
    assert Layer.objects.get(pk=layer.pk).archived_at is not None
    assert AuditEvent.objects.filter(action="layer.archived").count() == 1


# ---------------------------------------------------------------- holdouts


def test_holdout_create__member__saved_and_audited_once(project, project_member):
    # Given
    services.experiment_create(
        actor=project_member, project=project, document=experiment_document("b_exp")
    )
    services.experiment_create(
        actor=project_member, project=project, document=experiment_document("a_exp")
    )
    # When
    holdout = services.holdout_create(
        actor=project_member,
        project=project,
        document=holdout_document(passPercentage=2.5, experimentIDs=["B_EXP", "a_exp"]),
    )
    # Then
    doc = holdout_to_document(Holdout.objects.get(pk=holdout.pk))
    assert doc == {
        "name": "q3_holdout",
        "description": "",
        "idType": "userID",
        "passPercentage": 2.5,
        "isGlobal": False,
        "experimentIDs": ["a_exp", "b_exp"],
    }
    [event] = AuditEvent.objects.filter(action__startswith="holdout.")
    assert (event.action, event.after) == ("holdout.created", doc)


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"passPercentage": 100.5}, "percentage_out_of_range", "passPercentage"),
        ({"passPercentage": 250}, "percentage_out_of_range", "passPercentage"),
        ({"passPercentage": -1}, "percentage_out_of_range", "passPercentage"),
        ({"passPercentage": 1.005}, "percentage_precision", "passPercentage"),
        ({"passPercentage": None}, "invalid_percentage", "passPercentage"),
        ({"experimentIDs": ["ghost"]}, "unknown_experiment", "experimentIDs[0]"),
        ({"isGlobal": True, "experimentIDs": ["x"]}, "global_with_experiments", "experimentIDs"),
    ],
)
def test_holdout_create__bad_input__domain_error_and_nothing_saved(
    project, project_admin, fields, code, field
):
    # Given
    before = _state(Holdout, project)
    # When
    with pytest.raises(DomainError) as exc:
        services.holdout_create(
            actor=project_admin, project=project, document=holdout_document(**fields)
        )
    # Then
    assert (exc.value.code, exc.value.field) == (code, field)
    assert _state(Holdout, project) == before


def test_holdout_create__name_of_a_gate__conflict(project, project_admin):
    # Given
    gate_services.gate_create(actor=project_admin, project=project, document=gate_document("hold"))
    # When / Then
    with pytest.raises(Conflict) as exc:
        services.holdout_create(
            actor=project_admin, project=project, document=holdout_document("hold")
        )
    assert exc.value.code == "duplicate"


def test_holdout_create__viewer__refused(project, project_viewer):
    # When / Then
    with pytest.raises(NotAllowed):
        services.holdout_create(actor=project_viewer, project=project, document=holdout_document())


def test_holdout_update__percentage_raised__everyone_held_out_stays_held_out(
    project, project_admin
):
    # Given
    holdout = services.holdout_create(
        actor=project_admin, project=project, document=holdout_document(isGlobal=True)
    )
    production = Environment.objects.get(project=project, name="production")
    users = [{"userID": f"user-{n}"} for n in range(20_000)]

    def held_out(time_ms):
        evaluator = Evaluator(build_spec(project, production, time_ms=time_ms))
        return {u["userID"] for u in users if evaluator.check_gate(u, "q3_holdout")}

    at_10 = held_out(1)
    # When
    services.holdout_update(
        actor=project_admin,
        holdout=holdout,
        document=holdout_to_document(holdout) | {"passPercentage": 25},
    )
    at_25 = held_out(2)
    # Then
    assert abs(len(at_10) / len(users) - 0.10) < 0.01
    assert abs(len(at_25) / len(users) - 0.25) < 0.01
    assert at_10 <= at_25
    assert AuditEvent.objects.filter(action="holdout.updated").count() == 1


def test_holdout_archive__archived_audited_and_left_out_of_the_spec(project, project_admin):
    # Given
    holdout = services.holdout_create(
        actor=project_admin, project=project, document=holdout_document()
    )
    # When
    services.holdout_archive(actor=project_admin, holdout=holdout)
    # Then
    production = Environment.objects.get(project=project, name="production")
    assert build_spec(project, production, time_ms=1)["feature_gates"] == []
    assert AuditEvent.objects.filter(action="holdout.archived").count() == 1
    with pytest.raises(Conflict):
        services.holdout_archive(actor=project_admin, holdout=holdout)
