"""Evaluation speed: our evaluator vs the real Statsig SDKs on the same spec and users.

    .venv/bin/python bench/evaluator.py [--users 100000] [--repeat 3] [--out bench/results.json]

One thread, 100,000 distinct users, warm spec; each figure is the median of ``--repeat`` runs.
Three gates: ``bench_gate`` (country any / appVersion version_gte / public 30%: the
docs/statsig-spec.md §13 workload), ``twenty_rules`` (19 non-matching rules, then public 30%) and
``segment_check`` (pass_gate on a two-rule segment). Legacy ``statsig`` runs ``check_gate``
in local mode (exposure bookkeeping on, as an application would call it); statsig-python-core
runs ``check_gate`` with ``disable_all_logging``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import compare, main, sdk_servers, shutdown_servers  # noqa: E402
from console.specs.evaluator import Evaluator  # noqa: E402

GATES = ("bench_gate", "twenty_rules", "segment_check")


def _cond(ctype, operator=None, target=None, field=None):
    return {
        "type": ctype,
        "operator": operator,
        "targetValue": target,
        "field": field,
        "additionalValues": {},
        "idType": "userID",
    }


def _rule(rule_id, conditions, pct=100):
    return {
        "name": rule_id,
        "id": rule_id,
        "salt": f"{rule_id}-salt",
        "passPercentage": pct,
        "conditions": conditions,
        "returnValue": True,
        "idType": "userID",
    }


def _gate(name, rules, entity="feature_gate"):
    return {
        "name": name,
        "type": "feature_gate",
        "entity": entity,
        "salt": f"{name}-salt",
        "enabled": True,
        "defaultValue": False,
        "idType": "userID",
        "rules": rules,
    }


def build_spec() -> dict:
    """The benchmark payload in v1 form."""
    twenty = [
        _rule("t_ids", [_cond("user_field", "any", [f"vip-{i}" for i in range(50)], "userID")]),
        _rule("t_email", [_cond("user_field", "str_ends_with_any", ["@acme.com"], "email")]),
        _rule("t_country", [_cond("user_field", "any", ["NZ", "AU", "JP"], "country")]),
        _rule("t_version", [_cond("user_field", "version_gte", "9.0.0", "appVersion")]),
        _rule("t_locale", [_cond("user_field", "any", ["fr_FR"], "locale")]),
        _rule("t_plan", [_cond("user_field", "any", ["enterprise"], "plan")]),
        _rule("t_level", [_cond("user_field", "gt", 90, "level")]),
        _rule("t_contains", [_cond("user_field", "str_contains_any", ["internal"], "email")]),
        _rule("t_ip", [_cond("user_field", "any", ["10.0.0.1"], "ip")]),
        _rule("t_starts", [_cond("user_field", "str_starts_with_any", ["qa-"], "userID")]),
    ]
    twenty += [
        _rule(f"t_market_{i}", [_cond("user_field", "any", [f"M{i}", f"N{i}"], "country")])
        for i in range(9)
    ]
    twenty.append(_rule("t_rest", [_cond("public")], pct=30))
    gates = [
        _gate(
            "bench_gate",
            [
                _rule("bench_r1", [_cond("user_field", "any", ["NZ", "AU"], "country")]),
                _rule("bench_r2", [_cond("user_field", "version_gte", "9.0.0", "appVersion")]),
                _rule("bench_r3", [_cond("public")], pct=30),
            ],
        ),
        _gate("twenty_rules", twenty),
        _gate(
            "segment:internal",
            [
                _rule(
                    "seg_email", [_cond("user_field", "str_ends_with_any", ["@acme.com"], "email")]
                ),
                _rule("seg_ids", [_cond("user_field", "any", ["alice", "bob"], "userID")]),
            ],
            entity="segment",
        ),
        _gate("segment_check", [_rule("seg_r1", [_cond("pass_gate", None, "segment:internal")])]),
    ]
    return {
        "has_updates": True,
        "time": 1_700_000_000_000,
        "feature_gates": gates,
        "dynamic_configs": [],
        "layer_configs": [],
        "layers": {},
        "experiment_to_layer": {},
        "diagnostics": {"initialize": 0, "dcs": 0, "idlist": 0, "logevent": 0, "api_call": 0},
    }


def run(n: int, repeat: int) -> dict:
    from statsig.statsig_user import StatsigUser
    from statsig_python_core import StatsigUser as CoreUser

    spec = build_spec()
    plain = [{"userID": f"bench-{i}", "country": "US", "appVersion": "1.0.0"} for i in range(n)]
    ours = Evaluator(spec)
    legacy, rust = sdk_servers(spec)
    legacy_users = [
        StatsigUser(user_id=u["userID"], country="US", app_version="1.0.0") for u in plain
    ]
    core_users = [CoreUser(user_id=u["userID"], country="US", app_version="1.0.0") for u in plain]
    figures: dict = {"users": n, "repeat": repeat, "gates": {}}
    try:
        for gate in GATES:
            contenders = {
                "ours": (lambda u, g=gate: ours.check_gate(u, g), plain),
                "legacy": (lambda u, g=gate: legacy.check_gate(u, g), legacy_users),
                "core": (lambda u, g=gate: rust.check_gate(u, g), core_users),
            }
            figures["gates"][gate] = compare(gate, contenders, repeat)
    finally:
        shutdown_servers(legacy, rust)
    return figures


if __name__ == "__main__":
    main(__doc__, run, "evaluator", "check_gate", "gates")
