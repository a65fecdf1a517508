"""Reviewers and authors hear about change sets: emails and signed webhooks."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail

from console.webhooks.crypto import signature
from console.webhooks.delivery import webhook_deliver
from console.webhooks.services import webhook_create
from reviews.models import ChangeSet
from reviews.notifications import send
from reviews.services import changeset_approve, changeset_comment
from tests.reviews.conftest import create_gate, submit

pytestmark = pytest.mark.django_db


def test_reviewers_get_an_email_and_the_author_hears_of_approval(
    project, project_member, project_admin, second_admin
):
    change_set = submit(project_member, project, create_gate())
    assert send(change_set.pk, "submitted", {}) == 2
    assert sorted(mail.outbox[0].to) == sorted([project_admin.email, second_admin.email])
    assert "waiting for your review" in mail.outbox[0].subject
    assert f"/p/payments/reviews/{change_set.number}/" in mail.outbox[0].body
    comment = changeset_comment(actor=second_admin, change_set=change_set, body="Why 100%?")
    extra = {"actor_id": second_admin.pk, "comment_id": comment.pk}
    assert send(change_set.pk, "commented", extra) == 1
    assert mail.outbox[1].to == [project_member.email]
    assert "Why 100%?" in mail.outbox[1].body


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_signed_slack_compatible_webhook_for_each_step(
    project, project_member, project_admin, second_admin, settings
):
    settings.GATEHOUSE_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # the receiver below
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Receiver.received = []
    try:
        issued = webhook_create(
            actor=project_admin,
            project=project,
            name="Reviews channel",
            url=f"http://127.0.0.1:{server.server_port}/hook",
            events=["changeset.submitted", "changeset.applied"],
        )
        change_set = submit(project_member, project, create_gate())
        changeset_approve(actor=second_admin, change_set=change_set)
        change_set = ChangeSet.objects.get(pk=change_set.pk)
        from console.models import WebhookDelivery

        for delivery in WebhookDelivery.objects.order_by("pk"):
            webhook_deliver(delivery_id=delivery.pk)
    finally:
        server.shutdown()
    events = [json.loads(body)["event"] for _headers, body in _Receiver.received]
    assert events == ["changeset.submitted", "changeset.applied"]
    headers, body = _Receiver.received[0]
    payload = json.loads(body)
    assert payload["text"].startswith("*Payments* <")
    assert payload["data"]["changeSet"]["id"] == change_set.number
    timestamp = int(headers["X-Gatehouse-Timestamp"])
    assert headers["X-Gatehouse-Signature"] == "v1=" + signature(issued.secret, timestamp, body)
