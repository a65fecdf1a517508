"""The metrics console API through the API client: event names with counts, and an
experiment's exposures per group, by session and by console key."""

from __future__ import annotations

import pytest

from console.models import Role
from tests.api_support import (
    api_url_for,
    assert_error,
    console_key,
    key_client,
    session_client,
)
from tests.metrics.seed import event, exposure, group_rules, store

pytestmark = pytest.mark.django_db

events_url = api_url_for("metrics-api")
experiments_url = api_url_for("experiments-api")


def test_events__viewer_key__names_with_counts_per_environment(
    project, production, site_admin, project_viewer
):
    # Given purchases by two users in production, one page view in staging
    purchases = [
        event("purchase", "u1"),
        event("purchase", "u2"),
        event("purchase", "u1", value="2"),
    ]
    store(production, purchases)
    store(project.environments.get(name="staging"), [event("page_view")])
    client = key_client(console_key(site_admin, project, Role.VIEWER))
    # When a viewer key lists production's events
    response = client.get(events_url("api-event-list", project=None, environment="production"))
    # Then each name comes with its counts, camelCase
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["pagination"]["totalItems"] == 1
    [row] = body["data"]
    assert row["name"] == "purchase"
    assert (row["count24h"], row["count7d"], row["uniqueUnits7d"]) == (3, 3, 2)
    assert row["lastSeen"]


def test_events__unknown_environment__400_with_field(project, project_viewer):
    client = session_client(project_viewer)
    response = client.get(events_url("api-event-list", environment="moon"))
    assert_error(response, 400, "unknown_environment", "environment")


@pytest.mark.parametrize("caller", ["outsider", "anonymous"])
def test_events__not_a_member__refused(project, outsider, caller):
    client = session_client(outsider if caller == "outsider" else None)
    response = client.get(events_url("api-event-list"))
    if caller == "outsider":
        assert_error(response, 404, "not_found")
    else:
        assert_error(response, 401, "not_authenticated")


def test_experiment_exposures__units_per_group(project, production, site_admin, running_experiment):
    # Given two units in Control, one in Test and one that crossed over
    rules = group_rules(production, "checkout_button")
    store(
        production,
        [
            exposure("checkout_button", rules["Control"], "a"),
            exposure("checkout_button", rules["Control"], "b"),
            exposure("checkout_button", rules["Test"], "c"),
            exposure("checkout_button", rules["Test"], "d"),
            exposure("checkout_button", rules["Control"], "d"),
        ],
    )
    client = key_client(console_key(site_admin, project, Role.VIEWER))
    # When its exposures in production are read
    url = experiments_url(
        "api-experiment-exposures", "checkout_button", project=None, environment="production"
    )
    response = client.get(url)
    # Then each group has its units, the crossover apart, in the experiment's group order
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["environment"] == "production"
    assert [(g["name"], g["units"], g["crossovers"]) for g in data["groups"]] == [
        ("Control", 2, 0),
        ("Test", 1, 1),
    ]
    assert (data["units"], data["crossovers"], data["botsExcluded"]) == (3, 1, 0)
    assert data["groups"][0]["unitsByDay"][-1] == 2
    assert len(data["days"]) == len(data["groups"][0]["unitsByDay"])
    assert data["lastExposure"]


def test_experiment_exposures__unknown_experiment__404(project, project_viewer):
    response = session_client(project_viewer).get(
        experiments_url("api-experiment-exposures", "nope")
    )
    assert_error(response, 404, "not_found")


def test_experiment_exposures__other_projects_key__404(project, site_admin, running_experiment):
    from console import services as console_services

    other = console_services.project_create(actor=site_admin, name="Other", slug="other")
    client = key_client(console_key(site_admin, other, Role.ADMIN))
    url = experiments_url("api-experiment-exposures", "checkout_button", project=None)
    assert_error(client.get(url), 404, "not_found")
