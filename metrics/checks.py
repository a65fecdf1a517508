"""System checks of the events engine (run by manage.py's commands: `make run` and `make
dev` migrate first, so they stop there)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured

from metrics.clickhouse import connect_kwargs


@register()
def clickhouse_needs_a_server(app_configs, **kwargs) -> list[CheckMessage]:
    """ClickHouse as the events engine needs GATEHOUSE_CLICKHOUSE_URL to run the console:
    the embedded engine (chdb) opens its data path in one process only, and the console is
    several (web workers, the Celery worker, beat). Embedded is for tests and one-process
    scripts (`manage.py <command> --skip-checks`)."""
    if settings.GATEHOUSE_EVENTS_ENGINE != "clickhouse":
        return []
    if settings.GATEHOUSE_CLICKHOUSE_URL:
        try:
            connect_kwargs(settings.GATEHOUSE_CLICKHOUSE_URL)
        except ImproperlyConfigured as exc:
            return [Error(str(exc), id="metrics.E002")]
        return []
    return [
        Error(
            "GATEHOUSE_EVENTS_ENGINE is clickhouse but GATEHOUSE_CLICKHOUSE_URL is not set.",
            hint=(
                "The embedded ClickHouse (chdb) opens GATEHOUSE_CLICKHOUSE_PATH in one process "
                "only, and the console runs several (web, worker, beat): set "
                "GATEHOUSE_CLICKHOUSE_URL=clickhouse://user:pass@host:8123/database "
                "(docs/events.md)."
            ),
            id="metrics.E001",
        )
    ]
