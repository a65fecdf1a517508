"""Test a user against the version of an experiment an open change set proposes, before it
is approved: the panel runs that change set's dry run; nothing is kept."""

from __future__ import annotations

import pytest
from django.urls import reverse

from experiments import services
from experiments.documents import experiment_to_document, layer_to_document
from experiments.models import Experiment
from reviews.models import ChangeSetState
from reviews.services import ChangeInput
from tests.experiments.factories import experiment_document, layer_document, parameter
from tests.reviews.conftest import submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def proposed(project, project_admin):
    """A running experiment that takes 1% of users, and an update waiting for review that
    takes them all."""
    experiment = services.experiment_start(
        actor=project_admin,
        experiment=services.experiment_create(
            actor=project_admin,
            project=project,
            document=experiment_document("checkout_copy", allocation=1),
        ),
    )
    document = {**experiment_to_document(experiment), "allocation": 100}
    waiting = submit(
        project_admin, project, ChangeInput("experiment", "update", "checkout_copy", document)
    )
    assert waiting.state == ChangeSetState.IN_REVIEW
    return Experiment.objects.get(pk=experiment.pk), waiting


def _test(client, project, experiment, **data):
    production = project.environments.get(name="production")
    return client.post(
        reverse("experiment-test", args=[project.slug, experiment.pk]),
        {"environment": str(production.pk), "user_id": "u-1", **data},
        headers={"HX-Request": "true"},
    )


def test_experiment_test__proposed_version__runs_the_change_set_not_the_saved_experiment(
    client, project, project_viewer, proposed
):
    experiment, waiting = proposed
    before = experiment_to_document(experiment)
    client.force_login(project_viewer)

    # The page offers the change set's version
    url = reverse("experiment-detail", args=[project.slug, experiment.pk])
    page = client.get(url).content.decode()
    assert f"Proposed in #{waiting.number}" in page

    # Saved: outside the 1% allocation
    saved = _test(client, project, experiment).content.decode()
    assert "Not allocated" in saved
    assert "outside the 1% allocation" in saved

    # Proposed: the whole allocation, so in a group; the panel says which version it ran
    response = _test(client, project, experiment, version=str(waiting.number))
    html = response.content.decode()
    assert response.status_code == 200
    assert "In group " in html
    assert "Allocation: only 100% of units enter" in html
    assert "Not allocated" not in html
    detail = reverse("changeset-detail", args=[project.slug, waiting.number])
    assert f'proposed in <a href="{detail}"' in html

    # And nothing changed: the experiment is as saved, the change set still waits
    experiment.refresh_from_db()
    assert experiment_to_document(experiment) == before
    waiting.refresh_from_db()
    assert waiting.state == ChangeSetState.IN_REVIEW


def test_experiment_test__unknown_change_set__form_error(client, project, project_viewer, proposed):
    experiment, _ = proposed
    client.force_login(project_viewer)
    response = _test(client, project, experiment, version="999")
    assert response.status_code == 400
    assert "still open" in response.content.decode()


def test_experiment_test__full_page__keeps_the_chosen_version(
    client, project, project_viewer, proposed
):
    experiment, waiting = proposed
    client.force_login(project_viewer)
    production = project.environments.get(name="production")
    response = client.post(
        reverse("experiment-test", args=[project.slug, experiment.pk]),
        {"environment": str(production.pk), "user_id": "u-1", "version": str(waiting.number)},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert f'<option value="{waiting.number}" selected>' in html
    assert "In group " in html


def test_layer_test__proposed_defaults__the_user_gets_them_the_saved_layer_unchanged(
    client, project, project_admin, project_viewer
):
    # Given a layer nobody is allocated in, and new defaults for it waiting for review
    layer = services.layer_create(
        actor=project_admin, project=project, document=layer_document("checkout_layer")
    )
    before = layer_to_document(layer)
    document = {**before, "parameters": [parameter("color", "string", "green")]}
    waiting = submit(
        project_admin, project, ChangeInput("layer", "update", "checkout_layer", document)
    )
    assert waiting.state == ChangeSetState.IN_REVIEW
    client.force_login(project_viewer)
    production = project.environments.get(name="production")
    url = reverse("layer-test", args=[project.slug, layer.pk])
    data = {"environment": str(production.pk), "user_id": "u-1"}

    page = client.get(reverse("layer-detail", args=[project.slug, layer.pk])).content.decode()
    assert f"Proposed in #{waiting.number}" in page
    saved = client.post(url, data, headers={"HX-Request": "true"}).content.decode()
    assert "&quot;grey&quot;" in saved
    assert "green" not in saved
    response = client.post(
        url, {**data, "version": str(waiting.number)}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "&quot;green&quot;" in html
    assert f"change set #{waiting.number}" in html

    layer.refresh_from_db()
    assert layer_to_document(layer) == before
