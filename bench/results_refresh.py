"""The query plan: a full computation from events against the rollup's first build and
its daily incremental refresh, and the same computation in DuckDB (in-process, the
single-machine analytics anchor) in the same run.

    .venv/bin/python bench/results_refresh.py [--units 400000] [--events 8000000] [--days 14]
        [--out bench/results.json] [--database gatehouse_bench_results] [--keep-db]

In a database of its own (bench/publishing.py's `isolated`; Redis is not used): one
experiment with three groups, `--units` units exposed over its first three days (one in
101 a crossover, one in 103 a bot), `--events` purchases, sessions, carts and payments
spread over `--days` days (and the week before, for CUPED), generated and written with
COPY a chunk at a time, received the minute they happened. Then, timed:
`group_statistics(full=True)` for an event count, a ratio (revenue per session) and a
funnel (cart, then pay), CUPED on (7 days); the rollup's first build; one more day of
events (`--events` / `--days`); the incremental refresh (the rollup where its build found
enough events per row, settings.GATEHOUSE_ROLLUP_MIN_EVENTS_PER_ROW, else from events; the
funnel is not rolled up and computes from events) and the full recompute of the same data
(checked equal).

DuckDB: the exposures and events are exported (COPY TO STDOUT, CSV), loaded into a DuckDB
database file and the three metrics computed by bench/results_duckdb.py's SQL, in a
child process so that its peak RSS is its own. Its per-group statistics must equal the
full recompute's (units, n and funnel steps exactly; every sum, the caps and the daily
series to a relative 1e-9), or the bench fails. Reported per metric and in total:
PostgreSQL full and incremental seconds, DuckDB's query seconds (its load and the export
apart) and the ratios; peak RSS (ru_maxrss) of the bench process over the PostgreSQL
refreshes (it is the worker's side: a few rows per group come back), the PostgreSQL
backend's VmHWM (a new connection per phase; shared buffers touched included, parallel
workers not) and the DuckDB process's. `--out` merges the figures under
"results_refresh".

Size: the issue asks for 1,000,000 units and 20,000,000 events. On the 2-core machine
this was written on (shared with other work) the whole run grows about linearly with the
events: 2,000,000 events took 2 min 17 s end to end, 40 s of it generating and COPYing,
and `--units 1000000 --events 20000000` took about 50 minutes (22 of them generating and
COPYing, on a machine loaded by other test runs; figures in docs/results-computation.md).
The default is therefore 400,000 units and 8,000,000 events (the same 20 events per unit):
9 min 53 s end to end, 3 min 12 s of it generating and COPYing.
BENCH_EXPLAIN=1 writes the plans of statements slower than 0.3 s to stderr (writes then
run as EXPLAIN ANALYZE, once).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import io
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import merge_results  # noqa: E402
from bench.publishing import isolated  # noqa: E402

# The size is 1,000,000 units and 20,000,000 events: see the docstring.
UNITS = 400_000
EVENTS = 8_000_000
CHUNK = 500_000
CUPED_DAYS = 7  # group_statistics' default
CROSSOVER_EVERY = 101
BOT_EVERY = 103
DAY = ("sum", "sum_squares", "den_sum", "den_sum_squares", "main_den_sum_product")
GROUPS = ("Control", "A", "B")
EVENT_COLUMNS = (
    "received_at, environment_id, time, event_name, user_id, stable_id, custom_ids, "
    'value_text, value_num, metadata, "user", sdk_type, sdk_version, is_bot'
)
EXPOSURE_COLUMNS = (
    "environment_id, kind, name, unit_type, unit_id, rule_id, group_name, first_at, "
    "last_at, count, crossover, is_bot"
)


def _copy(cursor, table: str, columns: str, rows: list[tuple]) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        copy.write(buffer.getvalue())


def _events(env_id, units, low, high, count, rng):
    rows = []
    for _ in range(count):
        at = low + (high - low) * rng.random()
        name = rng.choice(("purchase", "session", "cart", "pay"))
        value = rng.randrange(1, 100) if name == "purchase" else None
        received = at + dt.timedelta(seconds=rng.randrange(0, 60))
        rows.append(
            (received.isoformat(), env_id, at.isoformat(), name, rng.choice(units), "", "{}")
            + (value, value, "{}", "{}", "bench", "1", "false")
        )
    return rows


def _explain(execute, sql, params, many, context):
    text = sql.lstrip()
    ours = "metrics_event" in text or "metrics_unitday" in text
    if many or not ours or not text.startswith(("WITH", "SELECT", "INSERT", "DELETE")):
        return execute(sql, params, many, context)
    cursor = context["cursor"].cursor  # psycopg's own: no wrapper again
    writes = "INSERT INTO metrics_unitday" in text or text.startswith("DELETE")
    began = time.perf_counter()
    if writes:
        cursor.execute("EXPLAIN ANALYZE " + sql, params)
        plan = "\n".join(r[0] for r in cursor.fetchall())
        result = None
    else:
        result = execute(sql, params, many, context)
    took = time.perf_counter() - began
    if took > 0.3:
        if not writes:
            saved = cursor.fetchall()
            cursor.execute("EXPLAIN ANALYZE " + sql, params)
            plan = "\n".join(r[0] for r in cursor.fetchall())
            cursor.execute(sql, params)
            del saved
        sys.stderr.write(f"--- {took:.2f}s\n{text[:200]}\n{plan}\n")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=UNITS)
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--out", type=Path, help="merge the figures into this JSON file")
    parser.add_argument("--database", default="gatehouse_bench_results")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    if "bench" not in args.database:
        parser.error("the bench drops its database: give it a name containing 'bench'")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    with isolated(args.database, redis_url, "results-", keep_db=args.keep_db) as (_, tmp):
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)
        if os.environ.get("BENCH_EXPLAIN"):
            with connection.execute_wrapper(_explain):
                figures = run(args, tmp)
        else:
            figures = run(args, tmp)
    sys.stdout.write(render(figures) + "\n")
    if args.out:
        merge_results(args.out, "results_refresh", figures)


def _write_events(cursor, env_id, units, low, high, count, rng) -> None:
    """`count` events in [low, high), generated and COPYed a chunk at a time (20,000,000
    rows at once would not fit in memory)."""
    done = 0
    while done < count:
        size = min(CHUNK, count - done)
        _copy(cursor, "metrics_event", EVENT_COLUMNS, _events(env_id, units, low, high, size, rng))
        done += size


def _reconnect() -> None:
    """A new PostgreSQL backend, so that its peak RSS counts only what runs next."""
    from django.db import connection

    connection.close()
    connection.ensure_connection()


def _backend_peak_mb() -> float | None:
    """VmHWM of this connection's PostgreSQL backend (same machine): its private memory and
    the shared buffers it touched; parallel workers are other processes, not counted."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def _reset_peak() -> bool:
    """Reset this process's RSS high-water mark (Linux: clear_refs 5 resets what
    getrusage's ru_maxrss reports), so the next reading covers only what follows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _export(cursor, sql: str, path: Path) -> None:
    with path.open("wb") as f, cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
        for data in copy:
            f.write(data)


def run(args, tmp: Path) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from console import services
    from metrics import partitions
    from metrics.definitions import EventSelector, MetricDefinition, MetricType
    from metrics.plan import ExperimentScope, group_statistics

    rng = random.Random(1)
    user = get_user_model().objects.create(username="bench", is_superuser=True, is_staff=True)
    project = services.project_create(actor=user, name="Bench", slug="bench")
    env = project.environments.get(name="production")
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - dt.timedelta(days=args.days)
    for i in range(args.days + 9):
        partitions.ensure_partition((start - dt.timedelta(days=8 - i)).date())
    units = [f"u{i}" for i in range(args.units)]
    exposures = []
    for i, unit in enumerate(units):
        at = (start + dt.timedelta(seconds=rng.randrange(0, 3 * 86400))).isoformat()
        # A few crossovers and bots, so that both engines have something to exclude.
        crossover, bot = i % CROSSOVER_EVERY == 1, i % BOT_EVERY == 2
        exposures.append(
            (env.pk, "config", "bench_exp", "userID", unit, "r", GROUPS[i % 3], at, at)
            + (1, str(crossover).lower(), str(bot).lower())
        )
    yesterday = today - dt.timedelta(days=1)
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    with connection.cursor() as cursor:
        _copy(cursor.cursor, "metrics_exposure", EXPOSURE_COLUMNS, exposures)
        del exposures
        low = start - dt.timedelta(days=7)
        _write_events(cursor.cursor, env.pk, units, low, yesterday, args.events, rng)
        cursor.execute("ANALYZE metrics_event")
        cursor.execute("ANALYZE metrics_exposure")
    seconds["generate and COPY"] = round(time.perf_counter() - began, 3)
    sys.stdout.write(f"{'generate and COPY':40s} {seconds['generate and COPY']:8.3f} s\n")
    scope = ExperimentScope(
        "config", "bench_exp", "userID", GROUPS, start, today + dt.timedelta(days=30)
    )
    purchase = EventSelector("purchase")
    revenue = MetricDefinition("revenue", MetricType.SUM, purchase)
    sessions = MetricDefinition("sessions", MetricType.EVENT_COUNT, EventSelector("session"))
    metrics = {
        "event_count": MetricDefinition("purchases", MetricType.EVENT_COUNT, purchase),
        "ratio": MetricDefinition("rps", MetricType.RATIO, numerator=revenue, denominator=sessions),
        "funnel": MetricDefinition(
            "checkout", MetricType.FUNNEL, steps=(EventSelector("cart"), EventSelector("pay"))
        ),
    }

    def timed(label, fn):
        began = time.perf_counter()
        value = fn()
        seconds[label] = round(time.perf_counter() - began, 3)
        sys.stdout.write(f"{label:40s} {seconds[label]:8.3f} s\n")
        sys.stdout.flush()
        return value

    day1 = yesterday + dt.timedelta(hours=12)
    for name, metric in metrics.items():
        timed(
            f"full {name}",
            lambda m=metric: group_statistics(env.pk, scope, m, now=day1, full=True),
        )
    for name in ("event_count", "ratio"):
        timed(
            f"rollup first build {name}",
            lambda n=name: group_statistics(env.pk, scope, metrics[n], now=day1),
        )
    with connection.cursor() as cursor:
        high = today + dt.timedelta(hours=20)
        _write_events(cursor.cursor, env.pk, units, today, high, args.events // args.days, rng)
        cursor.execute("ANALYZE metrics_event")
    day2 = today + dt.timedelta(hours=21)
    memory: dict = {}
    # The daily refresh after one more day: incremental (the rollup; funnels are not rolled
    # up and compute from events), then the full recompute of the same data.
    reset = _reset_peak()
    _reconnect()
    incremental = {}
    for name, metric in metrics.items():
        incremental[name] = timed(
            f"incremental refresh {name}",
            lambda m=metric: group_statistics(env.pk, scope, m, now=day2),
        )
    memory["postgresql_backend_incremental_mb"] = _backend_peak_mb()
    from metrics.models import RollupState

    # The rollup's verdict per component: rows standing for too few events are not read.
    verdicts = [
        {"component": c[:8], "direct": d, "events_per_row": round(e, 2) if e else e}
        for c, d, e in RollupState.objects.values_list("component", "direct", "events_per_row")
    ]
    sys.stdout.write(f"rollup components: {verdicts}\n")
    _reconnect()
    full = {}
    for name, metric in metrics.items():
        full[name] = timed(
            f"full recompute {name}",
            lambda m=metric: group_statistics(env.pk, scope, m, now=day2, full=True),
        )
    memory["postgresql_backend_full_mb"] = _backend_peak_mb()
    memory["bench_process_postgresql_mb"] = _peak_mb() if reset else None
    for name in ("event_count", "ratio"):
        inc, fu = incremental[name], full[name]
        _agree(f"incremental {name} against full", inc, fu, 1e-6)

    # DuckDB: the same exposures and events, exported, loaded, computed in a child process.
    exposures_csv, events_csv = tmp / "exposures.csv", tmp / "events.csv"
    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
        _export(
            cursor.cursor,
            "SELECT environment_id, kind, name, unit_type, unit_id, group_name, "
            "first_at AT TIME ZONE 'UTC', crossover::text, is_bot::text FROM metrics_exposure",
            exposures_csv,
        )
        _export(
            cursor.cursor,
            "SELECT environment_id, event_name, received_at AT TIME ZONE 'UTC', "
            "time AT TIME ZONE 'UTC', user_id, value_num FROM metrics_event",
            events_csv,
        )
    seconds["duckdb export from PostgreSQL"] = round(time.perf_counter() - began, 3)
    naive = lambda t: t.astimezone(dt.UTC).replace(tzinfo=None).isoformat()  # noqa: E731
    end = full["event_count"].end
    spec = {
        "database": str(tmp / "bench.duckdb"),
        "exposures_csv": str(exposures_csv),
        "events_csv": str(events_csv),
        "scope": {
            "environment_id": env.pk,
            "kind": scope.kind,
            "name": scope.name,
            "unit_type": scope.unit_type,
            "groups": list(scope.groups),
            "start": naive(scope.start),
            "end": naive(end),
            "scan": naive(scope.start - dt.timedelta(days=CUPED_DAYS)),
            "cuped_days": CUPED_DAYS,
            "exclude_bots": scope.exclude_bots,
        },
        "metrics": {name: _duck_metric(m) for name, m in metrics.items()},
    }
    (tmp / "spec.json").write_text(json.dumps(spec))
    child = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "results_duckdb.py"), str(tmp / "spec.json")],
        check=True,
        capture_output=True,
        text=True,
    )
    duck = json.loads(child.stdout)
    seconds["duckdb load"] = round(duck["seconds"]["load"], 3)
    for name in metrics:
        seconds[f"duckdb {name}"] = round(duck["seconds"][name], 3)
    for label in (
        "duckdb export from PostgreSQL",
        "duckdb load",
        *(f"duckdb {n}" for n in metrics),
    ):
        sys.stdout.write(f"{label:40s} {seconds[label]:8.3f} s\n")
    for name in metrics:
        _agree_duck(name, full[name], duck["results"][name])
    memory["duckdb_process_mb"] = round(duck["peak_rss_mb"], 1)
    for path in (exposures_csv, events_csv):
        memory.setdefault("export_mb", 0.0)
        memory["export_mb"] += round(path.stat().st_size / 2**20, 1)

    comparison = {}
    for name in metrics:
        pg_full, pg_inc = seconds[f"full recompute {name}"], seconds[f"incremental refresh {name}"]
        ddb = seconds[f"duckdb {name}"]
        comparison[name] = {
            "postgresql_full": pg_full,
            "postgresql_incremental": pg_inc,
            "postgresql_incremental_source": incremental[name].source,
            "duckdb": ddb,
            "full_over_duckdb": round(pg_full / ddb, 2) if ddb else None,
            "incremental_over_duckdb": round(pg_inc / ddb, 2) if ddb else None,
        }
    total = {
        k: round(sum(c[k] for c in comparison.values()), 3)
        for k in ("postgresql_full", "postgresql_incremental", "duckdb")
    }
    total["full_over_duckdb"] = round(total["postgresql_full"] / total["duckdb"], 2)
    total["incremental_over_duckdb"] = round(total["postgresql_incremental"] / total["duckdb"], 2)
    total["duckdb_with_load"] = round(total["duckdb"] + seconds["duckdb load"], 3)
    comparison["total"] = total
    return {
        "units": args.units,
        "events": args.events,
        "events_next_day": args.events // args.days,
        "days": args.days,
        "cuped_days": CUPED_DAYS,
        "seconds": seconds,
        "comparison": comparison,
        "duckdb": {"version": duck["duckdb"], "threads": duck["threads"], "rows": duck["rows"]},
        "memory": memory,
        "rollup": verdicts,
        "check": "DuckDB equals PostgreSQL full=True: units and n exactly, sums to 1e-9",
    }


def _duck_metric(metric) -> dict:
    """The bench's metrics as results_duckdb.py takes them."""
    from metrics.definitions import MetricType

    out = {"type": metric.type.value, "upper": metric.winsorize_upper}
    out["lower"] = metric.winsorize_lower
    if metric.type == MetricType.FUNNEL:
        out["steps"] = [s.event_name for s in metric.steps]
        return out
    parts = (metric.numerator, metric.denominator) if metric.type == MetricType.RATIO else (metric,)
    for part in parts:
        assert not part.events.filters
        assert part.cap is None
        assert part.type in (MetricType.EVENT_COUNT, MetricType.SUM)
    out["parts"] = [{"type": p.type.value, "event": p.events.event_name} for p in parts]
    return out


def _close(a, b, rel: float) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


def _agree(what: str, a, b, rel: float) -> None:
    """The per-group statistics of two PlanResults agree: units, n and steps exactly, every
    sum to `rel` (relative)."""
    problems = []
    for x, y in zip(a.groups, b.groups, strict=True):
        for f in dataclasses.fields(x):
            u, v = getattr(x, f.name), getattr(y, f.name)
            if f.name in ("group", "units", "n", "units_with_pre_data", "steps"):
                ok = u == v
            elif f.name == "daily":
                ok = len(u) == len(v) and all(
                    p.n == q.n and all(_close(getattr(p, k), getattr(q, k), rel) for k in DAY)
                    for p, q in zip(u, v, strict=True)
                )
            else:
                ok = _close(u, v, rel)
            if not ok:
                problems.append(f"{x.group}.{f.name}: {u!r} != {v!r}"[:400])
    if problems:
        raise SystemExit(f"{what}: the results differ\n  " + "\n  ".join(problems[:20]))


def _agree_duck(name: str, pg, duck: dict) -> None:
    """DuckDB's result (results_duckdb.py) against PostgreSQL's full=True, field by field;
    the bench fails if they differ."""
    from metrics.plan.run import _series
    from metrics.plan.types import Caps, GroupStatistics, PlanResult

    days = [d.day for d in pg.groups[0].daily]
    ratio = pg.groups[0].den_sum is not None
    groups = []
    for g, ours in zip(duck["groups"], pg.groups, strict=True):
        # The fields PostgreSQL reports for this type (the others are None there).
        values = {k: None if getattr(ours, k) is None else v for k, v in g.items()}
        values["steps"] = tuple(g["steps"])
        values["daily"] = _series(g["daily"], days, ratio)
        groups.append(GroupStatistics(**values))
    caps = duck["caps"]
    for key in ("upper", "lower", "den_upper", "den_lower"):
        if not _close(caps[key], getattr(pg.caps, key), 1e-9):
            raise SystemExit(f"DuckDB {name}: cap {key} {caps[key]!r} != {getattr(pg.caps, key)!r}")
    as_pg = PlanResult(pg.metric, pg.start, pg.end, pg.cuped_days, tuple(groups), Caps(), 0, 0)
    _agree(f"DuckDB {name} against PostgreSQL", as_pg, pg, 1e-9)
    if (duck["crossovers"], duck["bots"]) != (pg.crossovers, pg.bots):
        raise SystemExit(f"DuckDB {name}: exclusions differ")


def render(figures: dict) -> str:
    c = figures["comparison"]
    m = figures["memory"]
    lines = [
        f"{figures['units']:,} units, {figures['events']:,} events (+{figures['events_next_day']:,}"
        f" the next day), CUPED {figures['cuped_days']} days; seconds",
        f"{'':14} {'PG full':>9} {'PG incr.':>9} {'DuckDB':>9} {'full/Duck':>10} {'incr/Duck':>10}"
        "  incr. read",
    ]
    for name, row in c.items():
        lines.append(
            f"{name:14} {row['postgresql_full']:>9.3f} {row['postgresql_incremental']:>9.3f} "
            f"{row['duckdb']:>9.3f} {row['full_over_duckdb']:>9.1f}x "
            f"{row['incremental_over_duckdb']:>9.1f}x  "
            f"{row.get('postgresql_incremental_source', '')}"
        )
    s = figures["seconds"]
    lines.append(
        f"DuckDB load {s['duckdb load']:.3f} s (after {s['duckdb export from PostgreSQL']:.3f} s "
        f"of COPY TO, {m['export_mb']:,.0f} MB of CSV); {figures['duckdb']['threads']} threads"
    )
    lines.append(
        f"peak RSS, MB: bench process over the PostgreSQL refreshes "
        f"{m['bench_process_postgresql_mb']}, PostgreSQL backend incremental "
        f"{m['postgresql_backend_incremental_mb']} / full {m['postgresql_backend_full_mb']} "
        f"(VmHWM, shared buffers touched included, parallel workers not), DuckDB process "
        f"{m['duckdb_process_mb']}"
    )
    lines.append(figures["check"])
    return "\n".join(lines)


if __name__ == "__main__":
    main()
