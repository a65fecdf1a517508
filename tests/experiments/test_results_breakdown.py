"""Results broken down by a dimension, computed on request (experiments.results.breakdowns):
a lift planted in one country shows there only, the metric's own dimension, and the page,
its CSV and the API, with the names they refuse."""

from __future__ import annotations

import csv
import io
import random

import pytest
from django.urls import reverse
from django.utils import timezone

from console.exceptions import DomainError
from console.publishing.services import spec_publish
from experiments import services as experiment_services
from experiments.results.breakdowns import compute_breakdown, parse_breakdown
from metrics.catalog.services import metric_create
from metrics.catalog.validation import MetricInput
from tests.api_support import api_url_for, assert_error, session_client
from tests.experiments.factories import experiment_document
from tests.metrics.conftest import empty_event_table  # noqa: F401 (a fixture)
from tests.metrics.seed import DAY_MS, event, exposure, group_rules, now_ms, store

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_event_table")]
api_url = api_url_for("experiments-api")
EXPERIMENT = "checkout_button"


@pytest.fixture
def running(project, site_admin):
    metric_create(
        actor=site_admin,
        project=project,
        data=MetricInput(
            name="purchase",
            metric_type="event_count",
            event_name="purchase",
            dimensions=["metadata.sku"],
        ),
    )
    experiment = experiment_services.experiment_create(
        actor=site_admin,
        project=project,
        document=experiment_document(
            EXPERIMENT, primaryMetrics=[{"name": "purchase", "type": "event_count"}]
        ),
    )
    experiment = experiment_services.experiment_start(actor=site_admin, experiment=experiment)
    experiment.started_at -= timezone.timedelta(days=30)
    experiment.save(update_fields=["started_at"])
    spec_publish(actor=None, project=project)
    return experiment


@pytest.fixture
def production(project, running):
    """400 units, half from the US, half from France, alternately in Test and Control. In
    the US, Test units buy twice as often; in France both groups alike."""
    environment = project.environments.get(name="production")
    rules = group_rules(environment, EXPERIMENT)
    rng = random.Random(3)
    batch = []
    for i in range(400):
        group = "Test" if i % 2 else "Control"
        country = "US" if (i // 2) % 2 else "FR"
        at = now_ms() - DAY_MS * 2
        batch.append(exposure(EXPERIMENT, rules[group], f"u{i}", at=at, country=country))
        rate = 4 if group == "Test" and country == "US" else 2
        for _ in range(rng.randint(0, rate)):
            sku = rng.choice(["a", "b"])
            batch.append(event("purchase", f"u{i}", at=at + 60_000, metadata={"sku": sku}))
    store(environment, batch)
    return environment


def _segments(breakdown: dict) -> dict:
    (metric,) = breakdown["metrics"]
    return {s["label"]: s for s in metric["segments"]}


def test_compute_breakdown__country__lift_where_it_was_planted_only(running, production):
    # When
    breakdown = compute_breakdown(
        running, production, parse_breakdown("country"), now=timezone.now()
    )
    # Then
    segments = _segments(breakdown)
    assert set(segments) == {"US", "FR"}
    (us,) = segments["US"]["comparisons"]
    (fr,) = segments["FR"]["comparisons"]
    assert us["significant"] is True
    assert us["relative"]["estimate"] > 0.5
    assert fr["significant"] is False
    units = [g["units"] for s in segments.values() for g in s["groups"]]
    assert sum(units) == 400
    assert "not corrected for multiple comparisons" in breakdown["exploratory"]


def test_compute_breakdown__metric_dimension__per_sku(running, production):
    breakdown = compute_breakdown(
        running, production, parse_breakdown("metadata.sku"), now=timezone.now()
    )
    segments = _segments(breakdown)
    assert set(segments) == {"a", "b"}
    # Every unit is in every sku's segment (its purchases of that sku, maybe none).
    assert sum(g["units"] for g in segments["a"]["groups"]) == 400
    unknown = compute_breakdown(running, production, parse_breakdown("value"), now=timezone.now())
    assert unknown["metrics"][0]["message"] == "This metric has no dimension value."
    assert unknown["metrics"][0]["segments"] == []


def test_page__breakdown_selector_shows_rows__htmx_swaps_the_card(
    client, project, production, running, site_admin
):
    client.force_login(site_admin)
    url = reverse("experiment-results", args=[project.slug, running.pk])

    page = client.get(url, {"env": "production"})
    card = client.get(
        url,
        {"env": "production", "breakdown": "country"},
        headers={"HX-Request": "true", "HX-Target": "breakdown"},
    )
    custom = client.get(
        url,
        {"env": "production", "breakdown": "custom", "custom_key": "plan"},
        headers={"HX-Request": "true", "HX-Target": "breakdown"},
    )

    assert page.status_code == 200
    assert 'id="breakdown-select"' in page.text
    assert '<option value="metadata.sku"' in page.text
    assert card.status_code == 200
    assert "<html" not in card.text
    assert card.text.count("<tr class=") == 2  # US and FR, one test group each
    assert "not corrected for multiple comparisons" in card.text
    assert "Unknown" in custom.text  # nobody sent user.custom.plan


def test_page__bad_breakdown__400_with_the_reason(client, project, production, running, site_admin):
    client.force_login(site_admin)
    url = reverse("experiment-results", args=[project.slug, running.pk])

    page = client.get(url, {"env": "production", "breakdown": "city"})
    card = client.get(
        url,
        {"env": "production", "breakdown": "custom", "custom_key": ""},
        headers={"HX-Request": "true", "HX-Target": "breakdown"},
    )

    assert page.status_code == 400
    assert "Unknown breakdown" in page.text
    assert card.status_code == 200  # htmx swaps it in: the card says why
    assert "A custom key is 1 to 100 characters" in card.text


def test_csv__breakdown_rows_with_their_segment(client, project, production, running, site_admin):
    client.force_login(site_admin)
    url = reverse("experiment-results-csv", args=[project.slug, running.pk])

    response = client.get(url, {"env": "production", "breakdown": "country"})
    bad = client.get(url, {"env": "production", "breakdown": "nope"})

    assert response.status_code == 200
    assert "breakdown-country.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert sorted(r["segment"] for r in rows) == ["FR", "US"]
    assert {r["breakdown"] for r in rows} == {"country"}
    assert {r["group"] for r in rows} == {"Test"}
    assert bad.status_code == 400


def test_api__breakdown_by_country_in_pulse_names(production, running, project_viewer):
    client = session_client(project_viewer)

    response = client.get(
        api_url("api-experiment-results", EXPERIMENT, environment="production", breakdown="country")
    )

    assert response.status_code == 200, response.content
    breakdown = response.json()["data"]["breakdown"]
    assert breakdown["name"] == "country"
    assert breakdown["source"] == "unit"
    (metric,) = breakdown["metrics"]
    assert metric["metricID"] == "purchase::event_count"
    rows = {r["segment"]: r for r in metric["rows"]}
    assert set(rows) == {"US", "FR"}
    assert rows["US"]["significant"] is True
    assert rows["US"]["percentChange"] > 50
    assert rows["US"]["testUnits"] + rows["FR"]["testUnits"] == 200


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("city", "invalid_breakdown"),
        ("custom.", "invalid_breakdown"),
        ("custom." + "k" * 5000, "invalid_breakdown"),
        ("metadata.a%01b", "invalid_breakdown"),
        ("x" * 10000, "invalid_breakdown"),
        # NUL anywhere in the URL is refused before the view by console.http_input.
        ("custom.%00", "nul_character"),
    ],
)
def test_api__bad_breakdown__400(production, running, project_viewer, name, code):
    client = session_client(project_viewer)
    url = api_url("api-experiment-results", EXPERIMENT, environment="production")

    response = client.get(url + "&breakdown=" + name)

    assert_error(response, 400, code)


@pytest.mark.parametrize("name", ["custom.a\x00b", "metadata.\x00", "custom." + "k" * 101])
def test_parse_breakdown__hostile_keys__refused(name):
    with pytest.raises(DomainError) as refused:
        parse_breakdown(name)
    assert refused.value.code == "invalid_breakdown"


def test_api__no_breakdown__no_breakdown_key(production, running, project_viewer):
    client = session_client(project_viewer)
    url = api_url("api-experiment-results", EXPERIMENT, environment="production")

    none = client.get(url + "&breakdown=none")
    plain = client.get(url)

    assert "breakdown" not in none.json()["data"]
    assert "breakdown" not in plain.json()["data"]
