"""Beat's housekeeping of the event tables: partitions ahead and expired, keys forgotten."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from metrics import partitions
from metrics.models import Event, EventKey
from metrics.services import events_housekeep

pytestmark = pytest.mark.django_db


def test_housekeep__creates_days_ahead__drops_expired(settings):
    settings.GATEHOUSE_EVENT_RETENTION_DAYS = 30
    today = timezone.now().date()
    old = today - dt.timedelta(days=31)
    kept = today - dt.timedelta(days=30)
    partitions.ensure_partition(old)
    partitions.ensure_partition(kept)

    result = events_housekeep()

    days = partitions.existing()
    assert old not in days
    assert kept in days
    assert all(today + dt.timedelta(days=n) in days for n in range(8))
    assert result["dropped"] >= 1


def test_housekeep__forgets_keys_past_the_window__a_later_resend_is_stored(
    client, server_key, settings
):
    settings.GATEHOUSE_EVENT_DEDUPE_HOURS = 1
    body = json.dumps({"events": [{"eventName": "buy", "user": {"userID": "u1"}}]})

    def send():
        return client.post(
            reverse("sdk-log-event"),
            data=body,
            content_type="application/json",
            HTTP_STATSIG_API_KEY=server_key.secret,
        ).json()

    assert send()["stored"] == 1
    assert send()["duplicates"] == 1
    events_housekeep(now=timezone.now() + dt.timedelta(minutes=30))
    assert EventKey.objects.count() == 1
    events_housekeep(now=timezone.now() + dt.timedelta(hours=2))
    assert EventKey.objects.count() == 0
    assert send()["stored"] == 1
    assert Event.objects.count() == 2


def test_intake__todays_partition_missing__created_and_stored(client, server_key):
    today = timezone.now().astimezone(dt.UTC).date()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {partitions.partition_name(today)}")
    response = client.post(
        reverse("sdk-log-event"),
        data=json.dumps({"events": [{"eventName": "buy", "user": {"userID": "u1"}}]}),
        content_type="application/json",
        HTTP_STATSIG_API_KEY=server_key.secret,
    )
    assert response.status_code == 202
    assert Event.objects.count() == 1


def test_beat__schedules_the_housekeeping():
    from console.celery import app

    entry = app.conf.beat_schedule["event-partitions"]
    assert entry["task"] == "metrics.tasks.event_partitions_task"
    assert entry["schedule"] <= 3600
