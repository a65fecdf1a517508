"""The issue's conformance proof for experiments, layers and holdouts: a project built
through the services and published with ``build_spec`` gives the same (value, rule ID,
group name) for ``get_experiment`` on every experiment and ``get_layer`` on every layer, for
each of 10,000 generated users, in our evaluator, the legacy ``statsig`` SDK,
``statsig-python-core`` (dcs-v2) and ``statsig-node``.

The project covers every lifecycle state (draft, running, shipped, abandoned, reset,
archived), experiments with and without a layer (two sharing one, a draft and a shipped
one beside them), with a global and a chosen holdout, a targeting gate, inline targeting
conditions (gate, segment and attribute conditions), unit-ID and segment overrides,
three-way splits with two-decimal sizes, a partial allocation, a stableID experiment and a
custom unit type, and an archived targeting gate. Nothing is left out: the four evaluators
agree on every user of every entity.
"""

from __future__ import annotations

import random

import pytest
from django.utils import timezone

from console.models import Environment
from console.specs.builder import build_spec, to_v2
from experiments import services
from experiments.models import Experiment
from gates import services as gate_services
from gates.models import FeatureGate
from tests.experiments.factories import (
    experiment_document,
    group,
    holdout_document,
    layer_document,
    parameter,
)
from tests.gates.factories import condition, gate_document, rule, segment_document
from tests.specs.sdks import NodeRun, core_evaluate_all, legacy_evaluate_all, ours_evaluate_all

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

USER_COUNT = 10_000
SEED = 20_241_104
OVERRIDDEN = ["user-1", "user-2", "user-3", "user-42"]
STAFF_DOMAIN = "@corp.example"
# Its targeting gate was archived outside the services after it started: it targets nobody.
TARGETS_NOBODY = {"exp_retired_targeting"}
SPLITS = {2: [50, 50], 3: [20.5, 45.25, 34.25]}


def _users(count: int) -> list[dict]:
    rnd = random.Random(SEED)
    users = []
    for i in range(count):
        user: dict = {"userID": f"user-{i}"}
        if rnd.random() < 0.1:
            user["email"] = f"u{i}{STAFF_DOMAIN}"
        elif rnd.random() < 0.5:
            user["email"] = f"u{i}@gmail.com"
        if rnd.random() < 0.7:
            user["country"] = rnd.choice(["US", "NZ", "DE", "JP"])
        if rnd.random() < 0.7:
            user["appVersion"] = rnd.choice(["1.0.0", "2.0.0", "2.5.1", "3.0.0-beta"])
        ids = {}
        if rnd.random() < 0.9:
            ids["stableID"] = f"device-{rnd.randrange(count)}"
        if rnd.random() < 0.8:
            ids["companyID"] = f"company-{rnd.randrange(200)}"
        if ids:
            user["customIDs"] = ids
        if ids and rnd.random() < 0.02:
            user.pop("userID")  # units of other types only
        users.append(user)
    return users


def _layered(name: str, allocation: float, values: list[dict], **fields) -> dict:
    return experiment_document(
        name,
        layerID="checkout_layer",
        allocation=allocation,
        parameters=[
            {"name": "color", "type": "string"},
            {"name": "discount", "type": "number"},
        ],
        groups=[group(f"G{i}", SPLITS[len(values)][i], v) for i, v in enumerate(values)],
        **fields,
    )


@pytest.fixture
def spec(project, project_admin):
    actor = project_admin
    gate_services.unit_type_create(actor=actor, project=project, name="companyID")
    gate_services.gate_create(
        actor=actor,
        project=project,
        document=gate_document("beta", rules=[rule(pass_percentage=50)]),
    )
    retired = gate_services.gate_create(
        actor=actor, project=project, document=gate_document("retired", rules=[rule()])
    )
    gate_services.segment_create(
        actor=actor,
        project=project,
        document=segment_document(
            "staff",
            rules=[rule(conditions=[condition("email", "str_ends_with_any", [STAFF_DOMAIN])])],
        ),
    )
    services.layer_create(
        actor=actor,
        project=project,
        document=layer_document(
            parameters=[
                parameter("color", "string", "grey"),
                parameter("discount", "number", 0),
                parameter("banner", "object", {"text": "hello"}),
                parameter("express", "boolean", False),
            ]
        ),
    )
    services.layer_create(
        actor=actor,
        project=project,
        document=layer_document("company_layer", idType="companyID", parameters=[parameter()]),
    )
    services.layer_create(actor=actor, project=project, document=layer_document("empty_layer"))

    def make(document, *steps, ship=None):
        experiment = services.experiment_create(actor=actor, project=project, document=document)
        for step in steps:
            experiment = step(actor=actor, experiment=experiment)
        if ship:
            experiment = services.experiment_ship(actor=actor, experiment=experiment, group=ship)
        return experiment

    start = services.experiment_start
    three_way = [
        group("Control", 33.33, {"color": "grey", "size": 1}),
        group("Blue", 33.33, {"color": "blue", "size": 2.5}),
        group("Green", 33.34, {"color": "green", "size": 3}),
    ]
    params = [parameter(), parameter("size", "number", 0)]
    make(
        experiment_document(
            "exp_running",
            allocation=62.5,
            targetingGateID="beta",
            parameters=params,
            groups=three_way,
            overrides=[
                {"group": "Blue", "unitIDs": OVERRIDDEN[:2], "segments": []},
                {"group": "Green", "unitIDs": OVERRIDDEN[2:], "segments": ["staff"]},
            ],
        ),
        start,
    )
    make(
        experiment_document(
            "exp_inline",
            idType="stableID",
            allocation=95,
            targetingConditions=[
                condition("country", "any", ["US", "NZ"]),
                condition("app_version", "version_gte", "2.0.0"),
                condition("fails_segment", None, "staff"),
            ],
        ),
        start,
    )
    make(
        experiment_document(
            "exp_inline_gate",
            allocation=90,
            targetingConditions=[condition("passes_gate", None, "beta")],
        ),
        start,
    )
    make(experiment_document("exp_company", idType="companyID", allocation=90), start)
    make(
        experiment_document("exp_retired_targeting", targetingGateID="retired", allocation=80),
        start,
    )
    make(
        experiment_document(
            "exp_draft",
            overrides=[{"group": "Test", "unitIDs": OVERRIDDEN, "segments": ["staff"]}],
        )
    )
    make(experiment_document("exp_shipped", allocation=30), start, ship="Test")
    make(experiment_document("exp_abandoned"), start, services.experiment_abandon)
    make(experiment_document("exp_reset"), start, services.experiment_reset)
    make(
        experiment_document("exp_archived"),
        start,
        services.experiment_abandon,
        services.experiment_archive,
    )
    make(
        _layered(
            "layer_a",
            40,
            [{"color": "grey"}, {"color": "red", "discount": 10}],
            overrides=[{"group": "G1", "unitIDs": ["user-7"], "segments": []}],
        ),
        start,
    )
    make(
        _layered(
            "layer_b",
            35,
            [{"discount": 5}, {"discount": 15}, {"discount": 25}],
            targetingConditions=[condition("country", "any", ["US", "NZ", "JP"])],
        ),
        start,
    )
    make(
        _layered(
            "layer_draft",
            20,
            [{"color": "pink"}, {"color": "teal"}],
            overrides=[{"group": "G1", "unitIDs": ["user-9"], "segments": []}],
        )
    )
    make(_layered("layer_shipped", 10, [{"color": "a"}, {"color": "b"}]), start, ship="G1")
    make(
        experiment_document(
            "company_exp",
            idType="companyID",
            layerID="company_layer",
            allocation=70,
            parameters=[{"name": "color", "type": "string"}],
        ),
        start,
    )
    services.holdout_create(
        actor=actor,
        project=project,
        document=holdout_document("global_holdout", passPercentage=5, isGlobal=True),
    )
    services.holdout_create(
        actor=actor,
        project=project,
        document=holdout_document(
            "q3_holdout",
            passPercentage=12.5,
            experimentIDs=["exp_running", "exp_shipped", "layer_a", "exp_draft"],
        ),
    )
    services.holdout_create(
        actor=actor,
        project=project,
        document=holdout_document(
            "device_holdout", idType="stableID", passPercentage=20, experimentIDs=["exp_inline"]
        ),
    )
    # Archived behind the services' back (they refuse while an experiment uses it).
    FeatureGate.objects.filter(pk=retired.pk).update(archived_at=timezone.now(), status="archived")
    environment = Environment.objects.get(project=project, name="production")
    return build_spec(project, environment, time_ms=1_700_000_000_000)


def test_experiments_and_layers__four_evaluators__same_group_value_and_rule_for_10k_users(
    project, spec
):
    # Given
    users = _users(USER_COUNT)
    names = {
        "config": [c["name"] for c in spec["dynamic_configs"]] + ["exp_archived"],
        "layer": [c["name"] for c in spec["layer_configs"]],
    }
    assert Experiment.objects.get(name="exp_archived").status == "archived"
    assert len(names["config"]) == 15
    assert len(names["layer"]) == 3
    # When
    node = NodeRun(spec, users, names)
    ours = ours_evaluate_all(spec, users, names)
    legacy = legacy_evaluate_all(spec, users, names)
    core = core_evaluate_all(to_v2(spec), users, names)
    theirs = {"legacy": legacy, "core": core, "node": node.result()}
    # Then
    for sdk, results in theirs.items():
        for kind, kind_names in names.items():
            for name in kind_names:
                mine = ours[kind][name]
                other = [tuple(row[:3]) for row in results[kind][name]]
                bad = [
                    (users[i], m, o)
                    for i, (m, o) in enumerate(zip(mine, other, strict=True))
                    if tuple(m[:3]) != o
                ]
                assert not bad, f"{sdk} differs on {kind} {name}: {bad[:3]}"
    _assert_every_rule_decides(spec, ours)


def _assert_every_rule_decides(spec: dict, ours: dict) -> None:
    """Each rule of every experiment and layer decided for some user: the shapes compared
    above were all exercised (overrides, holdouts, targeting, allocation, every group)."""
    for section, kind in (("dynamic_configs", "config"), ("layer_configs", "layer")):
        for entity in spec[section]:
            decided = {row[1] for row in ours[kind][entity["name"]]}
            if entity["name"] in TARGETS_NOBODY:
                continue
            rule_ids = {r["id"] for r in entity["rules"] if "configDelegate" not in r}
            missing = rule_ids - decided
            assert not missing, f"{entity['name']}: no user reached {sorted(missing)}"
