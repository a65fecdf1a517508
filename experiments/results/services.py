"""Refreshing experiment results: asked for from the page, the API or beat, computed by the
worker (docs/results.md).

`results_request` records a queued computation and hands it to the worker after the commit;
`results_compute` (the worker) computes it, reporting progress on the row, and stores the
payload or the reason it failed; then it writes the export into the project's warehouse,
if it names one (experiments/results/warehouse.py). A refresh already waiting or running is
reused, so pressing the button twice computes once.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from console import progress
from console.audit import audit_record
from console.exceptions import DomainError
from console.models import Environment, Role
from console.permissions import ensure_role
from experiments.documents.scorecard import ASSIGNMENT_SOURCE
from experiments.models import (
    Experiment,
    ExperimentResults,
    ExperimentStatus,
    Holdout,
    ResultsState,
)
from experiments.results.compute import compute, compute_gate, compute_holdout
from experiments.results.selectors import DEFAULT_ENVIRONMENT
from experiments.results.warehouse import warehouse_export_run
from gates.models import FeatureGate
from metrics.models import ExposureCount, ExposureKind

logger = logging.getLogger(__name__)

PENDING = (ResultsState.QUEUED, ResultsState.RUNNING)


def results_request(
    *,
    actor,
    environment: Environment,
    experiment: Experiment | None = None,
    gate: FeatureGate | None = None,
    holdout: Holdout | None = None,
    full: bool = False,
) -> ExperimentResults:
    """Queue a refresh of an experiment's results, a gate's scorecard or a holdout's
    results in `environment` (members and admins; viewers read results). `full` recomputes
    every day from the events."""
    subjects = [s for s in (experiment, gate, holdout) if s is not None]
    if len(subjects) != 1:
        raise ValueError("results of one experiment, one gate or one holdout")
    subject: Experiment | FeatureGate | Holdout = subjects[0]
    ensure_role(actor, subject.project, Role.MEMBER)
    if environment.project_id != subject.project_id:
        raise DomainError("That environment belongs to another project.", code="not_found")
    if experiment is not None and (
        experiment.started_at is None or experiment.status == ExperimentStatus.DRAFT
    ):
        raise DomainError(
            "The experiment has not started: there is nothing to measure yet.",
            code="not_started",
        )
    with transaction.atomic():
        pending = _pending(environment, experiment=experiment, gate=gate, holdout=holdout)
        if pending is not None:
            return pending
        results = ExperimentResults.objects.create(
            experiment=experiment,
            gate=gate,
            holdout=holdout,
            environment=environment,
            full=full,
            requested_by=actor,
        )
        kind = "experiment" if experiment is not None else "gate" if gate is not None else "holdout"
        audit_record(
            actor=actor,
            action=f"{kind}.results_requested",
            target=subject,
            project=subject.project,
            after={"environment": environment.name, "full": full},
        )
        transaction.on_commit(functools.partial(_enqueue, results.pk))
    return results


def results_schedule() -> int:
    """Beat's daily refresh: every running experiment and every live holdout, in each
    environment whose SDKs exposed units to it (the others would compute nothing), and each
    running experiment over a warehouse assignment source in production. Returns how many
    it queued."""
    running = list(
        Experiment.objects.filter(status=ExperimentStatus.RUNNING, started_at__isnull=False)
    )
    holdouts = list(Holdout.objects.active())
    exposed = {
        ("experiment", pk): ids
        for pk, ids in _exposed_in(
            ExposureKind.CONFIG, [(e.pk, e.project_id, e.name, e.started_at) for e in running]
        ).items()
    }
    exposed |= {
        ("holdout", pk): ids
        for pk, ids in _exposed_in(
            ExposureKind.GATE, [(h.pk, h.project_id, h.name, h.created_at) for h in holdouts]
        ).items()
    }
    # An experiment over a warehouse assignment source has no ingested exposures: it is
    # refreshed in its project's production environment (docs/warehouse.md).
    in_warehouse = [e for e in running if e.scorecard.get(ASSIGNMENT_SOURCE)]
    production = dict(
        Environment.objects.filter(
            project_id__in={e.project_id for e in in_warehouse}, name=DEFAULT_ENVIRONMENT
        ).values_list("project_id", "pk")
    )
    for warehoused in in_warehouse:
        if warehoused.project_id in production:
            exposed.setdefault(("experiment", warehoused.pk), set()).add(
                production[warehoused.project_id]
            )
    environments = Environment.objects.in_bulk({e for ids in exposed.values() for e in ids})
    subjects: list[tuple[tuple[str, int], Experiment | None, Holdout | None]] = [
        (("experiment", e.pk), e, None) for e in running
    ]
    subjects += [(("holdout", h.pk), None, h) for h in holdouts]
    queued = 0
    for key, experiment, holdout in subjects:
        for environment_id in sorted(exposed.get(key, ())):
            environment = environments[environment_id]
            with transaction.atomic():
                if _pending(environment, experiment=experiment, holdout=holdout) is not None:
                    continue
                results = ExperimentResults.objects.create(
                    experiment=experiment, holdout=holdout, environment=environment
                )
                transaction.on_commit(functools.partial(_enqueue, results.pk))
                queued += 1
    return queued


def _exposed_in(
    kind: str, subjects: list[tuple[int, int, str, dt.datetime | None]]
) -> dict[int, set[int]]:
    """Subject (pk, project, name, start) → the environments whose hourly exposure counts
    of `kind` name it since it started (one query over the small hourly table, not the
    exposures)."""
    wanted = {(project, name): pk for pk, project, name, start in subjects if start}
    if not wanted:
        return {}
    rows = (
        ExposureCount.objects.filter(
            kind=kind,
            name__in={name for _, name in wanted},
            environment__project_id__in={project for project, _ in wanted},
            # Counts are per hour: the one the earliest subject started in counts too.
            hour__gt=min(start for _, _, _, start in subjects if start) - dt.timedelta(hours=1),
        )
        .values_list("environment__project_id", "name", "environment_id")
        .distinct()
    )
    found: dict[int, set[int]] = {}
    for project_id, name, environment_id in rows:
        pk = wanted.get((project_id, name))
        if pk is not None:
            found.setdefault(pk, set()).add(environment_id)
    return found


def _pending(
    environment: Environment,
    *,
    experiment: Experiment | None = None,
    gate: FeatureGate | None = None,
    holdout: Holdout | None = None,
) -> ExperimentResults | None:
    return (
        ExperimentResults.objects.select_for_update()
        .filter(
            experiment=experiment,
            gate=gate,
            holdout=holdout,
            environment=environment,
            state__in=PENDING,
        )
        .first()
    )


def _enqueue(results_id: int) -> None:
    from experiments.tasks import results_compute_task

    try:
        results_compute_task.apply_async((results_id,), retry=False)
    except Exception:  # the broker is down: the row stays queued, beat's sweep sends it
        logger.warning("results.enqueue_failed id=%s", results_id)


def results_compute(results_id: int) -> ExperimentResults | None:
    """Compute one queued refresh (the worker). Taken with SKIP LOCKED and marked running
    first, so two deliveries of the task compute it once. None when there was nothing to do."""
    with transaction.atomic():
        results = (
            ExperimentResults.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related(
                "experiment__project", "gate__project", "holdout__project", "environment"
            )
            .filter(pk=results_id, state=ResultsState.QUEUED)
            .first()
        )
        if results is None:
            return None
        results.state, results.started_at = ResultsState.RUNNING, timezone.now()
        results.save(update_fields=["state", "started_at"])
    writer = _ProgressWriter(results)
    try:
        with progress.listening(writer):
            now, full = timezone.now(), results.full
            if results.gate is not None:
                payload = compute_gate(results.gate, results.environment, now=now, full=full)
            elif results.holdout is not None:
                payload = compute_holdout(results.holdout, results.environment, now=now, full=full)
            elif results.experiment is not None:
                payload = compute(results.experiment, results.environment, now=now, full=full)
            else:  # the row's check constraint allows no such row
                raise ValueError("results of neither an experiment, a gate nor a holdout")
    except Exception as exc:
        logger.exception("results.compute_failed id=%s", results_id)
        results.state, results.error = ResultsState.FAILED, _failure(exc)
        results.finished_at = timezone.now()
        results.save(update_fields=["state", "error", "finished_at"])
        return results
    results.state, results.payload, results.finished_at = (
        ResultsState.DONE,
        payload,
        timezone.now(),
    )
    results.range_start = _time(payload, "start")
    results.range_end = _time(payload, "end")
    results.progress = {}
    results.save(
        update_fields=["state", "payload", "finished_at", "range_start", "range_end", "progress"]
    )
    # After the results are stored: a failing export is recorded on the row, never raised.
    warehouse_export_run(results)
    return results


# The compute task's time limit (experiments.tasks): a bigger experiment takes minutes.
COMPUTE_TIME_LIMIT_S = 3600


def results_requeue(*, waiting_s: int = 600) -> int:
    """Send again what was queued `waiting_s` ago and never picked up (a lost enqueue), and
    fail what has been running past the task's time limit (a killed worker)."""
    now = timezone.now()
    cutoff = now - dt.timedelta(seconds=waiting_s)
    killed = now - dt.timedelta(seconds=COMPUTE_TIME_LIMIT_S + 60)
    stuck = ExperimentResults.objects.filter(state=ResultsState.RUNNING, started_at__lt=killed)
    stuck.update(
        state=ResultsState.FAILED,
        error="The computation was interrupted (the worker stopped); refresh to try again.",
        finished_at=timezone.now(),
    )
    waiting = list(
        ExperimentResults.objects.filter(
            state=ResultsState.QUEUED, requested_at__lt=cutoff
        ).values_list("pk", flat=True)
    )
    for pk in waiting:
        _enqueue(pk)
    return len(waiting)


def _failure(exc: Exception) -> str:
    if isinstance(exc, DomainError):
        return exc.message
    return "The results could not be computed; the error is in the worker's log."


def _time(payload: dict[str, Any], key: str) -> dt.datetime | None:
    value = (payload.get("range") or {}).get(key)
    return parse_datetime(value) if value else None


class _ProgressWriter:
    """Writes the latest progress on the row, at most twice a second."""

    INTERVAL = 0.5

    def __init__(self, results: ExperimentResults):
        self.results = results
        self.written = 0.0

    def __call__(self, step: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.written < self.INTERVAL:
            return
        self.written = now
        ExperimentResults.objects.filter(pk=self.results.pk).update(
            progress={"step": step, "done": done, "total": total}
        )
