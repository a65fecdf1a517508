"""Holdout results end to end with the real SDKs (issue 13): legacy `statsig` on the server,
`@statsig/js-client` in Chromium.

A 10% holdout applies to a running experiment (Control and Test, 50/50); purchase::sum is a
Core metric. The SDK reads the published spec from the live console and evaluates the
experiment for 4,000 users (the app takes the SDK's users in order until exactly 400 are
held out and 3,600 not, so the split adds no noise to the sample ratio check, whatever the
holdout's random salt): it reports each user's holdout check only among the secondary
exposures of the experiment's exposure. Each user buys once: held-out users 0.9 or 1.1
times 20, everyone else the same times 21 (+5%), alternating within each side in the order
the SDK met the users, so each side's mean is its base up to one user. The app learns whom
the holdout kept out from the experiment's rule (`holdout:<name>`), as a product would not
need to. A real Celery worker counts the exposures and computes the results.

In the browser, js-client reports the same check with the holdout's name hashed (djb2, as
/v1/initialize hashes it): each visitor is exposed to the holdout on the side it was on.
"""

from __future__ import annotations

import time

import pytest

from console import services as core_services
from console.publishing.services import spec_publish
from experiments import services as experiment_services
from experiments.models import ResultsState
from experiments.results.services import results_request
from metrics.catalog.services import metric_create
from metrics.catalog.validation import MetricInput
from metrics.models import Exposure, PendingExposures
from tests.experiments.factories import experiment_document, holdout_document
from tests.experiments.test_results_sdk import _key
from tests.metrics.conftest import empty_event_table  # noqa: F401 (a fixture)
from tests.publishing.conftest import (  # noqa: F401 (fixtures)
    celery_worker_process,
    start_celery_worker,
    wait_for,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_event_table")]

EXPERIMENT, HOLDOUT = "checkout_button", "q3_holdout"
USERS = 4_000
BASE = {True: 20.0, False: 21.0}  # held out, everyone else: +5%


@pytest.fixture
def holdout(project, site_admin):
    metric_create(
        actor=site_admin,
        project=project,
        data=MetricInput(name="purchase", metric_type="sum", event_name="purchase", tags=["core"]),
    )
    experiment = experiment_services.experiment_create(
        actor=site_admin, project=project, document=experiment_document(EXPERIMENT)
    )
    experiment_services.experiment_start(actor=site_admin, experiment=experiment)
    created = experiment_services.holdout_create(
        actor=site_admin,
        project=project,
        document=holdout_document(HOLDOUT, passPercentage=10, experimentIDs=[EXPERIMENT]),
    )
    spec_publish(actor=None, project=project)
    return created


def _sdk_run(secret: str, url: str) -> dict[bool, int]:
    """The legacy SDK exposes USERS users to the experiment and logs their purchases; how
    many were held out and not."""
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
    quota = {True: USERS // 10, False: USERS - USERS // 10}
    try:
        i = 0
        while sum(seen.values()) < USERS:
            i += 1
            user = StatsigUser(user_id=f"user-{i}")
            rule = server.get_experiment(user, EXPERIMENT, log_exposure=False).rule_id
            held_out = rule == f"holdout:{HOLDOUT}"
            if seen[held_out] == quota[held_out]:
                continue  # exactly 10% held out: the split adds no noise to the SRM check
            server.get_experiment(user, EXPERIMENT)
            value = BASE[held_out] * (1.1 if seen[held_out] % 2 else 0.9)
            seen[held_out] += 1
            server.log_event(StatsigEvent(user, "purchase", value=round(value, 6)))
            if sum(seen.values()) % 400 == 0:
                server.flush()  # the SDK drops batches beyond a few waiting
    finally:
        server.shutdown()
    return seen


@pytest.mark.usefixtures("celery_worker_process")
def test_legacy_statsig__holdout_checks_counted__shipped_lift_measured(
    live_server, project, site_admin, holdout
):
    production = project.environments.get(name="production")

    # When the SDK exposes 4,000 users to the experiment in production
    seen = _sdk_run(_key(project, site_admin, "production"), live_server.url)
    wait_for(lambda: not PendingExposures.objects.exists(), timeout=60)
    units = Exposure.objects.filter(environment=production, kind="gate", name=HOLDOUT)
    wait_for(lambda: units.count() == USERS, timeout=30)

    # And a refresh of the holdout's results is computed by the worker
    results = results_request(actor=site_admin, holdout=holdout, environment=production)
    deadline = time.monotonic() + 120
    while results.state not in (ResultsState.DONE, ResultsState.FAILED):
        assert time.monotonic() < deadline, "the worker computed nothing in 2 minutes"
        time.sleep(0.2)
        results.refresh_from_db()

    # Then each unit is counted once, on the side the SDK put it; about 10% held out
    assert results.state == ResultsState.DONE, results.error
    groups = {g["name"]: g["units"] for g in results.payload["exposures"]["groups"]}
    assert groups == {"pass": seen[True], "fail": seen[False]}
    assert seen == {True: 400, False: 3_600}
    assert results.payload["srm"]["verdict"] == "ok"
    # And everyone else shows the planted +5% over the held-out units, inside its interval
    (metric,) = results.payload["metrics"]
    (comparison,) = metric["comparisons"]
    assert comparison["group"] == "fail"
    relative = comparison["relative"]
    assert relative["estimate"] == pytest.approx(0.05, abs=0.003)
    low, high = relative["interval"]
    assert low < 0.05 < high
    assert comparison["significant"] is True


# Runs in the page: one StatsigClient updated to each visitor in turn, each exposed to the
# experiment (its exposure's secondary exposures hold the holdout's check, the gate's name
# hashed as /v1/initialize hashed it); returns the visitors the holdout kept out.
JS_VISIT = """
async ({sdkKey, api, app, visitors, experiment, holdoutRule}) => {
  const client = new window.Statsig.StatsigClient(sdkKey, {userID: 'web-0'}, {
    networkConfig: {api, sdkExceptionUrl: app + '/sdk_exception'},
  });
  const init = await client.initializeAsync();
  if (!init.success) { throw new Error('initializeAsync failed: ' + String(init.error)); }
  const heldOut = [];
  for (let i = 1; i <= visitors; i++) {
    const details = await client.updateUserAsync({userID: 'web-' + i});
    if (!details.success) { throw new Error('updateUserAsync failed: ' + details.error); }
    if (client.getExperiment(experiment).ruleID === holdoutRule) { heldOut.push('web-' + i); }
    if (i % 50 === 0) { await client.flush(); }
  }
  await client.flush();
  return heldOut;
}
"""


@pytest.mark.usefixtures("celery_worker_process")
def test_js_client__holdout_checks_counted_from_the_browser(
    page, live_server, project, site_admin, holdout, web
):
    # Given a web app whose StatsigClient talks to the console with a client key
    production = project.environments.get(name="production")
    secret = core_services.key_create(
        actor=site_admin, project=project, kind="client", environment=production, name="web"
    ).secret
    page.context.grant_permissions(["local-network-access"], origin=web.url)
    page.set_default_timeout(60_000)
    page.goto(web.url + "/")

    # When 300 visitors are exposed to the experiment
    held_out = page.evaluate(
        JS_VISIT,
        {
            "sdkKey": secret,
            "api": live_server.url + "/v1",
            "app": web.url,
            "visitors": 300,
            "experiment": EXPERIMENT,
            "holdoutRule": f"holdout:{HOLDOUT}",
        },
    )

    # Then every visitor is exposed to the holdout, held out exactly as the browser was
    units = Exposure.objects.filter(environment=production, kind="gate", name=HOLDOUT)
    wait_for(lambda: units.count() == 300, timeout=30)
    assert held_out, "a 10% holdout kept nobody out of 300"
    assert sorted(units.filter(group_name="pass").values_list("unit_id", flat=True)) == sorted(
        held_out
    )
    assert not units.filter(crossover=True).exists()
