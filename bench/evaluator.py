"""Evaluation speed: our evaluator vs the real Statsig SDKs on the same spec and users.

    .venv/bin/python bench/evaluator.py [--users 100000] [--repeat 3] [--out bench/results.json]

One thread, 100,000 distinct users, warm spec; each figure is the median of ``--repeat`` runs.
Three gates: ``bench_gate`` (country any / appVersion version_gte / public 30%: the
statsig-dcs.md §8 workload), ``twenty_rules`` (19 non-matching rules, then public 30%) and
``segment_check`` (pass_gate on a two-rule segment). Legacy ``statsig`` runs ``check_gate``
in local mode (exposure bookkeeping on, as an application would call it); statsig-python-core
runs ``check_gate`` with ``disable_all_logging``.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.specs.evaluator import Evaluator  # noqa: E402
from console.specs.hashing import djb2  # noqa: E402

GATES = ("bench_gate", "twenty_rules", "segment_check")
CLOSED_URL = "http://127.0.0.1:9"


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


def to_v2(spec: dict) -> dict:
    condition_map = {}
    gates = {}
    for gate in spec["feature_gates"]:
        gate = json.loads(json.dumps(gate))
        for rule in gate["rules"]:
            keys = []
            for condition in rule["conditions"]:
                key = djb2(json.dumps(condition, sort_keys=True))
                condition_map[key] = condition
                keys.append(key)
            rule["conditions"] = keys
        gates[gate.pop("name")] = gate
    base = {k: v for k, v in spec.items() if k not in ("feature_gates", "layers")}
    sections = {"feature_gates": gates, "dynamic_configs": {}, "layer_configs": {}}
    return {**base, **sections, "condition_map": condition_map}


def rate(fn: Callable, users: list) -> float:
    started = time.perf_counter()
    for user in users:
        fn(user)
    return len(users) / (time.perf_counter() - started)


def run(n: int, repeat: int) -> dict:
    import statsig_python_core as core
    from statsig.statsig_options import StatsigOptions
    from statsig.statsig_server import StatsigServer
    from statsig.statsig_user import StatsigUser

    logging.getLogger("statsig.sdk").setLevel(logging.ERROR)
    spec = build_spec()
    plain = [{"userID": f"bench-{i}", "country": "US", "appVersion": "1.0.0"} for i in range(n)]
    ours = Evaluator(spec)

    legacy = StatsigServer()
    legacy.initialize(
        "secret-bench", StatsigOptions(bootstrap_values=json.dumps(spec), local_mode=True)
    )
    legacy_users = [
        StatsigUser(user_id=u["userID"], country="US", app_version="1.0.0") for u in plain
    ]

    payload = json.dumps(to_v2(spec))

    class Store(core.DataStore):
        def get(self, key):
            return core.DataStoreResponse(result=payload, time=None)

    rust = core.Statsig(
        "secret-bench",
        core.StatsigOptions(
            data_store=Store(),
            specs_url=f"{CLOSED_URL}/v2/download_config_specs",
            log_event_url=f"{CLOSED_URL}/v1/log_event",
            disable_all_logging=True,
            disable_country_lookup=True,
            output_log_level="none",
        ),
    )
    rust.initialize().wait()
    core_users = [
        core.StatsigUser(user_id=u["userID"], country="US", app_version="1.0.0") for u in plain
    ]

    figures: dict = {"users": n, "repeat": repeat, "gates": {}}
    try:
        for gate in GATES:
            expected = [ours.check_gate(u, gate) for u in plain[:2000]]
            assert expected == [legacy.check_gate(u, gate) for u in legacy_users[:2000]], gate
            assert expected == [rust.check_gate(u, gate) for u in core_users[:2000]], gate
            contenders = {
                "ours": (lambda u, g=gate: ours.check_gate(u, g), plain),
                "legacy": (lambda u, g=gate: legacy.check_gate(u, g), legacy_users),
                "core": (lambda u, g=gate: rust.check_gate(u, g), core_users),
            }
            # Interleaved runs, so background load hits every contender alike.
            runs: dict[str, list[float]] = {label: [] for label in contenders}
            for _ in range(repeat):
                for label, (fn, users) in contenders.items():
                    runs[label].append(rate(fn, users))
            row: dict = {}
            for label, rates in runs.items():
                row[label] = round(statistics.median(rates))
                row[f"{label}_runs"] = [round(r) for r in rates]
            row["ours_vs_legacy"] = round(row["ours"] / row["legacy"], 2)
            row["ours_vs_core"] = round(row["ours"] / row["core"], 2)
            figures["gates"][gate] = row
    finally:
        legacy.shutdown()
        rust.shutdown().wait()
    return figures


def render(figures: dict) -> str:
    lines = [
        f"check_gate, evals/s (median of {figures['repeat']}, "
        f"{figures['users']:,} distinct users, one thread)",
        f"{'gate':15} {'ours':>10} {'legacy':>10} {'python-core':>12} {'ours/legacy':>12} "
        f"{'ours/core':>10}",
    ]
    for gate, row in figures["gates"].items():
        lines.append(
            f"{gate:15} {row['ours']:>10,} {row['legacy']:>10,} {row['core']:>12,} "
            f"{row['ours_vs_legacy']:>11.1f}x {row['ours_vs_core']:>9.2f}x"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, help="merge the figures into this JSON file")
    args = parser.parse_args()
    figures = run(args.users, args.repeat)
    print(render(figures))  # noqa: T201
    if args.out:
        existing = json.loads(args.out.read_text()) if args.out.exists() else {}
        existing["evaluator"] = figures
        args.out.write_text(json.dumps(existing, indent=2) + "\n")


if __name__ == "__main__":
    main()
