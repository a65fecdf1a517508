"""The query plan: a full computation from events against the rollup's first build and
its daily incremental refresh on PostgreSQL, and the same computation on ClickHouse (the
scale-out engine, embedded chdb) and in DuckDB (the single-machine analytics anchor) in
the same run.

    .venv/bin/python bench/results_refresh.py [--units 400000] [--events 8000000] [--days 14]
        [--growth] [--out bench/results.json] [--database gatehouse_bench_results] [--keep-db]

In a database of its own (bench/publishing.py's `isolated`; Redis is not used): one
experiment with three groups, `--units` units exposed over its first three days (one in
101 a crossover, one in 103 a bot), `--events` purchases, sessions, carts and payments
spread over `--days` days (and the week before, for CUPED), generated and written with
COPY a chunk at a time, received the minute they happened (times in milliseconds, as SDKs
send them). Then, timed: `group_statistics(full=True)` for an event count, a ratio
(revenue per session) and a funnel (cart, then pay), CUPED on (7 days); the rollup's first
build; one more day of events (`--events` / `--days`); the incremental refresh (the rollup
where its build found enough events per row, settings.GATEHOUSE_ROLLUP_MIN_EVENTS_PER_ROW,
else from events; the funnel is not rolled up and computes from events) and the full
recompute of the same data (checked equal).

ClickHouse: the exposures and events are exported (COPY TO STDOUT, PostgreSQL's text
format, with the contract's columns: JSON objects become maps of `->>` texts), loaded by
bench/results_clickhouse.py into metrics.clickhouse's `exposures` and `events` tables of
an embedded chdb with a data path of its own, and the three metrics computed there by
metrics.plan.group_statistics itself (GATEHOUSE_EVENTS_ENGINE=clickhouse: the plan's
ClickHouse dialect), in a child process so that its peak RSS is its own.
DuckDB: the exposures and events are exported as CSV, loaded into a DuckDB database file
and the three metrics computed by bench/results_duckdb.py's SQL, in a child process too.
Both engines' per-group statistics must equal PostgreSQL's full recompute (units, n and
funnel steps exactly; every sum, the caps and the daily series to a relative 1e-9), or
the bench fails. Reported per metric and in total: PostgreSQL full and incremental
seconds, ClickHouse's and DuckDB's query seconds (their exports and loads apart) and
their ratios to PostgreSQL's full recompute; peak RSS (ru_maxrss) of the bench process
over the PostgreSQL refreshes (it is the worker's side: a few rows per group come back),
the PostgreSQL backend's VmHWM (a new connection per phase; shared buffers touched
included, parallel workers not), and the ClickHouse and DuckDB processes' (VmHWM: their
ru_maxrss would count the bench process's, carried over the exec).
`--out` merges the figures under "results_refresh".

`--growth` runs the whole bench twice, at 1,000,000 and at 10,000,000 events (units in
the ratio of `--units` to `--events`: 50,000 and 500,000 by default), each in a database
of its own, and reports per engine the ratio of the second run's seconds and peak memory
to the first's; `--out` merges both runs and the ratios under "results_refresh_growth".

Size: the issue asks for 1,000,000 units and 20,000,000 events, and `make bench` runs that
size and then `--growth`. Without ClickHouse that size took about 50 minutes on the 2-core
machine (22 of them generating and COPYing); ClickHouse adds its export, load and queries,
which took about 8 minutes at 10,000,000 events, so expect well over an hour, and its process
peaked at 6.6 GB at 10,000,000 events (about twice that is expected at 20,000,000: the
machine needs the memory). `--growth` took 43 minutes on a loaded machine. The default here
is 400,000 units and 8,000,000 events (the same 20 events per unit); figures in
docs/results-computation.md.
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
GROWTH = (1_000_000, 10_000_000)  # --growth's event counts
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
        # Milliseconds, as SDKs send them and ClickHouse's DateTime64(3) keeps them.
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)
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
    parser.add_argument(
        "--growth",
        action="store_true",
        help=f"run at {GROWTH[0]:,} and {GROWTH[1]:,} events (units in the ratio of "
        "--units to --events) and report how each engine grows",
    )
    parser.add_argument("--out", type=Path, help="merge the figures into this JSON file")
    parser.add_argument("--database", default="gatehouse_bench_results")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    if "bench" not in args.database:
        parser.error("the bench drops its database: give it a name containing 'bench'")
    if not args.growth:
        figures = measure(args)
        sys.stdout.write(render(figures) + "\n")
        if args.out:
            merge_results(args.out, "results_refresh", figures)
        return
    sizes = []
    for events in GROWTH:
        units = events * args.units // args.events
        size = argparse.Namespace(**{**vars(args), "units": units, "events": events})
        sizes.append(measure(size))
        sys.stdout.write(render(sizes[-1]) + "\n\n")
    figures = {"sizes": sizes, "growth": growth(*sizes)}
    sys.stdout.write(render_growth(figures) + "\n")
    if args.out:
        merge_results(args.out, "results_refresh_growth", figures)


def measure(args) -> dict:
    """One run of the bench at `args.units` and `args.events`, in a database of its own."""
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    with isolated(args.database, redis_url, "results-", keep_db=args.keep_db) as (_, tmp):
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)
        try:
            if os.environ.get("BENCH_EXPLAIN"):
                with connection.execute_wrapper(_explain):
                    return run(args, tmp)
            return run(args, tmp)
        finally:
            connection.close()  # before the database is dropped


def bench_metrics() -> dict:
    """The three metrics timed, by label: an event count, a ratio (revenue per session)
    and a funnel (cart, then pay)."""
    from metrics.definitions import EventSelector, MetricDefinition, MetricType

    purchase = EventSelector("purchase")
    revenue = MetricDefinition("revenue", MetricType.SUM, purchase)
    sessions = MetricDefinition("sessions", MetricType.EVENT_COUNT, EventSelector("session"))
    return {
        "event_count": MetricDefinition("purchases", MetricType.EVENT_COUNT, purchase),
        "ratio": MetricDefinition("rps", MetricType.RATIO, numerator=revenue, denominator=sessions),
        "funnel": MetricDefinition(
            "checkout", MetricType.FUNNEL, steps=(EventSelector("cart"), EventSelector("pay"))
        ),
    }


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


def _export(cursor, sql: str, path: Path, form: str = "csv") -> None:
    """COPY the rows of `sql` to the file at `path` (CSV, or PostgreSQL's text format)."""
    with path.open("wb") as f, cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT {form})") as copy:
        for data in copy:
            f.write(data)


def run(args, tmp: Path) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from console import services
    from metrics import partitions
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
    metrics = bench_metrics()

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

    # DuckDB and ClickHouse: the same exposures and events, exported from PostgreSQL,
    # loaded and computed in a child process each (its peak RSS its own).
    duck = _duckdb(tmp, env.pk, scope, full, metrics, seconds)
    memory["duckdb_process_mb"] = round(duck["peak_rss_mb"], 1)
    memory["duckdb_export_mb"] = duck["export_mb"]
    ch = _clickhouse(tmp, env.pk, scope, day2, full, seconds)
    memory["clickhouse_process_mb"] = round(ch["peak_rss_mb"], 1)
    memory["clickhouse_export_mb"] = ch["export_mb"]

    comparison = {}
    for name in metrics:
        pg_full, pg_inc = seconds[f"full recompute {name}"], seconds[f"incremental refresh {name}"]
        comparison[name] = {
            "postgresql_full": pg_full,
            "postgresql_incremental": pg_inc,
            "postgresql_incremental_source": incremental[name].source,
            "clickhouse": seconds[f"clickhouse {name}"],
            "duckdb": seconds[f"duckdb {name}"],
        }
    comparison["total"] = {
        k: round(sum(c[k] for c in comparison.values()), 3)
        for k in ("postgresql_full", "postgresql_incremental", "clickhouse", "duckdb")
    }
    for row in comparison.values():
        for engine in ("clickhouse", "duckdb"):
            # The engine's seconds over PostgreSQL's full recompute of the same data.
            row[f"{engine}_over_postgresql"] = _ratio(row[engine], row["postgresql_full"])
    total = comparison["total"]
    total["clickhouse_with_load"] = round(total["clickhouse"] + seconds["clickhouse load"], 3)
    total["duckdb_with_load"] = round(total["duckdb"] + seconds["duckdb load"], 3)
    return {
        "units": args.units,
        "events": args.events,
        "events_next_day": args.events // args.days,
        "days": args.days,
        "cuped_days": CUPED_DAYS,
        "seconds": seconds,
        "comparison": comparison,
        "clickhouse": {k: ch[k] for k in ("version", "threads", "rows")},
        "duckdb": {"version": duck["duckdb"], "threads": duck["threads"], "rows": duck["rows"]},
        "memory": memory,
        "rollup": verdicts,
        "check": (
            "ClickHouse and DuckDB equal PostgreSQL full=True: units and n exactly, sums, caps "
            "and daily series to a relative 1e-9"
        ),
    }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def _naive(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).replace(tzinfo=None).isoformat()


def _child(script: str, spec: Path, env: dict | None = None) -> dict:
    """Run bench/`script` on `spec` in a child process; its JSON answer. The bench fails
    with the child's error if it fails."""
    child = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), str(spec)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if child.returncode:
        raise SystemExit(f"bench/{script} failed:\n{child.stderr[-4000:]}")
    return json.loads(child.stdout)


def _print(seconds: dict, labels) -> None:
    for label in labels:
        sys.stdout.write(f"{label:40s} {seconds[label]:8.3f} s\n")
    sys.stdout.flush()


def _size_mb(*paths: Path) -> float:
    return round(sum(p.stat().st_size for p in paths) / 2**20, 1)


def _duckdb(tmp: Path, env_id: int, scope, full: dict, metrics: dict, seconds: dict) -> dict:
    """The three metrics in DuckDB (results_duckdb.py's SQL), checked equal to `full`."""
    from django.db import connection

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
    end = full["event_count"].end
    spec = {
        "database": str(tmp / "bench.duckdb"),
        "exposures_csv": str(exposures_csv),
        "events_csv": str(events_csv),
        "scope": {
            "environment_id": env_id,
            "kind": scope.kind,
            "name": scope.name,
            "unit_type": scope.unit_type,
            "groups": list(scope.groups),
            "start": _naive(scope.start),
            "end": _naive(end),
            "scan": _naive(scope.start - dt.timedelta(days=CUPED_DAYS)),
            "cuped_days": CUPED_DAYS,
            "exclude_bots": scope.exclude_bots,
        },
        "metrics": {name: _duck_metric(m) for name, m in metrics.items()},
    }
    (tmp / "duckdb.json").write_text(json.dumps(spec))
    duck = _child("results_duckdb.py", tmp / "duckdb.json")
    seconds["duckdb load"] = round(duck["seconds"]["load"], 3)
    for name in metrics:
        seconds[f"duckdb {name}"] = round(duck["seconds"][name], 3)
    _print(
        seconds, ("duckdb export from PostgreSQL", "duckdb load", *(f"duckdb {n}" for n in metrics))
    )
    for name in metrics:
        _agree_engine("DuckDB", name, full[name], _duck_plan(full[name], duck["results"][name]))
    duck["export_mb"] = _size_mb(exposures_csv, events_csv)
    for path in (exposures_csv, events_csv, tmp / "bench.duckdb"):
        path.unlink()
    return duck


def _text_map(column: str) -> str:
    """A JSON object column as a JSON object of its keys' `->>` texts, JSON nulls left out
    (the contract's Map(String, String); ClickHouse's JSONExtract reads it)."""
    return (
        f"CASE WHEN jsonb_typeof({column}) IS DISTINCT FROM 'object' OR {column} = '{{}}' "
        "THEN '{}' ELSE (SELECT coalesce(jsonb_object_agg(k, v), '{}')::text "
        f"FROM jsonb_each_text({column}) AS t(k, v) WHERE v IS NOT NULL) END"
    )


# The contract's columns (bench/results_clickhouse.py's EVENTS and EXPOSURES), in order:
# user_fields from the user object (custom as JSON text), user_custom from user.custom.
USER, USER_CUSTOM = '"user"', """("user" -> 'custom')"""
CLICKHOUSE_EVENTS = (
    "SELECT id, received_at AT TIME ZONE 'UTC', environment_id, time AT TIME ZONE 'UTC', "
    "client_time, event_name, user_id, stable_id, "
    f"{_text_map('custom_ids')}, value_text, value_num, {_text_map('metadata')}, "
    f"{_text_map(USER)}, {_text_map(USER_CUSTOM)}, "
    "coalesce(secondary_exposures::text, ''), sdk_type, sdk_version, is_bot FROM metrics_event"
)
CLICKHOUSE_EXPOSURES = (
    "SELECT environment_id, kind, name, unit_type, unit_id, rule_id, group_name, "
    "first_at AT TIME ZONE 'UTC', last_at AT TIME ZONE 'UTC', count, crossover, is_bot, "
    f"country, browser, os, {_text_map('custom')} FROM metrics_exposure"
)


def _clickhouse(tmp: Path, env_id: int, scope, now: dt.datetime, full: dict, seconds: dict):
    """The three metrics by the query plan on ClickHouse (results_clickhouse.py, embedded
    chdb with a data path of its own), checked equal to `full`."""
    from django.db import connection

    exposures_tsv, events_tsv = tmp / "exposures.tsv", tmp / "events.tsv"
    began = time.perf_counter()
    with connection.cursor() as cursor:
        # JIT compiles the maps' expressions once per event partition: seconds for nothing.
        cursor.execute("SET jit = off")
        _export(cursor.cursor, CLICKHOUSE_EXPOSURES, exposures_tsv, "text")
        _export(cursor.cursor, CLICKHOUSE_EVENTS, events_tsv, "text")
    seconds["clickhouse export from PostgreSQL"] = round(time.perf_counter() - began, 3)
    spec = {
        "exposures_tsv": str(exposures_tsv),
        "events_tsv": str(events_tsv),
        "environment_id": env_id,
        "scope": {
            "kind": scope.kind,
            "name": scope.name,
            "unit_type": scope.unit_type,
            "groups": list(scope.groups),
            "start": scope.start.isoformat(),
            "end": scope.end.isoformat(),
        },
        "now": now.isoformat(),
    }
    (tmp / "clickhouse.json").write_text(json.dumps(spec))
    env = {k: v for k, v in os.environ.items() if k != "GATEHOUSE_CLICKHOUSE_URL"}
    env["GATEHOUSE_EVENTS_ENGINE"] = "clickhouse"
    env["GATEHOUSE_CLICKHOUSE_PATH"] = str(tmp / "clickhouse")
    ch = _child("results_clickhouse.py", tmp / "clickhouse.json", env)
    seconds["clickhouse load"] = round(ch["seconds"]["load"], 3)
    for name in full:
        seconds[f"clickhouse {name}"] = round(ch["seconds"][name], 3)
    labels = ("clickhouse export from PostgreSQL", "clickhouse load")
    _print(seconds, (*labels, *(f"clickhouse {n}" for n in full)))
    for name, pg in full.items():
        _agree_engine("ClickHouse", name, pg, _plan(pg, ch["results"][name]))
    ch["export_mb"] = _size_mb(exposures_tsv, events_tsv)
    exposures_tsv.unlink()
    events_tsv.unlink()
    return ch


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


def _duck_plan(pg, duck: dict):
    """DuckDB's result (results_duckdb.py) as a PlanResult beside PostgreSQL's `pg`."""
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
    caps = Caps(**duck["caps"], fixed=pg.caps.fixed)
    return PlanResult(
        pg.metric, pg.start, pg.end, pg.cuped_days, tuple(groups), caps,
        duck["crossovers"], duck["bots"],
    )  # fmt: skip


def _plan(pg, data: dict):
    """ClickHouse's PlanResult as results_clickhouse.py sends it (JSON) back."""
    from metrics.plan.types import Caps, DayStatistics, GroupStatistics, PlanResult

    groups = []
    for g in data["groups"]:
        daily = tuple(
            DayStatistics(**{**d, "day": dt.date.fromisoformat(d["day"])}) for d in g["daily"]
        )
        groups.append(GroupStatistics(**{**g, "steps": tuple(g["steps"]), "daily": daily}))
    return PlanResult(
        pg.metric,
        dt.datetime.fromisoformat(data["start"]),
        dt.datetime.fromisoformat(data["end"]),
        pg.cuped_days,
        tuple(groups),
        Caps(**data["caps"]),
        data["crossovers"],
        data["bots"],
        data["source"],
    )


def _agree_engine(engine: str, name: str, pg, other) -> None:
    """Another engine's result against PostgreSQL's full=True, field by field: the bench
    fails if they differ."""
    if (other.start, other.end) != (pg.start, pg.end):
        raise SystemExit(f"{engine} {name}: the period differs")
    for f in dataclasses.fields(pg.caps):
        mine, theirs = getattr(other.caps, f.name), getattr(pg.caps, f.name)
        if not _close(mine, theirs, 1e-9):
            raise SystemExit(f"{engine} {name}: cap {f.name} {mine!r} != {theirs!r}")
    _agree(f"{engine} {name} against PostgreSQL", other, pg, 1e-9)
    if (other.crossovers, other.bots) != (pg.crossovers, pg.bots):
        raise SystemExit(f"{engine} {name}: exclusions differ")


def render(figures: dict) -> str:
    c = figures["comparison"]
    m = figures["memory"]
    lines = [
        f"{figures['units']:,} units, {figures['events']:,} events (+{figures['events_next_day']:,}"
        f" the next day), CUPED {figures['cuped_days']} days; seconds",
        f"{'':14} {'PG full':>9} {'PG incr.':>9} {'ClickHouse':>10} {'DuckDB':>9} {'CH/PG':>7} "
        f"{'Duck/PG':>7}  incr. read",
    ]
    for name, row in c.items():
        lines.append(
            f"{name:14} {row['postgresql_full']:>9.3f} {row['postgresql_incremental']:>9.3f} "
            f"{row['clickhouse']:>10.3f} {row['duckdb']:>9.3f} "
            f"{row['clickhouse_over_postgresql']:>7.3f} {row['duckdb_over_postgresql']:>7.3f}  "
            f"{row.get('postgresql_incremental_source', '')}"
        )
    s = figures["seconds"]
    ch, duck = figures["clickhouse"], figures["duckdb"]
    lines.append(
        f"ClickHouse {ch['version']} (chdb, {ch['threads']} threads): load "
        f"{s['clickhouse load']:.3f} s (after {s['clickhouse export from PostgreSQL']:.3f} s of "
        f"COPY TO, {m['clickhouse_export_mb']:,.0f} MB of TSV)"
    )
    lines.append(
        f"DuckDB {duck['version']} ({duck['threads']} threads): load {s['duckdb load']:.3f} s "
        f"(after {s['duckdb export from PostgreSQL']:.3f} s of COPY TO, "
        f"{m['duckdb_export_mb']:,.0f} MB of CSV)"
    )
    lines.append(
        f"peak RSS, MB: bench process over the PostgreSQL refreshes "
        f"{m['bench_process_postgresql_mb']}, PostgreSQL backend incremental "
        f"{m['postgresql_backend_incremental_mb']} / full {m['postgresql_backend_full_mb']} "
        f"(VmHWM, shared buffers touched included, parallel workers not), ClickHouse process "
        f"{m['clickhouse_process_mb']}, DuckDB process {m['duckdb_process_mb']}"
    )
    lines.append(figures["check"])
    return "\n".join(lines)


# What --growth compares: seconds (per metric and total) and peak memory, per engine.
ENGINES = ("postgresql_full", "postgresql_incremental", "clickhouse", "duckdb")
MEMORY = {
    "postgresql_full": "postgresql_backend_full_mb",
    "postgresql_incremental": "postgresql_backend_incremental_mb",
    "clickhouse": "clickhouse_process_mb",
    "duckdb": "duckdb_process_mb",
}


def growth(small: dict, large: dict) -> dict:
    """Per engine, the large run's seconds and peak memory over the small one's."""
    out: dict = {"events": [small["events"], large["events"]], "units": [small["units"]]}
    out["units"].append(large["units"])
    for engine in ENGINES:
        row = {
            name: _ratio(large["comparison"][name][engine], small["comparison"][name][engine])
            for name in small["comparison"]
        }
        mb = MEMORY[engine]
        row["peak_memory"] = _ratio(large["memory"][mb] or 0, small["memory"][mb] or 0)
        out[engine] = row
    return out


def render_growth(figures: dict) -> str:
    small, large = figures["sizes"]
    g = figures["growth"]
    lines = [
        f"growth from {small['events']:,} events ({small['units']:,} units) to "
        f"{large['events']:,} ({large['units']:,}): total seconds and peak MB, and their ratio",
        f"{'':24} {'s small':>9} {'s large':>9} {'x':>6} {'MB small':>9} {'MB large':>9} {'x':>6}",
    ]
    for engine in ENGINES:
        mb = MEMORY[engine]
        lines.append(
            f"{engine:24} {small['comparison']['total'][engine]:>9.3f} "
            f"{large['comparison']['total'][engine]:>9.3f} {g[engine]['total']:>6.2f} "
            f"{small['memory'][mb]:>9} {large['memory'][mb]:>9} {g[engine]['peak_memory']:>6.2f}"
        )
    for engine in ENGINES:
        per = ", ".join(f"{n} {g[engine][n]:.2f}x" for n in small["comparison"] if n != "total")
        lines.append(f"{engine}: {per}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
