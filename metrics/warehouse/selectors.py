"""What the warehouse pages, the API and results read of a project's connections and
sources; each list is one query."""

from __future__ import annotations

from django.db.models import QuerySet

from console.models import Project
from metrics.warehouse.models import AssignmentSource, MetricSource, WarehouseConnection


def connection_list(*, project: Project) -> QuerySet[WarehouseConnection]:
    return WarehouseConnection.objects.filter(project=project).order_by("name", "id")


def connection_get(*, project: Project, pk: int) -> WarehouseConnection | None:
    return WarehouseConnection.objects.filter(project=project, pk=pk).first()


def assignment_source_list(*, project: Project) -> QuerySet[AssignmentSource]:
    return (
        AssignmentSource.objects.filter(project=project)
        .select_related("connection")
        .order_by("name", "id")
    )


def assignment_source_get(*, project: Project, pk: int) -> AssignmentSource | None:
    return assignment_source_list(project=project).filter(pk=pk).first()


def assignment_source_named(*, project: Project, name: str) -> AssignmentSource | None:
    return assignment_source_list(project=project).filter(name__iexact=name).first()


def metric_source_list(*, project: Project) -> QuerySet[MetricSource]:
    return (
        MetricSource.objects.filter(project=project)
        .select_related("connection")
        .order_by("name", "id")
    )


def metric_source_get(*, project: Project, pk: int) -> MetricSource | None:
    return metric_source_list(project=project).filter(pk=pk).first()


def metric_sources_by_name(*, project: Project) -> dict[str, MetricSource]:
    return {source.name: source for source in metric_source_list(project=project)}
