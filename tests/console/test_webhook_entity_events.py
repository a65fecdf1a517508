"""Webhooks announce more than change sets: gate, config and experiment changes once their
change set applies, and key events; recorded in the change's transaction, sent by the
worker after commit, signed like every delivery."""

from __future__ import annotations

import json

import pytest

from console import services as console_services
from console.models import Membership, Role, WebhookDelivery, WebhookDeliveryState
from console.tasks import webhook_deliver_task
from console.webhooks.events import is_registered
from console.webhooks.services import webhook_create
from reviews.services import ChangeInput, changeset_approve, changeset_submit
from tests.console.factories import UserFactory
from tests.console.test_webhooks import Receiver
from tests.experiments.factories import experiment_document
from tests.gates.factories import config_document, gate_document, rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver(settings):
    settings.GATEHOUSE_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def second_admin(project):
    user = UserFactory(username="ada.admin", email="ada.admin@corp.example")
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    return user


def _deliver_all(receiver) -> list[dict]:
    """Run the worker's task for every pending delivery; the bodies the receiver got."""
    for delivery in WebhookDelivery.objects.filter(state=WebhookDeliveryState.PENDING).order_by(
        "pk"
    ):
        assert webhook_deliver_task(delivery.pk) == WebhookDeliveryState.DELIVERED
    return [json.loads(r["body"]) for r in receiver.requests]


def test_events__entity_kinds_and_keys__registered():
    for event in (
        "gate.created",
        "gate.updated",
        "gate.archived",
        "dynamic_config.updated",
        "experiment.created",
        "experiment.started",
        "experiment.shipped",
        "key.created",
        "key.rotated",
        "key.revoked",
    ):
        assert is_registered(event), event


def test_gate_config_experiment_applied__announced_after_commit(
    no_review, site_admin, receiver, django_capture_on_commit_callbacks
):
    # Given a webhook for entity events (and not for change sets)
    hook = webhook_create(
        actor=site_admin,
        project=no_review,
        name="Releases",
        url=receiver.url,
        events=["gate.created", "dynamic_config.created", "experiment.created"],
    )

    # When a change set creating a gate, a config and an experiment applies
    with django_capture_on_commit_callbacks() as callbacks:
        changeset_submit(
            actor=site_admin,
            project=no_review,
            changes=[
                ChangeInput("gate", "create", "new_checkout", gate_document("new_checkout")),
                ChangeInput("dynamic_config", "create", "cart", config_document("cart")),
                ChangeInput("experiment", "create", "blue", experiment_document("blue")),
            ],
        )
        # Then nothing is sent before the commit
        assert receiver.requests == []
    assert callbacks  # the deliveries are enqueued on commit

    # And the worker sends one signed event per entity
    bodies = _deliver_all(receiver)
    assert sorted(b["event"] for b in bodies) == [
        "dynamic_config.created",
        "experiment.created",
        "gate.created",
    ]
    gate = next(b for b in bodies if b["event"] == "gate.created")
    assert gate["data"]["entity"]["name"] == "new_checkout"
    assert gate["data"]["changeSet"]["id"] >= 1
    assert gate["data"]["rulesetVersion"] >= 1
    assert "`new_checkout` created" in gate["text"]
    headers = receiver.requests[0]["headers"]
    assert headers["X-Gatehouse-Signature"].startswith("v1=")
    assert hook.webhook.deliveries.count() == 3


def test_gate_update__waiting_for_review__announced_only_once_applied(
    project, site_admin, second_admin, receiver
):
    # Given a live gate and a webhook for gate updates
    doc = gate_document("new_checkout", rules=[rule(pass_percentage=10)])
    created = changeset_submit(
        actor=site_admin,
        project=project,
        changes=[ChangeInput("gate", "create", "new_checkout", doc)],
    )
    changeset_approve(actor=second_admin, change_set=created)
    webhook_create(
        actor=site_admin, project=project, name="Gates", url=receiver.url, events=["gate.updated"]
    )

    # When an update waits for review
    doc = gate_document("new_checkout", rules=[rule(pass_percentage=50)])
    waiting = changeset_submit(
        actor=site_admin,
        project=project,
        changes=[ChangeInput("gate", "update", "new_checkout", doc)],
    )

    # Then nothing is announced yet
    assert WebhookDelivery.objects.count() == 0

    # When it is approved (and applies), the update is announced
    changeset_approve(actor=second_admin, change_set=waiting)
    [body] = _deliver_all(receiver)
    assert body["event"] == "gate.updated"
    assert body["data"]["changeSet"]["id"] == waiting.number
    assert body["data"]["actor"] == second_admin.email


def test_keys__created_rotated_revoked__announced_without_the_secret(project, site_admin, receiver):
    # Given a webhook for every event
    webhook_create(actor=site_admin, project=project, name="All", url=receiver.url)
    production = project.environments.get(name="production")

    # When a key is created, rotated and its successor revoked
    issued = console_services.key_create(
        actor=site_admin, project=project, kind="server", environment=production, name="api"
    )
    successor = console_services.key_rotate(actor=site_admin, key=issued.key, overlap_hours=1)
    console_services.key_revoke(actor=site_admin, key=successor.key)

    # Then three events went out, none with a secret
    bodies = _deliver_all(receiver)
    assert [b["event"] for b in bodies] == ["key.created", "key.rotated", "key.revoked"]
    assert bodies[0]["data"]["key"]["environment"] == "production"
    assert bodies[1]["data"]["successor"] == successor.key.hint
    for request in receiver.requests:
        assert issued.secret.encode() not in request["body"]
        assert successor.secret.encode() not in request["body"]
