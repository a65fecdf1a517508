"""The intake leaves each batch's exposures pending; the worker counts them, once.

The SDK tests (test_sdks.py) prove the whole path with a real Celery worker; these pin the
pending rows themselves: nothing counted before the worker runs, each batch counted once
however often or concurrently the worker is asked, and a broker outage losing nothing."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django.urls import reverse
from kombu.exceptions import OperationalError as BrokerDown

from metrics.models import Event, Exposure, ExposureCount, PendingExposures
from metrics.services import exposures_apply
from metrics.tasks import exposures_apply_task
from tests.metrics.seed import exposure, gate_check, group_rules, now_ms, store


def _post(client, secret: str, events: list[dict]):
    return client.post(
        reverse("sdk-log-event"),
        data=json.dumps({"events": events}),
        content_type="application/json",
        HTTP_STATSIG_API_KEY=secret,
    )


def _units() -> list[tuple]:
    rows = Exposure.objects.order_by("name", "unit_id")
    return list(rows.values_list("name", "unit_id", "group_name", "count", "crossover"))


@pytest.mark.django_db
def test_stored_batch__exposures_pending_until_the_worker__then_counted_once(
    client, server_key, production, running_experiment
):
    rules = group_rules(production, running_experiment.name)
    events = [
        exposure(running_experiment.name, rules["Control"], "u1", at=now_ms() - 2000),
        exposure(running_experiment.name, rules["Control"], "u1", at=now_ms() - 1000),
        gate_check("new_checkout", "u1", passed=True),
        {"eventName": "purchase", "user": {"userID": "u1"}, "value": 3},
    ]
    assert _post(client, server_key.secret, events).status_code == 202
    # The events are stored; their exposures wait for the worker.
    assert Event.objects.count() == 4
    assert PendingExposures.objects.count() == 1
    assert not Exposure.objects.exists()

    assert exposures_apply() == 1
    assert _units() == [
        (running_experiment.name, "u1", "Control", 2, False),
        ("new_checkout", "u1", "pass", 1, False),
    ]
    assert sum(ExposureCount.objects.values_list("count", flat=True)) == 3
    # Asked again (a redelivered task, beat's sweep): nothing is counted twice.
    assert exposures_apply() == 0
    assert exposures_apply_task.apply().get() == 0
    assert sum(ExposureCount.objects.values_list("count", flat=True)) == 3
    assert not PendingExposures.objects.exists()


@pytest.mark.django_db
def test_batch_without_exposures__nothing_pending(client, server_key):
    events = [{"eventName": "purchase", "user": {"userID": "u1"}}]
    assert _post(client, server_key.secret, events).status_code == 202
    assert not PendingExposures.objects.exists()


@pytest.mark.django_db
def test_broker_down__202_all_the_same__beats_sweep_counts_the_batch(
    client, server_key, production, running_experiment, monkeypatch
):
    def down(*args, **kwargs):
        raise BrokerDown("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(exposures_apply_task, "apply_async", down)
    rules = group_rules(production, running_experiment.name)
    events = [exposure(running_experiment.name, rules["Test"], "u9")]
    assert _post(client, server_key.secret, events).status_code == 202
    assert PendingExposures.objects.count() == 1

    # Beat's sweep is the same task, run on its schedule.
    assert exposures_apply_task.apply().get() == 1
    assert _units() == [(running_experiment.name, "u9", "Test", 1, False)]


@pytest.mark.usefixtures("empty_event_table")
def test_workers_at_once__every_batch_counted_once(production, running_experiment):
    rules = group_rules(production, running_experiment.name)
    # 40 batches that expose the same 5 units, each once per batch (in Control).
    pending = []
    for b in range(40):
        at = now_ms() - 1000 * b
        events = [
            exposure(running_experiment.name, rules["Control"], f"u{u}", at=at) for u in range(5)
        ]
        pending.append(events)
    for events in pending:
        store(production, events, counted=False)
    assert PendingExposures.objects.count() == 40

    counted: list[int] = []

    def worker() -> None:
        try:
            counted.append(exposures_apply())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(counted) == 40
    assert not PendingExposures.objects.exists()
    assert _units() == [(running_experiment.name, f"u{u}", "Control", 40, False) for u in range(5)]
    assert sum(ExposureCount.objects.values_list("count", flat=True)) == 200
