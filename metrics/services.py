"""Storing a batch of SDK events: the one writer of the metrics tables (docs/events.md).

`events_store` runs in one transaction: the batch's idempotency keys are claimed first
(keys already claimed are resends: dropped and counted), then the new events are COPYed
into the day's partition, the hourly counts upserted, and the batch's exposures,
aggregated per unit, left in metrics_pendingexposures. With GATEHOUSE_EVENTS_ENGINE
"clickhouse" the new events go to ClickHouse's `events` instead of the COPY, in one insert
made last, before PostgreSQL commits (metrics.clickhouse). When it returns, everything is
committed; an exception (ClickHouseError included) means nothing of the batch was stored
in PostgreSQL, and the endpoint answers 503 so that the SDK sends it again. After the
commit the worker is asked to count the pending exposures (`exposures_apply`, also swept
by beat): each pending row is counted and deleted in one transaction, so it counts once.
Rows that concurrent transactions share (exposures, counts) are always locked in sorted
order, so they never deadlock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import defaultdict
from dataclasses import dataclass

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.utils import IntegrityError
from django.utils import timezone

from metrics import clickhouse as ch
from metrics import partitions
from metrics.agents import browser_and_os
from metrics.assignments import SpecIndex, spec_index
from metrics.clickhouse import enabled as clickhouse_enabled
from metrics.intake import (
    DUPLICATE,
    EXPOSURE_EVENTS,
    Batch,
    Envelope,
    Event,
    UserDimensions,
    exposure_of,
    unit_id,
    user_dimensions,
)
from metrics.models import EventKey, SetAsideEvent

logger = logging.getLogger(__name__)

MAX_UNIT_ID = 512
MAX_NAME = 200  # metrics.models.Exposure.name and rule_id
PARTITIONS_AHEAD = 7
SET_ASIDE_BODY_CHARS = 2000
EVENT_COLUMNS = (
    "received_at, environment_id, time, client_time, event_name, user_id, stable_id, "
    'custom_ids, value_text, value_num, metadata, "user", secondary_exposures, '
    "sdk_type, sdk_version, is_bot"
)


@dataclass(frozen=True, slots=True)
class Stored:
    stored: int
    duplicates: int
    set_aside: int


def events_store(envelope: Envelope, batch: Batch) -> Stored:
    """Store `batch`; retried once if today's partition was missing (then created)."""
    try:
        return _store(envelope, batch)
    except IntegrityError as exc:
        if "no partition" not in str(exc):
            raise
    partitions.ensure_partition(_received(envelope).date())
    return _store(envelope, batch)


def events_housekeep(now: dt.datetime | None = None) -> dict[str, int]:
    """Partitions for the next PARTITIONS_AHEAD days, the expired ones dropped
    (GATEHOUSE_EVENT_RETENTION_DAYS), idempotency keys past GATEHOUSE_EVENT_DEDUPE_HOURS and
    set-aside examples past the retention deleted. Idempotent; beat runs it hourly."""
    now = now or timezone.now()
    today = now.astimezone(dt.UTC).date()
    created = partitions.ensure_partitions(today, days_ahead=PARTITIONS_AHEAD)
    dropped = partitions.drop_expired(today, settings.GATEHOUSE_EVENT_RETENTION_DAYS)
    key_cutoff = now - dt.timedelta(hours=settings.GATEHOUSE_EVENT_DEDUPE_HOURS)
    keys, _ = EventKey.objects.filter(seen_at__lt=key_cutoff).delete()
    kept_cutoff = now - dt.timedelta(days=settings.GATEHOUSE_EVENT_RETENTION_DAYS)
    examples, _ = SetAsideEvent.objects.filter(received_at__lt=kept_cutoff).delete()
    if clickhouse_enabled():
        # Last: a ClickHouse outage fails the task (beat runs it again within the hour)
        # after PostgreSQL's housekeeping is done.
        dropped += _drop_expired_clickhouse(today, settings.GATEHOUSE_EVENT_RETENTION_DAYS)
    return {
        "partitions": len(created),
        "dropped": len(dropped),
        "keys_forgotten": keys,
        "set_aside_deleted": examples,
    }


def _drop_expired_clickhouse(today: dt.date, retention_days: int) -> list[str]:
    """Drop ClickHouse's `events` partitions (received days) older than the retention, as
    PostgreSQL's are; their names."""
    cutoff = int(f"{today - dt.timedelta(days=retention_days):%Y%m%d}")
    client = ch.clickhouse()
    days = client.query(
        "SELECT DISTINCT partition FROM system.parts "
        "WHERE database = currentDatabase() AND table = 'events' AND active"
    )
    dropped = []
    for (day,) in sorted(days):
        if day.isdigit() and int(day) < cutoff:
            client.command(f"ALTER TABLE events DROP PARTITION {int(day)}")
            dropped.append(f"events {day}")
    return dropped


def _received(envelope: Envelope) -> dt.datetime:
    return dt.datetime.fromtimestamp(envelope.received_ms / 1000, tz=dt.UTC)


def _store(envelope: Envelope, batch: Batch) -> Stored:
    received = _received(envelope)
    hour = received.replace(minute=0, second=0, microsecond=0)
    with transaction.atomic(), connection.cursor() as cursor:
        fresh = _claim_keys(cursor, batch.events, received)
        duplicates = len(batch.events) - len(fresh)
        if not clickhouse_enabled():
            _copy_events(cursor, envelope, fresh, received)
        if fresh:
            _count_events(cursor, envelope.environment_id, fresh, hour, received)
            if _leave_exposures(cursor, envelope.environment_id, fresh):
                transaction.on_commit(_ask_worker)
        tallies: dict[tuple[str, str], int] = defaultdict(int)
        for item in batch.set_aside:
            tallies[("set_aside", item.reason)] += 1
        if duplicates:
            tallies[("duplicate", DUPLICATE)] += duplicates
        _tally(cursor, envelope.environment_id, hour, tallies)
        _keep_set_aside(cursor, envelope.environment_id, batch, received)
        if clickhouse_enabled():
            # Last, so that PostgreSQL has done all it can refuse: a refusal here rolls the
            # batch back (503, resent); a commit failing after it leaves ClickHouse rows
            # whose resend carries the same keys, hence the same token, and is dropped.
            _insert_events(envelope, fresh, received)
    return Stored(len(fresh), duplicates, len(batch.set_aside))


def _claim_keys(cursor, events: list[Event], received: dt.datetime) -> list[Event]:
    """The events whose key no earlier batch claimed, in order; a key twice in this batch
    counts once."""
    unique: dict[bytes, Event] = {}
    for event in events:
        unique.setdefault(event.key, event)
    if not unique:
        return []
    # The keys go as one text of hex (a bytea[] parameter is quoted key by key in Python).
    cursor.execute(
        "INSERT INTO metrics_eventkey (key, seen_at) "
        "SELECT decode(k, 'hex'), %s FROM unnest(string_to_array(%s, ',')) AS k ORDER BY 1 "
        "ON CONFLICT DO NOTHING RETURNING key",
        [received, ",".join(key.hex() for key in unique)],
    )
    claimed = {bytes(row[0]) for row in cursor.fetchall()}
    return [event for key, event in unique.items() if key in claimed]


# The standard encoder, for what orjson refuses (integers past 64 bits).
_dumps = json.JSONEncoder(ensure_ascii=False).encode


def _json(value) -> str | None:
    if value is None:
        return None
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return _dumps(value)


def _copy_events(cursor, envelope: Envelope, events: list[Event], received) -> None:
    if not events:
        return
    env = envelope.environment_id
    # The raw psycopg cursor (Django's has no COPY): its errors become Django's here.
    with (
        connection.wrap_database_errors,
        cursor.cursor.copy(f"COPY metrics_event ({EVENT_COLUMNS}) FROM STDIN") as copy,
    ):
        for e in events:
            copy.write_row(
                (
                    received,
                    env,
                    dt.datetime.fromtimestamp(e.time_ms / 1000, tz=dt.UTC),
                    e.client_time_ms,
                    e.name,
                    e.user_id,
                    e.stable_id,
                    orjson.dumps(e.custom_ids).decode(),
                    e.value_text,
                    e.value_num,
                    _json(e.metadata),
                    _json(e.user),
                    _json(e.secondary_exposures),
                    envelope.sdk_type,
                    envelope.sdk_version,
                    e.is_bot,
                )
            )


def _insert_events(envelope: Envelope, events: list[Event], received) -> None:
    if not events:
        return
    env = envelope.environment_id
    rows = [
        ch.event_row(
            id=int.from_bytes(e.key[:8], "big"),
            received_at=received,
            environment_id=env,
            time=dt.datetime.fromtimestamp(e.time_ms / 1000, tz=dt.UTC),
            client_time=e.client_time_ms,
            event_name=e.name,
            user_id=e.user_id,
            stable_id=e.stable_id,
            custom_ids=e.custom_ids,
            value_text=e.value_text,
            value_num=e.value_num,
            metadata=e.metadata,
            user=e.user,
            secondary_exposures=e.secondary_exposures,
            sdk_type=envelope.sdk_type,
            sdk_version=envelope.sdk_version,
            is_bot=e.is_bot,
        )
        for e in events
    ]
    token = hashlib.sha256(b"".join(sorted(e.key for e in events))).hexdigest()
    ch.clickhouse().insert("events", ch.EVENT_COLUMNS, rows, dedupe_token=f"events-{token}")


def _count_events(cursor, environment_id: int, events: list[Event], hour, received) -> None:
    counts: dict[str, int] = defaultdict(int)
    for event in events:
        counts[event.name] += 1
    names = sorted(counts)
    cursor.execute(
        "INSERT INTO metrics_eventcount (environment_id, event_name, hour, count, last_at) "
        "SELECT %s, n, %s, c, %s FROM unnest(%s::text[], %s::bigint[]) AS t(n, c) "
        "ON CONFLICT (environment_id, event_name, hour) DO UPDATE "
        "SET count = metrics_eventcount.count + excluded.count, "
        "last_at = greatest(metrics_eventcount.last_at, excluded.last_at)",
        [environment_id, hour, received, names, [counts[n] for n in names]],
    )


@dataclass(slots=True)
class _UnitExposure:
    rule_id: str
    group: str
    first: int
    last: int
    count: int = 1
    crossover: bool = False
    is_bot: bool = False
    # The user at the first exposure, for breakdowns.
    dimensions: UserDimensions = UserDimensions()


def _leave_exposures(cursor, environment_id: int, events: list[Event]) -> bool:
    """The batch's exposures, aggregated per unit and per hour, left for the worker;
    False when the batch holds none. The holdout checks among an exposure's secondary
    exposures count as exposures to the holdout's gate ("pass": held out)."""
    index: SpecIndex | None = None
    units: dict[tuple[str, str, str, str], _UnitExposure] = {}
    checks: dict[tuple[str, str, str, dt.datetime], list[int]] = defaultdict(lambda: [0, 0])
    for event in events:
        exposure = exposure_of(event)
        if exposure is not None and _fits(exposure.name, exposure.rule_id):
            index = index or spec_index(environment_id)
            kind, name = exposure.kind, exposure.name
            if kind == "config":
                name = index.config_name(name)
            group = index.group(kind, name, exposure.rule_id, exposure.gate_value)
            _count(units, checks, index, event, kind, name, exposure.rule_id, group)
        if event.secondary_exposures is None or event.name not in EXPOSURE_EVENTS:
            continue
        index = index or spec_index(environment_id)
        if not index.holdouts:
            continue
        for secondary in event.secondary_exposures:
            holdout = _holdout_check(index, secondary)
            if holdout is not None:
                _count(units, checks, index, event, "gate", *holdout)
    if not checks:
        return False
    cursor.execute(
        "INSERT INTO metrics_pendingexposures (environment_id, units, checks) VALUES (%s, %s, %s)",
        [environment_id, _units_json(units), _checks_json(checks)],
    )
    return True


def _holdout_check(index: SpecIndex, secondary: object) -> tuple[str, str, str] | None:
    """(holdout, rule ID, group) when a secondary exposure is the check of a holdout the
    environment published, by its name or hashed name; the SDKs write `gateValue` as text."""
    if not isinstance(secondary, dict):
        return None
    gate = secondary.get("gate")
    name = index.holdouts.get(gate) if isinstance(gate, str) else None
    if name is None:
        return None
    rule_id = secondary.get("ruleID")
    rule_id = rule_id if isinstance(rule_id, str) and _fits(rule_id) else ""
    value = secondary.get("gateValue")
    return name, rule_id, "pass" if value == "true" or value is True else "fail"


def _count(units, checks, index: SpecIndex, event: Event, kind, name, rule_id, group) -> None:
    """One exposure of `event`'s unit: counted in its hour's checks, and kept per unit (its
    first exposure's rule and group; a crossover when it shows up in another group)."""
    at = dt.datetime.fromtimestamp(event.time_ms // 3_600_000 * 3600, tz=dt.UTC)
    check = checks[(kind, name, group, at)]
    check[1 if event.is_bot else 0] += 1
    id_type = index.id_type(kind, name)
    unit = unit_id(event, id_type)
    if not unit or len(unit) > MAX_UNIT_ID:
        return
    key = (kind, name, id_type, unit)
    seen = units.get(key)
    if seen is None:
        units[key] = _UnitExposure(
            rule_id,
            group,
            event.time_ms,
            event.time_ms,
            is_bot=event.is_bot,
            dimensions=user_dimensions(event, browser_and_os),
        )
        return
    seen.count += 1
    seen.is_bot = seen.is_bot or event.is_bot
    seen.crossover = seen.crossover or bool(group and seen.group and group != seen.group)
    if event.time_ms < seen.first:
        seen.rule_id, seen.group, seen.first = rule_id, group, event.time_ms
        seen.dimensions = user_dimensions(event, browser_and_os)
    seen.last = max(seen.last, event.time_ms)


def _ask_worker() -> None:
    from metrics.tasks import exposures_apply_task

    try:
        # No publish retries: a request must not wait out a broker outage.
        exposures_apply_task.apply_async(retry=False)
    except Exception:  # the broker is down: beat's sweep counts them later
        logger.warning("exposures.enqueue_failed (left pending for beat's sweep)")


def exposures_apply(*, most: int = 10_000) -> int:
    """Count pending exposures into metrics_exposure and metrics_exposurecount, oldest
    batch first, each in a transaction that deletes its pending row: whichever workers run
    this at once, each batch counts once (rows taken by another are skipped). Returns how
    many batches it counted (at most `most`).

    With ClickHouse the batch's units are inserted into its `exposures` instead (the readers
    fold them as the upsert does), with the pending row's ID as dedupe token: a retry after
    a crash between that insert and the commit stores them once. A ClickHouseError leaves
    the row pending for the next run."""
    done = 0
    while done < most:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, environment_id, units, checks FROM metrics_pendingexposures "
                "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
            )
            row = cursor.fetchone()
            if row is None:
                return done
            pending_id, environment_id, units, checks = row
            if clickhouse_enabled():
                _insert_units(pending_id, environment_id, units)
            else:
                _upsert_units(cursor, environment_id, units)
            _upsert_checks(cursor, environment_id, checks)
            cursor.execute("DELETE FROM metrics_pendingexposures WHERE id = %s", [pending_id])
        done += 1
    return done


def _fits(*texts: str) -> bool:
    """Names and rule IDs come from the SDK: one longer than any of ours is no exposure."""
    return all(len(text) <= MAX_NAME for text in texts)


def _units_json(units: dict) -> str:
    """The units in sorted order (the order the worker's upsert locks them in)."""
    rows = [
        {
            "kind": kind,
            "name": name,
            "unit_type": unit_type,
            "unit_id": unit,
            "rule_id": u.rule_id,
            "group_name": u.group,
            "first_ms": u.first,
            "last_ms": u.last,
            "n": u.count,
            "x": u.crossover,
            "bot": u.is_bot,
            "country": u.dimensions.country,
            "browser": u.dimensions.browser,
            "os": u.dimensions.os,
            "custom": u.dimensions.custom or None,
        }
        for (kind, name, unit_type, unit), u in sorted(units.items())
    ]
    return orjson.dumps(rows).decode()


def _checks_json(checks: dict) -> str:
    """Checks per (kind, name, group, hour), in sorted order."""
    rows = [
        {"kind": k[0], "name": k[1], "g": k[2], "h": int(k[3].timestamp()), "n": n, "b": b}
        for k, (n, b) in sorted(checks.items())
    ]
    return orjson.dumps(rows).decode()


def _upsert_units(cursor, environment_id: int, units: str) -> None:
    """`units`: the JSON of `_units_json` (one text parameter: array parameters are
    quoted item by item in Python)."""
    cursor.execute(
        """
        INSERT INTO metrics_exposure AS e (environment_id, kind, name, unit_type, unit_id,
            rule_id, group_name, first_at, last_at, count, crossover, is_bot,
            country, browser, os, custom)
        SELECT %s, kind, name, unit_type, unit_id, rule_id, group_name,
            to_timestamp(first_ms / 1000.0), to_timestamp(last_ms / 1000.0), n, x, bot,
            coalesce(country, ''), coalesce(browser, ''), coalesce(os, ''), custom
        FROM ROWS FROM (json_to_recordset(%s::json)
            AS (kind text, name text, unit_type text, unit_id text, rule_id text,
                group_name text, first_ms bigint, last_ms bigint, n int, x bool, bot bool,
                country text, browser text, os text, custom jsonb))
            WITH ORDINALITY AS t
        ORDER BY t.ordinality
        ON CONFLICT (environment_id, kind, name, unit_type, unit_id) DO UPDATE SET
            crossover = e.crossover OR excluded.crossover OR (
                e.group_name <> '' AND excluded.group_name <> ''
                AND e.group_name <> excluded.group_name),
            rule_id = CASE WHEN excluded.first_at < e.first_at
                THEN excluded.rule_id ELSE e.rule_id END,
            group_name = CASE WHEN excluded.first_at < e.first_at
                THEN excluded.group_name ELSE e.group_name END,
            -- breakdowns read the user at the first exposure (Statsig's rule)
            country = CASE WHEN excluded.first_at < e.first_at
                THEN excluded.country ELSE e.country END,
            browser = CASE WHEN excluded.first_at < e.first_at
                THEN excluded.browser ELSE e.browser END,
            os = CASE WHEN excluded.first_at < e.first_at THEN excluded.os ELSE e.os END,
            custom = CASE WHEN excluded.first_at < e.first_at
                THEN excluded.custom ELSE e.custom END,
            first_at = least(e.first_at, excluded.first_at),
            last_at = greatest(e.last_at, excluded.last_at),
            count = e.count + excluded.count,
            is_bot = e.is_bot OR excluded.is_bot
        """,
        [environment_id, units],
    )


def _insert_units(pending_id: int, environment_id: int, units: str) -> None:
    """The rows of `_units_json` as ClickHouse `exposures` rows."""

    rows = [ch.exposure_row(environment_id, u) for u in orjson.loads(units)]
    ch.clickhouse().insert(
        "exposures", ch.EXPOSURE_COLUMNS, rows, dedupe_token=f"pending-{pending_id}"
    )


def _upsert_checks(cursor, environment_id: int, checks: str) -> None:
    """`checks`: the JSON of `_checks_json`."""
    cursor.execute(
        """
        INSERT INTO metrics_exposurecount AS c
            (environment_id, kind, name, group_name, hour, count, bots)
        SELECT %s, kind, name, g, to_timestamp(h), n, b
        FROM ROWS FROM (json_to_recordset(%s::json)
            AS (kind text, name text, g text, h bigint, n bigint, b bigint))
            WITH ORDINALITY AS t
        ORDER BY t.ordinality
        ON CONFLICT (environment_id, kind, name, group_name, hour) DO UPDATE
        SET count = c.count + excluded.count, bots = c.bots + excluded.bots
        """,
        [environment_id, checks],
    )


def _tally(cursor, environment_id: int, hour, tallies: dict[tuple[str, str], int]) -> None:
    if not tallies:
        return
    keys = sorted(tallies)
    cursor.execute(
        "INSERT INTO metrics_intaketally AS t (environment_id, hour, outcome, reason, count) "
        "SELECT %s, %s, o, r, n FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS x(o, r, n) "
        "ON CONFLICT (environment_id, hour, outcome, reason) DO UPDATE "
        "SET count = t.count + excluded.count",
        [
            environment_id,
            hour,
            [k[0] for k in keys],
            [k[1] for k in keys],
            [tallies[k] for k in keys],
        ],
    )


def _keep_set_aside(cursor, environment_id: int, batch: Batch, received) -> None:
    """Keep the set-aside events themselves (a few per batch, truncated) for the page."""
    kept = batch.set_aside[: settings.GATEHOUSE_SET_ASIDE_KEPT_PER_BATCH]
    if not kept:
        return
    bodies = [json.dumps(item.raw, ensure_ascii=True)[:SET_ASIDE_BODY_CHARS] for item in kept]
    cursor.execute(
        "INSERT INTO metrics_setasideevent (environment_id, received_at, reason, body) "
        "SELECT %s, %s, r, b FROM unnest(%s::text[], %s::text[]) AS t(r, b)",
        [environment_id, received, [item.reason for item in kept], bodies],
    )
