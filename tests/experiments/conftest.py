"""Fixtures the experiments tests share."""

from __future__ import annotations

import pytest
from django.utils import timezone

from console.publishing.services import spec_publish
from experiments import services as experiment_services
from metrics.catalog.services import metric_create
from metrics.catalog.validation import MetricInput
from tests.experiments.factories import experiment_document
from tests.metrics.test_sdks import App


@pytest.fixture
def web():
    """The product's web app on a loopback origin of its own (tests/metrics/test_sdks.py),
    serving the page whose @statsig/js-client the browser tests drive."""
    server = App()
    yield server
    server.close()


@pytest.fixture
def measured(project, site_admin):
    """checkout_button with purchase::sum as primary metric, CUPED and sequential testing
    on, started a month ago and published."""
    metric_create(
        actor=site_admin,
        project=project,
        data=MetricInput(name="purchase", metric_type="sum", event_name="purchase"),
    )
    experiment = experiment_services.experiment_create(
        actor=site_admin,
        project=project,
        document=experiment_document(
            "checkout_button",
            primaryMetrics=[{"name": "purchase", "type": "sum"}],
            cuped=True,
            sequentialTesting=True,
            duration=365,
        ),
    )
    experiment = experiment_services.experiment_start(actor=site_admin, experiment=experiment)
    experiment.started_at -= timezone.timedelta(days=30)
    experiment.save(update_fields=["started_at"])
    spec_publish(actor=None, project=project)
    return experiment
