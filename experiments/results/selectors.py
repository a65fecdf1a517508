"""What the results pages, the gate and holdout panels and the API read of the stored refreshes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from console.models import Environment, Project
from experiments.models import Experiment, ExperimentResults, Holdout, ResultsState
from gates.models import FeatureGate
from metrics.panels import environments_of

# Results are about what users got: production unless the page asks for another.
DEFAULT_ENVIRONMENT = "production"


def results_environment(
    project: Project, wanted: str
) -> tuple[list[Environment], Environment | None]:
    """The project's environments and the one named `wanted`, production when none is."""
    return environments_of(project, wanted or DEFAULT_ENVIRONMENT)


@dataclass(frozen=True)
class Latest:
    """The newest finished computation (shown), a newer one that failed (its reason shown
    beside it), and the refresh waiting or running."""

    done: ExperimentResults | None
    failed: ExperimentResults | None
    pending: ExperimentResults | None

    @property
    def payload(self) -> dict[str, Any]:
        return self.done.payload if self.done is not None else {}


def latest_results(
    environment: Environment | None,
    *,
    experiment: Experiment | None = None,
    gate: FeatureGate | None = None,
    holdout: Holdout | None = None,
) -> Latest:
    """One query: the newest row of each state for the experiment, gate or holdout."""
    if environment is None:
        return Latest(None, None, None)
    newest: dict[str, ExperimentResults] = {}
    rows = (
        ExperimentResults.objects.filter(
            experiment=experiment, gate=gate, holdout=holdout, environment=environment
        )
        .order_by("state", "-requested_at")
        .distinct("state")
    )
    for row in rows:
        newest[row.state] = row
    done, failed = newest.get(ResultsState.DONE), newest.get(ResultsState.FAILED)
    if failed is not None and done is not None and failed.requested_at < done.requested_at:
        failed = None
    pending = [newest[s] for s in (ResultsState.RUNNING, ResultsState.QUEUED) if s in newest]
    return Latest(done, failed, pending[0] if pending else None)
