"""Experiment and layer evaluation speed: our evaluator vs the real Statsig SDKs.

    .venv/bin/python bench/experiments.py [--users 100000] [--repeat 3] [--out bench/results.json]

One thread, 100,000 distinct users, warm spec; each figure is the median of ``--repeat`` runs.
The spec is made by the experiments spec contributor's own shape functions
(``experiments.specs``), no database needed:

* ``bench_exp``: a running experiment outside any layer, 80% allocated, two groups, a
  50-ID override and a 5% global holdout: ``get_experiment`` (the docs/statsig-spec.md
  §13 workload);
* ``bench_layer``: a layer whose three running experiments own 30% each, the same global
  holdout before them: ``get_layer(...).get("color")`` (holdout + delegate).

Legacy ``statsig`` runs in local mode with exposure bookkeeping on (as an application calls
it); statsig-python-core with ``disable_all_logging``. The three are checked to agree on
2,000 users before timing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

import django  # noqa: E402

django.setup()

from bench.common import compare, main, sdk_servers, shutdown_servers  # noqa: E402
from console.specs.builder import DIAGNOSTICS, SpecDraft, check_spec  # noqa: E402
from console.specs.evaluator import Evaluator  # noqa: E402
from experiments.specs import LiveNames, experiment_spec, holdout_spec, layer_spec  # noqa: E402

PARAMETERS = [
    {"name": "color", "type": "string", "defaultValue": "grey", "description": ""},
    {"name": "discount", "type": "number", "defaultValue": 0, "description": ""},
]
HOLDOUT = {
    "pk": 1,
    "name": "global_holdout",
    "salt": "holdout-salt",
    "rule_salt": "holdout-rule-salt",
    "id_type": "userID",
    "percentage": 5,
    "is_global": True,
    "revision": 1,
}


def _experiment(pk: int, name: str, *, allocation: int, layer_id=None, overrides=()) -> dict:
    groups = [
        {
            "id": f"{name}-g{i}",
            "name": label,
            "description": "",
            "size": 50,
            "parameterValues": {"color": color, "discount": 5 * i},
        }
        for i, (label, color) in enumerate((("Control", "grey"), ("Test", "blue")))
    ]
    return {
        "pk": pk,
        "name": name,
        "salt": f"{name}-salt",
        "layer_salt": f"{name}-implicit-layer-salt",
        "id_type": "userID",
        "status": "running",
        "allocation": allocation,
        "layer_id": layer_id,
        "targeting_gate__name": None,
        "targeting_gate__archived_at": None,
        "targeting_conditions": [],
        "parameters": PARAMETERS,
        "groups": groups,
        "overrides": [{"groupId": groups[1]["id"], "unitIDs": list(overrides), "segments": []}]
        if overrides
        else [],
        "launched_group_id": "",
        "revision": 1,
    }


def build_spec() -> dict:
    """The benchmark payload in v1 form, in the shapes the spec contributor emits."""
    draft = SpecDraft(project=None, environment=None)
    live = LiveNames(set(), set())
    layer = {
        "pk": 1,
        "name": "bench_layer",
        "salt": "bench-layer-salt",
        "id_type": "userID",
        "parameters": PARAMETERS,
        "revision": 1,
    }
    members = [_experiment(10 + i, f"layer_exp_{i}", allocation=30, layer_id=1) for i in range(3)]
    buckets = {exp["pk"]: list(range(300 * i, 300 * (i + 1))) for i, exp in enumerate(members)}
    standalone = _experiment(
        1, "bench_exp", allocation=80, overrides=[f"qa-{i}" for i in range(50)]
    )
    draft.feature_gates.append(holdout_spec(HOLDOUT))
    draft.dynamic_configs.append(
        experiment_spec(
            standalone,
            layer=None,
            buckets=list(range(800)),
            holdouts=[HOLDOUT],
            live=live,
            draft=draft,
        )
    )
    for exp in members:
        draft.dynamic_configs.append(
            experiment_spec(
                exp,
                layer=layer,
                buckets=buckets[exp["pk"]],
                holdouts=[HOLDOUT],
                live=live,
                draft=draft,
            )
        )
    draft.layer_configs.append(layer_spec(layer, members, buckets, [HOLDOUT], live))
    spec = {
        "has_updates": True,
        "time": 1_700_000_000_000,
        "feature_gates": draft.feature_gates,
        "dynamic_configs": draft.dynamic_configs,
        "layer_configs": draft.layer_configs,
        "layers": {"bench_layer": [e["name"] for e in members]},
        "experiment_to_layer": {e["name"]: "bench_layer" for e in members},
        "id_lists": {},
        "diagnostics": dict(DIAGNOSTICS),
        "default_environment": "production",
    }
    check_spec(spec)
    return spec


def run(n: int, repeat: int) -> dict:
    from statsig.statsig_user import StatsigUser
    from statsig_python_core import StatsigUser as CoreUser

    spec = build_spec()
    plain = [{"userID": f"bench-{i}"} for i in range(n)]
    ours = Evaluator(spec)
    legacy, rust = sdk_servers(spec)
    legacy_users = [StatsigUser(user_id=u["userID"]) for u in plain]
    core_users = [CoreUser(user_id=u["userID"]) for u in plain]

    calls = {
        "get_experiment": {
            "ours": (lambda u: ours.get_experiment(u, "bench_exp").value, plain),
            "legacy": (lambda u: legacy.get_experiment(u, "bench_exp").get_value(), legacy_users),
            "core": (lambda u: rust.get_experiment(u, "bench_exp").value, core_users),
        },
        "get_layer": {
            "ours": (lambda u: ours.get_layer(u, "bench_layer").value.get("color", ""), plain),
            "legacy": (
                lambda u: legacy.get_layer(u, "bench_layer").get("color", ""),
                legacy_users,
            ),
            "core": (lambda u: rust.get_layer(u, "bench_layer").get("color", ""), core_users),
        },
    }
    figures: dict = {"users": n, "repeat": repeat, "calls": {}}
    try:
        for call, contenders in calls.items():
            figures["calls"][call] = compare(call, contenders, repeat)
    finally:
        shutdown_servers(legacy, rust)
    return figures


if __name__ == "__main__":
    main(__doc__, run, "experiments_evaluator", "get_experiment / get_layer", "calls")
