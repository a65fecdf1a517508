"""Metrics → Power through Django's test client: the form, its errors on hostile input,
the empty state, the table's values and the constant number of queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from metrics.power.analysis import PowerSettings, power_table
from metrics.power.selectors import Population, power_inputs
from tests.metrics.power_seed import GATE
from tests.metrics.test_power_selectors import (  # noqa: F401 (fixtures)
    _definition,
    catalog,
    seeded,
)

pytestmark = pytest.mark.django_db


def _url(project) -> str:
    return reverse("metrics-power", args=[project.slug])


def _ask(client, project, **query):
    params = {"env": "production", "metric": "purchases::event_count", "population": "all"}
    params |= {"groups": "2", "allocation": "100", "confidence": "95", "power": "80"}
    params |= {"sided": "two_sided"} | query
    return client.get(_url(project), params)


@pytest.mark.usefixtures("seeded")
def test_power_page__no_question__form_with_defaults_and_the_tab(
    client,
    project,
    project_viewer,
):
    client.force_login(project_viewer)
    response = client.get(_url(project), {"env": "production"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'aria-current="page">Power</a>' in html
    assert "Pick a metric and a population" in html
    form = response.context["form"]
    populations = dict(form.fields["population"].choices)
    assert populations["Units passing a gate"] == [(f"gate:{GATE}", f"Gate {GATE}")]
    assert "purchases::event_count" in dict(form.fields["metric"].choices)


@pytest.mark.usefixtures("seeded")
def test_power_page__gate_population__table_values_are_the_analysis(
    client,
    project,
    project_viewer,
    production,
):
    client.force_login(project_viewer)
    response = _ask(
        client,
        project,
        population=f"gate:{GATE}",
        groups="3",
        allocation="50",
        target_mde="60",
    )
    assert response.status_code == 200
    table = response.context["table"]
    expected = power_table(
        power_inputs(
            definition=_definition(project, "purchases"),
            environment=production,
            population=Population.parse(f"gate:{GATE}"),
        ),
        PowerSettings(groups=3, allocation=50, target_mde=60),
    )
    assert [r.mde for r in table.rows] == pytest.approx([r.mde for r in expected.rows])
    assert table.weeks_needed == expected.weeks_needed
    html = response.content.decode()
    for row in expected.rows:
        assert f"±{row.mde:.2f}%" in html
    assert "data-chart=" in html
    assert "Units passing gate new_checkout" in html
    assert "style=" not in html.split("<main", 1)[-1]


@pytest.mark.usefixtures("catalog")
def test_power_page__population_nobody_in__empty_state(
    client,
    project,
    project_viewer,
    production,
):
    client.force_login(project_viewer)
    response = _ask(client, project)
    assert response.status_code == 200
    html = response.content.decode()
    assert "No units in this population in the last 4 weeks" in html
    assert "Pick another population or environment" in html
    assert "data-chart=" not in html


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("metric", "nope::event_count"),
        ("metric", "purchases\x00::event_count"),
        ("population", "gate:unknown"),
        ("population", "all\x00"),
        ("groups", "1"),
        ("groups", "6"),
        ("groups", "9" * 5000),
        ("allocation", "0"),
        ("allocation", "1e999"),
        ("allocation", "nan"),
        ("confidence", "100"),
        ("power", "-5"),
        ("sided", "three"),
        ("target_mde", "0"),
        ("env", "staging\x00"),
    ],
)
@pytest.mark.usefixtures("seeded")
def test_power_page__hostile_input__form_error_400(client, project, project_viewer, field, value):
    client.force_login(project_viewer)
    response = _ask(client, project, **{field: value})
    assert response.status_code == 400
    if "\x00" in value:
        return  # refused before any view (console.middleware: NUL in the query string)
    assert field in response.context["form"].errors
    assert "table" not in response.context


@pytest.mark.usefixtures("seeded")
def test_power_page__queries__constant_whatever_the_population(client, project, project_viewer):
    client.force_login(project_viewer)
    counts = []
    for population in ("all", f"gate:{GATE}"):
        with CaptureQueriesContext(connection) as queries:
            assert _ask(client, project, population=population).status_code == 200
        counts.append(len(queries))
    # the exposure population reads its unit type first: one more query, no more
    assert counts[1] == counts[0] + 1
    assert counts[0] <= 12


@pytest.mark.usefixtures("catalog")
def test_power_page__events_in_clickhouse__says_it_is_not_available(
    client, project, project_viewer, clickhouse_engine
):
    # Given the events are in ClickHouse; when a viewer opens the page and asks
    client.force_login(project_viewer)
    opened = client.get(_url(project))
    asked = _ask(client, project)
    # Then the page says the calculator is not available on ClickHouse, and computes nothing
    assert "with ClickHouse as the events engine" in opened.content.decode()
    assert asked.status_code == 400
    assert "table" not in asked.context
