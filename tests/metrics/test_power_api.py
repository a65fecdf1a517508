"""GET /console/v1/metrics/<name::type>/power: the page's numbers as JSON, and 4xx errors
in the console API's shape."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest

from console.models import Role
from metrics.power.analysis import PowerSettings, power_table
from metrics.power.selectors import Population, power_inputs
from metrics.stats.frequentist import Sided
from tests.api_support import assert_error, console_key, key_client, session_client
from tests.metrics.power_seed import EXPERIMENT
from tests.metrics.test_power_selectors import (  # noqa: F401 (fixtures)
    _definition,
    catalog,
    seeded,
)

pytestmark = pytest.mark.django_db
P = "purchases::event_count"


def _url(metric_id: str, **query) -> str:
    path = f"/console/v1/metrics/{quote(metric_id, safe=':')}/power"
    return path + "?" + urlencode({"project": "payments"} | query)


@pytest.mark.usefixtures("seeded")
def test_power_api__experiment_population__same_numbers_as_the_analysis(
    project, site_admin, production
):
    # Given a viewer's console key
    client = key_client(console_key(site_admin, project, Role.VIEWER))

    # When it asks for the power of revenue over the experiment's units
    response = client.get(
        _url(
            "revenue::sum",
            environment="Production",
            population=f"experiment:{EXPERIMENT}",
            groups="2",
            allocation="80",
            confidence="90",
            power="90",
            sided="one_sided",
            targetMde="30",
        )
    )

    # Then the weeks are the analysis's, in the API's shape
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["message"] == "Power computed successfully."
    data = body["data"]
    expected = power_table(
        power_inputs(
            definition=_definition(project, "revenue"),
            environment=production,
            population=Population.parse(f"experiment:{EXPERIMENT}"),
        ),
        PowerSettings(
            groups=2, allocation=80, confidence=90, power=90, sided=Sided.ONE, target_mde=30
        ),
    )
    assert data["metric"] == "revenue::sum"
    assert data["population"] == f"experiment:{EXPERIMENT}"
    assert data["unitType"] == "userID"
    assert data["settings"]["sided"] == "one_sided"
    assert [w["weeks"] for w in data["weeks"]] == [1, 2, 3, 4]
    for week, row in zip(data["weeks"], expected.rows, strict=True):
        assert week["units"] == row.units
        assert week["unitsInExperiment"] == pytest.approx(row.traffic)
        assert week["mean"] == pytest.approx(row.mean)
        assert week["variance"] == pytest.approx(row.variance)
        assert week["relativeMdePercent"] == pytest.approx(row.mde)
    assert data["weeksNeeded"] == expected.weeks_needed


@pytest.mark.usefixtures("catalog")
def test_power_api__defaults_and_no_units__200_with_empty_weeks(project, project_viewer):
    response = session_client(project_viewer).get(_url(P))
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "No units in this population in the last 4 weeks."
    assert body["data"]["settings"] == {
        "groups": 2,
        "allocation": 100.0,
        "confidence": 95.0,
        "power": 80.0,
        "sided": "two_sided",
        "targetMde": None,
    }
    assert [w["relativeMdePercent"] for w in body["data"]["weeks"]] == [None] * 4
    assert [w["note"] for w in body["data"]["weeks"]] == ["no units"] * 4


@pytest.mark.usefixtures("catalog")
@pytest.mark.parametrize(
    ("metric", "query", "status", "code", "field"),
    [
        ("nope::sum", {}, 404, "not_found", None),
        ("purchases", {}, 404, "not_found", None),
        (P, {"environment": "mars"}, 400, "unknown_environment", "environment"),
        (P, {"population": "segment:x"}, 400, "invalid_population", "population"),
        (P, {"population": "gate:"}, 400, "invalid_population", "population"),
        (P, {"groups": "1"}, 400, "invalid_parameter", "groups"),
        (P, {"groups": "9" * 5000}, 400, "invalid_parameter", "groups"),
        (P, {"allocation": "1e999"}, 400, "invalid_parameter", "allocation"),
        (P, {"allocation": "NaN"}, 400, "invalid_parameter", "allocation"),
        (P, {"confidence": "100"}, 400, "invalid_parameter", "confidence"),
        (P, {"power": "x"}, 400, "invalid_parameter", "power"),
        (P, {"sided": "both"}, 400, "invalid_parameter", "sided"),
        (P, {"targetMde": "-1"}, 400, "invalid_parameter", "targetMde"),
    ],
)  # fmt: skip
def test_power_api__bad_input__4xx_in_the_api_shape(
    project, project_viewer, metric, query, status, code, field
):
    response = session_client(project_viewer).get(_url(metric, **query))
    assert_error(response, status, code, field)


def test_power_api__no_credentials__refused(project):
    response = session_client(None).get(_url(P))
    assert 400 <= response.status_code < 500
    assert response.json()["code"]


@pytest.mark.usefixtures("catalog")
def test_power_api__events_in_clickhouse__400_saying_it_is_not_available(
    project, project_viewer, clickhouse_engine
):
    # Given the events are in ClickHouse, whose dialect the calculator does not have yet
    # When the API is asked, then it says so (nothing computed from an empty PostgreSQL)
    response = session_client(project_viewer).get(_url(P))
    assert_error(response, 400, "engine_unsupported", None)
    assert "ClickHouse" in response.json()["message"]
