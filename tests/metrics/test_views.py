"""Metrics → Events, the live tail and the Exposures panels of gate and experiment pages,
over events stored by the intake's own service (tests/metrics/seed.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from console.publishing.services import ruleset_version_create
from tests.metrics.seed import (
    DAY_MS,
    event,
    exposure,
    gate_check,
    group_rules,
    now_ms,
    store,
)

pytestmark = pytest.mark.django_db

BOT_UA = "Googlebot/2.1 (+http://www.google.com/bot.html)"


def _events_url(project, env="production"):
    return reverse("metrics-events", args=[project.slug]) + f"?env={env}"


def test_events_page__events_stored__names_counts_tail_and_set_aside(
    client, project, production, project_viewer
):
    # Given three purchases by two users, one page view, a resend and two bad events
    batch = [
        event("purchase", "u1", value="12.5", metadata={"currency": "EUR", "items": "2"}),
        event("purchase", "u2", value="30"),
        event("purchase", "u1", value="7"),
        event("page_view", "u3"),
        {"user": {"userID": "u4"}},
        event("n" * 200),
    ]
    store(production, batch)
    store(production, batch[:2])
    client.force_login(project_viewer)
    # When a viewer opens the events page
    response = client.get(_events_url(project))
    # Then each name has its counts and unique units, and the tail shows the events
    assert response.status_code == 200
    names = {row.name: row for row in response.context["names"]}
    assert (names["purchase"].last_24h, names["purchase"].last_7d) == (3, 3)
    assert names["purchase"].units_7d == 2
    assert names["page_view"].last_7d == 1
    assert [e.name for e in response.context["tail"]][:1] in (["purchase"], ["page_view"])
    html = response.content.decode()
    assert "currency=EUR" in html
    assert "items=2" in html
    assert "12.5" in html
    # And what was not stored is counted by reason, with the words for each
    tallies = {(t.outcome, t.reason): t.last_24h for t in response.context["tallies"]}
    assert tallies == {
        ("duplicate", "duplicate"): 2,
        ("set_aside", "missing_name"): 1,
        ("set_aside", "name_too_long"): 1,
    }
    assert "The event has no eventName." in html
    assert len(response.context["examples"]) == 2


def test_events_page__other_environment__its_own_events_only(
    client, project, production, project_viewer
):
    # Given events in production only
    store(production, [event("purchase")])
    client.force_login(project_viewer)
    # When staging is chosen
    response = client.get(_events_url(project, "staging"))
    # Then it shows the empty state that says where to send events
    assert response.status_code == 200
    assert response.context["environment"].name == "staging"
    assert response.context["names"] == []
    html = response.content.decode()
    assert "No events in staging yet" in html
    assert "/v1/log_event" in html
    assert "/v1/rgstr" in html


@pytest.mark.parametrize("who", ["outsider", "anonymous"])
def test_events_page__not_a_member__refused(client, project, outsider, who):
    if who == "outsider":
        client.force_login(outsider)
    response = client.get(_events_url(project))
    assert response.status_code == (403 if who == "outsider" else 302)


def test_events_page__query_count__same_for_one_or_many_names(
    client, project, production, project_viewer
):
    client.force_login(project_viewer)
    store(production, [event("only_one")])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(_events_url(project)).status_code == 200
        return len(captured)

    one = queries()
    store(production, [event(f"name_{i}", f"u{i}") for i in range(30)])
    many = queries()
    assert one == many


def test_events_tail__htmx_poll__partial_with_new_events(
    client, project, production, project_viewer
):
    client.force_login(project_viewer)
    url = reverse("metrics-events-tail", args=[project.slug]) + "?env=production"
    store(production, [event("signup", "newcomer")])
    # When htmx polls the tail
    response = client.get(url, HTTP_HX_REQUEST="true")
    # Then it answers the tail alone, with the new event
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="event-tail"' in html
    assert "signup" in html
    assert "newcomer" in html
    assert "<html" not in html
    # And opened by hand, the page is shown instead
    by_hand = client.get(url)
    assert by_hand.status_code == 302
    assert by_hand["Location"].endswith(_events_url(project))


def test_experiment_page__exposures__units_per_group_crossovers_bots(
    client, project, production, project_viewer, running_experiment
):
    # Given units exposed to each group, one crossing over, one bot, one earlier in the week
    rules = group_rules(production, "checkout_button")
    week_ago = now_ms() - 6 * DAY_MS
    store(
        production,
        [
            exposure("checkout_button", rules["Control"], "a", at=week_ago),
            exposure("checkout_button", rules["Control"], "b"),
            exposure("checkout_button", rules["Test"], "c"),
            exposure("checkout_button", rules["Control"], "d"),
            exposure("checkout_button", rules["Test"], "d"),
        ],
    )
    store(
        production,
        [exposure("checkout_button", rules["Test"], "crawler", userAgent=BOT_UA)],
        user_agent=BOT_UA,
    )
    client.force_login(project_viewer)
    # When a viewer opens the experiment in production
    url = reverse("experiment-detail", args=[project.slug, running_experiment.pk])
    response = client.get(url + "?env=production")
    # Then the Exposures panel has the units per group, the crossover and the bot apart
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="exposures"' in html
    assert "data-chart=" in html
    panel = html[html.index('id="exposures"') :]
    rows = panel[panel.index("<tbody>") :]
    assert rows.index("Control") < rows.index("Test")
    assert "crossovers" in panel
    assert "bots excluded" in panel
    assert "&quot;Control&quot;" in panel  # the chart's series


def test_gate_page__checks__pass_rate_and_last_check(
    client, project, production, project_viewer, make_gate, site_admin
):
    # Given a gate checked 3 times today (2 passed) and once by a bot
    gate = make_gate()
    ruleset_version_create(actor=site_admin, project=project, reason="gate")
    store(production, [gate_check(gate.name, "a", True), gate_check(gate.name, "b", True)])
    store(production, [gate_check(gate.name, "c", False)])
    store(production, [gate_check(gate.name, "bot", True, userAgent=BOT_UA)], user_agent=BOT_UA)
    client.force_login(project_viewer)
    # When a viewer opens the gate in production
    url = reverse("gate-detail", args=[project.slug, gate.pk])
    response = client.get(url + "?env=production")
    # Then its panel shows the checks, the pass rate per day and the last check
    assert response.status_code == 200
    html = response.content.decode()
    assert "Checks and pass rate per day" in html
    assert "pass rate %" in html
    assert "66.7" in html
    assert "Last check" in html


def test_gate_list__stale_by_usage__unchecked_old_gates_only(
    client, project, production, project_viewer, make_gate, site_admin
):
    # Given two gates made 40 days ago, one checked since, and a new one never checked
    checked, unused = make_gate("checked_gate"), make_gate("unused_gate")
    make_gate("new_gate")
    old = timezone.now() - dt.timedelta(days=40)
    type(checked).objects.filter(pk__in=[checked.pk, unused.pk]).update(created_at=old)
    store(production, [gate_check("checked_gate", "a", True)])
    client.force_login(project_viewer)
    # When the list is filtered on "stale by usage"
    url = reverse("gate-list", args=[project.slug])
    response = client.get(url + "?usage=stale")
    # Then only the old gate no SDK checked is listed, and marked
    assert response.status_code == 200
    assert [g.name for g in response.context["gates"]] == ["unused_gate"]
    assert "unused" in response.content.decode()
    every = client.get(url)
    assert {g.name: g.stale_usage for g in every.context["gates"]} == {
        "checked_gate": False,
        "new_gate": False,
        "unused_gate": True,
    }
