"""The scale-out engine of bench/results_refresh.py: the same per-group statistics
computed by the query plan on ClickHouse (embedded, chdb), from the exposures and events
the bench exported from PostgreSQL.

    .venv/bin/python bench/results_clickhouse.py SPEC.json

Run by results_refresh.py as a child process, with GATEHOUSE_EVENTS_ENGINE=clickhouse and
GATEHOUSE_CLICKHOUSE_PATH at a directory of its own (chdb keeps one data path per
process), so that its peak RSS (VmHWM, printed with the rest, one JSON object on stdout) is the
ClickHouse load and computation's alone. SPEC holds the two TSV files (PostgreSQL's COPY
text format, columns EVENTS and EXPOSURES below), the environment, the scope, `now` and
the labels of the bench's metrics (results_refresh.bench_metrics).

Unlike results_duckdb.py, nothing here is written for the bench: the tables are the ones
metrics.clickhouse.ensure_schema creates (docs/events.md's ClickHouse contract), loaded by
one `INSERT ... SELECT ... FROM file(...)` each, and the statistics are
metrics.plan.group_statistics's, the statement its ClickHouse dialect generates.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The files' columns as ClickHouse reads them (PostgreSQL's text COPY: \N for NULL, t/f for
# booleans, times as naive UTC); the maps come as JSON objects of texts (results_refresh's
# export turns PostgreSQL's JSON into them with `->>`'s texts).
EVENTS = (
    ("id", "UInt64", "id"),
    ("received_at", "DateTime64(3, 'UTC')", "received_at"),
    ("environment_id", "UInt32", "environment_id"),
    ("time", "DateTime64(3, 'UTC')", "time"),
    ("client_time", "Nullable(Int64)", "client_time"),
    ("event_name", "String", "event_name"),
    ("user_id", "String", "user_id"),
    ("stable_id", "String", "stable_id"),
    ("custom_ids", "String", "JSONExtract(custom_ids, 'Map(String, String)')"),
    ("value_text", "Nullable(String)", "value_text"),
    ("value_num", "Nullable(Float64)", "value_num"),
    ("metadata", "String", "JSONExtract(metadata, 'Map(String, String)')"),
    ("user_fields", "String", "JSONExtract(user_fields, 'Map(String, String)')"),
    ("user_custom", "String", "JSONExtract(user_custom, 'Map(String, String)')"),
    ("secondary_exposures", "String", "secondary_exposures"),
    ("sdk_type", "String", "sdk_type"),
    ("sdk_version", "String", "sdk_version"),
    ("is_bot", "String", "is_bot = 't'"),
)
EXPOSURES = (
    ("environment_id", "UInt32", "environment_id"),
    ("kind", "String", "kind"),
    ("name", "String", "name"),
    ("unit_type", "String", "unit_type"),
    ("unit_id", "String", "unit_id"),
    ("rule_id", "String", "rule_id"),
    ("group_name", "String", "group_name"),
    ("first_at", "DateTime64(3, 'UTC')", "first_at"),
    ("last_at", "DateTime64(3, 'UTC')", "last_at"),
    ("count", "UInt64", "count"),
    ("crossover", "String", "crossover = 't'"),
    ("is_bot", "String", "is_bot = 't'"),
    ("country", "String", "country"),
    ("browser", "String", "browser"),
    ("os", "String", "os"),
    ("custom", "String", "JSONExtract(custom, 'Map(String, String)')"),
)


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def insert_from_file(table: str, columns, path: str) -> str:
    """INSERT INTO `table` the rows of the TSV file at `path` (`columns`: name, type in the
    file, expression for the table's column)."""
    names = ", ".join(name for name, _, _ in columns)
    structure = ", ".join(f"{name} {kind}" for name, kind, _ in columns)
    values = ", ".join(expr for _, _, expr in columns)
    return (
        f"INSERT INTO {table} ({names}) SELECT {values} "
        f"FROM file({_literal(path)}, 'TSV', {_literal(structure)})"
    )


def plan_json(plan) -> dict:
    """What the parent needs of a PlanResult to check it against PostgreSQL's."""
    return {
        "groups": [dataclasses.asdict(g) for g in plan.groups],
        "caps": dataclasses.asdict(plan.caps),
        "crossovers": plan.crossovers,
        "bots": plan.bots,
        "start": plan.start,
        "end": plan.end,
        "source": plan.source,
    }


# PostgreSQL's copies of the data: the plan must not read them here.
POSTGRESQL_TABLES = ("metrics_event", "metrics_exposure", "metrics_unitday")


def _postgresql_guard(execute, sql, params, many, context):
    """The bench's PostgreSQL still holds the events it exported: a statement of the plan
    that reads them there would make the comparison say nothing, so it fails the bench."""
    if any(table in sql for table in POSTGRESQL_TABLES):
        raise RuntimeError(f"GATEHOUSE_EVENTS_ENGINE=clickhouse read PostgreSQL: {sql[:200]}")
    return execute(sql, params, many, context)


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from bench.results_duckdb import peak_rss_mb
    from bench.results_refresh import bench_metrics
    from metrics.clickhouse import clickhouse, ensure_schema
    from metrics.plan import ExperimentScope, group_statistics

    assert settings.GATEHOUSE_EVENTS_ENGINE == "clickhouse"
    assert not settings.GATEHOUSE_CLICKHOUSE_URL
    out: dict = {"seconds": {}, "results": {}}
    began = time.perf_counter()
    ensure_schema()
    ch = clickhouse()
    ch.command(insert_from_file("exposures", EXPOSURES, spec["exposures_tsv"]))
    ch.command(insert_from_file("events", EVENTS, spec["events_tsv"]))
    out["seconds"]["load"] = time.perf_counter() - began
    out["version"] = ch.query("SELECT version()")[0][0]
    out["threads"] = int(ch.query("SELECT getSetting('max_threads')")[0][0])
    out["rows"] = {t: ch.query(f"SELECT count() FROM {t}")[0][0] for t in ("exposures", "events")}
    s = spec["scope"]
    scope = ExperimentScope(
        s["kind"],
        s["name"],
        s["unit_type"],
        tuple(s["groups"]),
        dt.datetime.fromisoformat(s["start"]),
        dt.datetime.fromisoformat(s["end"]),
    )
    now = dt.datetime.fromisoformat(spec["now"])
    for label, metric in bench_metrics().items():
        began = time.perf_counter()
        with connection.execute_wrapper(_postgresql_guard):
            plan = group_statistics(spec["environment_id"], scope, metric, now=now, full=True)
        out["seconds"][label] = time.perf_counter() - began
        out["results"][label] = plan_json(plan)
    out["peak_rss_mb"] = peak_rss_mb()
    json.dump(out, sys.stdout, default=lambda v: v.isoformat())


if __name__ == "__main__":
    main()
