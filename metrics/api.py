"""Metrics in the console API (/console/v1/): the event names an environment received, and
the exposures of a gate or experiment per group, in camelCase as the rest of the API.

`?environment=<name>` picks the environment (any case); without it, the project's first.
"""

from __future__ import annotations

from rest_framework import serializers

from console.api.base import ConsoleAPIView
from console.api.permissions import resolve_project
from console.exceptions import DomainError
from console.models import Environment, Project
from metrics import selectors
from metrics.panels import environments_of

ENVIRONMENT_PARAM = "environment"


def api_environment(request, project: Project) -> Environment:
    """The environment the request names, else the project's first; a 400 when it names
    none of the project's, or the project has none."""
    wanted = request.query_params.get(ENVIRONMENT_PARAM, "").strip()
    environments, environment = environments_of(project, wanted)
    if environment is None or (wanted and environment.name.lower() != wanted.lower()):
        names = ", ".join(e.name for e in environments) or "none yet"
        raise DomainError(
            f"This project has no environment named '{wanted}' (it has: {names}).",
            code="unknown_environment",
            field=ENVIRONMENT_PARAM,
        )
    return environment


class EventNameOutput(serializers.Serializer):
    name = serializers.CharField()
    count24h = serializers.IntegerField(source="last_24h")
    count7d = serializers.IntegerField(source="last_7d")
    uniqueUnits7d = serializers.IntegerField(source="units_7d")  # noqa: N815 (API shape)
    lastSeen = serializers.DateTimeField(source="last_seen")  # noqa: N815


def exposures_document(environment: Environment, data: selectors.Exposures) -> dict:
    """An exposures answer: per group its units, crossovers and bots, and its units so far
    at the end of each day of `days` (bots and crossovers left out)."""
    return {
        "environment": environment.name,
        "units": data.units,
        "crossovers": data.crossovers,
        "botsExcluded": data.bots,
        "lastExposure": data.last_exposure.isoformat() if data.last_exposure else None,
        "days": [d.isoformat() for d in data.series.days],
        "groups": [
            {
                "name": g.group,
                "units": g.units,
                "crossovers": g.crossovers,
                "bots": g.bots,
                "unitsByDay": data.series.lines.get(g.group, []),
            }
            for g in data.groups
        ],
    }


class EventListView(ConsoleAPIView):
    """GET /console/v1/events: the event names of an environment with their counts."""

    def get(self, request):
        project, _ = resolve_project(request)
        environment = api_environment(request, project)
        return self.paginated(selectors.event_names(environment=environment), EventNameOutput)
