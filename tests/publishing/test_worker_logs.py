"""A worker's log holds no whole key: Celery logs through our LOGGING (key redaction
included), not through handlers of its own."""

from __future__ import annotations

import pytest

from console.celery import app
from tests.publishing.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "secret-AbCdEfGhIjKlMnOpQrStUvWx"


def test_worker_log__unregistered_task_with_a_key_in_its_body__key_redacted(
    start_celery_worker,
):
    # Given a worker, and a message it cannot run: Celery logs such a message's whole body
    _, logfile = start_celery_worker()
    app.send_task("gatehouse.no_such_task", args=[KEY], kwargs={"url": f"/v1/x/{KEY}.json"})
    # When it has logged it
    text = wait_for(
        lambda: (t := logfile.read_text(errors="replace")) and "no_such_task" in t and t,
        timeout=20,
    )
    # Then the key shows as its hint only, in our log format
    assert "secret-AbCdEf…" in text
    assert KEY not in text
    assert " ERROR celery.worker.consumer.consumer [" in text
