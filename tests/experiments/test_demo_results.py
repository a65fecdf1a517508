"""The demo's button test comes with what production's SDKs would have sent: exposures in
both groups, purchases, a scorecard on the catalog's metrics and a refresh that computes."""

from io import StringIO

import pytest
from django.core.management import call_command

from experiments.models import Experiment, ExperimentResults, ResultsState
from experiments.results.services import results_compute
from tests.metrics.conftest import empty_event_table  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_event_table")]


def test_demo_load__button_test_measured__its_refresh_shows_blue_ahead():
    call_command("demo_load", stdout=StringIO())

    experiment = Experiment.objects.get(name="checkout_button_color")
    queued = ExperimentResults.objects.get(experiment=experiment)
    results = results_compute(queued.pk)

    assert results.state == ResultsState.DONE
    units = {g["name"]: g["units"] for g in results.payload["exposures"]["groups"]}
    assert set(units) == {"Control", "Blue"}
    assert min(units.values()) > 1_500
    assert results.payload["srm"]["verdict"] == "ok"
    primary, secondary = results.payload["metrics"]
    assert (primary["id"], secondary["id"]) == ("purchase::event_user", "purchase::sum")
    assert primary["comparisons"][0]["relative"]["estimate"] > 0
