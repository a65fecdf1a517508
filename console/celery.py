import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

app = Celery("console")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Periodic tasks of the console; apps add their own in AppConfig.ready().
app.conf.beat_schedule = {
    # Safety net of publishing: pending/failed specs and keys lost by Redis.
    "config-spec-repush": {"task": "console.tasks.config_spec_repush_task", "schedule": 30.0},
    # Safety net of webhooks: pending deliveries whose enqueue or worker was lost.
    "webhook-redeliver": {"task": "console.tasks.webhook_redeliver_task", "schedule": 60.0},
}


@setup_logging.connect
def _django_logging(**_kwargs) -> None:
    """Workers and beat log through settings.LOGGING, like the web processes: Celery would
    otherwise replace the root handlers with its own, without the key redaction filter."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
