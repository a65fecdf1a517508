import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console.models import Environment
from console.specs.builder import build_spec, to_v2
from experiments import services
from experiments.models import Holdout, LayerBucket
from gates import services as gate_services
from gates.models import FeatureGate
from tests.experiments.factories import (
    ExperimentFactory,
    LayerFactory,
    experiment_document,
    group,
    holdout_document,
    layer_document,
)
from tests.gates.factories import condition, gate_document, segment_document

TIME = 1_700_000_000_000


@pytest.fixture
def production(project):
    return Environment.objects.get(project=project, name="production")


def _spec(project, production):
    return build_spec(project, production, time_ms=TIME)


def _by_name(specs):
    return {s["name"]: s for s in specs}


def _start(actor, project, document):
    experiment = services.experiment_create(actor=actor, project=project, document=document)
    return services.experiment_start(actor=actor, experiment=experiment)


def test_build_spec__running_experiment__rules_in_reference_order(
    project, project_admin, production
):
    # Given
    gate_services.gate_create(actor=project_admin, project=project, document=gate_document("beta"))
    gate_services.segment_create(
        actor=project_admin, project=project, document=segment_document("staff")
    )
    experiment = _start(
        project_admin,
        project,
        experiment_document(
            allocation=12.3,
            targetingGateID="beta",
            groups=[group("Control", 33.33), group("Test", 66.67, {"color": "blue"})],
            overrides=[{"group": "Test", "unitIDs": ["u1"], "segments": ["staff"]}],
        ),
    )
    services.holdout_create(
        actor=project_admin,
        project=project,
        document=holdout_document(experimentIDs=["checkout_button"]),
    )
    control, test = (g["id"] for g in experiment.groups)
    # When
    spec = _spec(project, production)
    # Then
    exp = _by_name(spec["dynamic_configs"])["checkout_button"]
    assert (exp["type"], exp["entity"], exp["isActive"], exp["enabled"]) == (
        "dynamic_config",
        "experiment",
        True,
        True,
    )
    assert (exp["salt"], exp["defaultValue"], exp["hasSharedParams"]) == (
        experiment.salt,
        {"color": "grey"},
        False,
    )
    assert [r["id"] for r in exp["rules"]] == [
        f"{test}:id_override",
        f"{test}:staff:segment_override",
        "holdout:q3_holdout",
        "targetingGate",
        "layerAssignment",
        control,
        test,
    ]
    rules = exp["rules"]
    assert rules[0]["conditions"][0] | {"targetValue": None} == {
        "type": "unit_id",
        "operator": "any",
        "targetValue": None,
        "field": None,
        "additionalValues": {},
        "idType": "userID",
    }
    assert rules[0]["groupName"] == "Test"
    assert "isExperimentGroup" not in rules[0]
    assert rules[1]["conditions"][0]["targetValue"] == "segment:staff"
    assert rules[2]["conditions"][0]["type"] == "pass_gate"
    assert rules[2]["returnValue"] == {"color": "grey"}
    assert rules[3]["conditions"][0] | {"idType": "userID"} == {
        "type": "fail_gate",
        "operator": None,
        "targetValue": "beta",
        "field": None,
        "additionalValues": {},
        "idType": "userID",
    }
    assignment = rules[4]["conditions"][0]
    assert (assignment["type"], assignment["operator"]) == ("user_bucket", "none")
    assert assignment["targetValue"] == list(range(123))
    assert assignment["additionalValues"] == {"salt": experiment.layer_salt}
    bounds = [r["conditions"][0]["targetValue"] for r in rules[5:]]
    assert bounds == [333.3, 1000]
    assert {r["conditions"][0]["additionalValues"]["salt"] for r in rules[5:]} == {experiment.salt}
    assert rules[6] | {"conditions": []} == {
        "name": test,
        "id": test,
        "salt": test,
        "passPercentage": 100,
        "conditions": [],
        "returnValue": {"color": "blue"},
        "idType": "userID",
        "groupName": "Test",
        "isExperimentGroup": True,
    }
    holdout = _by_name(spec["feature_gates"])["q3_holdout"]
    assert (holdout["entity"], holdout["defaultValue"]) == ("holdout", False)
    [holdout_rule] = holdout["rules"]
    assert (holdout_rule["passPercentage"], holdout_rule["returnValue"]) == (10, True)
    assert holdout_rule["salt"] == Holdout.objects.get().rule_salt


def test_build_spec__lifecycle__draft_shipped_abandoned_archived_shapes(
    project, project_admin, production
):
    # Given
    services.experiment_create(
        actor=project_admin,
        project=project,
        document=experiment_document(
            "drafted", overrides=[{"group": "Test", "unitIDs": ["u1"], "segments": []}]
        ),
    )
    shipped = _start(project_admin, project, experiment_document("shipped"))
    services.experiment_ship(actor=project_admin, experiment=shipped, group="Test")
    abandoned = _start(project_admin, project, experiment_document("abandoned"))
    services.experiment_abandon(actor=project_admin, experiment=abandoned)
    archived = _start(project_admin, project, experiment_document("archived"))
    archived = services.experiment_abandon(actor=project_admin, experiment=archived)
    services.experiment_archive(actor=project_admin, experiment=archived)
    services.holdout_create(
        actor=project_admin, project=project, document=holdout_document(isGlobal=True)
    )
    # When
    configs = _by_name(_spec(project, production)["dynamic_configs"])
    # Then
    assert set(configs) == {"drafted", "shipped", "abandoned"}
    drafted = configs["drafted"]
    assert drafted["isActive"] is False
    assert [r["id"].split(":")[-1] for r in drafted["rules"]] == [
        "id_override",
        "q3_holdout",
        "prestart",
    ]
    assert drafted["rules"][-1]["returnValue"] == {"color": "grey"}
    shipped_rules = configs["shipped"]["rules"]
    assert [r["id"] for r in shipped_rules] == ["holdout:q3_holdout", "launchedGroup"]
    assert shipped_rules[1]["groupName"] == "Test"
    assert shipped_rules[1]["returnValue"] == {"color": "blue"}
    assert shipped_rules[1]["conditions"][0]["type"] == "public"
    assert configs["abandoned"]["rules"] == []
    assert configs["abandoned"]["enabled"] is True


def test_build_spec__layer__delegating_rules_defaults_and_maps(project, project_admin, production):
    # Given
    layer = services.layer_create(actor=project_admin, project=project, document=layer_document())
    layered = {
        "layerID": "checkout_layer",
        "parameters": [{"name": "color", "type": "string"}],
    }
    first = _start(
        project_admin,
        project,
        experiment_document(
            "first",
            allocation=30,
            overrides=[{"group": "Test", "unitIDs": ["u9"], "segments": []}],
            **layered,
        ),
    )
    second = _start(project_admin, project, experiment_document("second", allocation=20, **layered))
    services.experiment_create(
        actor=project_admin,
        project=project,
        document=experiment_document("waiting", allocation=10, **layered),
    )
    services.holdout_create(
        actor=project_admin,
        project=project,
        document=holdout_document("everyone", passPercentage=1, isGlobal=True),
    )
    # When
    spec = _spec(project, production)
    # Then
    assert spec["layers"] == {"checkout_layer": ["first", "second", "waiting"]}
    assert spec["experiment_to_layer"] == {
        "first": "checkout_layer",
        "second": "checkout_layer",
        "waiting": "checkout_layer",
    }
    [layer_spec] = spec["layer_configs"]
    assert (layer_spec["entity"], layer_spec["salt"]) == ("layer", layer.salt)
    assert layer_spec["defaultValue"] == {"color": "grey", "discount": 0}
    rules = layer_spec["rules"]
    assert [(r["id"], r.get("configDelegate")) for r in rules] == [
        (f"first {first.groups[1]['id']}:id_override", "first"),
        ("holdout:everyone", None),
        ("experimentAssignment", "first"),
        ("experimentAssignment", "second"),
    ]
    owned = {
        exp.name: sorted(
            LayerBucket.objects.filter(experiment=exp).values_list("bucket", flat=True)
        )
        for exp in (first, second)
    }
    assert rules[2]["conditions"][0]["targetValue"] == owned["first"]
    assert rules[2]["conditions"][0]["additionalValues"] == {"salt": layer.salt}
    assert len(owned["first"]) == 300
    assert len(owned["second"]) == 200
    configs = _by_name(spec["dynamic_configs"])
    exp = configs["first"]
    assert (exp["hasSharedParams"], exp["explicitParameters"]) == (True, ["color"])
    assert exp["defaultValue"] == {"color": "grey", "discount": 0}
    assignment = next(r for r in exp["rules"] if r["id"] == "layerAssignment")
    assert assignment["conditions"][0]["operator"] == "none"
    assert assignment["conditions"][0]["targetValue"] == owned["first"]
    assert assignment["conditions"][0]["additionalValues"] == {"salt": layer.salt}
    assert exp["rules"][-1]["returnValue"] == {"color": "blue", "discount": 0}


def test_build_spec__inline_targeting__segment_spec_and_fail_gate_rule(
    project, project_admin, production
):
    # Given
    _start(
        project_admin,
        project,
        experiment_document(
            idType="stableID",
            targetingConditions=[condition("country", "any", ["nz"]), condition("public")],
        ),
    )
    # When
    spec = _spec(project, production)
    # Then
    segment = _by_name(spec["feature_gates"])["segment:inline_targeting:checkout_button"]
    assert segment["entity"] == "segment"
    [rule] = segment["rules"]
    assert [c["type"] for c in rule["conditions"]] == ["ip_based", "public"]
    assert {c["idType"] for c in rule["conditions"]} == {"stableID"}
    exp = _by_name(spec["dynamic_configs"])["checkout_button"]
    targeting = next(r for r in exp["rules"] if r["id"] == "inlineTargetingRules")
    assert targeting["conditions"][0]["type"] == "fail_gate"
    assert targeting["conditions"][0]["targetValue"] == segment["name"]
    assert to_v2(spec)["dynamic_configs"]["checkout_button"]["rules"]


def test_build_spec__targeting_gate_archived_since__experiment_targets_nobody(
    project, project_admin, production
):
    # Given
    gate = gate_services.gate_create(
        actor=project_admin, project=project, document=gate_document("beta")
    )
    _start(project_admin, project, experiment_document(targetingGateID="beta"))
    # When the gate is archived behind the services' back (they refuse while it is in use,
    # see test_gates_interplay): the spec must still never name a missing gate
    FeatureGate.objects.filter(pk=gate.pk).update(archived_at=timezone.now(), status="archived")
    spec = _spec(project, production)
    # Then
    exp = _by_name(spec["dynamic_configs"])["checkout_button"]
    targeting = next(r for r in exp["rules"] if r["id"] == "targetingGate")
    assert targeting["conditions"][0]["type"] == "public"
    assert "beta" not in _by_name(spec["feature_gates"])


def _build_queries(project, environment) -> int:
    with CaptureQueriesContext(connection) as ctx:
        build_spec(project, environment, time_ms=TIME)
    return len(ctx.captured_queries)


def test_build_spec__3_or_30_of_each__same_number_of_queries(project, production):
    # Given
    def add(n):
        for _ in range(n):
            layer = LayerFactory(project=project)
            running = ExperimentFactory(
                project=project, layer=layer, status="running", allocation=10
            )
            LayerBucket.objects.bulk_create(
                LayerBucket(layer=layer, experiment=running, bucket=b) for b in range(100)
            )
            ExperimentFactory(project=project, status="running", allocation=50)
            ExperimentFactory(
                project=project,
                overrides=[{"groupId": "x", "unitIDs": ["u"], "segments": ["s"]}],
                targeting_conditions=[
                    {
                        "type": "passes_gate",
                        "operator": None,
                        "targetValue": "g",
                        "field": None,
                        "customID": None,
                    }
                ],
            )
            holdout = Holdout.objects.create(
                project=project, name=f"h{Holdout.objects.count()}", percentage=5
            )
            holdout.experiments.add(running)

    add(3)
    few = _build_queries(project, production)
    # When
    add(27)
    many = _build_queries(project, production)
    # Then
    assert few == many
    assert many <= 4 + 7  # gates contributor + ours
