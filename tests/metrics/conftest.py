import pytest
from django.db import connection

from console.publishing.services import ruleset_version_create
from experiments import services as experiment_services
from tests.experiments.factories import experiment_document
from tests.metrics.test_sdks import published, recorder  # noqa: F401  (test_sdks_clickhouse)
from tests.publishing.conftest import (  # noqa: F401  (fixtures shared with publishing)
    celery_worker_process,
    client_key,
    make_gate,
    production,
    server_key,
    spec_redis,
    start_celery_worker,
)


@pytest.fixture
def running_experiment(project, site_admin):
    """checkout_button (Control / Test, 50/50 of everyone), started and published."""
    experiment = experiment_services.experiment_create(
        actor=site_admin, project=project, document=experiment_document("checkout_button")
    )
    experiment = experiment_services.experiment_start(actor=site_admin, experiment=experiment)
    ruleset_version_create(actor=site_admin, project=project, reason="started")
    return experiment


@pytest.fixture
def empty_event_table(transactional_db):
    """metrics_event is created by its migration, not by Django (unmanaged), so the flush
    after a transactional test leaves its rows: empty it, for the tests that follow."""
    yield
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE metrics_event")
