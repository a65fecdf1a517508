from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"

    def ready(self) -> None:
        from console.celery import app
        from metrics import checks  # noqa: F401  (registers the events engine's check)

        # The event tables' housekeeping: partitions ahead, expired ones dropped, old
        # idempotency keys forgotten (metrics.services.events_housekeep).
        app.conf.beat_schedule["event-partitions"] = {
            "task": "metrics.tasks.event_partitions_task",
            "schedule": 3600.0,
        }
        # Each stored batch asks the worker to count its exposures; this sweep counts
        # those whose request could not reach the broker.
        app.conf.beat_schedule["exposures-apply"] = {
            "task": "metrics.tasks.exposures_apply_task",
            "schedule": 60.0,
        }
        # Every event name gets its auto metrics (<event>::event_count, ::event_user) within
        # the hour; the catalog's page makes them sooner for the names it sees missing.
        app.conf.beat_schedule["metric-autocreate"] = {
            "task": "metrics.tasks.metric_autocreate_task",
            "schedule": 3600.0,
        }
        _register_pages()


def _register_pages() -> None:
    from console import search
    from console.navigation import register
    from metrics.models import Metric

    # Metrics opens on the catalog, with Events in a tab beside it; the gate pages' panel
    # and "stale by usage" are wired into gates.hooks by experiments/apps.py (the floor
    # above both side floors).
    register("metrics", "Metrics", "metric-list")
    search.register(
        search.Searchable(
            "Metrics",
            "metric-detail",
            lambda project: Metric.objects.filter(project=project, archived_at__isnull=True),
            has_owner=False,
        )
    )
