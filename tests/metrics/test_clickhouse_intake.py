"""The intake with GATEHOUSE_EVENTS_ENGINE = "clickhouse" (embedded chdb, for real): events
land in ClickHouse's `events` and nowhere in metrics_event, the same rows PostgreSQL would
store; an unreachable or refusing ClickHouse is a 503 that stores nothing anywhere; the
worker's exposures are stored once, even when retried after a failure; old days are dropped."""

from __future__ import annotations

import datetime as dt
import json

import psycopg
import pytest
from django.db import OperationalError, connection
from django.urls import reverse
from django.utils import timezone

from metrics.clickhouse import EVENT_COLUMNS, ClickHouseError, event_row
from metrics.intake import Envelope, Limits, parse_batch
from metrics.models import (
    Event,
    EventCount,
    EventKey,
    Exposure,
    ExposureCount,
    IntakeTally,
    PendingExposures,
)
from metrics.sdk_views import is_bot
from metrics.services import events_housekeep, events_store, exposures_apply
from tests.metrics.seed import event, exposure, gate_check, group_rules, now_ms

# Everything a stored event can carry, with the JSON that ->> prints in its own way.
RICH = [
    event(
        "purchase",
        "u-1",
        value=12.5,
        metadata={"plan": "pro", "seats": 3, "ratio": 1.5e-7, "big": 10**30, "off": None},
        secondaryExposures=[{"gate": "g", "gateValue": "true", "ruleID": "r"}],
    ),
    {
        "eventName": "view",
        "user": {
            "userID": "ü-2",
            "email": "a@b.example",
            "customIDs": {"companyID": "c-9", "stableID": "s-2"},
            "custom": {"tier": "gold", "age": 41, "ok": True, "tags": ["a", "b"], "n": None},
            "privateAttributes": {"secret": "x"},
            "country": "DE",
        },
        "value": 'sku-\n"7"',
        "metadata": {"nested": {"bb": 1.0, "a": [1e300, -0.0, "t\t"]}, "emoji": "🦆"},
    },
    {"eventName": "bare"},
]


def _pg_as_rows(environment_id: int) -> list[tuple]:
    """metrics_event's rows as `events` rows (without the ID, PostgreSQL's own)."""
    rows = []
    for e in Event.objects.filter(environment_id=environment_id):
        row = event_row(
            id=0,
            received_at=e.received_at,
            environment_id=e.environment_id,
            time=e.time,
            client_time=e.client_time,
            event_name=e.event_name,
            user_id=e.user_id,
            stable_id=e.stable_id,
            custom_ids=e.custom_ids,
            value_text=e.value_text,
            value_num=e.value_num,
            metadata=e.metadata,
            user=e.user,
            secondary_exposures=e.secondary_exposures,
            sdk_type=e.sdk_type,
            sdk_version=e.sdk_version,
            is_bot=e.is_bot,
        )
        rows.append(row[1:])
    return sorted(rows, key=repr)


def _ch_rows(ch, environment_id: int) -> list[tuple]:
    found = ch.query(
        f"SELECT {', '.join(EVENT_COLUMNS[1:])} FROM events WHERE environment_id = {{e:UInt32}}",
        {"e": environment_id},
    )
    return sorted(found, key=repr)


def _post(client, secret: str, events: list[dict]):
    return client.post(
        reverse("sdk-log-event"),
        data=json.dumps({"events": events}),
        content_type="application/json",
        HTTP_STATSIG_API_KEY=secret,
        HTTP_STATSIG_SDK_TYPE="py-server",
        HTTP_STATSIG_SDK_VERSION="0.9",
    )


@pytest.mark.django_db
def test_the_same_batch__clickhouse_holds_what_postgresql_would(
    clickhouse_engine, production, settings
):
    # Given one batch of varied events, as one request carries it
    envelope = Envelope(
        environment_id=production.pk,
        received_ms=now_ms(),
        client_sent_ms=now_ms() - 5000,
        sdk_type="py-server",
        sdk_version="0.9",
        user_agent="Mozilla/5.0 (compatible; Googlebot/2.1)",
    )
    # When it is stored on ClickHouse, and again (its keys forgotten) on PostgreSQL
    stored = events_store(envelope, parse_batch({"events": RICH}, envelope, Limits(), is_bot))
    assert stored.stored == len(RICH)
    assert not Event.objects.exists()
    EventKey.objects.all().delete()
    settings.GATEHOUSE_EVENTS_ENGINE = "postgres"
    events_store(envelope, parse_batch({"events": RICH}, envelope, Limits(), is_bot))
    # Then ClickHouse's rows are PostgreSQL's, converted, column by column
    pg_rows = _pg_as_rows(production.pk)
    assert len(pg_rows) == len(RICH)
    assert _ch_rows(clickhouse_engine, production.pk) == pg_rows
    # And the maps hold what ->> gives
    view = next(r for r in pg_rows if r[4] == "view")
    assert view[12] == {"tier": "gold", "age": "41", "ok": "true", "tags": '["a", "b"]'}
    assert (
        view[10]["nested"]
        == '{"a": [1000000000000000000000000000000' + "0" * 270 + ', 0.0, "t\\t"], "bb": 1.0}'
    )
    assert "privateAttributes" not in view[11]


@pytest.mark.django_db
def test_log_event__202__events_in_clickhouse__counts_and_keys_in_postgresql(
    clickhouse_engine, client, server_key
):
    # When the SDK posts a batch
    events = [event("purchase", "u1", value=3), event("purchase", "u2"), event("view", "u1")]
    response = _post(client, server_key.secret, events)
    # Then it is stored in ClickHouse only; keys and hourly counts are in PostgreSQL
    assert response.status_code == 202
    assert response.json()["stored"] == 3
    names = clickhouse_engine.query("SELECT event_name, user_id FROM events ORDER BY 1, 2")
    assert names == [("purchase", "u1"), ("purchase", "u2"), ("view", "u1")]
    assert not Event.objects.exists()
    assert EventKey.objects.count() == 3
    counts = dict(EventCount.objects.values_list("event_name", "count"))
    assert counts == {"purchase": 2, "view": 1}
    # And the same batch again is a resend: counted as duplicates, not stored twice
    assert _post(client, server_key.secret, events).json()["duplicates"] == 3
    assert clickhouse_engine.query("SELECT count() FROM events") == [(3,)]


def _nothing_stored(ch) -> None:
    assert not EventKey.objects.exists()
    assert not EventCount.objects.exists()
    assert not IntakeTally.objects.exists()
    assert not PendingExposures.objects.exists()
    assert ch.query("SELECT count() FROM events") == [(0,)]


@pytest.mark.django_db
def test_clickhouse_unreachable__503__nothing_stored_in_postgresql(
    clickhouse_engine, client, server_key, settings
):
    # Given a ClickHouse server URL where nothing listens
    settings.GATEHOUSE_CLICKHOUSE_URL = "clickhouse://default@127.0.0.1:9/gatehouse"
    events = [gate_check("new_checkout", "u1", passed=True), event("buy", "u1")]
    # When the SDK posts a batch with an exposure and a duplicate inside
    response = _post(client, server_key.secret, [*events, events[1]])
    # Then it is told to send it again, and nothing of the batch is anywhere
    assert response.status_code == 503
    answer = response.json()
    assert answer["message"] == "Events cannot be stored right now; send them again."
    assert answer["code"] == "unavailable"
    settings.GATEHOUSE_CLICKHOUSE_URL = ""
    _nothing_stored(clickhouse_engine)
    # And once ClickHouse is back, the resend is stored in full
    assert _post(client, server_key.secret, [*events, events[1]]).json()["stored"] == 2
    assert clickhouse_engine.query("SELECT count() FROM events") == [(2,)]


@pytest.mark.django_db
def test_clickhouse_refuses_the_insert__503__nothing_stored(clickhouse_engine, client, server_key):
    # Given ClickHouse's events table is gone (ClickHouse refuses the insert)
    clickhouse_engine.command("DROP TABLE events")
    try:
        # When the SDK posts a batch
        response = _post(client, server_key.secret, [event("buy", "u1")])
        # Then 503, and PostgreSQL rolled the batch back
        assert response.status_code == 503
        assert response.json()["code"] == "unavailable"
        assert not EventKey.objects.exists()
        assert not EventCount.objects.exists()
    finally:
        from metrics.clickhouse import ensure_schema

        ensure_schema()


def _folded(ch, environment_id: int) -> list[tuple]:
    """ClickHouse's exposure rows folded per unit as PostgreSQL's upsert folds them."""
    return ch.query(
        "SELECT kind, name, unit_type, unit_id, argMin(rule_id, first_at), "
        "argMin(group_name, first_at), min(first_at), max(last_at), sum(count), "
        "max(crossover) OR uniqExactIf(group_name, group_name != '') > 1, max(is_bot) "
        "FROM exposures WHERE environment_id = {e:UInt32} "
        "GROUP BY kind, name, unit_type, unit_id ORDER BY kind, name, unit_type, unit_id",
        {"e": environment_id},
    )


def _pg_units(environment_id: int) -> list[tuple]:
    return list(
        Exposure.objects.filter(environment_id=environment_id)
        .order_by("kind", "name", "unit_type", "unit_id")
        .values_list(
            "kind",
            "name",
            "unit_type",
            "unit_id",
            "rule_id",
            "group_name",
            "first_at",
            "last_at",
            "count",
            "crossover",
            "is_bot",
        )
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("empty_event_table")
def test_worker__exposures_in_clickhouse__folded_as_postgresql__retry_stored_once(
    clickhouse_engine, production, running_experiment, settings
):
    # Given three batches of exposures: a unit seen twice, one crossing groups, a gate
    rules = group_rules(production, running_experiment.name)
    t = now_ms() - 60_000
    name = running_experiment.name
    batches = [
        [exposure(name, rules["Control"], "u1", at=t + 2000), gate_check("g", "u1", True, at=t)],
        [
            exposure(name, rules["Control"], "u1", at=t + 1000),
            exposure(name, rules["Test"], "u2", at=t),
        ],
        [exposure(name, rules["Control"], "u2", at=t + 5000), gate_check("g", "u3", False, at=t)],
    ]

    def store_all():
        for events in batches:
            envelope = Envelope(environment_id=production.pk, received_ms=now_ms())
            events_store(envelope, parse_batch({"events": events}, envelope, Limits(), is_bot))

    store_all()
    assert PendingExposures.objects.count() == 3
    # When the worker runs while PostgreSQL fails it after ClickHouse took the first batch
    # (another transaction holds metrics_exposurecount: the worker's lock times out)
    holder = psycopg.connect(_dsn())
    holder.execute("LOCK TABLE metrics_exposurecount IN ACCESS EXCLUSIVE MODE")
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '300ms'")
    with pytest.raises(OperationalError):
        exposures_apply()
    holder.rollback()
    holder.close()
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = 0")
    assert PendingExposures.objects.count() == 3
    taken = clickhouse_engine.query("SELECT count() FROM exposures")[0][0]
    assert taken == 2, "the first batch's units reached ClickHouse before PostgreSQL failed"
    # And runs again
    assert exposures_apply() == 3
    # Then each batch's units are stored once, the hourly counts are in PostgreSQL
    assert clickhouse_engine.query("SELECT count() FROM exposures") == [(6,)]
    assert not Exposure.objects.exists()
    assert sum(ExposureCount.objects.values_list("count", flat=True)) == 6
    ch_units = _folded(clickhouse_engine, production.pk)
    # And folded they equal what PostgreSQL's upsert makes of the same batches
    PendingExposures.objects.all().delete()
    EventKey.objects.all().delete()
    settings.GATEHOUSE_EVENTS_ENGINE = "postgres"
    store_all()
    exposures_apply()
    assert ch_units == _pg_units(production.pk)
    assert [u[3] for u in ch_units if u[9]] == ["u2"], "u2 crossed from Test to Control"


def _dsn() -> str:
    s = connection.settings_dict
    return f"host={s['HOST']} port={s['PORT'] or 5432} dbname={s['NAME']} user={s['USER']}"


@pytest.mark.django_db
def test_housekeeping_drops_clickhouse_days_past_the_retention(clickhouse_engine, settings):
    # Given events received 31, 30 and 0 days ago, and a retention of 30 days
    settings.GATEHOUSE_EVENT_RETENTION_DAYS = 30
    now = timezone.now()
    for days in (31, 30, 0):
        at = now - dt.timedelta(days=days)
        row = event_row(
            id=days,
            received_at=at,
            environment_id=1,
            time=at,
            client_time=None,
            event_name="e",
            user_id="u",
            stable_id="",
            custom_ids={},
            value_text=None,
            value_num=None,
            metadata=None,
            user=None,
            secondary_exposures=None,
            sdk_type="",
            sdk_version="",
            is_bot=False,
        )
        clickhouse_engine.insert("events", EVENT_COLUMNS, [row])
    # When beat's housekeeping runs
    result = events_housekeep(now)
    # Then the day past the retention is gone, the others kept
    kept = clickhouse_engine.query("SELECT id FROM events ORDER BY id")
    assert kept == [(0,), (30,)]
    assert result["dropped"] >= 1


@pytest.mark.django_db
def test_worker__clickhouse_unreachable__batch_left_pending(
    clickhouse_engine, production, settings
):
    # Given a stored batch with an exposure, waiting for the worker
    envelope = Envelope(environment_id=production.pk, received_ms=now_ms())
    batch = parse_batch({"events": [gate_check("g", "u1", True)]}, envelope, Limits(), is_bot)
    events_store(envelope, batch)
    # When the worker runs while the ClickHouse server cannot be reached
    settings.GATEHOUSE_CLICKHOUSE_URL = "clickhouse://default@127.0.0.1:9/gatehouse"
    with pytest.raises(ClickHouseError):
        exposures_apply()
    # Then the batch stays pending, uncounted, for the next run
    assert PendingExposures.objects.count() == 1
    assert not ExposureCount.objects.exists()
    settings.GATEHOUSE_CLICKHOUSE_URL = ""
    assert exposures_apply() == 1
    assert clickhouse_engine.query("SELECT unit_id, group_name FROM exposures") == [("u1", "pass")]
