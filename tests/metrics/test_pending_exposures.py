"""The intake leaves each batch's exposures pending; the worker counts them, once.

The SDK tests (test_sdks.py) prove the whole path with a real Celery worker; these pin the
pending rows themselves: nothing counted before the worker runs, each batch counted once
however often or concurrently the worker is asked, and a broker outage losing nothing."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django.db.models import Sum
from django.urls import reverse
from kombu.exceptions import OperationalError as BrokerDown

from console.publishing.client_init import hash_name
from console.publishing.services import ruleset_version_create
from experiments import services as experiment_services
from metrics.models import Event, Exposure, ExposureCount, PendingExposures
from metrics.services import exposures_apply
from metrics.tasks import exposures_apply_task
from tests.experiments.factories import holdout_document
from tests.metrics.seed import event, exposure, gate_check, group_rules, now_ms, store


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


@pytest.fixture
def held_out(project, site_admin, running_experiment):
    """q3_holdout (10% of userID) over checkout_button, published with it."""
    holdout = experiment_services.holdout_create(
        actor=site_admin,
        project=project,
        document=holdout_document("q3_holdout", experimentIDs=[running_experiment.name]),
    )
    ruleset_version_create(actor=site_admin, project=project, reason="holdout")
    return holdout


def _secondary(gate: str, value: bool, rule_id: str = "holdout:10.00") -> dict:
    return {"gate": gate, "gateValue": "true" if value else "false", "ruleID": rule_id}


@pytest.mark.django_db
def test_exposure_with_holdout_check__unit_exposed_to_the_holdout__other_gates_not(
    client, server_key, production, running_experiment, held_out
):
    # Given experiment exposures whose secondary exposures hold the holdout's check (held
    # out for u1, not for u2, by name and by js-client's djb2 hash) and another gate's
    rules = group_rules(production, running_experiment.name)
    first = exposure(running_experiment.name, rules["Control"], "u1", at=now_ms() - 2000)
    first["secondaryExposures"] = [_secondary("q3_holdout", True), _secondary("new_checkout", True)]
    again = exposure(running_experiment.name, rules["Control"], "u1", at=now_ms() - 1000)
    again["secondaryExposures"] = [_secondary("q3_holdout", True)]
    other = exposure(running_experiment.name, rules["Test"], "u2")
    other["secondaryExposures"] = [_secondary(hash_name("q3_holdout", "djb2"), False)]
    custom = event("purchase", "u3", metadata={"x": "1"})
    custom["secondaryExposures"] = [_secondary("q3_holdout", True)]  # no exposure event

    # When the batch is stored and the worker counts it
    assert _post(client, server_key.secret, [first, again, other, custom]).status_code == 202
    exposures_apply()

    # Then u1 is exposed to the holdout's gate as held out ("pass", twice), u2 as not held
    # out; new_checkout (no holdout) and the custom event count for nothing
    assert _units() == [
        (running_experiment.name, "u1", "Control", 2, False),
        (running_experiment.name, "u2", "Test", 1, False),
        ("q3_holdout", "u1", "pass", 2, False),
        ("q3_holdout", "u2", "fail", 1, False),
    ]
    holdout_rows = Exposure.objects.filter(name="q3_holdout")
    assert set(holdout_rows.values_list("kind", "unit_type", "rule_id")) == {
        ("gate", "userID", "holdout:10.00")
    }
    # (summed over hours: the two checks of u1 may fall on both sides of an hour's start)
    checks = (
        ExposureCount.objects.filter(name="q3_holdout")
        .values("group_name")
        .annotate(total=Sum("count"))
        .values_list("group_name", "total")
    )
    assert sorted(checks) == [("fail", 1), ("pass", 2)]


@pytest.mark.django_db
def test_holdout_percentage_raised__unit_held_out_later__crossover(
    client, server_key, production, running_experiment, held_out
):
    # Given u1 not held out, then (the percentage raised) held out
    rules = group_rules(production, running_experiment.name)
    before = exposure(running_experiment.name, rules["Control"], "u1", at=now_ms() - 5000)
    before["secondaryExposures"] = [_secondary("q3_holdout", False)]
    after = exposure(running_experiment.name, rules["Control"], "u1")
    after["secondaryExposures"] = [_secondary("q3_holdout", True, "holdout:20.00")]

    # When both are stored, in two batches
    assert _post(client, server_key.secret, [before]).status_code == 202
    assert _post(client, server_key.secret, [after]).status_code == 202
    exposures_apply()

    # Then the unit keeps its first group and is a crossover, as experiments' units are
    row = Exposure.objects.get(name="q3_holdout")
    assert (row.group_name, row.rule_id, row.crossover) == ("fail", "holdout:10.00", True)
