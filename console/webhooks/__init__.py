"""Outbound webhooks: signed, Slack-compatible JSON POSTs about a project's events.

Domain apps register their events in AppConfig.ready() and call webhook_emit() inside the
transaction of the change; after commit a Celery worker delivers (console.webhooks.delivery),
retrying with backoff, and a beat task re-enqueues anything left pending. Admins manage
webhooks on Settings → Webhooks (console.webhooks.views) and at /console/v1/webhooks.

    from console.webhooks import register_event, webhook_emit, slack
    register_event("changeset.approved", "A change set was approved")
    webhook_emit(project=p, event="changeset.approved",
                 text=f"*{slack.escape(title)}* was approved", data={"id": cs.pk})
"""

from console.webhooks import slack
from console.webhooks.events import TEST_EVENT, event_choices, register_event
from console.webhooks.services import (
    IssuedWebhook,
    webhook_create,
    webhook_delete,
    webhook_delivery_retry,
    webhook_emit,
    webhook_rotate_secret,
    webhook_send_test,
    webhook_update,
)

__all__ = [
    "TEST_EVENT",
    "IssuedWebhook",
    "event_choices",
    "register_event",
    "slack",
    "webhook_create",
    "webhook_delete",
    "webhook_delivery_retry",
    "webhook_emit",
    "webhook_rotate_secret",
    "webhook_send_test",
    "webhook_update",
]
