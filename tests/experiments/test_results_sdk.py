"""Experiment results, end to end with the real SDKs (issue 13): legacy `statsig` on the
server, `@statsig/js-client` in Chromium.

A running experiment (Control and Test, 50/50 of everyone) with the primary metric
`purchase::sum` is published. The legacy `statsig` SDK reads the spec from the live console,
evaluates the experiment for thousands of users and logs each user's purchase, with a
planted +5% in Test. It sends both to the intake. A real Celery worker counts the exposures
and computes the results that a refresh asks for. Then the Results page shows the lift, and
its interval covers 5%.

Each purchase is the group's base value times 0.9 or 1.1, alternating within the group in
the order the SDK assigned the users. So each group's mean is its base, up to one user, and
the measured lift is 5% whatever the project's random salts put where. Nothing here is
random.

The app has as many users in each group (it takes the SDK's users in order until each group
has 9,000), so the split itself adds no noise. In a second environment the app skips the
exposure log for one Test user in 20, as a broken code path would (`log_exposure=False`).
This drops 5% of that group's exposures (9,000 against 8,550: χ² p < 0.001), and the page
raises the sample ratio mismatch alert.

In the browser, a StatsigClient (client key, `/v1/rgstr`) is updated to 600 visitors in turn
(300 per group, the same way), exposes each and logs its purchase; the results measure the
same +5% from what the browser sent.
"""

from __future__ import annotations

import time

import pytest
from django.urls import reverse
from django.utils import timezone

from console import services as core_services
from console.publishing.services import spec_publish
from experiments import services as experiment_services
from experiments.documents import experiment_to_document
from experiments.models import ExperimentResults, ResultsState
from experiments.results.services import results_request
from metrics.catalog.services import metric_create
from metrics.catalog.validation import MetricInput
from metrics.models import Exposure, PendingExposures
from tests.experiments.factories import experiment_document
from tests.metrics.conftest import empty_event_table  # noqa: F401 (a fixture)
from tests.publishing.conftest import (  # noqa: F401 (fixtures)
    celery_worker_process,
    start_celery_worker,
    wait_for,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_event_table")]

EXPERIMENT = "checkout_button"
USERS = 18_000  # enough that 5% fewer Test units is an SRM alert (p < 0.001)
BASE = {"Control": 20.0, "Test": 21.0}  # +5%


@pytest.fixture
def experiment(project, site_admin):
    metric_create(
        actor=site_admin,
        project=project,
        data=MetricInput(name="purchase", metric_type="sum", event_name="purchase"),
    )
    created = experiment_services.experiment_create(
        actor=site_admin,
        project=project,
        document=experiment_document(
            EXPERIMENT, primaryMetrics=[{"name": "purchase", "type": "sum"}]
        ),
    )
    started = experiment_services.experiment_start(actor=site_admin, experiment=created)
    spec_publish(actor=None, project=project)
    assert experiment_to_document(started)["primaryMetrics"] == [
        {"name": "purchase", "type": "sum"}
    ]
    return started


def _key(project, admin, environment: str) -> str:
    env = project.environments.get(name=environment)
    return core_services.key_create(
        actor=admin, project=project, kind="server", environment=env, name=environment
    ).secret


def _sdk_run(secret: str, url: str, *, skip_test_exposures_every: int = 0) -> dict[str, int]:
    """The legacy SDK assigns USERS users and logs their purchases; how many per group."""
    import logging

    from statsig.statsig_event import StatsigEvent
    from statsig.statsig_options import StatsigOptions
    from statsig.statsig_server import StatsigServer
    from statsig.statsig_user import StatsigUser

    logging.getLogger("statsig.sdk").setLevel(logging.CRITICAL)
    server = StatsigServer()
    options = StatsigOptions(api=f"{url}/v1", disable_diagnostics=True, rulesets_sync_interval=3600)
    assert server.initialize(secret, options).init_success
    seen = dict.fromkeys(BASE, 0)
    per_group = USERS // len(BASE)
    try:
        i = 0
        while sum(seen.values()) < USERS:
            i += 1
            user = StatsigUser(user_id=f"user-{i}")
            group = server.get_experiment(user, EXPERIMENT, log_exposure=False).group_name
            if seen[group] == per_group:
                continue  # the app's users are as many in each group: no split noise
            skip = bool(skip_test_exposures_every) and group == "Test"
            skip = skip and seen[group] % skip_test_exposures_every == 0
            if not skip:
                server.get_experiment(user, EXPERIMENT)
            value = BASE[group] * (1.1 if seen[group] % 2 else 0.9)
            seen[group] += 1
            server.log_event(StatsigEvent(user, "purchase", value=round(value, 6)))
            # This app logs faster than the SDK's sender thread posts, and the SDK drops the
            # oldest batches beyond a few waiting: it flushes (posts, waiting) as it goes.
            if i % 400 == 399:
                server.flush()
    finally:
        server.shutdown()
    return seen


def _computed(experiment, environment, admin) -> ExperimentResults:
    """Ask for a refresh as a member would, and wait for the worker to compute it."""
    wait_for(lambda: not PendingExposures.objects.exists(), timeout=60)
    results = results_request(actor=admin, experiment=experiment, environment=environment)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        results.refresh_from_db()
        if results.state in (ResultsState.DONE, ResultsState.FAILED):
            break
        time.sleep(0.2)
    assert results.state == ResultsState.DONE, (results.state, results.error)
    return results


@pytest.mark.usefixtures("celery_worker_process")
def test_legacy_statsig__planted_lift_measured__srm_alert_when_exposures_drop(
    client, live_server, project, site_admin, experiment
):
    production = project.environments.get(name="production")
    staging = project.environments.get(name="staging")

    # When the SDK runs in production, every exposure logged
    seen = _sdk_run(_key(project, site_admin, "production"), live_server.url)
    results = _computed(experiment, production, site_admin)

    # Then the lift of purchase is the planted 5%, its interval covers it, no SRM
    (metric,) = results.payload["metrics"]
    (comparison,) = metric["comparisons"]
    relative = comparison["relative"]
    assert [g["units"] for g in results.payload["exposures"]["groups"]] == [9_000, 9_000]
    assert seen == {"Control": 9_000, "Test": 9_000}
    assert relative["estimate"] == pytest.approx(0.05, abs=0.002)
    low, high = relative["interval"]
    assert low < 0.05 < high
    assert comparison["significant"] is True
    assert results.payload["srm"]["verdict"] == "ok"
    client.force_login(site_admin)
    url = reverse("experiment-results", args=[project.slug, experiment.pk])
    page = client.get(url, {"env": "production"}).content.decode()
    assert "+5.0%" in page
    assert "Sample ratio mismatch" not in page

    # When, in staging, one Test user in 20 is assigned without its exposure logged
    _sdk_run(_key(project, site_admin, "staging"), live_server.url, skip_test_exposures_every=20)
    results = _computed(experiment, staging, site_admin)

    # Then the page raises the SRM alert, and names Test
    assert results.payload["srm"]["verdict"] == "alert"
    page = client.get(url, {"env": "staging"}).content.decode()
    assert "Sample ratio mismatch" in page
    assert "Test 48.7% (the split gives 50.0%)" in page  # 8,550 of 17,550


# Runs in the page: one StatsigClient updated to each user in turn, as many users in each
# group (the app skips a user whose group is full, before any exposure), each exposed
# (getExperiment) and logging one purchase: 0.9 or 1.1 times the group's base, alternating.
JS_VISIT = """
async ({sdkKey, api, app, perGroup, base, experiment}) => {
  const first = {userID: 'web-0'};
  const client = new window.Statsig.StatsigClient(sdkKey, first, {
    networkConfig: {api, sdkExceptionUrl: app + '/sdk_exception'},
  });
  const init = await client.initializeAsync();
  if (!init.success) { throw new Error('initializeAsync failed: ' + String(init.error)); }
  const seen = {Control: 0, Test: 0};
  for (let i = 1; seen.Control < perGroup || seen.Test < perGroup; i++) {
    const details = await client.updateUserAsync({userID: 'web-' + i});
    if (!details.success) { throw new Error('updateUserAsync failed: ' + details.error); }
    const group = client.getExperiment(experiment, {disableExposureLog: true}).groupName;
    if (seen[group] >= perGroup) { continue; }
    client.getExperiment(experiment);
    const value = base[group] * (seen[group] % 2 ? 1.1 : 0.9);
    seen[group] += 1;
    client.logEvent('purchase', Math.round(value * 1e6) / 1e6);
    if (i % 50 === 0) { await client.flush(); }
  }
  await client.flush();
  return seen;
}
"""


@pytest.mark.usefixtures("celery_worker_process")
def test_js_client__planted_lift_measured_from_the_browser(
    page, client, live_server, project, site_admin, experiment, web
):
    app = web
    # Given a web app whose StatsigClient talks to the console with a client key
    production = project.environments.get(name="production")
    secret = core_services.key_create(
        actor=site_admin, project=project, kind="client", environment=production, name="web"
    ).secret
    page.context.grant_permissions(["local-network-access"], origin=app.url)
    page.set_default_timeout(60_000)
    page.goto(app.url + "/")

    # When 300 visitors per group are exposed and buy, Test 5% more
    seen = page.evaluate(
        JS_VISIT,
        {
            "sdkKey": secret,
            "api": live_server.url + "/v1",
            "app": app.url,
            "perGroup": 300,
            "base": BASE,
            "experiment": EXPERIMENT,
        },
    )
    # (js-client's flush resolves before its last request is answered: wait for the units)
    exposed = Exposure.objects.filter(environment_id=production.pk, name=EXPERIMENT)
    wait_for(lambda: exposed.count() == 600, timeout=30)
    results = _computed(experiment, production, site_admin)

    # Then the results measure the planted lift from what the browser sent
    assert seen == {"Control": 300, "Test": 300}
    (metric,) = results.payload["metrics"]
    (comparison,) = metric["comparisons"]
    assert [g["units"] for g in results.payload["exposures"]["groups"]] == [300, 300]
    assert comparison["relative"]["estimate"] == pytest.approx(0.05, abs=1e-6)
    low, high = comparison["relative"]["interval"]
    assert low < 0.05 < high
    client.force_login(site_admin)
    url = reverse("experiment-results", args=[project.slug, experiment.pk])
    assert "+5.0%" in client.get(url, {"env": "production"}).content.decode()


BREAKDOWN_USERS = 800
CHROME_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"  # noqa: E501
IPHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"  # noqa: E501


@pytest.mark.usefixtures("celery_worker_process")
def test_legacy_statsig__users_with_a_country__breakdown_by_country_browser_and_plan(
    live_server, project, site_admin, experiment
):
    """The legacy SDK's users carry a country, a user agent and a custom plan; the lift is
    planted in the US only (Test buys 50% more there). Breakdowns show it there only."""
    from statsig.statsig_event import StatsigEvent
    from statsig.statsig_options import StatsigOptions
    from statsig.statsig_server import StatsigServer
    from statsig.statsig_user import StatsigUser

    from experiments.results.breakdowns import compute_breakdown, parse_breakdown

    # When the SDK assigns users from the US and France and logs their purchases
    production = project.environments.get(name="production")
    server = StatsigServer()
    options = StatsigOptions(
        api=f"{live_server.url}/v1", disable_diagnostics=True, rulesets_sync_interval=3600
    )
    assert server.initialize(_key(project, site_admin, "production"), options).init_success
    try:
        for i in range(BREAKDOWN_USERS):
            country = "US" if i % 2 else "FR"
            user = StatsigUser(
                user_id=f"buyer-{i}",
                country=country,
                user_agent=IPHONE_UA if i % 4 < 2 else CHROME_UA,
                custom={"plan": "pro" if i % 3 == 0 else "free"},
            )
            group = server.get_experiment(user, EXPERIMENT).group_name
            base = 30.0 if group == "Test" and country == "US" else 20.0
            value = base * (1.1 if (i // 2) % 2 else 0.9)
            server.log_event(StatsigEvent(user, "purchase", value=round(value, 6)))
            if i % 400 == 399:
                server.flush()
    finally:
        server.shutdown()
    exposed = Exposure.objects.filter(environment_id=production.pk, name=EXPERIMENT)
    wait_for(lambda: exposed.count() == BREAKDOWN_USERS, timeout=60)

    def segments(name: str) -> dict:
        breakdown = compute_breakdown(
            experiment, production, parse_breakdown(name), now=timezone.now()
        )
        (metric,) = breakdown["metrics"]
        return {s["label"]: s for s in metric["segments"]}

    # Then by country: the lift in the US, none in France
    countries = segments("country")
    assert set(countries) == {"US", "FR"}
    (us,) = countries["US"]["comparisons"]
    (fr,) = countries["FR"]["comparisons"]
    assert us["significant"] is True
    assert us["relative"]["estimate"] == pytest.approx(0.5, abs=0.1)
    # (France is an A/A comparison under a salt new each run: "not significant" would fail one
    # run in twenty by design; its lift is bounded instead, at about 5 standard errors)
    assert fr["relative"]["estimate"] == pytest.approx(0.0, abs=0.05)
    assert us["relative"]["interval"][0] > fr["relative"]["interval"][1]
    assert sum(g["units"] for s in countries.values() for g in s["groups"]) == BREAKDOWN_USERS
    # And by browser and OS (from the user agent the SDK sent) and by the custom plan
    assert set(segments("browser")) == {"Chrome", "Mobile Safari"}
    assert set(segments("os")) == {"Windows", "iOS"}
    plans = segments("custom.plan")
    assert set(plans) == {"pro", "free"}
    assert sum(g["units"] for g in plans["pro"]["groups"]) == BREAKDOWN_USERS // 3 + 1
