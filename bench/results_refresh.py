"""The query plan: a full computation from events against the rollup's first build and
its daily incremental refresh.

    .venv/bin/python bench/results_refresh.py [--units 20000] [--events 300000] [--days 14]
        [--keep-db]

In a database of its own (bench/publishing.py's `isolated`; Redis is not used): one
experiment with three groups, `--units` units exposed over its first three days,
`--events` purchases, sessions, carts and payments spread over `--days` days (and the week
before, for CUPED), written with COPY, received the minute they happened. Then, timed:
`group_statistics(full=True)` for an event count, a ratio and a funnel; the rollup's first
build; one more day of events; the incremental refresh against a full recompute of the same
data (checked equal). BENCH_EXPLAIN=1 writes the plans of statements slower than 0.3 s to
stderr (writes then run as EXPLAIN ANALYZE, once).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.publishing import isolated  # noqa: E402

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
    parser.add_argument("--units", type=int, default=20000)
    parser.add_argument("--events", type=int, default=300000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    with isolated("gatehouse_bench_results", redis_url, "results-", keep_db=args.keep_db):
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)
        if os.environ.get("BENCH_EXPLAIN"):
            with connection.execute_wrapper(_explain):
                run(args)
        else:
            run(args)


def run(args) -> None:
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
        exposures.append(
            (env.pk, "config", "bench_exp", "userID", unit, "r", GROUPS[i % 3], at, at)
            + (1, "false", "false")
        )
    yesterday = today - dt.timedelta(days=1)
    with connection.cursor() as cursor:
        _copy(cursor.cursor, "metrics_exposure", EXPOSURE_COLUMNS, exposures)
        low = start - dt.timedelta(days=7)
        rows = _events(env.pk, units, low, yesterday, args.events, rng)
        _copy(cursor.cursor, "metrics_event", EVENT_COLUMNS, rows)
        cursor.execute("ANALYZE metrics_event")
        cursor.execute("ANALYZE metrics_exposure")
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
    seconds: dict[str, float] = {}

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
        rows = _events(env.pk, units, today, high, args.events // args.days, rng)
        _copy(cursor.cursor, "metrics_event", EVENT_COLUMNS, rows)
        cursor.execute("ANALYZE metrics_event")
    day2 = today + dt.timedelta(hours=21)
    for name in ("event_count", "ratio"):
        inc = timed(
            f"incremental refresh {name}",
            lambda n=name: group_statistics(env.pk, scope, metrics[n], now=day2),
        )
        full = timed(
            f"full recompute {name}",
            lambda n=name: group_statistics(env.pk, scope, metrics[n], now=day2, full=True),
        )
        assert [g.n for g in inc.groups] == [g.n for g in full.groups]
        for a, b in zip(inc.groups, full.groups, strict=True):
            assert abs(a.sum - b.sum) <= 1e-6 * max(1.0, abs(b.sum))
    summary = {"units": args.units, "events": args.events, "days": args.days}
    sys.stdout.write(json.dumps({**summary, "seconds": seconds}) + "\n")


if __name__ == "__main__":
    main()
