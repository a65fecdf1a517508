"""What an exposure keeps of its user for results' breakdowns: country, the user agent's
browser and OS (the request's User-Agent when the user has none), scalar custom fields
within bounds, always those of the unit's first exposure."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from metrics.models import Exposure
from metrics.services import exposures_apply
from tests.metrics.seed import exposure, group_rules, now_ms, store

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"  # noqa: E501
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"  # noqa: E501

pytestmark = pytest.mark.django_db


def _row(unit: str) -> tuple:
    row = Exposure.objects.get(unit_id=unit)
    return row.country, row.browser, row.os, row.custom


def test_exposure__user_country_agent_and_custom_fields__kept(production, running_experiment):
    # Given
    rules = group_rules(production, running_experiment.name)
    custom = {
        "plan": "pro",
        "seats": 12,
        "beta": True,
        "nested": {"no": 1},
        "list": [1],
        "k" * 101: "too long a key",
        "long": "v" * 500,
    }
    # When
    store(
        production,
        [
            exposure(
                running_experiment.name,
                rules["Control"],
                "u1",
                country="FR",
                userAgent=IPHONE,
                custom=custom,
            ),
            exposure(running_experiment.name, rules["Test"], "u2"),
        ],
        user_agent=CHROME,  # the request's header: u2's user has no userAgent
    )
    # Then
    country, browser, os, kept = _row("u1")
    assert (country, browser, os) == ("FR", "Mobile Safari", "iOS")
    assert kept == {"plan": "pro", "seats": "12", "beta": "true", "long": "v" * 200}
    assert _row("u2") == ("", "Chrome", "Windows", None)


def test_exposure__later_or_earlier_batches__the_first_exposures_user_wins(
    production, running_experiment
):
    rules = group_rules(production, running_experiment.name)
    rule = rules["Control"]
    name = running_experiment.name
    # The first exposure arrives, then a later one from elsewhere: the first stays.
    store(production, [exposure(name, rule, "u1", at=now_ms() - 60_000, country="US")])
    store(production, [exposure(name, rule, "u1", at=now_ms() - 30_000, country="DE")])
    assert _row("u1")[0] == "US"
    # An earlier exposure arrives late: it is the first, so its user counts.
    store(production, [exposure(name, rule, "u1", at=now_ms() - 90_000, country="JP")])
    assert _row("u1")[0] == "JP"
    # Within one batch too.
    store(
        production,
        [
            exposure(name, rule, "u3", at=now_ms() - 1000, country="BR"),
            exposure(name, rule, "u3", at=now_ms() - 5000, country="MX"),
        ],
    )
    assert _row("u3")[0] == "MX"


def test_exposure__hostile_user_fields__stored_bounded_never_refused(
    client, server_key, production, running_experiment
):
    rules = group_rules(production, running_experiment.name)
    raw = exposure(running_experiment.name, rules["Control"], "u1", country={"not": "text"})
    raw["user"]["custom"] = {f"k{i}": "x" for i in range(50)}
    raw["user"]["userAgent"] = "A" * 100_000

    response = client.post(
        reverse("sdk-log-event"),
        data=json.dumps({"events": [raw]}),
        content_type="application/json",
        HTTP_STATSIG_API_KEY=server_key.secret,
    )
    exposures_apply()

    assert response.status_code == 202, response.content
    country, browser, os, kept = _row("u1")
    assert (country, browser, os) == ("", "", "")
    assert len(kept) == 20
