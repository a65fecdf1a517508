"""Results into the customer's warehouse (docs/export.md): a project may name one of its
warehouse connections, and each refresh of an experiment's or a holdout's results then
writes its assignments and results into that connection's export schema, tables
`gatehouse_assignments` and `gatehouse_results` (the export's columns), replacing that
experiment's rows in that environment in one transaction.

The export runs in the worker after the results are stored. A failure is recorded on the
results row (the page shows it) and never fails the refresh nor the worker.
"""

from __future__ import annotations

import logging

import pyarrow as pa  # type: ignore[import-untyped]
from django.db import transaction
from django.utils import timezone

from console.audit import audit_record
from console.exceptions import DomainError
from console.models import Project, Role
from console.permissions import ensure_role
from experiments.models import ExperimentResults, WarehouseExport
from experiments.results import export
from metrics.models import WarehouseConnection
from metrics.warehouse.client import Target, WarehouseError
from metrics.warehouse.writer import Table, Written, replace_rows

logger = logging.getLogger(__name__)

KEY = ("project", "environment", "entity", "experiment")


def _kind(field: pa.Field) -> str:
    if pa.types.is_timestamp(field.type):
        return "time"
    if pa.types.is_boolean(field.type):
        return "bool"
    if pa.types.is_integer(field.type):
        return "int"
    if pa.types.is_floating(field.type):
        return "float"
    return "text"


def _table(name: str, schema: pa.Schema) -> Table:
    return Table(name, tuple((f.name, _kind(f)) for f in schema), KEY)


ASSIGNMENTS = _table("gatehouse_assignments", export.ASSIGNMENTS)
RESULTS = _table("gatehouse_results", export.RESULTS)


@transaction.atomic
def warehouse_export_set(
    *, actor, project: Project, connection: WarehouseConnection | None
) -> WarehouseExport | None:
    """Export to `connection` on each refresh, or (None) nowhere (admins). The connection
    must be the project's."""
    ensure_role(actor, project, Role.ADMIN)
    if connection is not None and connection.project_id != project.pk:
        raise DomainError("No such warehouse connection.", code="not_found", field="connection")
    current = WarehouseExport.objects.select_for_update().filter(project=project).first()
    before = current.connection.name if current is not None else None
    after = connection.name if connection is not None else None
    if before == after:
        return current
    if connection is None:
        if current is not None:
            current.delete()
        current = None
    elif current is None:
        current = WarehouseExport.objects.create(
            project=project, connection=connection, created_by=actor
        )
    else:
        current.connection = connection
        current.save(update_fields=["connection", "updated_at"])
    audit_record(
        actor=actor,
        action="project.warehouse_export_changed",
        target=project,
        project=project,
        before={"warehouse_export": before},
        after={"warehouse_export": after},
    )
    return current


def warehouse_export_run(results: ExperimentResults) -> Written | None:
    """Write a finished refresh's assignments and results into the project's export
    connection, if it has one; the outcome (exported_at or export_error) goes on the row.
    Never raises: the refresh is done whatever the warehouse says."""
    subject_model = results.experiment or results.holdout
    if subject_model is None:  # a gate's scorecard: not exported
        return None
    setting = (
        WarehouseExport.objects.select_related("connection")
        .filter(project_id=subject_model.project_id)
        .first()
    )
    if setting is None:
        return None
    subject = export.Subject.of(
        results.environment, experiment=results.experiment, holdout=results.holdout
    )
    connection = setting.connection
    try:
        written = replace_rows(
            Target.of(connection),
            connection.schema,
            [
                (ASSIGNMENTS, subject.lead, export.assignment_rows(subject)),
                (RESULTS, subject.lead, export.payload_rows(subject, results.payload)),
            ],
        )
    except WarehouseError as exc:
        _record(results, error=f"The export to {connection.name} failed: {exc.message}")
        return None
    except Exception:
        logger.exception("results.export_failed id=%s", results.pk)
        _record(
            results,
            error=f"The export to {connection.name} failed; the error is in the worker's log.",
        )
        return None
    _record(results, error="")
    return written


def _record(results: ExperimentResults, *, error: str) -> None:
    results.exported_at = None if error else timezone.now()
    results.export_error = error
    ExperimentResults.objects.filter(pk=results.pk).update(
        exported_at=results.exported_at, export_error=error
    )
