from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"

    def ready(self) -> None:
        from console.celery import app

        # The event tables' housekeeping: partitions ahead, expired ones dropped, old
        # idempotency keys forgotten (metrics.services.events_housekeep).
        app.conf.beat_schedule["event-partitions"] = {
            "task": "metrics.tasks.event_partitions_task",
            "schedule": 3600.0,
        }
