"""What the benches share: the real Statsig SDKs loaded offline with one spec,
interleaved timing of ours against them, the printed table and the results file."""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from console.specs.builder import to_v2

CLOSED_URL = "http://127.0.0.1:9"  # nothing listens: the SDKs never reach Statsig's servers
AGREEMENT_SAMPLE = 2000

# label -> (call, its users): each SDK takes its own user objects.
Contenders = dict[str, tuple[Callable, list]]


def sdk_servers(spec: dict):
    """Legacy `statsig` bootstrapped in local mode with the v1 spec, and statsig-python-core
    reading the v2 form from a data store; shut them down with `shutdown_servers`."""
    import statsig_python_core as core
    from statsig.statsig_options import StatsigOptions
    from statsig.statsig_server import StatsigServer

    logging.getLogger("statsig.sdk").setLevel(logging.ERROR)
    legacy = StatsigServer()
    legacy.initialize(
        "secret-bench",
        StatsigOptions(bootstrap_values=json.dumps(spec), local_mode=True, api=CLOSED_URL),
    )
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
    return legacy, rust


def shutdown_servers(legacy, rust) -> None:
    legacy.shutdown()
    rust.shutdown().wait()


def rate(fn: Callable, users: list) -> float:
    started = time.perf_counter()
    for user in users:
        fn(user)
    return len(users) / (time.perf_counter() - started)


def compare(name: str, contenders: Contenders, repeat: int) -> dict:
    """Evaluations per second of each contender (median of `repeat` interleaved runs, so
    background load hits them alike), after checking they agree on a sample of users."""
    sample = {
        label: [fn(user) for user in users[:AGREEMENT_SAMPLE]]
        for label, (fn, users) in contenders.items()
    }
    assert sample["ours"] == sample["legacy"] == sample["core"], name
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
    return row


def render(title: str, figures: dict, rows: str) -> str:
    lines = [
        f"{title}, evals/s (median of {figures['repeat']}, {figures['users']:,} distinct "
        "users, one thread)",
        f"{'':15} {'ours':>10} {'legacy':>10} {'python-core':>12} {'ours/legacy':>12} "
        f"{'ours/core':>10}",
    ]
    for name, row in figures[rows].items():
        lines.append(
            f"{name:15} {row['ours']:>10,} {row['legacy']:>10,} {row['core']:>12,} "
            f"{row['ours_vs_legacy']:>11.1f}x {row['ours_vs_core']:>9.2f}x"
        )
    return "\n".join(lines)


def main(doc: str, run: Callable[[int, int], dict], key: str, title: str, rows: str) -> None:
    """Command line of a bench: run, print the table, merge the figures under `key`."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, help="merge the figures into this JSON file")
    args = parser.parse_args()
    figures = run(args.users, args.repeat)
    print(render(title, figures, rows))  # noqa: T201
    if args.out:
        merge_results(args.out, key, figures)


def merge_results(out: Path, key: str, figures: dict) -> None:
    """Put `figures` under `key` in the results file, keeping the other benches' keys."""
    existing = json.loads(out.read_text()) if out.exists() else {}
    existing[key] = figures
    out.write_text(json.dumps(existing, indent=2) + "\n")


def percentile(values: list[float], pct: int) -> float:
    """The `pct`th percentile (1-99) of `values`, interpolated between the nearest ones."""
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]
