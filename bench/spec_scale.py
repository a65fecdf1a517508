"""Spec builds at scale: a full build, a build and a publish after one gate changed, and a
member's submit of one gate change, at 1,000, 10,000 (and 50,000) gates; approval → Redis
with a live worker at 10,000 gates.

    .venv/bin/python bench/spec_scale.py [--gates 1000,10000] [--runs 3]
        [--latency-gates 10000] [--latency-changes 20] [--out bench/results.json]
        [--database gatehouse_bench_scale] [--redis-url redis://...] [--keep-db]

Like bench/publishing.py it works in a database of its own (dropped, created and migrated at
the start, dropped at the end unless ``--keep-db``) and a redis-server of its own. For each
size N it creates one project of N gates (three rules each) and N/10 experiments in N/200
layers (10,000 gates: the 1,000 experiments in 50 layers of bench/publishing.py), bulk-inserted
by the builders of ``gates_bench_spec`` and ``experiments_bench_spec``, and times:

- ``full_build_s``: v1 + v2 of the three environments by the reference path
  (``build_spec``, ``spec_json``, ``to_v2``, ``spec_json``), median of ``--runs``: the baseline
  measured in the same run;
- ``cold_build_s``: the first build of the project by the incremental path
  (``console.specs.incremental.build_all``, as a publish runs it, with the fragment cache
  and its shared tier emptied), and ``build_s``: the same after one gate changed
  (``gate_update``), median of ``--runs`` (each after another change). The incremental
  result is checked byte for byte against the reference (production, v1 and v2);
- ``publish_s``: ``spec_publish`` after one gate changed, as an admin's publish runs it,
  and ``publish_stored_chars``: what it added to the project's stored spec chunks, against
  ``version_bodies_chars``, its environments' v1 and v2 bodies;
- ``submit_s``: a member's ``changeset_submit`` of one gate change (reviews' dry run included;
  production requires review, so nothing is applied), median of ``--runs``.
- ``new_process_build_s`` and ``new_process_submit_s``: the same build and submit in a
  process that has not built the project yet (its own cache emptied; the shared tier in
  Redis holding what was built), as a new web worker runs them.

Growth: each figure's ratio from one size to the next (``growth``), against the ratio of the
sizes (10x from 1,000 to 10,000, 5x from 10,000 to 50,000).

``approval_to_redis``: bench/publishing.py's part 3 on a project of ``--latency-gates``
gates and a tenth as many experiments, ``--latency-changes`` changes (0: skipped).

Time with the reference path on a 2-core VM that other work kept at a load of 8-10: 1,000 +
10,000 gates 8 minutes and the latency part 20 (about 17 s a change); 50,000 gates add 23
minutes with ``--runs 2`` (``make bench SPEC_SCALE_GATES=1000,10000,50000``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import merge_results  # noqa: E402
from bench.publishing import (  # noqa: E402
    _check,
    _next_document,
    _project,
    bench_approval,
    isolated,
)

RESULTS_KEY = "spec_scale"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _reference(project, environments) -> dict[int, tuple[str, str]]:
    """v1 and v2 JSON of each environment, the full build's way."""
    from console.specs.builder import build_spec, spec_json, to_v2

    time_ms = _now_ms()
    built = {}
    for environment in environments:
        v1 = build_spec(project, environment, time_ms=time_ms)
        built[environment.pk] = (spec_json(v1), spec_json(to_v2(v1)))
    return built


def _incremental(project, environments) -> dict[int, tuple[str, str]]:
    """v1 and v2 JSON of each environment, the incremental way (as a publish builds)."""
    from console.specs.incremental import build_all

    time_ms = _now_ms()
    built = build_all(project, [(e, time_ms) for e in environments])
    return {spec.environment_id: (spec.v1_json, spec.v2_json) for spec in built}


def _same_as_reference(project, environment) -> None:
    """The incremental build is byte-identical to the full one (v1 and v2)."""
    from console.specs.builder import build_spec, spec_json, to_v2
    from console.specs.incremental import build

    time_ms = _now_ms()
    spec = build(project, environment, time_ms=time_ms)
    v1 = build_spec(project, environment, time_ms=time_ms)
    _check(spec.v1_json == spec_json(v1), f"{environment.name}: v1 differs from build_spec")
    _check(spec.v2_json == spec_json(to_v2(v1)), f"{environment.name}: v2 differs from to_v2")


def _timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def _change_gate(admin, gate_pk: int) -> None:
    """One gate's public rule moved between 30% and 40%, through gate_update."""
    from gates.models import FeatureGate
    from gates.services.gates import gate_update
    from gates.types import GateDocument

    gate = FeatureGate.objects.select_related("project", "owner").get(pk=gate_pk)
    gate_update(actor=admin, gate=gate, document=cast(GateDocument, _next_document(gate)))


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def bench_size(gates: int, runs: int) -> dict:
    """Every timing of one project of `gates` gates."""
    from console.publishing.services import spec_publish
    from console.specs import incremental, shared_fragments
    from gates.models import FeatureGate
    from reviews.services import ChangeInput, changeset_submit

    experiments, layers = gates // 10, max(1, gates // 200)
    started = time.perf_counter()
    project, admin, member, _keys = _project(
        f"bench-scale-{gates}", gates=gates, experiments=experiments, layers=layers
    )
    created_s = time.perf_counter() - started
    environments = list(project.environments.order_by("pk"))
    gate_pks = list(
        FeatureGate.objects.filter(project=project).order_by("pk").values_list("pk", flat=True)
    )
    full = [_timed(_reference, project, environments) for _ in range(runs)]
    incremental.clear_caches()
    shared_fragments.clear()
    cold = _timed(_incremental, project, environments)
    warm: list[float] = []
    publish: list[float] = []
    stored: list[int] = []
    spec_publish(actor=admin, project=project, reason="bench scale baseline")
    for n in range(runs):
        _change_gate(admin, gate_pks[n])
        warm.append(_timed(_incremental, project, environments))
        _change_gate(admin, gate_pks[runs + n])
        before = _stored_chars(project)
        started = time.perf_counter()
        version = spec_publish(actor=admin, project=project, reason=f"bench scale {n}")
        publish.append(time.perf_counter() - started)
        _check(version.was_created, "spec_publish: the change was not published")
        stored.append(_stored_chars(project) - before)
    bodies = sum(
        len(spec.v1_json) + len(spec.v2_json)
        for spec in version.config_specs.all()  # (the last version's)
    )
    production = next(e for e in environments if e.name == "production")
    _same_as_reference(project, production)

    def submit_one(n: int) -> float:
        gate = FeatureGate.objects.select_related("project", "owner").get(pk=gate_pks[2 * runs + n])
        change = ChangeInput(
            kind="gate", action="update", name=gate.name, payload=_next_document(gate)
        )
        started = time.perf_counter()
        change_set = changeset_submit(
            actor=member, project=project, changes=[change], source="bench"
        )
        took = time.perf_counter() - started
        _check(change_set.state == "in_review", f"submitted: {change_set.state}")
        return took

    # Each submit changes a gate of its own (one open change set per entity); the first,
    # a warm-up, also pays the process's one-off imports.
    submit_one(2 * runs)
    submit = [submit_one(n) for n in range(runs)]
    # A process that has not built this project yet (a new web worker): its own cache
    # empty, the shared tier (Redis) holding what the others built.
    new_build: list[float] = []
    new_submit: list[float] = []
    for n in range(runs):
        incremental.clear_caches()
        new_build.append(_timed(_incremental, project, environments))
        incremental.clear_caches()
        new_submit.append(submit_one(runs + n))

    full_s = _median(full)
    return {
        "gates": gates,
        "experiments": experiments,
        "layers": layers,
        "environments": len(environments),
        "created_s": round(created_s, 1),
        "full_build_s": full_s,
        "full_build_runs_s": [round(s, 3) for s in full],
        "cold_build_s": round(cold, 3),
        "build_s": _median(warm),
        "build_runs_s": [round(s, 3) for s in warm],
        "build_vs_full": round(statistics.median(warm) / full_s, 3),
        "publish_s": _median(publish),
        "publish_runs_s": [round(s, 3) for s in publish],
        "publish_vs_full": round(statistics.median(publish) / full_s, 3),
        "publish_stored_chars": int(statistics.median(stored)),
        "version_bodies_chars": bodies,
        "submit_s": _median(submit),
        "submit_runs_s": [round(s, 3) for s in submit],
        "new_process_build_s": _median(new_build),
        "new_process_submit_s": _median(new_submit),
    }


def _stored_chars(project) -> int:
    """The characters of the project's stored spec chunks."""
    from django.db.models import Sum
    from django.db.models.functions import Length

    from console.models import SpecChunk

    total = SpecChunk.objects.filter(project=project).aggregate(n=Sum(Length("body")))["n"]
    return total or 0


GROWN = ("full_build_s", "cold_build_s", "build_s", "publish_s", "submit_s")


def growth(sizes: dict[str, dict]) -> dict[str, dict]:
    """Each figure's ratio from one size to the next, with the ratio of the sizes."""
    ordered = sorted(sizes.values(), key=lambda row: row["gates"])
    steps = {}
    for small, large in zip(ordered, ordered[1:], strict=False):
        step = {"gates_ratio": round(large["gates"] / small["gates"], 2)}
        for key in GROWN:
            step[key] = round(large[key] / small[key], 2) if small[key] else None
        steps[f"{large['gates']}/{small['gates']}"] = step
    return steps


def render(figures: dict) -> str:
    lines = [
        f"Spec builds at scale, seconds (median of {figures['runs']}; 3 environments, v1+v2)",
        f"  {'gates':>7} {'exps':>6} {'full build':>11} {'cold':>7} {'after 1 change':>15} "
        f"{'x full':>7} {'publish':>8} {'x full':>7} {'submit':>7}",
    ]
    for row in figures["sizes"].values():
        lines.append(
            f"  {row['gates']:>7,} {row['experiments']:>6,} {row['full_build_s']:>11.2f} "
            f"{row['cold_build_s']:>7.2f} {row['build_s']:>15.2f} {row['build_vs_full']:>6.2f}x "
            f"{row['publish_s']:>8.2f} {row['publish_vs_full']:>6.2f}x {row['submit_s']:>7.2f}"
        )
        if "publish_stored_chars" in row:
            lines.append(
                f"  {'':>7} a publish after one change stored "
                f"{row['publish_stored_chars']:,} characters of its three environments' "
                f"{row['version_bodies_chars']:,}"
            )
        if "new_process_build_s" in row:
            lines.append(
                f"  {'':>7} new process (own cache empty, shared tier warm): build "
                f"{row['new_process_build_s']:.2f}, submit {row['new_process_submit_s']:.2f}"
            )
    if figures["growth"]:
        lines.append("  growth (x; linear = the gates ratio)")
        for label, step in figures["growth"].items():
            parts = " ".join(
                f"{key.removesuffix('_s')} {step[key]:.1f}x" for key in GROWN if step[key]
            )
            lines.append(f"  {label:>13} gates {step['gates_ratio']:g}x: {parts}")
    approval = figures.get("approval_to_redis")
    if approval:
        row = approval["to_redis_ms"]
        lines.append(
            f"Approval -> spec in Redis at {approval['project']['gates']:,} gates, ms "
            f"({approval['changes']} changes): p50 {row['p50']:.0f}, p99 {row['p99']:.0f}, "
            f"max {row['max']:.0f}"
        )
    return "\n".join(lines)


def run(args, env: dict, workdir: Path) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    figures: dict = {"runs": args.runs, "sizes": {}, "growth": {}}
    try:
        call_command("migrate", verbosity=0, interactive=False)
        for gates in args.gates:
            figures["sizes"][str(gates)] = bench_size(gates, args.runs)
            figures["growth"] = growth(figures["sizes"])
            print(render(figures), flush=True)  # noqa: T201
        if args.latency_changes:
            args.changes = args.latency_changes
            figures["approval_to_redis"] = bench_approval(env, args, workdir)
    except BaseException:
        print(render(figures), file=sys.stderr)  # noqa: T201 (what was measured before)
        raise
    finally:
        connections.close_all()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--gates",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1_000, 10_000],
        help="comma-separated project sizes (default 1000,10000)",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-gates", type=int, default=10_000)
    parser.add_argument("--latency-changes", type=int, default=20, help="0: skip that part")
    parser.add_argument("--database", default="gatehouse_bench_scale")
    parser.add_argument(
        "--redis-url", help="a Redis DB to use (emptied!) instead of a redis-server of its own"
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database")
    parser.add_argument("--out", type=Path, help="merge the figures into this JSON file")
    args = parser.parse_args()
    if "bench" not in args.database:
        parser.error("the bench drops its database: give it a name containing 'bench'")
    if args.runs * 3 > min(args.gates):
        parser.error("each size needs 3 x --runs gates")
    args.latency_experiments = args.latency_gates // 10
    with isolated(args.database, args.redis_url, "bench-scale-", keep_db=args.keep_db) as (
        env,
        workdir,
    ):
        figures = run(args, env, workdir)
    print(render(figures))  # noqa: T201
    if args.out:
        merge_results(args.out, RESULTS_KEY, figures)


if __name__ == "__main__":
    main()
