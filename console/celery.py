import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

app = Celery("console")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic tasks are added here by the issues that need them (spec re-publishing arrives
# with the review and publishing pipeline).
app.conf.beat_schedule = {
    # Safety net of publishing: pending/failed specs and keys lost by Redis.
    "config-spec-repush": {"task": "console.tasks.config_spec_repush_task", "schedule": 30.0},
    # Safety net of webhooks: pending deliveries whose enqueue or worker was lost.
    "webhook-redeliver": {"task": "console.tasks.webhook_redeliver_task", "schedule": 60.0},
}
