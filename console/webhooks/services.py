"""Webhook writes: admins manage a project's webhooks; domain services call webhook_emit.

Every change is checked (admins only), validated, audited in its transaction, and anything
that leaves the process (the HTTP POST) is enqueued on commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from console import netguard
from console.audit import audit_record
from console.exceptions import Conflict, DomainError
from console.models import (
    Project,
    Role,
    Webhook,
    WebhookDelivery,
    WebhookDeliveryState,
)
from console.permissions import ensure_role
from console.services.common import clean_name, save_unique, validate_model
from console.webhooks import crypto
from console.webhooks.events import TEST_EVENT, is_registered

logger = logging.getLogger(__name__)

MAX_WEBHOOKS_PER_PROJECT = 20
URL_MAX_LENGTH = 2000
# Slack refuses section blocks over 3,000 characters; the fallback `text` says the same.
TEXT_MAX_LENGTH = 3000
DEFAULT_ROTATION_OVERLAP_HOURS = 24
MAX_ROTATION_OVERLAP_HOURS = 24 * 7

_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?)+$|^[0-9A-Fa-f:.]+$")
_BAD_URL_CHARS = re.compile(r"[\s\x00-\x1f\x7f<>\"\\^`{|}]")


@dataclass(frozen=True)
class IssuedWebhook:
    """A webhook with its signing secret, just made: shown once, then only decrypted to sign."""

    webhook: Webhook
    secret: str


# ---------------------------------------------------------------- validation


def _clean_url(value: str) -> str:
    url = (value or "").strip()
    if not url:
        raise DomainError("Enter the URL to send events to.", code="required", field="url")
    if len(url) > URL_MAX_LENGTH:
        raise DomainError(
            f"The URL can be at most {URL_MAX_LENGTH} characters.", code="too_long", field="url"
        )
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise DomainError(
            "Webhook URLs start with https:// (or http://).", code="invalid_scheme", field="url"
        )
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    host = parts.hostname or ""
    if (
        not url.lower().startswith(parts.scheme.lower() + "://")
        or not host
        or not _HOST.match(host)
        or not port_ok
        or _BAD_URL_CHARS.search(url)
    ):
        raise DomainError(
            "Enter a valid URL, like https://hooks.slack.com/services/….",
            code="invalid_url",
            field="url",
        )
    netguard.check_url(url)
    return url


def _clean_events(events: Iterable[str] | None) -> tuple[bool, list[str]]:
    """(all_events, events): None means every event, now and future."""
    if events is None:
        return True, []
    names = sorted({name.strip() for name in events})
    if not names:
        raise DomainError(
            "Choose at least one event, or all events.", code="events_required", field="events"
        )
    for name in names:
        if not is_registered(name):
            raise DomainError(f"Unknown event: {name}.", code="unknown_event", field="events")
    return False, names


def _url_fingerprint(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def _audit_view(webhook: Webhook) -> dict[str, Any]:
    """What the audit log keeps: never the URL path (Slack URLs are credentials), nor secrets."""
    return {
        "name": webhook.name,
        "url": f"{webhook.url_display} (#{_url_fingerprint(webhook.url)})",
        "events": "all" if webhook.all_events else list(webhook.events),
        "is_active": webhook.is_active,
        "secret": f"{webhook.secret_hint}…",
    }


def _name_taken(name: str) -> str:
    return f"This project already has a webhook named '{name}'."


# ---------------------------------------------------------------- admin writes


@transaction.atomic
def webhook_create(
    *,
    actor,
    project: Project,
    name: str,
    url: str,
    events: Sequence[str] | None = None,
    is_active: bool = True,
) -> IssuedWebhook:
    """Add a webhook (`events` None: every event) with a new signing secret, returned once."""
    ensure_role(actor, project, Role.ADMIN)
    name = clean_name(name, what="Webhook name", max_length=100)
    url = _clean_url(url)
    all_events, event_names = _clean_events(events)
    # Lock the project so concurrent creates cannot pass the limit together.
    Project.objects.select_for_update().get(pk=project.pk)
    if Webhook.objects.filter(project=project).count() >= MAX_WEBHOOKS_PER_PROJECT:
        raise DomainError(
            f"A project can have at most {MAX_WEBHOOKS_PER_PROJECT} webhooks.",
            code="too_many_webhooks",
        )
    secret = crypto.new_secret()
    webhook = Webhook(
        project=project,
        name=name,
        url=url,
        all_events=all_events,
        events=event_names,
        is_active=bool(is_active),
        secret_encrypted=crypto.encrypt(secret),
        secret_hint=crypto.secret_hint(secret),
        created_by=actor,
    )
    validate_model(webhook)
    save_unique(webhook, message=_name_taken(name), field="name")
    audit_record(
        actor=actor,
        action="webhook.created",
        target=webhook,
        project=project,
        after=_audit_view(webhook),
    )
    return IssuedWebhook(webhook=webhook, secret=secret)


@transaction.atomic
def webhook_update(
    *,
    actor,
    webhook: Webhook,
    name: str,
    url: str,
    events: Sequence[str] | None,
    is_active: bool,
) -> Webhook:
    """Change what and where a webhook sends; `is_active` False pauses it (nothing queued)."""
    ensure_role(actor, webhook.project, Role.ADMIN)
    webhook = Webhook.objects.select_for_update().select_related("project").get(pk=webhook.pk)
    before = _audit_view(webhook)
    webhook.name = clean_name(name, what="Webhook name", max_length=100)
    webhook.url = _clean_url(url)
    webhook.all_events, webhook.events = _clean_events(events)
    webhook.is_active = bool(is_active)
    validate_model(webhook)
    save_unique(
        webhook,
        update_fields=["name", "url", "all_events", "events", "is_active", "updated_at"],
        message=_name_taken(webhook.name),
        field="name",
    )
    audit_record(
        actor=actor,
        action="webhook.updated",
        target=webhook,
        project=webhook.project,
        before=before,
        after=_audit_view(webhook),
    )
    return webhook


@transaction.atomic
def webhook_rotate_secret(
    *, actor, webhook: Webhook, overlap_hours: int = DEFAULT_ROTATION_OVERLAP_HOURS
) -> IssuedWebhook:
    """Issue a new signing secret, returned once. For `overlap_hours` deliveries carry a
    signature with the old secret too, so receivers can switch without losing events."""
    ensure_role(actor, webhook.project, Role.ADMIN)
    if not 0 <= overlap_hours <= MAX_ROTATION_OVERLAP_HOURS:
        raise DomainError(
            f"The overlap is between 0 and {MAX_ROTATION_OVERLAP_HOURS} hours.",
            code="invalid_overlap",
            field="overlap_hours",
        )
    webhook = Webhook.objects.select_for_update().select_related("project").get(pk=webhook.pk)
    before = _audit_view(webhook)
    now = timezone.now()
    secret = crypto.new_secret()
    webhook.previous_secret_encrypted = webhook.secret_encrypted if overlap_hours else ""
    webhook.previous_secret_expires_at = (
        now + timedelta(hours=overlap_hours) if overlap_hours else None
    )
    webhook.secret_encrypted = crypto.encrypt(secret)
    webhook.secret_hint = crypto.secret_hint(secret)
    webhook.secret_rotated_at = now
    webhook.save(
        update_fields=[
            "previous_secret_encrypted",
            "previous_secret_expires_at",
            "secret_encrypted",
            "secret_hint",
            "secret_rotated_at",
            "updated_at",
        ]
    )
    audit_record(
        actor=actor,
        action="webhook.secret_rotated",
        target=webhook,
        project=webhook.project,
        before=before,
        after={**_audit_view(webhook), "overlap_hours": overlap_hours},
    )
    return IssuedWebhook(webhook=webhook, secret=secret)


@transaction.atomic
def webhook_delete(*, actor, webhook: Webhook) -> None:
    """Delete a webhook and its delivery history; queued deliveries are dropped."""
    ensure_role(actor, webhook.project, Role.ADMIN)
    webhook = Webhook.objects.select_for_update().select_related("project").get(pk=webhook.pk)
    audit_record(
        actor=actor,
        action="webhook.deleted",
        target=webhook,
        project=webhook.project,
        before=_audit_view(webhook),
    )
    webhook.delete()


@transaction.atomic
def webhook_send_test(*, actor, webhook: Webhook) -> WebhookDelivery:
    """Queue a `webhook.test` event to this webhook only (paused ones too)."""
    ensure_role(actor, webhook.project, Role.ADMIN)
    project = webhook.project
    text = (
        f"Test event from Gatehouse: webhook *{webhook.name}* of project *{project.name}* "
        "is connected."
    )
    data = {"webhook": webhook.name, "sent_by": getattr(actor, "email", "")}
    [delivery] = _record_deliveries(project, [webhook], TEST_EVENT, text, data)
    return delivery


@transaction.atomic
def webhook_delivery_retry(*, actor, delivery: WebhookDelivery) -> WebhookDelivery:
    """Admin's "Retry": one more attempt now (automatic retries continue while the
    delivery has attempts left)."""
    ensure_role(actor, delivery.webhook.project, Role.ADMIN)
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.state == WebhookDeliveryState.DELIVERED:
        raise Conflict("This event was already delivered.", code="already_delivered")
    delivery.state = WebhookDeliveryState.PENDING
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["state", "next_attempt_at", "updated_at"])
    delivery_id = delivery.pk
    transaction.on_commit(lambda: enqueue_deliveries([delivery_id]))
    return delivery


# ---------------------------------------------------------------- emitting


def webhook_emit(
    *, project: Project, event: str, text: str, data: Mapping[str, Any]
) -> list[WebhookDelivery]:
    """Record a pending delivery for each active webhook of `project` subscribed to `event`,
    and enqueue their sending once the current transaction commits.

    Call it inside the transaction of the change it reports (it writes no audit event of
    its own). `text` is Slack mrkdwn (escape user input with console.webhooks.slack.escape);
    `data` must be JSON-serialisable (dates, UUIDs and decimals become strings). Raises
    ValueError for an unregistered event or an empty text. If the broker is down the
    deliveries stay pending and the beat task sends them later.
    """
    if not is_registered(event):
        raise ValueError(
            f"Unknown webhook event {event!r}: register it with "
            "console.webhooks.register_event() in your AppConfig.ready()."
        )
    webhooks = Webhook.objects.filter(project=project, is_active=True).filter(
        Q(all_events=True) | Q(events__contains=[event])
    )
    return _record_deliveries(project, list(webhooks), event, text, data)


def _payload(
    project: Project, event: str, text: str, data: Any, delivery_uuid: uuid.UUID, at: datetime
) -> dict[str, Any]:
    """The JSON body: Slack reads `text` and `blocks` and ignores the rest."""
    return {
        "id": str(delivery_uuid),
        "event": event,
        "timestamp": at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "project": {"slug": project.slug, "name": project.name},
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        "data": data,
    }


def _record_deliveries(
    project: Project, webhooks: list[Webhook], event: str, text: str, data: Mapping[str, Any]
) -> list[WebhookDelivery]:
    text = (text or "").strip()
    if not text:
        raise ValueError("A webhook event needs a text.")
    if len(text) > TEXT_MAX_LENGTH:
        text = text[: TEXT_MAX_LENGTH - 1] + "…"
    # Round-trip now, so the stored payload is exactly what is sent (and bad data fails here).
    data = json.loads(json.dumps(dict(data), cls=DjangoJSONEncoder))
    now = timezone.now()
    deliveries = []
    for webhook in webhooks:
        delivery_uuid = uuid.uuid4()
        deliveries.append(
            WebhookDelivery(
                uuid=delivery_uuid,
                webhook=webhook,
                event=event,
                payload=_payload(project, event, text, data, delivery_uuid, now),
                next_attempt_at=now,
            )
        )
    WebhookDelivery.objects.bulk_create(deliveries)
    ids = [d.pk for d in deliveries]
    if ids:
        transaction.on_commit(lambda: enqueue_deliveries(ids))
    return deliveries


def enqueue_deliveries(delivery_ids: list[int]) -> None:
    """Hand deliveries to the workers. A broker outage loses nothing: the rows stay pending
    and webhook_redeliver_task re-enqueues them."""
    from console.tasks import webhook_deliver_task

    for delivery_id in delivery_ids:
        try:
            webhook_deliver_task.delay(delivery_id)
        except Exception:
            logger.warning(
                "webhook.enqueue_failed delivery=%s (left pending for the safety net)",
                delivery_id,
            )
