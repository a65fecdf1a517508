"""The daily partitions of metrics_event (PostgreSQL declarative partitioning).

Beat creates each day's partition ahead (`ensure_partitions`) and drops those past
GATEHOUSE_EVENT_RETENTION_DAYS (`drop_expired`); the intake creates today's itself if a
row finds no partition (a machine whose beat never ran), so an event is never refused for
want of one. Dropping a partition is instant, unlike deleting its rows.
"""

from __future__ import annotations

import datetime as dt
import re

from django.db import connection

TABLE = "metrics_event"
_NAME = re.compile(rf"^{TABLE}_p(\d{{8}})$")

CREATE_PARENT = f"""
CREATE TABLE {TABLE} (
    id bigint GENERATED ALWAYS AS IDENTITY,
    received_at timestamptz NOT NULL,
    environment_id integer NOT NULL,
    time timestamptz NOT NULL,
    client_time bigint,
    event_name text NOT NULL,
    user_id text NOT NULL,
    stable_id text NOT NULL,
    custom_ids jsonb NOT NULL,
    value_text text,
    value_num double precision,
    metadata jsonb,
    "user" jsonb,
    secondary_exposures jsonb,
    sdk_type text NOT NULL,
    sdk_version text NOT NULL,
    is_bot boolean NOT NULL,
    PRIMARY KEY (id, received_at)
) PARTITION BY RANGE (received_at);
CREATE INDEX metrics_event_name_time ON {TABLE} (environment_id, event_name, time);
CREATE INDEX metrics_event_received ON {TABLE} (environment_id, received_at);
"""


def partition_name(day: dt.date) -> str:
    return f"{TABLE}_p{day:%Y%m%d}"


def ensure_partition(day: dt.date, cursor=None) -> None:
    """The partition of `day` (UTC), created if missing; safe to race."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    sql = (
        f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF {TABLE} "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )
    if cursor is not None:
        cursor.execute(sql)
        return
    with connection.cursor() as own:
        own.execute(sql)


def ensure_partitions(today: dt.date, days_ahead: int) -> list[str]:
    """Yesterday's (late clocks are not our partition key, but a late request is), today's
    and the next `days_ahead` days'."""
    days = [today + dt.timedelta(days=n) for n in range(-1, days_ahead + 1)]
    with connection.cursor() as cursor:
        for day in days:
            ensure_partition(day, cursor)
    return [partition_name(day) for day in days]


def existing() -> dict[dt.date, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [TABLE],
        )
        names = [row[0] for row in cursor.fetchall()]
    found = {}
    for name in names:
        matched = _NAME.match(name)
        if matched:
            found[dt.datetime.strptime(matched.group(1), "%Y%m%d").date()] = name  # noqa: DTZ007
    return found


def drop_expired(today: dt.date, retention_days: int) -> list[str]:
    """Drop the partitions whose whole day is older than the retention; their names."""
    cutoff = today - dt.timedelta(days=retention_days)
    dropped = []
    with connection.cursor() as cursor:
        for day, name in sorted(existing().items()):
            if day < cutoff:
                cursor.execute(f"DROP TABLE IF EXISTS {name}")
                dropped.append(name)
    return dropped
