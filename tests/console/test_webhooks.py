"""Outbound webhooks: services, delivery to a real local HTTP server, signature checked with
the README's recipe, retries, the safety net, the settings page and the API."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock

import pytest
from celery.exceptions import Retry
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from console.exceptions import Conflict, DomainError, NotAllowed
from console.models import AuditEvent, Role, Webhook, WebhookDelivery, WebhookDeliveryState
from console.tasks import webhook_deliver_task, webhook_redeliver_task
from console.webhooks import crypto, events, slack
from console.webhooks import delivery as delivery_module
from console.webhooks.delivery import MAX_ATTEMPTS, webhook_deliver, webhook_redeliver_overdue
from console.webhooks.services import (
    webhook_create,
    webhook_delete,
    webhook_delivery_retry,
    webhook_emit,
    webhook_rotate_secret,
    webhook_send_test,
    webhook_update,
)
from tests.conftest import PASSWORD
from tests.console.factories import MembershipFactory, UserFactory
from tests.publishing import conftest as publishing_conftest
from tests.publishing.conftest import wait_for

pytestmark = pytest.mark.django_db

# The publishing tests' fixture: a real `celery -A console worker` on the test database.
start_celery_worker = publishing_conftest.start_celery_worker

REPO = Path(__file__).resolve().parents[2]
SLACK_PATH = "/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX"


# ---------------------------------------------------------------- a real receiver


class Receiver:
    """An HTTP server on 127.0.0.1:<free port> in a thread; records every request and
    answers with the queued statuses (then `default`)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self.default = 200
        self.extra_headers: dict[str, str] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(
                    {
                        "path": self.path,
                        "headers": self.headers,
                        "header_names": list(self.headers.keys()),
                        "body": body,
                    }
                )
                status = receiver.statuses.pop(0) if receiver.statuses else receiver.default
                self.send_response(status)
                for name, value in receiver.extra_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def closed_url() -> str:
    """A URL nobody listens on (the port was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


@pytest.fixture(autouse=True)
def local_receivers_allowed(settings):
    """These tests' receivers listen on 127.0.0.1 over http: the operator allow-list lets
    them through (the SSRF protections stay on everywhere else; see test_webhook_ssrf)."""
    settings.GATEHOUSE_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.fixture(autouse=True)
def demo_events(monkeypatch):
    """Two registered events, as a domain app registers them in AppConfig.ready()."""
    monkeypatch.setattr(
        events,
        "_EVENTS",
        {"demo.approved": "A demo was approved", "demo.rejected": "A demo was rejected"},
    )


def readme_verifier():
    """The README's verification recipe, run as written."""
    text = (REPO / "README.md").read_text()
    match = re.search(r"<!-- webhook:verify -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README has no webhook:verify block"
    namespace: dict = {}
    exec(compile(match.group(1), "README.md[webhook:verify]", "exec"), namespace)
    return namespace["verify_gatehouse_webhook"]


@pytest.fixture
def emit(django_capture_on_commit_callbacks):
    """webhook_emit as a domain service calls it, in a transaction; runs its on-commit
    enqueue with the task's delay() mocked (a test delivers by calling the task)."""

    def emit(project, event="demo.approved", **kwargs):
        with (
            mock.patch("console.tasks.webhook_deliver_task.delay") as delay,
            django_capture_on_commit_callbacks(execute=True),
        ):
            deliveries = webhook_emit(
                project=project,
                event=event,
                text=kwargs.get("text", "*Raise limit* was approved"),
                data=kwargs.get("data", {"change_set": 7}),
            )
        return deliveries, delay

    return emit


def _make_due(delivery):
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


@pytest.fixture
def hook(project, site_admin, receiver):
    return webhook_create(
        actor=site_admin, project=project, name="Slack #releases", url=receiver.url
    )


# ---------------------------------------------------------------- delivery, end to end


def test_webhook_emit__real_receiver__slack_payload_signed_per_readme(
    project, site_admin, receiver, hook, emit
):
    # Given: a webhook for every event, and one for another event only
    webhook_create(
        actor=site_admin,
        project=project,
        name="Rejections",
        url=receiver.url,
        events=["demo.rejected"],
    )
    # When: a domain service emits inside its transaction
    deliveries, delay = emit(project, data={"change_set": 7, "at": timezone.now()})
    # Then: one pending delivery, enqueued once after commit
    assert [d.webhook_id for d in deliveries] == [hook.webhook.pk]
    delivery = deliveries[0]
    delay.assert_called_once_with(delivery.pk)
    assert WebhookDelivery.objects.get().state == WebhookDeliveryState.PENDING

    # When: the worker runs the task
    assert webhook_deliver_task(delivery.pk) == WebhookDeliveryState.DELIVERED

    # Then: the receiver got a Slack-compatible JSON body
    [request] = receiver.requests
    assert request["path"] == "/hook"
    body = json.loads(request["body"])
    assert body["text"] == "*Raise limit* was approved"
    assert body["blocks"] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Raise limit* was approved"}}
    ]
    assert body["event"] == "demo.approved"
    assert body["project"] == {"slug": "payments", "name": "Payments"}
    assert body["data"]["change_set"] == 7
    assert isinstance(body["data"]["at"], str)
    assert body["id"] == str(delivery.uuid)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["timestamp"])
    # And the headers, with their names as documented
    headers = request["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Gatehouse-Event"] == "demo.approved"
    assert headers["X-Gatehouse-Delivery"] == str(delivery.uuid)
    assert abs(int(headers["X-Gatehouse-Timestamp"]) - time.time()) < 30
    assert {"X-Gatehouse-Signature", "X-Gatehouse-Timestamp"} <= set(request["header_names"])
    assert re.fullmatch(r"v1=[0-9a-f]{64}", headers["X-Gatehouse-Signature"])
    # And the README's recipe accepts it with the secret shown at creation, and only with it
    verify = readme_verifier()
    assert verify(hook.secret, headers, request["body"]) is True
    assert verify(hook.secret, headers, request["body"] + b" ") is False
    assert verify("whsec_wrong", headers, request["body"]) is False
    # And the state is recorded on the delivery and the webhook
    delivery.refresh_from_db()
    assert delivery.state == WebhookDeliveryState.DELIVERED
    assert delivery.attempts == 1
    assert delivery.response_status == 200
    assert delivery.delivered_at is not None
    assert delivery.next_attempt_at is None
    webhook = Webhook.objects.get(pk=hook.webhook.pk)
    assert webhook.last_delivery_state == WebhookDeliveryState.DELIVERED
    assert webhook.last_response_status == 200


def test_webhook_deliver__twice__sent_once(project, receiver, hook, emit):
    # Given a delivered event
    [delivery], _ = emit(project)
    webhook_deliver(delivery_id=delivery.pk)
    # When a duplicate task runs (the safety net's, a late retry)
    result = webhook_deliver(delivery_id=delivery.pk)
    # Then nothing is sent again
    assert result is None
    assert len(receiver.requests) == 1


def test_webhook_emit__filters__only_active_subscribed_webhooks(
    project, site_admin, receiver, emit
):
    # Given: all events, only demo.rejected, and a paused one
    every = webhook_create(actor=site_admin, project=project, name="All", url=receiver.url)
    rejected = webhook_create(
        actor=site_admin,
        project=project,
        name="Rejected",
        url=receiver.url,
        events=["demo.rejected"],
    )
    webhook_create(
        actor=site_admin, project=project, name="Paused", url=receiver.url, is_active=False
    )
    # When / Then
    approved, _ = emit(project, "demo.approved")
    assert {d.webhook_id for d in approved} == {every.webhook.pk}
    rejections, _ = emit(project, "demo.rejected")
    assert {d.webhook_id for d in rejections} == {every.webhook.pk, rejected.webhook.pk}


def test_webhook_emit__unregistered_event_or_bad_input__raises(project, hook, emit):
    with pytest.raises(ValueError, match="register_event"):
        webhook_emit(project=project, event="demo.unknown", text="x", data={})
    with pytest.raises(ValueError, match="text"):
        webhook_emit(project=project, event="demo.approved", text="  ", data={})
    with pytest.raises(TypeError):
        webhook_emit(project=project, event="demo.approved", text="x", data={"x": object()})
    assert not WebhookDelivery.objects.exists()


def test_webhook_emit__no_webhooks__nothing_recorded(project, emit):
    deliveries, delay = emit(project)
    assert deliveries == []
    delay.assert_not_called()


def test_webhook_emit__long_text__truncated_for_slack(project, hook, emit):
    [delivery], _ = emit(project, text="a" * 5000)
    assert len(delivery.payload["blocks"][0]["text"]["text"]) == 3000
    assert delivery.payload["text"].endswith("…")


def test_slack_helpers__escape_and_link():
    assert slack.escape("a <b> & c") == "a &lt;b&gt; &amp; c"
    assert slack.link("https://x.example/p?a=1", "Raise <limit>") == (
        "<https://x.example/p?a=1|Raise &lt;limit&gt;>"
    )


# ---------------------------------------------------------------- failures and retries


def test_webhook_deliver__500_then_200__retried_with_backoff_and_recorded(
    project, receiver, hook, emit
):
    # Given a receiver that fails once with 500
    receiver.statuses = [500]
    [delivery], _ = emit(project)
    # When the task runs: it records the failure and asks Celery for a retry
    with pytest.raises(Retry):
        webhook_deliver_task(delivery.pk)
    # Then the delivery waits for its retry with the error recorded
    delivery.refresh_from_db()
    assert delivery.state == WebhookDeliveryState.PENDING
    assert delivery.attempts == 1
    assert delivery.response_status == 500
    assert delivery.last_error.startswith("HTTP 500")
    wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert wait == pytest.approx(delivery_module.backoff(1))
    webhook = Webhook.objects.get(pk=hook.webhook.pk)
    assert (webhook.last_delivery_state, webhook.last_response_status) == ("pending", 500)
    # And an early duplicate does not jump the backoff
    assert webhook_deliver(delivery_id=delivery.pk) is None
    assert len(receiver.requests) == 1
    # When the retry comes due
    _make_due(delivery)
    assert webhook_deliver_task(delivery.pk) == WebhookDeliveryState.DELIVERED
    # Then it is delivered on the second attempt, with the same delivery id
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("delivered", 2, "")
    ids = {r["headers"]["X-Gatehouse-Delivery"] for r in receiver.requests}
    assert ids == {str(delivery.uuid)}


def test_backoff__grows_exponentially_up_to_the_cap():
    assert [delivery_module.backoff(n) for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert delivery_module.backoff(30) == delivery_module.BACKOFF_CAP_SECONDS


def test_webhook_deliver__always_500__failed_after_max_attempts(project, receiver, hook, emit):
    receiver.default = 503
    [delivery], _ = emit(project)
    for _ in range(MAX_ATTEMPTS):
        _make_due(delivery)
        result = webhook_deliver(delivery_id=delivery.pk)
    assert result.state == WebhookDeliveryState.FAILED
    assert result.attempts == MAX_ATTEMPTS
    assert result.retry_in is None
    assert len(receiver.requests) == MAX_ATTEMPTS


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 301])
def test_webhook_deliver__4xx_or_redirect__failed_at_once(project, receiver, hook, status, emit):
    receiver.statuses = [status]
    [delivery], _ = emit(project)
    assert webhook_deliver_task(delivery.pk) == WebhookDeliveryState.FAILED
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.response_status) == (
        "failed",
        1,
        status,
    )
    assert delivery.last_error.startswith(f"HTTP {status}")
    assert delivery.next_attempt_at is None
    assert Webhook.objects.get(pk=hook.webhook.pk).last_delivery_state == "failed"


def test_webhook_deliver__429_with_retry_after__retried_after_it(project, receiver, hook, emit):
    receiver.statuses = [429]
    receiver.extra_headers = {"Retry-After": "120"}
    [delivery], _ = emit(project)
    result = webhook_deliver(delivery_id=delivery.pk)
    assert (result.state, result.response_status, result.retry_in) == ("pending", 429, 120)


def test_webhook_deliver__receiver_down__pending_then_failed_then_delivered_on_retry(
    project, site_admin, closed_url, receiver, emit, django_capture_on_commit_callbacks
):
    # Given a webhook whose receiver is down
    issued = webhook_create(actor=site_admin, project=project, name="Down", url=closed_url)
    [delivery], _ = emit(project)
    # When the worker tries: a network error, retried later
    result = webhook_deliver(delivery_id=delivery.pk)
    assert result.state == WebhookDeliveryState.PENDING
    assert result.response_status is None
    assert "ConnectionRefusedError" in result.last_error
    assert result.retry_in == delivery_module.backoff(1)
    # When every attempt fails
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=MAX_ATTEMPTS - 1)
    _make_due(delivery)
    result = webhook_deliver(delivery_id=delivery.pk)
    # Then it is failed, with the error shown
    assert result.state == WebhookDeliveryState.FAILED
    assert "ConnectionRefusedError" in result.last_error
    # When the receiver is back (here: the URL fixed) and an admin presses Retry
    webhook_update(
        actor=site_admin,
        webhook=issued.webhook,
        name="Down",
        url=receiver.url,
        events=None,
        is_active=True,
    )
    with (
        mock.patch("console.tasks.webhook_deliver_task.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        webhook_delivery_retry(actor=site_admin, delivery=result)
    delay.assert_called_once_with(delivery.pk)
    assert webhook_deliver_task(delivery.pk) == WebhookDeliveryState.DELIVERED
    # Then it is delivered, and the same delivery id reached the receiver
    delivery.refresh_from_db()
    assert delivery.state == WebhookDeliveryState.DELIVERED
    assert delivery.attempts == MAX_ATTEMPTS + 1
    assert receiver.requests[0]["headers"]["X-Gatehouse-Delivery"] == str(delivery.uuid)


def test_webhook_delivery_retry__delivered__conflict(project, site_admin, receiver, hook, emit):
    [delivery], _ = emit(project)
    webhook_deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    with pytest.raises(Conflict):
        webhook_delivery_retry(actor=site_admin, delivery=delivery)


def test_webhook_deliver__paused_after_emit__failed_but_test_events_go(
    project, site_admin, receiver, hook, emit
):
    [delivery], _ = emit(project)
    webhook = hook.webhook
    webhook_update(
        actor=site_admin,
        webhook=webhook,
        name=webhook.name,
        url=webhook.url,
        events=None,
        is_active=False,
    )
    result = webhook_deliver(delivery_id=delivery.pk)
    assert result.state == WebhookDeliveryState.FAILED
    assert "paused" in result.last_error
    with mock.patch("console.tasks.webhook_deliver_task.delay"):
        test_delivery = webhook_send_test(actor=site_admin, webhook=webhook)
    assert webhook_deliver(delivery_id=test_delivery.pk).state == WebhookDeliveryState.DELIVERED
    body = json.loads(receiver.requests[-1]["body"])
    assert body["event"] == "webhook.test"
    assert receiver.requests[-1]["headers"]["X-Gatehouse-Event"] == "webhook.test"


def test_safety_net__broker_down_at_emit__delivered_by_beat(
    project, receiver, hook, django_capture_on_commit_callbacks
):
    # Given the broker is down when the change commits
    with (
        mock.patch(
            "console.tasks.webhook_deliver_task.delay", side_effect=ConnectionError("broker down")
        ) as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        [delivery] = webhook_emit(project=project, event="demo.approved", text="x", data={})
    delay.assert_called_once_with(delivery.pk)
    # Then nothing is lost: the delivery is pending
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("pending", 0)
    # And the beat leaves it alone while it is not overdue
    with mock.patch("console.tasks.webhook_deliver_task.delay") as delay:
        assert webhook_redeliver_overdue() == []
    delay.assert_not_called()
    # When the beat runs after the grace period
    later = timezone.now() + timedelta(seconds=delivery_module.OVERDUE_GRACE_SECONDS + 1)
    with mock.patch("console.tasks.webhook_deliver_task.delay") as delay:
        assert webhook_redeliver_overdue(now=later) == [delivery.pk]
    # Then it is enqueued again, and the worker delivers it
    delay.assert_called_once_with(delivery.pk)
    assert webhook_deliver_task(delivery.pk) == WebhookDeliveryState.DELIVERED
    assert len(receiver.requests) == 1


def test_redeliver_task__beat_schedule_points_at_it():
    from console.celery import app

    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "console.tasks.webhook_redeliver_task" in tasks
    assert webhook_redeliver_task() == 0


def test_webhook_delete__queued_delivery__task_does_nothing(
    project, site_admin, receiver, hook, emit
):
    [delivery], _ = emit(project)
    webhook_delete(actor=site_admin, webhook=hook.webhook)
    assert webhook_deliver_task(delivery.pk) is None
    assert receiver.requests == []


# ---------------------------------------------------------------- secrets


def test_webhook_create__secret__encrypted_at_rest_and_audit_clean(project, site_admin):
    # When
    issued = webhook_create(
        actor=site_admin,
        project=project,
        name="Slack",
        url=f"https://hooks.slack.com{SLACK_PATH}",
    )
    # Then the secret is returned once, and no column of the row holds it
    assert re.fullmatch(r"whsec_[A-Za-z0-9_-]{43}", issued.secret)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM console_webhook WHERE id = %s", [issued.webhook.pk])
        row = " ".join(str(value) for value in cursor.fetchone())
    assert issued.secret not in row
    assert issued.secret[len("whsec_") :] not in row
    stored = Webhook.objects.get()
    assert crypto.decrypt(stored.secret_encrypted) == issued.secret
    assert stored.secret_hint == issued.secret[:10]
    # And the audit log names the webhook without its secret or the URL's token
    event = AuditEvent.objects.get(action="webhook.created")
    logged = json.dumps(event.after)
    assert issued.secret not in logged
    assert "XXXXXXXX" not in logged
    assert event.after["url"].startswith("https://hooks.slack.com/… (#")


def test_crypto__other_secret_key__unreadable_but_fallbacks_work(settings):
    token = crypto.encrypt("whsec_abc")
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    assert crypto.decrypt(token) == "whsec_abc"
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(token)


def test_webhook_rotate_secret__overlap__both_signatures_then_new_only(
    project, site_admin, receiver, hook, emit
):
    verify = readme_verifier()
    # When the secret is rotated with an overlap
    rotated = webhook_rotate_secret(actor=site_admin, webhook=hook.webhook, overlap_hours=24)
    assert rotated.secret != hook.secret
    [delivery], _ = emit(project)
    webhook_deliver(delivery_id=delivery.pk)
    # Then the request is signed with both, and either secret verifies it
    request = receiver.requests[-1]
    assert re.fullmatch(
        r"v1=[0-9a-f]{64},v1=[0-9a-f]{64}", request["headers"]["X-Gatehouse-Signature"]
    )
    assert verify(rotated.secret, request["headers"], request["body"])
    assert verify(hook.secret, request["headers"], request["body"])
    # When it is rotated again with no overlap, only the newest secret signs
    newest = webhook_rotate_secret(actor=site_admin, webhook=hook.webhook, overlap_hours=0)
    [delivery], _ = emit(project)
    webhook_deliver(delivery_id=delivery.pk)
    request = receiver.requests[-1]
    assert verify(newest.secret, request["headers"], request["body"])
    assert not verify(rotated.secret, request["headers"], request["body"])
    assert AuditEvent.objects.filter(action="webhook.secret_rotated").count() == 2


def test_webhook_rotate_secret__bad_overlap__refused(project, site_admin, hook):
    with pytest.raises(DomainError) as exc:
        webhook_rotate_secret(actor=site_admin, webhook=hook.webhook, overlap_hours=1000)
    assert exc.value.field == "overlap_hours"
    assert Webhook.objects.get().secret_encrypted == hook.webhook.secret_encrypted


def test_webhook_deliver__secret_key_changed__failed_with_hint(
    project, receiver, hook, settings, emit
):
    [delivery], _ = emit(project)
    settings.SECRET_KEY = "another-key-" + "y" * 40
    result = webhook_deliver(delivery_id=delivery.pk)
    assert result.state == WebhookDeliveryState.FAILED
    assert "rotate" in result.last_error
    assert receiver.requests == []


# ---------------------------------------------------------------- validation and permissions


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://files.example.com/hook", "invalid_scheme"),
        ("javascript:alert(1)", "invalid_scheme"),
        ("file:///etc/passwd", "invalid_scheme"),
        ("hooks.slack.com/services/x", "invalid_scheme"),
        ("", "required"),
        ("http://", "invalid_url"),
        ("https://exa mple.com/hook", "invalid_url"),
        ("https://example.com:99999/hook", "invalid_url"),
        ("https:example.com/hook", "invalid_url"),
        ("https://" + "a" * 2000 + ".com", "too_long"),
    ],
)
def test_webhook_create__bad_url__refused_nothing_saved(project, site_admin, url, code):
    audit_before = AuditEvent.objects.count()
    with pytest.raises(DomainError) as exc:
        webhook_create(actor=site_admin, project=project, name="Bad", url=url)
    assert (exc.value.code, exc.value.field) == (code, "url")
    assert not Webhook.objects.exists()
    assert AuditEvent.objects.count() == audit_before


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"name": ""}, "required", "name"),
        ({"name": "<b>x</b>"}, "invalid_characters", "name"),
        ({"events": []}, "events_required", "events"),
        ({"events": ["demo.nope"]}, "unknown_event", "events"),
    ],
)
def test_webhook_create__bad_input__refused(project, site_admin, receiver, kwargs, code, field):
    arguments = {"name": "Hook", "url": receiver.url, **kwargs}
    with pytest.raises(DomainError) as exc:
        webhook_create(actor=site_admin, project=project, **arguments)
    assert (exc.value.code, exc.value.field) == (code, field)
    assert not Webhook.objects.exists()


def test_webhook_create__duplicate_name__conflict(project, site_admin, receiver, hook):
    with pytest.raises(Conflict):
        webhook_create(actor=site_admin, project=project, name="SLACK #releases", url=receiver.url)
    assert Webhook.objects.count() == 1


def _service_calls(hook, delivery, receiver):
    webhook = hook.webhook
    return {
        "create": lambda actor: webhook_create(
            actor=actor, project=webhook.project, name="Other", url=receiver.url
        ),
        "update": lambda actor: webhook_update(
            actor=actor,
            webhook=webhook,
            name="Renamed",
            url=receiver.url,
            events=None,
            is_active=True,
        ),
        "rotate": lambda actor: webhook_rotate_secret(actor=actor, webhook=webhook),
        "send_test": lambda actor: webhook_send_test(actor=actor, webhook=webhook),
        "retry": lambda actor: webhook_delivery_retry(actor=actor, delivery=delivery),
        "delete": lambda actor: webhook_delete(actor=actor, webhook=webhook),
    }


@pytest.mark.parametrize("action", ["create", "update", "rotate", "send_test", "retry", "delete"])
@pytest.mark.parametrize("role", [Role.VIEWER, Role.MEMBER, None])
def test_webhook_services__not_admin__refused(
    project, receiver, hook, project_member, project_viewer, outsider, action, role, emit
):
    # Given a failed delivery, and someone who is not an admin
    [delivery], _ = emit(project)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state="failed", next_attempt_at=None)
    actor = {Role.VIEWER: project_viewer, Role.MEMBER: project_member, None: outsider}[role]
    before = (Webhook.objects.count(), WebhookDelivery.objects.count(), AuditEvent.objects.count())
    webhook_before = Webhook.objects.values().get()
    # When / Then
    with pytest.raises(NotAllowed):
        _service_calls(hook, delivery, receiver)[action](actor)
    assert (
        Webhook.objects.count(),
        WebhookDelivery.objects.count(),
        AuditEvent.objects.count(),
    ) == before
    assert Webhook.objects.values().get() == webhook_before


@pytest.mark.parametrize("action", ["create", "update", "rotate", "send_test", "retry", "delete"])
def test_webhook_services__admin__allowed_and_audited(project, receiver, hook, action, emit):
    # Given a failed delivery, and another admin of the project
    admin = UserFactory(username="ann.admin", email="ann.admin@corp.example")
    MembershipFactory(project=project, user=admin, role=Role.ADMIN)
    [delivery], _ = emit(project)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state="failed", next_attempt_at=None)
    delivery.refresh_from_db()
    audits = AuditEvent.objects.count()
    # When
    with mock.patch("console.tasks.webhook_deliver_task.delay"):
        _service_calls(hook, delivery, receiver)[action](admin)
    # Then configuration changes are audited (sending and retrying are not changes)
    audited = {"create", "update", "rotate", "delete"}
    assert AuditEvent.objects.count() == audits + (action in audited)
    if action in audited:
        assert AuditEvent.objects.order_by("-id").first().actor == admin


# ---------------------------------------------------------------- the settings page


def _page_url(project) -> str:
    return reverse("project-webhooks", args=[project.slug])


def test_webhooks_page__admin__lists_webhooks_and_deliveries(
    client, project, site_admin, receiver, hook, emit
):
    # Given: one delivered event, one failed with an error, and a Slack webhook
    webhook_create(
        actor=site_admin, project=project, name="Slack", url=f"https://hooks.slack.com{SLACK_PATH}"
    )
    deliveries, _ = emit(project)
    [ok] = [d for d in deliveries if d.webhook_id == hook.webhook.pk]
    [failing] = [d for d in deliveries if d.webhook_id != hook.webhook.pk]
    webhook_deliver(delivery_id=ok.pk)
    WebhookDelivery.objects.filter(pk=failing.pk).update(
        state="failed", next_attempt_at=None, attempts=8, last_error="HTTP 500 Internal"
    )
    client.force_login(site_admin)
    # When
    response = client.get(_page_url(project))
    # Then
    html = response.content.decode()
    assert response.status_code == 200
    assert "Slack #releases" in html
    assert 'data-state="delivered"' in html
    assert 'data-state="failed"' in html
    assert "HTTP 500 Internal" in html
    assert "Retry" in html
    assert "Send test" in html
    assert reverse("webhook-delivery-retry", args=[project.slug, failing.pk]) in html
    assert reverse("webhook-delivery-retry", args=[project.slug, ok.pk]) not in html
    # And neither a secret nor a Slack URL token is on the page
    assert "https://hooks.slack.com/…" in html
    assert SLACK_PATH not in html
    assert hook.secret not in html
    assert "whsec_" + hook.secret[6:] not in html


@pytest.mark.parametrize(
    ("who", "status"), [("project_member", 403), ("project_viewer", 403), ("outsider", 403)]
)
def test_webhooks_page__not_admin__refused(client, project, hook, request, who, status):
    client.force_login(request.getfixturevalue(who))
    assert client.get(_page_url(project)).status_code == status
    response = client.post(
        reverse("webhook-create", args=[project.slug]), {"name": "X", "url": "https://x.example"}
    )
    assert response.status_code == status
    assert Webhook.objects.count() == 1


def test_settings_tabs__webhooks_tab_for_admins_only(client, project, site_admin, project_member):
    client.force_login(site_admin)
    assert (
        _page_url(project)
        in client.get(reverse("project-settings", args=[project.slug])).content.decode()
    )
    client.force_login(project_member)
    assert (
        _page_url(project)
        not in client.get(reverse("project-settings", args=[project.slug])).content.decode()
    )


def test_webhook_create_view__secret_shown_once_not_cached(client, project, site_admin, receiver):
    client.force_login(site_admin)
    # When
    response = client.post(
        reverse("webhook-create", args=[project.slug]),
        {"name": "Releases", "url": receiver.url, "events": ["demo.approved"], "is_active": "on"},
    )
    # Then the page shows the secret this once, and asks nobody to keep a copy
    html = response.content.decode()
    webhook = Webhook.objects.get()
    secret = crypto.decrypt(webhook.secret_encrypted)
    assert response.status_code == 200
    assert secret in html
    assert response["Cache-Control"] == "no-store"
    assert (webhook.all_events, webhook.events, webhook.is_active) == (
        False,
        ["demo.approved"],
        True,
    )
    assert secret not in client.get(_page_url(project)).content.decode()


def test_webhook_create_view__bad_url__400_nothing_saved(client, project, site_admin):
    client.force_login(site_admin)
    response = client.post(
        reverse("webhook-create", args=[project.slug]),
        {"name": "Files", "url": "ftp://files.example.com/in", "all_events": "on"},
    )
    assert response.status_code == 400
    assert "start with https://" in response.content.decode()
    assert not Webhook.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="webhook.").exists()


def test_webhook_views__edit_rotate_test_retry_delete(
    client, project, site_admin, receiver, hook, django_capture_on_commit_callbacks
):
    client.force_login(site_admin)
    webhook = hook.webhook
    # Edit: the form shows the URL to admins, and saves
    edit_url = reverse("webhook-update", args=[project.slug, webhook.pk])
    assert receiver.url in client.get(edit_url).content.decode()
    response = client.post(
        edit_url, {"name": "Renamed", "url": receiver.url, "events": ["demo.rejected"]}
    )
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert (webhook.name, webhook.events, webhook.is_active) == (
        "Renamed",
        ["demo.rejected"],
        False,
    )
    # Rotate: the new secret is shown once
    response = client.post(
        reverse("webhook-rotate", args=[project.slug, webhook.pk]), {"overlap_hours": "0"}
    )
    webhook.refresh_from_db()
    assert crypto.decrypt(webhook.secret_encrypted) in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    # Send test: queued after commit
    with (
        mock.patch("console.tasks.webhook_deliver_task.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(reverse("webhook-test", args=[project.slug, webhook.pk]))
    assert response.status_code == 302
    test_delivery = WebhookDelivery.objects.get(event="webhook.test")
    delay.assert_called_once_with(test_delivery.pk)
    # Retry a failed delivery
    WebhookDelivery.objects.filter(pk=test_delivery.pk).update(state="failed", next_attempt_at=None)
    with (
        mock.patch("console.tasks.webhook_deliver_task.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        client.post(reverse("webhook-delivery-retry", args=[project.slug, test_delivery.pk]))
    delay.assert_called_once_with(test_delivery.pk)
    assert WebhookDelivery.objects.get(pk=test_delivery.pk).state == "pending"
    # Delete
    response = client.post(reverse("webhook-delete", args=[project.slug, webhook.pk]))
    assert response.status_code == 302
    assert not Webhook.objects.exists()


def test_webhooks_page__htmx_poll__deliveries_partial(client, project, site_admin, hook, emit):
    emit(project)
    client.force_login(site_admin)
    response = client.get(_page_url(project) + "?part=deliveries", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section class="card" id="webhook-deliveries"')
    assert 'hx-trigger="every 3s"' in html  # a delivery is pending: keep refreshing


def _page_queries(client, project) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(_page_url(project)).status_code == 200
    return len(queries)


def test_webhooks_page__query_count__constant_in_rows(client, project, site_admin, receiver, emit):
    # Given one webhook with one delivery
    client.force_login(site_admin)
    webhook_create(actor=site_admin, project=project, name="Hook 0", url=receiver.url)
    emit(project)
    one = _page_queries(client, project)
    # When there are five webhooks with five deliveries each (other creators, too)
    for i in range(1, 5):
        creator = UserFactory()
        MembershipFactory(project=project, user=creator, role=Role.ADMIN)
        webhook_create(actor=creator, project=project, name=f"Hook {i}", url=receiver.url)
    for _ in range(4):
        emit(project)
    assert WebhookDelivery.objects.count() == 1 + 4 * 5
    # Then the page makes as many queries
    assert _page_queries(client, project) == one


# ---------------------------------------------------------------- console API


def test_api_webhooks__admin__create_list_test(client, project, site_admin, receiver):
    client.force_login(site_admin)
    url = reverse("webhooks-api:api-webhook-list") + f"?project={project.slug}"
    # Create: the secret comes back once
    response = client.post(
        url,
        {"name": "CI", "url": receiver.url, "events": ["demo.approved"]},
        content_type="application/json",
    )
    assert response.status_code == 201
    created = response.json()["data"]
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["demo.approved"]
    # List: no secret
    listed = client.get(url).json()["data"]
    assert [w["name"] for w in listed] == ["CI"]
    assert "secret" not in listed[0]
    assert created["secret"] not in json.dumps(listed)
    # Bad URL: the API's error shape
    response = client.post(url, {"name": "Bad", "url": "ftp://x"}, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {
        "message": "Webhook URLs start with https:// (or http://).",
        "code": "invalid_scheme",
        "field": "url",
    }
    # Test, then its delivery in the list
    test_url = reverse("webhooks-api:api-webhook-test", args=[created["id"]])
    with mock.patch("console.tasks.webhook_deliver_task.delay"):
        response = client.post(test_url + f"?project={project.slug}")
    assert response.status_code == 202
    deliveries_url = reverse("webhooks-api:api-webhook-deliveries", args=[created["id"]])
    deliveries = client.get(deliveries_url + f"?project={project.slug}").json()["data"]
    assert [(d["event"], d["state"]) for d in deliveries] == [("webhook.test", "pending")]


@pytest.mark.parametrize(("who", "status"), [("project_member", 403), ("project_viewer", 403)])
def test_api_webhooks__not_admin__refused(client, project, hook, request, who, status):
    client.force_login(request.getfixturevalue(who))
    url = reverse("webhooks-api:api-webhook-list") + f"?project={project.slug}"
    assert client.get(url).status_code == status
    response = client.post(
        url, {"name": "X", "url": "https://x.example"}, content_type="application/json"
    )
    assert response.status_code == status
    assert Webhook.objects.count() == 1


# ---------------------------------------------------------------- a real worker, a real browser


@pytest.mark.django_db(transaction=True)
def test_worker__emit_and_commit__real_celery_worker_delivers(
    start_celery_worker, project, site_admin, receiver
):
    # Given a webhook, and a Celery worker on this database and Redis
    start_celery_worker(GATEHOUSE_WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    issued = webhook_create(actor=site_admin, project=project, name="Worker", url=receiver.url)
    # When a change commits with an event
    with transaction.atomic():
        [delivery] = webhook_emit(
            project=project, event="demo.approved", text="*Shipped*", data={"n": 1}
        )
    # Then the worker delivers it, signed
    wait_for(lambda: WebhookDelivery.objects.get(pk=delivery.pk).state == "delivered", timeout=20)
    [request] = receiver.requests
    assert readme_verifier()(issued.secret, request["headers"], request["body"])


@pytest.mark.django_db(transaction=True)
def test_browser__admin_adds_webhook_and_sends_test__sees_it_delivered(
    page: Page, live_server, project, site_admin, receiver
):
    page.set_default_timeout(5000)
    page.goto(live_server.url + reverse("account_login"))
    page.get_by_label("Email").fill(site_admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # Given the admin opens Settings → Webhooks
    page.goto(live_server.url + reverse("project-settings", args=[project.slug]))
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_text("No webhooks yet")).to_be_visible()
    # When they add one
    page.get_by_label("Name").fill("Releases")
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_role("button", name="Add webhook").click()
    # Then its secret is shown once
    expect(page.get_by_text("you won’t see it again")).to_be_visible()
    secret = page.get_by_label("Webhook signing secret").input_value()
    assert secret.startswith("whsec_")
    # When they send a test event (the worker's part runs in-process here)
    with mock.patch(
        "console.tasks.webhook_deliver_task.delay",
        side_effect=lambda pk: webhook_deliver(delivery_id=pk),
    ):
        page.get_by_role("row", name="Releases").get_by_role("button", name="Send test").click()
        # Then the delivery is listed as delivered, and the receiver can verify it
        deliveries = page.locator("#webhook-deliveries")
        expect(deliveries.locator('[data-state="delivered"]')).to_have_count(1)
    expect(deliveries).to_contain_text("webhook.test")
    [request] = receiver.requests
    assert readme_verifier()(secret, request["headers"], request["body"])
    assert secret not in page.content()
