"""Issue 17's table from bench/results.json: every row's figure now, its goal, and whether
it is met, as the benches of one `make bench` run wrote them.

    .venv/bin/python bench/summary.py [bench/results.json]

A figure some bench did not write (a part skipped, a bench that failed) is shown as
"missing". The exit status is 0 either way: goals are reported, not enforced. The publish
after one change has the build's goal (2 s: it is that build plus the rows and enqueues);
"keep ~1.0x" for the full download reads as at least 0.9x (the run-to-run noise).
"""

from __future__ import annotations

import json
import operator
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT = Path(__file__).resolve().parent / "results.json"
SCALE_GATES = 10_000  # the project size of the table's build and submit rows


@dataclass(frozen=True)
class Row:
    what: str
    path: tuple[str, ...]  # keys into the results file
    unit: str  # "s", "ms" or "x"
    goal: float
    better: Callable[[float, float], bool]  # better(figure, goal): the goal is met
    baseline: tuple[str, ...] | None = None  # the same run's baseline, for the ratio shown

    @property
    def goal_text(self) -> str:
        sign = "<" if self.better is operator.lt else ">="
        return f"{sign} {_format(self.goal, self.unit)}"


def _format(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "ms":
        return f"{value:,.0f} ms"
    return f"{value:.2f} s"


def _get(results: dict, path: tuple[str, ...]) -> Any:
    value: Any = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def rows(results: dict, gates: int = SCALE_GATES) -> list[Row]:
    """Issue 17's rows (build and submit at `gates` gates), then every other evaluator shape
    (kept ahead of python-core)."""
    scale = ("spec_scale", "sizes", str(gates))
    serve = ("publishing", "serve", "paths")
    latency_gates = _get(results, ("spec_scale", "approval_to_redis", "project", "gates")) or 10_000
    table = [
        Row(
            f"build v1+v2, 3 envs, {gates:,} gates + {gates // 10:,} exps, after 1 change",
            (*scale, "build_s"),
            "s",
            2.0,
            operator.lt,
            baseline=(*scale, "full_build_s"),
        ),
        Row(
            f"spec_publish after 1 change, {gates:,} gates + {gates // 10:,} exps",
            (*scale, "publish_s"),
            "s",
            2.0,
            operator.lt,
            baseline=(*scale, "full_build_s"),
        ),
        Row(
            f"submit one change set, {gates:,} gates (dry run)",
            (*scale, "submit_s"),
            "s",
            0.5,
            operator.lt,
            baseline=(*scale, "full_build_s"),
        ),
        Row(
            f"submit one change set, {gates:,} gates, in a new process (shared tier)",
            (*scale, "new_process_submit_s"),
            "s",
            0.5,
            operator.lt,
            baseline=(*scale, "full_build_s"),
        ),
        Row(
            "download_config_specs?sinceTime=current vs static",
            (*serve, "sinceTime=current", "gunicorn_vs_static"),
            "x",
            0.5,
            operator.ge,
        ),
        Row(
            "full spec download vs static (keep ~1.0x)",
            (*serve, "full spec", "gunicorn_vs_static"),
            "x",
            0.9,
            operator.ge,
        ),
        Row(
            "approval -> spec in Redis p99, small project",
            ("publishing", "approval_to_redis", "to_redis_ms", "p99"),
            "ms",
            1000,
            operator.lt,
        ),
        Row(
            f"approval -> spec in Redis p99, {latency_gates:,} gates",
            ("spec_scale", "approval_to_redis", "to_redis_ms", "p99"),
            "ms",
            1000,
            operator.lt,
        ),
        Row(
            "check_gate, 20-rule gate, vs statsig-python-core",
            ("evaluator", "gates", "twenty_rules", "ours_vs_core"),
            "x",
            1.0,
            operator.ge,
        ),
    ]
    for key, section, label in (
        ("evaluator", "gates", "check_gate"),
        ("experiments_evaluator", "calls", ""),
    ):
        for shape in _get(results, (key, section)) or {}:
            if shape != "twenty_rules":
                table.append(
                    Row(
                        f"{label} {shape} vs statsig-python-core (keep ahead)".strip(),
                        (key, section, shape, "ours_vs_core"),
                        "x",
                        1.0,
                        operator.ge,
                    )
                )
    return table


def growth_lines(results: dict) -> list[str]:
    """How build and submit times grow with the gates (linear: as the gates ratio)."""
    steps = _get(results, ("spec_scale", "growth")) or {}
    lines = []
    for label, step in steps.items():
        figures = ", ".join(
            f"{name} {step[key]:.1f}x"
            for name, key in (
                ("full build", "full_build_s"),
                ("build after 1 change", "build_s"),
                ("publish", "publish_s"),
                ("submit", "submit_s"),
            )
            if step.get(key) is not None
        )
        lines.append(f"  gates {label} ({step['gates_ratio']:g}x): {figures}")
    return lines


def render(results: dict, gates: int = SCALE_GATES) -> str:
    table = rows(results, gates)
    width = max(len(row.what) for row in table)
    lines = [
        "Issue 17: publishing at scale (from this run's bench/results.json)",
        f"  {'what':{width}} {'now':>10} {'goal':>12} {'met?':>6}  baseline (same run)",
    ]
    for row in table:
        figure = _get(results, row.path)
        if figure is None:
            lines.append(f"  {row.what:{width}} {'missing':>10} {row.goal_text:>12} {'-':>6}")
            continue
        met = "yes" if row.better(figure, row.goal) else "NO"
        note = ""
        baseline = _get(results, row.baseline) if row.baseline else None
        if baseline:
            note = f"  {figure / baseline:.2f}x the full build ({_format(baseline, row.unit)})"
        lines.append(
            f"  {row.what:{width}} {_format(figure, row.unit):>10} {row.goal_text:>12} "
            f"{met:>6}{note}"
        )
    growth = growth_lines(results)
    if growth:
        lines.append("Growth with the number of gates (linear = the gates ratio)")
        lines += growth
    return "\n".join(lines)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    print(render(json.loads(path.read_text())))  # noqa: T201


if __name__ == "__main__":
    main()
