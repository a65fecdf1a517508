"""Webhook reads shared by the settings page and the console API."""

from __future__ import annotations

from django.db.models import QuerySet

from console.models import Project, Webhook, WebhookDelivery

RECENT_DELIVERIES = 50


def webhook_list(*, project: Project) -> QuerySet[Webhook]:
    return Webhook.objects.filter(project=project).select_related("created_by").order_by("name")


def webhook_delivery_list(
    *, project: Project, webhook: Webhook | None = None
) -> QuerySet[WebhookDelivery]:
    """Newest first, with their webhook joined (payloads deferred: lists do not show them)."""
    deliveries = WebhookDelivery.objects.filter(webhook__project=project)
    if webhook is not None:
        deliveries = deliveries.filter(webhook=webhook)
    return deliveries.select_related("webhook").defer("payload").order_by("-created_at", "-id")
