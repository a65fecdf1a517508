"""The real SDKs' event batches on ClickHouse (GATEHOUSE_EVENTS_ENGINE = "clickhouse",
embedded chdb): test_sdks.py's project, SDKs and recording proxy, then

* the batches are stored in ClickHouse's `events` (none in metrics_event), and the same
  recorded requests replayed with the engine set to PostgreSQL store the same events, row
  by row once converted (metrics.clickhouse.event_row); ClickHouse's exposure rows folded
  per unit equal PostgreSQL's metrics_exposure;
* a batch that finds ClickHouse unreachable is answered 503 and stored nowhere; the SDK
  resends it and it lands once.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.client import HTTPConnection

import pytest

from metrics.clickhouse import EVENT_COLUMNS, event_row, first_exposures
from metrics.models import Event, EventKey, Exposure, ExposureCount, PendingExposures
from metrics.services import exposures_apply
from tests.metrics.test_sdks import (
    HOP_BY_HOP,
    _custom_events,
    _legacy_run,
    _legacy_server,
    _node,
    _sent_events,
)
from tests.publishing.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_event_table")]

# Compared without the ID (PostgreSQL's own), the received time and the event time (a
# replay arrives later); the event time's distance to its arrival is kept.
_COMPARED = [c for c in EVENT_COLUMNS if c not in ("id", "received_at", "time")]


def _ch_events(ch, environment_id: int) -> list[tuple]:
    rows = ch.query(
        f"SELECT received_at - time, {', '.join(_COMPARED)} FROM events "
        "WHERE environment_id = {e:UInt32}",
        {"e": environment_id},
    )
    return _sorted((_seconds(r[0]), *r[1:]) for r in rows)


def _seconds(value) -> float:
    return round(value.total_seconds() if hasattr(value, "total_seconds") else float(value), 3)


def _pg_events(environment_id: int) -> list[tuple]:
    rows = []
    for e in Event.objects.filter(environment_id=environment_id):
        values = {f.attname: getattr(e, f.attname) for f in Event._meta.fields}
        values["environment_id"] = values.pop("environment_id")
        row = dict(zip(EVENT_COLUMNS, event_row(**values), strict=True))
        lag = _seconds(e.received_at - e.time)
        rows.append((lag, *(row[c] for c in _COMPARED)))
    return _sorted(rows)


_UNIT = ("kind", "name", "unit_type", "unit_id", "rule_id", "group_name", "count", "crossover")
_UNIT_MORE = ("is_bot", "country", "browser", "os", "custom")


def _ch_units(ch, environment_id: int) -> list[tuple]:
    columns = ", ".join(_UNIT + _UNIT_MORE)
    rows = ch.query(
        f"SELECT {columns} FROM ({first_exposures('environment_id = {e:UInt32}')})",
        {"e": environment_id},
    )
    return _sorted((*r[:-1], r[-1] or None) for r in rows)


def _sorted(rows) -> list[tuple]:
    """Rows in one order whatever the order of their maps' keys."""
    return sorted(
        rows, key=lambda r: repr([sorted(v.items()) if isinstance(v, dict) else v for v in r])
    )


def _pg_units(environment_id: int) -> list[tuple]:
    rows = Exposure.objects.filter(environment_id=environment_id)
    return _sorted(rows.values_list(*_UNIT, *_UNIT_MORE))


def _replay(upstream: tuple[str, int], posts) -> None:
    """Send each recorded batch again, as it was sent (headers and body), to the console."""
    for post in posts:
        connection = HTTPConnection(*upstream, timeout=60)
        headers = {k: v for k, v in post.headers.items() if k not in HOP_BY_HOP}
        connection.request("POST", post.target, post.body, headers)
        answer = connection.getresponse()
        assert answer.status == 202, answer.read()
        connection.close()


def _run_legacy(published, recorder) -> None:
    """The legacy SDK evaluates 40 users, logs the app's events and shuts down (flushing)."""
    users = published.users(40)
    server = _legacy_server(published.server_secret, recorder.url)
    try:
        _legacy_run(server, users, _custom_events(users))
    finally:
        server.shutdown()


def _run_node(published, recorder) -> None:
    """statsig-node (in node) does the same."""
    users = published.users(40)
    _node("statsig-node", published.server_secret, recorder.url, users, _custom_events(users))


@pytest.mark.parametrize("run", [_run_legacy, _run_node], ids=["statsig", "statsig-node"])
def test_sdk_batches__in_clickhouse__the_same_as_postgresql_stores(
    clickhouse_engine, published, recorder, settings, run
):
    # Given an SDK evaluating users and logging the app's events to the console on ClickHouse
    env = published.environment.pk
    run(published, recorder)
    posts = recorder.posts()
    assert {(p.path, p.encoding, p.status) for p in posts} == {("/v1/log_event", "gzip", 202)}
    # When the worker counts the exposures
    assert exposures_apply() > 0
    # Then every event sent is in ClickHouse, none in metrics_event; units likewise
    sent = _sent_events(posts)
    stored = Counter(
        dict(
            clickhouse_engine.query(
                "SELECT event_name, count() FROM events WHERE environment_id = {e:UInt32} "
                "GROUP BY event_name",
                {"e": env},
            )
        )
    )
    # (an SDK whose request timed out under load resends it: the resend is a duplicate)
    unique = {json.dumps(e, sort_keys=True): e for e in sent}.values()
    assert stored == Counter(e["eventName"] for e in unique)
    assert not Event.objects.exists()
    assert not Exposure.objects.exists()
    assert ExposureCount.objects.exists()
    ch_events = _ch_events(clickhouse_engine, env)
    ch_units = _ch_units(clickhouse_engine, env)
    assert {u[0] for u in ch_units} == {"gate", "config"}
    # And the same requests sent again to the console on PostgreSQL store the same rows
    settings.GATEHOUSE_EVENTS_ENGINE = "postgres"
    EventKey.objects.all().delete()
    _replay(recorder.upstream, posts)
    exposures_apply()
    assert _pg_events(env) == ch_events
    assert _pg_units(env) == ch_units


def test_legacy_statsig__clickhouse_unreachable__503__its_resend_lands_once(
    clickhouse_engine, published, recorder, settings
):
    # Given the legacy SDK holding a batch of evaluations and events
    users = published.users(30)
    custom = _custom_events(users)
    server = _legacy_server(published.server_secret, recorder.url)
    try:
        _legacy_run(server, users, custom)
        # When it flushes while the ClickHouse server cannot be reached
        settings.GATEHOUSE_CLICKHOUSE_URL = "clickhouse://default@127.0.0.1:9/gatehouse"
        flushing = threading.Thread(target=server.flush)
        flushing.start()
        wait_for(lambda: any(p.status == 503 for p in recorder.posts()), timeout=30)
        # Then nothing of it is stored in PostgreSQL either
        assert not EventKey.objects.exists()
        assert not PendingExposures.objects.exists()
        # And once ClickHouse is back, the SDK resends the batch on its own
        settings.GATEHOUSE_CLICKHOUSE_URL = ""
        flushing.join(timeout=30)
        wait_for(lambda: any(p.status == 202 for p in recorder.posts()), timeout=30)
    finally:
        server.shutdown()
    posts = recorder.posts()
    refused = [p for p in posts if p.status == 503]
    landed = [p for p in posts if p.status == 202]
    assert json.loads(refused[0].response)["code"] == "unavailable"
    assert landed[0].events == refused[0].events
    assert json.loads(landed[0].response)["duplicates"] == 0
    # And it counts once
    env = published.environment.pk
    names = clickhouse_engine.query(
        "SELECT count() FROM events WHERE environment_id = {e:UInt32}", {"e": env}
    )
    assert names == [(len(_sent_events(posts)),)]
    assert EventKey.objects.count() == len(_sent_events(posts))
