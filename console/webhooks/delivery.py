"""Sending webhook deliveries (Celery workers only): one signed HTTP POST per attempt, its
outcome recorded, retries with exponential backoff, and the periodic safety net."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from console import netguard
from console.models import Webhook, WebhookDelivery, WebhookDeliveryState
from console.webhooks import crypto
from console.webhooks.events import TEST_EVENT

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5
# Attempt n (1-based) that fails transiently is retried after min(BASE * 2**(n-1), CAP)
# seconds: 10 s, 20 s, 40 s ... about 21 minutes over the 8 attempts.
MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 10
BACKOFF_CAP_SECONDS = 3600
# A claimed delivery is not claimed again for this long (more than one attempt can take).
LEASE_SECONDS = 60
# The safety net re-enqueues pending deliveries this much past their due time.
OVERDUE_GRACE_SECONDS = 60
OVERDUE_BATCH = 500
# Celery's countdown may wake a retry a little before the recorded due time.
DUE_TOLERANCE = timedelta(seconds=2)
USER_AGENT = "Gatehouse-Webhooks/1"


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    retryable: bool = False
    status: int | None = None
    error: str = ""
    retry_after: int | None = None


def backoff(attempts: int) -> int:
    return min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_CAP_SECONDS)


def _retry_after(value: str | None) -> int | None:
    """Retry-After in seconds (the HTTP-date form is ignored: backoff applies)."""
    value = (value or "").strip()
    return int(value) if value.isdigit() else None


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, not to whatever DNS says next (rebinding);
    the Host header still names the URL's host."""

    def __init__(self, host: str, port: int | None, *, address: str, **kwargs) -> None:
        super().__init__(host, port, **kwargs)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """As _PinnedHTTPConnection, with SNI and certificate checks against the URL's host."""

    def __init__(self, host: str, port: int | None, *, address: str, **kwargs) -> None:
        super().__init__(host, port, **kwargs)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    """One POST (http.client: header names go out as written, redirects are not followed)
    to an address console.netguard allows, pinned so DNS cannot change it after the check.
    2xx delivers; 5xx, 429 and network errors may be retried; refused addresses and
    anything else fail."""
    parts = urlsplit(url)
    try:
        address = str(netguard.resolve(parts)[0])
    except netguard.UnsafeURL as exc:
        return Outcome(delivered=False, error=f"Refused: {exc.message}")
    except OSError as exc:  # DNS failure
        return Outcome(delivered=False, retryable=True, error=f"{type(exc).__name__}: {exc}")
    except ValueError as exc:  # a bad port
        return Outcome(delivered=False, error=f"Invalid URL: {exc}")
    try:
        if parts.scheme.lower() == "https":
            connection: http.client.HTTPConnection = _PinnedHTTPSConnection(
                parts.hostname,
                parts.port,
                address=address,
                timeout=TIMEOUT_SECONDS,
                context=ssl.create_default_context(),
            )
        else:
            connection = _PinnedHTTPConnection(
                parts.hostname, parts.port, address=address, timeout=TIMEOUT_SECONDS
            )
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            status, reason = response.status, response.reason
            retry_after = _retry_after(response.getheader("Retry-After"))
            response.read(65536)  # a little of the body, never stored (it may be anything)
        finally:
            connection.close()
    except (OSError, http.client.HTTPException) as exc:  # refused, reset, timeout, TLS, DNS
        return Outcome(delivered=False, retryable=True, error=f"{type(exc).__name__}: {exc}")
    except ValueError as exc:  # http.client.InvalidURL, a bad port
        return Outcome(delivered=False, error=f"Invalid URL: {exc}")
    if 200 <= status < 300:
        return Outcome(delivered=True, status=status)
    if 300 <= status < 400:
        error = f"HTTP {status}: redirects are not followed; use the final URL."
        return Outcome(delivered=False, status=status, error=error)
    retryable = status >= 500 or status == 429
    return Outcome(
        delivered=False,
        retryable=retryable,
        status=status,
        error=f"HTTP {status} {reason}".strip(),
        retry_after=retry_after if retryable else None,
    )


def _signing_secrets(webhook: Webhook, now: datetime) -> list[str]:
    secrets_ = [crypto.decrypt(webhook.secret_encrypted)]
    if (
        webhook.previous_secret_encrypted
        and webhook.previous_secret_expires_at
        and webhook.previous_secret_expires_at > now
    ):
        secrets_.append(crypto.decrypt(webhook.previous_secret_encrypted))
    return secrets_


def _claim(delivery_id: int, now: datetime) -> WebhookDelivery | None:
    """Lock the delivery for one attempt; None when it is gone, done or not due."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("webhook__project")
            .filter(pk=delivery_id)
            .first()
        )
        if (
            delivery is None
            or delivery.state != WebhookDeliveryState.PENDING
            or delivery.next_attempt_at > now + DUE_TOLERANCE
        ):
            return None
        # A duplicate task (the safety net's, a retry) finds it not due while this runs.
        delivery.next_attempt_at = now + timedelta(seconds=LEASE_SECONDS)
        delivery.save(update_fields=["next_attempt_at", "updated_at"])
        return delivery


def _attempt(delivery: WebhookDelivery) -> Outcome:
    webhook = delivery.webhook
    if not webhook.is_active and delivery.event != TEST_EVENT:
        return Outcome(delivered=False, error="The webhook was paused before this was sent.")
    try:
        secrets_ = _signing_secrets(webhook, timezone.now())
    except crypto.SecretUnreadable:
        return Outcome(
            delivered=False,
            error="The signing secret cannot be decrypted (SECRET_KEY changed?): rotate it.",
        )
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Gatehouse-Event": delivery.event,
        "X-Gatehouse-Delivery": str(delivery.uuid),
        "X-Gatehouse-Timestamp": str(timestamp),
        "X-Gatehouse-Signature": crypto.signature_header(secrets_, timestamp, body),
    }
    return post(webhook.url, body, headers)


def _record(delivery_id: int, outcome: Outcome) -> WebhookDelivery | None:
    now = timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            return None
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.response_status = outcome.status
        delivery.last_error = outcome.error[:500]
        delivery.retry_in = None
        if outcome.delivered:
            delivery.state = WebhookDeliveryState.DELIVERED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
        elif outcome.retryable and delivery.attempts < MAX_ATTEMPTS:
            wait = backoff(delivery.attempts)
            if outcome.retry_after:
                wait = max(wait, min(outcome.retry_after, BACKOFF_CAP_SECONDS))
            delivery.state = WebhookDeliveryState.PENDING
            delivery.next_attempt_at = now + timedelta(seconds=wait)
            delivery.retry_in = wait
        else:
            delivery.state = WebhookDeliveryState.FAILED
            delivery.next_attempt_at = None
        delivery.save(
            update_fields=[
                "attempts",
                "last_attempt_at",
                "response_status",
                "last_error",
                "state",
                "delivered_at",
                "next_attempt_at",
                "updated_at",
            ]
        )
        # Not the webhook's updated_at: that dates its configuration.
        Webhook.objects.filter(pk=delivery.webhook_id).update(
            last_delivery_state=delivery.state,
            last_delivery_at=now,
            last_response_status=outcome.status,
            last_error=delivery.last_error,
        )
    return delivery


def webhook_deliver(*, delivery_id: int) -> WebhookDelivery | None:
    """Make one attempt at a due pending delivery and record it: delivered on 2xx; on a
    network error, 5xx or 429 pending again with `next_attempt_at` (and `retry_in`
    seconds set on the returned object for the task to retry) until MAX_ATTEMPTS; failed
    at once on other statuses. Returns None when there was nothing to do (gone, already
    delivered or failed, not yet due). Never holds a database lock during the request."""
    delivery = _claim(delivery_id, timezone.now())
    if delivery is None:
        return None
    outcome = _attempt(delivery)
    if outcome.delivered:
        logger.info("webhook.delivered delivery=%s status=%s", delivery.uuid, outcome.status)
    else:
        logger.warning(
            "webhook.delivery_failed delivery=%s status=%s error=%s retryable=%s",
            delivery.uuid,
            outcome.status,
            outcome.error,
            outcome.retryable,
        )
    return _record(delivery_id, outcome)


def webhook_redeliver_overdue(*, now: datetime | None = None) -> list[int]:
    """The beat's safety net: enqueue pending deliveries overdue by OVERDUE_GRACE_SECONDS
    (their enqueue failed, the broker lost them, or a worker died mid-attempt)."""
    from console.webhooks.services import enqueue_deliveries

    now = now or timezone.now()
    overdue = list(
        WebhookDelivery.objects.filter(
            state=WebhookDeliveryState.PENDING,
            next_attempt_at__lte=now - timedelta(seconds=OVERDUE_GRACE_SECONDS),
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:OVERDUE_BATCH]
    )
    if overdue:
        enqueue_deliveries(overdue)
    return overdue
