"""The "Exposures" panel that the gate and experiment pages show, and the environment a
metrics page or panel looks at (`?env=<name>`, else the project's first environment).

The experiments app calls `exposure_panel` directly; gates and metrics are side floors that
never import each other, so experiments/apps.py registers `gate_panel` and `gates_checked`
in `gates.hooks` for the gate pages.
"""

from __future__ import annotations

import json

from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from console import selectors as console_selectors
from console.models import Environment, Project
from metrics import selectors
from metrics.models import ExposureKind

ENV_PARAM = "env"


def environments_of(project: Project, wanted: str) -> tuple[list[Environment], Environment | None]:
    """The project's environments in order, and the one named `wanted` (any case), else the
    first; None when the project has none."""
    environments = list(console_selectors.environment_list(project=project))
    chosen = next((e for e in environments if e.name.lower() == wanted.strip().lower()), None)
    return environments, chosen or (environments[0] if environments else None)


def exposure_panel(
    request, project: Project, *, kind: str, name: str, groups: list[str] | None = None
) -> SafeString:
    """The panel of one gate (kind "gate") or experiment (kind "config") in the
    environment of `?env=`: units per group, crossovers, bots, last exposure, a chart."""
    environments, environment = environments_of(project, request.GET.get(ENV_PARAM, ""))
    data = None
    if environment is not None:
        data = selectors.exposures(environment=environment, kind=kind, name=name, groups=groups)
    context = {
        "project": project,
        "environments": environments,
        "environment": environment,
        "kind": kind,
        "is_gate": kind == ExposureKind.GATE,
        "data": data,
        "units_chart": json.dumps(data.series.as_chart()) if data else None,
        "checks_chart": json.dumps(_checks_chart(data)) if data and data.checks else None,
    }
    return render_to_string("metrics/partials/_exposures.html", context, request=request)


def _checks_chart(data: selectors.Exposures) -> dict:
    assert data.checks is not None
    chart = data.checks.as_chart("bar")
    chart["stacked"] = True
    chart["series"].append(
        {"label": "pass rate %", "data": data.pass_rate, "type": "line", "axis": "rate"}
    )
    return chart


def gate_panel(request, project: Project, gate) -> SafeString:
    return exposure_panel(
        request, project, kind=ExposureKind.GATE, name=gate.name, groups=["pass", "fail"]
    )


def gates_checked(project: Project, since) -> set[str]:
    return selectors.gates_checked_since(project=project, since=since)
