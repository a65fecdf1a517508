"""Experiments, layers and holdouts under the default review policy (production needs one
approval): each page, API write and lifecycle step is proposed as a change set that waits
for review, changes nothing until another admin approves it, and then has happened."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from console.exceptions import ApplicationError, Conflict
from console.models import Membership, Project, Role, RulesetVersion, User
from experiments import services
from experiments.documents import experiment_to_document, holdout_to_document
from experiments.models import Experiment, ExperimentStatus, Holdout, Layer, LayerBucket
from reviews.models import Approval, ChangeSet, ChangeSetState
from reviews.services import ChangeInput, changeset_approve, changeset_submit
from tests.api_support import (
    api_url_for,
    assert_error,
    console_key,
    key_client,
    session_client,
)
from tests.console.factories import UserFactory
from tests.experiments.factories import (
    experiment_data,
    experiment_document,
    group,
    holdout_data,
    holdout_document,
    layer_data,
    layer_document,
    parameter,
    running_data,
)

api_url = api_url_for("experiments-api")


@dataclass
class World:
    project: Project
    approver: User  # a second admin
    layer: Layer
    empty_layer: Layer
    draft: Experiment  # checkout_button: a draft asking for 40% of checkout_layer
    running: Experiment  # checkout_copy: running in 50% of units, no layer
    holdout: Holdout


@pytest.fixture
def world(project, project_admin, project_member) -> World:
    def make(service, document):
        return service(actor=project_admin, project=project, document=document)

    approver = UserFactory(username="ada.admin", email="ada.admin@corp.example")
    Membership.objects.create(project=project, user=approver, role=Role.ADMIN)
    layer = make(services.layer_create, layer_document("checkout_layer"))
    empty_layer = make(services.layer_create, layer_document("empty_layer"))
    in_layer = {"layerID": "checkout_layer", "parameters": [parameter("color", "string", None)]}
    draft = make(
        services.experiment_create,
        experiment_document(
            "checkout_button",
            allocation=40,
            # QA forced into Test: a draft SDKs answer for (one nobody is in would apply at
            # once, docs/reviews.md)
            overrides=[{"group": "Test", "unitIDs": ["qa-1"], "segments": []}],
            **in_layer,
        ),
    )
    running = services.experiment_start(
        actor=project_admin,
        experiment=make(
            services.experiment_create, experiment_document("checkout_copy", allocation=50)
        ),
    )
    holdout = make(services.holdout_create, holdout_document("q3_holdout"))
    return World(project, approver, layer, empty_layer, draft, running, holdout)


def db_state(project: Project) -> dict[str, Any]:
    """Every row an experiments write could change, and the published versions."""
    return {
        "experiments": list(Experiment.objects.filter(project=project).order_by("pk").values()),
        "layers": list(Layer.objects.filter(project=project).order_by("pk").values()),
        "holdouts": list(Holdout.objects.filter(project=project).order_by("pk").values()),
        "holdout_experiments": list(
            Holdout.experiments.through.objects.order_by("pk").values_list(
                "holdout_id", "experiment_id"
            )
        ),
        "buckets": LayerBucket.objects.filter(layer__project=project).count(),
        "versions": RulesetVersion.objects.filter(project=project).count(),
    }


def the_change_set(project: Project) -> ChangeSet:
    """The one change set in review, holding one change."""
    change_set = ChangeSet.objects.get(project=project)
    assert change_set.state == ChangeSetState.IN_REVIEW
    assert "production" in change_set.environments
    assert change_set.changes.count() == 1
    return change_set


def approve(world: World, change_set: ChangeSet) -> ChangeSet:
    change_set = changeset_approve(actor=world.approver, change_set=change_set)
    assert change_set.state == ChangeSetState.APPLIED, change_set.apply_error
    return change_set


def assert_change(change_set: ChangeSet, kind, action, entity, base_revision, /, **payload):
    change = change_set.changes.get()
    assert (change.kind, change.action, change.entity_name) == (kind, action, entity)
    assert change.base_revision == base_revision
    for key, value in payload.items():
        assert change.payload[key] == value, (key, change.payload)


# ---------------------------------------------------------------- pages: editors

# A unit forced into Test: the new draft changes SDK answers, so production needs review.
QA_IN_TEST = {"group-1-ids": "qa-1"}
QA_OVERRIDE = {"group": "Test", "unitIDs": ["qa-1"], "segments": []}

# (id, url name, the world's object or None, form data, expected change, after approval)
PAGE_EDITS = [
    (
        "experiment-create",
        "experiment-create",
        None,
        lambda w: experiment_data("pricing_test", **QA_IN_TEST),
        ("experiment", "create", "pricing_test", None, {"name": "pricing_test"}),
        lambda w: Experiment.objects.get(project=w.project, name="pricing_test").status == "draft",
    ),
    (
        "experiment-update",
        "experiment-detail",
        "running",
        lambda w: running_data(w.running, allocation="60"),
        ("experiment", "update", "checkout_copy", 2, {"allocation": 60}),
        lambda w: Experiment.objects.get(pk=w.running.pk).allocation == 60,
    ),
    (
        "layer-create",
        "layer-create",
        None,
        lambda w: layer_data("search_layer"),
        ("layer", "create", "search_layer", None, {"name": "search_layer"}),
        lambda w: Layer.objects.filter(project=w.project, name="search_layer").exists(),
    ),
    (
        "layer-update",
        "layer-detail",
        "layer",
        lambda w: layer_data(
            None, params=[("color", "string", "green"), ("discount", "number", "0")]
        ),
        ("layer", "update", "checkout_layer", 1, {}),
        lambda w: Layer.objects.get(pk=w.layer.pk).parameters[0]["defaultValue"] == "green",
    ),
    (
        "holdout-create",
        "holdout-create",
        None,
        lambda w: holdout_data("q4_holdout", percentage="5"),
        ("holdout", "create", "q4_holdout", None, {"passPercentage": 5}),
        lambda w: Holdout.objects.filter(project=w.project, name="q4_holdout").exists(),
    ),
    (
        "holdout-update",
        "holdout-detail",
        "holdout",
        lambda w: holdout_data(None, percentage="7", experiments=["checkout_copy"]),
        ("holdout", "update", "q3_holdout", 1, {"passPercentage": 7}),
        lambda w: (
            [e.name for e in Holdout.objects.get(pk=w.holdout.pk).experiments.all()]
            == ["checkout_copy"]
        ),
    ),
]


@pytest.mark.parametrize(
    ("url_name", "target", "data", "expected", "happened"),
    [case[1:] for case in PAGE_EDITS],
    ids=[case[0] for case in PAGE_EDITS],
)
def test_editor_page__production_needs_review__change_set_then_applied_on_approval(
    client, world, project_member, url_name, target, data, expected, happened
):
    # Given a member on the page, and the project's default policy
    client.force_login(project_member)
    obj = getattr(world, target) if target else None
    args = [world.project.slug] + ([obj.pk] if obj else [])
    form = data(world)
    if obj is not None:
        form["revision"] = str(obj.revision)
    before = db_state(world.project)

    # When they save
    response = client.post(reverse(url_name, args=args), form)

    # Then nothing changed: they are sent to the change set waiting for review
    change_set = the_change_set(world.project)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert response.url == reverse("changeset-detail", args=[world.project.slug, change_set.number])
    assert db_state(world.project) == before
    kind, action, name, base_revision, payload = expected
    assert change_set.source == "browser"
    assert_change(change_set, kind, action, name, base_revision, **payload)

    # And once another admin approves it, the edit has happened and is published
    approve(world, change_set)
    assert happened(world)
    assert db_state(world.project)["versions"] == before["versions"] + 1


def test_editor_page__stale_revision__refused_on_the_form_nothing_proposed(
    client, world, project_member
):
    # Given the page was loaded at revision 1, and the holdout changed since
    client.force_login(project_member)
    services.holdout_update(
        actor=world.approver,
        holdout=world.holdout,
        document=holdout_document("q3_holdout", passPercentage=12),
    )
    before = db_state(world.project)

    # When the member saves their edit of revision 1
    response = client.post(
        reverse("holdout-detail", args=[world.project.slug, world.holdout.pk]),
        {**holdout_data(None, percentage="7"), "revision": "1"},
    )

    # Then it is refused as before: nothing proposed, nothing changed
    assert response.status_code == 400
    assert "It changed since you opened it" in response.content.decode()
    assert not ChangeSet.objects.exists()
    assert db_state(world.project) == before


def test_editor_page__description_only__touches_no_spec_so_applied_at_once(
    client, world, project_member
):
    # Given a description changes no environment's spec
    client.force_login(project_member)
    url = reverse("experiment-detail", args=[world.project.slug, world.running.pk])
    data = running_data(world.running, allocation="50", description="Why we run it")

    # When it is saved
    response = client.post(url, {**data, "revision": str(world.running.revision)})

    # Then no review is needed: applied at once, back to the experiment
    assert response.status_code == 302
    assert response.url == url
    change_set = ChangeSet.objects.get(project=world.project)
    assert (change_set.state, change_set.environments) == (ChangeSetState.APPLIED, [])
    world.running.refresh_from_db()
    assert world.running.description == "Why we run it"


def test_editor_page__bad_document__refused_by_the_dry_run_nothing_proposed(
    client, world, project_member
):
    client.force_login(project_member)

    response = client.post(
        reverse("experiment-create", args=[world.project.slug]),
        experiment_data("half", groups=[("A", 50, {}), ("B", 40, {})]),
    )

    assert response.status_code == 400
    assert "Group sizes add up to 100 percent" in response.content.decode()
    assert not ChangeSet.objects.exists()


# ---------------------------------------------------------------- pages: lifecycle and archive

# (id, url name, the world's object, form data, change action and payload, after approval)
PAGE_STEPS = [
    ("start", "experiment-start", "draft", {}, {}, ExperimentStatus.RUNNING),
    ("ship", "experiment-ship", "running", {"group": "Test"}, {"group": "Test"}, "shipped"),
    ("abandon", "experiment-abandon", "running", {}, {}, ExperimentStatus.ABANDONED),
    ("reset", "experiment-reset", "running", {}, {}, ExperimentStatus.DRAFT),
    ("archive", "experiment-archive", "draft", {}, {}, ExperimentStatus.ARCHIVED),
]


@pytest.mark.parametrize(
    ("url_name", "target", "data", "payload", "status"),
    [case[1:] for case in PAGE_STEPS],
    ids=[case[0] for case in PAGE_STEPS],
)
def test_lifecycle_page__production_needs_review__step_waits_then_happens(
    client, world, project_member, url_name, target, data, payload, status
):
    # Given a member confirming a lifecycle step
    client.force_login(project_member)
    experiment = getattr(world, target)
    before = db_state(world.project)

    # When they confirm it
    response = client.post(reverse(url_name, args=[world.project.slug, experiment.pk]), data)

    # Then the experiment is unchanged, and the step waits for review as a change set
    change_set = the_change_set(world.project)
    assert response.url == reverse("changeset-detail", args=[world.project.slug, change_set.number])
    assert db_state(world.project) == before
    action = url_name.removeprefix("experiment-")
    assert_change(change_set, "experiment", action, experiment.name, experiment.revision, **payload)
    assert change_set.changes.get().payload == payload

    # And after another admin's approval the step has happened
    approve(world, change_set)
    experiment.refresh_from_db()
    assert experiment.status == status


def test_start_page__approved__the_layer_buckets_are_taken(client, world, project_member):
    # Given a draft asking for 40% of its layer, started from the page
    client.force_login(project_member)
    client.post(reverse("experiment-start", args=[world.project.slug, world.draft.pk]))
    change_set = the_change_set(world.project)
    assert not LayerBucket.objects.filter(experiment=world.draft).exists()

    # When another admin approves
    approve(world, change_set)

    # Then it runs in 400 of the layer's buckets
    assert LayerBucket.objects.filter(experiment=world.draft).count() == 400


@pytest.mark.parametrize(
    ("url_name", "target", "model"),
    [("layer-archive", "empty_layer", Layer), ("holdout-archive", "holdout", Holdout)],
)
def test_archive_page__production_needs_review__archived_on_approval(
    client, world, project_member, url_name, target, model
):
    client.force_login(project_member)
    obj = getattr(world, target)

    response = client.post(reverse(url_name, args=[world.project.slug, obj.pk]))

    change_set = the_change_set(world.project)
    assert response.url == reverse("changeset-detail", args=[world.project.slug, change_set.number])
    assert_change(change_set, url_name.split("-")[0], "archive", obj.name, obj.revision)
    assert model.objects.get(pk=obj.pk).archived_at is None
    approve(world, change_set)
    assert model.objects.get(pk=obj.pk).archived_at is not None


def test_lifecycle_page__illegal_step__refused_by_the_dry_run_nothing_proposed(
    client, world, project_member
):
    client.force_login(project_member)

    response = client.post(
        reverse("experiment-start", args=[world.project.slug, world.running.pk]), follow=True
    )

    assert "A running experiment cannot be started." in response.content.decode()
    assert not ChangeSet.objects.exists()


# ---------------------------------------------------------------- API

# (id, method, url name, entity name, body, expected change, after approval)
API_WRITES = [
    (
        "experiment-create",
        "post",
        "api-experiment-list",
        None,
        lambda w: experiment_document("pricing_test", overrides=[QA_OVERRIDE]),
        ("experiment", "create", "pricing_test", None, {"name": "pricing_test"}),
        lambda w: Experiment.objects.filter(project=w.project, name="pricing_test").exists(),
    ),
    (
        "experiment-replace",
        "post",
        "api-experiment-detail",
        "checkout_copy",
        lambda w: {**experiment_to_document(w.running), "allocation": 70},
        ("experiment", "update", "checkout_copy", 2, {"allocation": 70}),
        lambda w: Experiment.objects.get(pk=w.running.pk).allocation == 70,
    ),
    (
        "experiment-patch",
        "patch",
        "api-experiment-detail",
        "checkout_copy",
        lambda w: {"allocation": 80},
        ("experiment", "update", "checkout_copy", 2, {"allocation": 80, "name": "checkout_copy"}),
        lambda w: Experiment.objects.get(pk=w.running.pk).allocation == 80,
    ),
    (
        "experiment-archive",
        "delete",
        "api-experiment-detail",
        "checkout_button",
        None,
        ("experiment", "archive", "checkout_button", 1, {}),
        lambda w: Experiment.objects.get(pk=w.draft.pk).status == ExperimentStatus.ARCHIVED,
    ),
    (
        "experiment-start",
        "post",
        "api-experiment-start",
        "checkout_button",
        None,
        ("experiment", "start", "checkout_button", 1, {}),
        lambda w: LayerBucket.objects.filter(experiment=w.draft).count() == 400,
    ),
    (
        "experiment-ship",
        "put",
        "api-experiment-ship",
        "checkout_copy",
        lambda w: {"group": "test"},
        ("experiment", "ship", "checkout_copy", 2, {"group": "test"}),
        lambda w: Experiment.objects.get(pk=w.running.pk).status == ExperimentStatus.SHIPPED,
    ),
    (
        "experiment-make-decision",
        "post",
        "api-experiment-make-decision",
        "checkout_copy",
        lambda w: {"id": w.running.groups[0]["id"]},
        ("experiment", "ship", "checkout_copy", 2, {}),
        lambda w: (
            Experiment.objects.get(pk=w.running.pk).launched_group_id == w.running.groups[0]["id"]
        ),
    ),
    (
        "experiment-abandon",
        "post",
        "api-experiment-abandon",
        "checkout_copy",
        None,
        ("experiment", "abandon", "checkout_copy", 2, {}),
        lambda w: Experiment.objects.get(pk=w.running.pk).status == ExperimentStatus.ABANDONED,
    ),
    (
        "experiment-reset",
        "post",
        "api-experiment-reset",
        "checkout_copy",
        lambda w: {"confirm": True},
        ("experiment", "reset", "checkout_copy", 2, {}),
        lambda w: Experiment.objects.get(pk=w.running.pk).status == ExperimentStatus.DRAFT,
    ),
    (
        "layer-create",
        "post",
        "api-layer-list",
        None,
        lambda w: layer_document("search_layer"),
        ("layer", "create", "search_layer", None, {"name": "search_layer"}),
        lambda w: Layer.objects.filter(project=w.project, name="search_layer").exists(),
    ),
    (
        "layer-patch",
        "patch",
        "api-layer-detail",
        "checkout_layer",
        lambda w: {
            "parameters": [
                parameter("color", "string", "green"),
                parameter("discount", "number", 0),
            ]
        },
        ("layer", "update", "checkout_layer", 1, {"description": "Checkout page experiments"}),
        lambda w: Layer.objects.get(pk=w.layer.pk).parameters[0]["defaultValue"] == "green",
    ),
    (
        "layer-archive",
        "delete",
        "api-layer-detail",
        "empty_layer",
        None,
        ("layer", "archive", "empty_layer", 1, {}),
        lambda w: Layer.objects.get(pk=w.empty_layer.pk).archived_at is not None,
    ),
    (
        "holdout-create",
        "post",
        "api-holdout-list",
        None,
        lambda w: holdout_document("q4_holdout", experimentIDs=["checkout_copy"]),
        ("holdout", "create", "q4_holdout", None, {"experimentIDs": ["checkout_copy"]}),
        lambda w: Holdout.objects.filter(project=w.project, name="q4_holdout").exists(),
    ),
    (
        "holdout-replace",
        "post",
        "api-holdout-detail",
        "q3_holdout",
        lambda w: holdout_document("q3_holdout", passPercentage=20),
        ("holdout", "update", "q3_holdout", 1, {"passPercentage": 20}),
        lambda w: Holdout.objects.get(pk=w.holdout.pk).percentage == 20,
    ),
    (
        "holdout-archive",
        "delete",
        "api-holdout-detail",
        "q3_holdout",
        None,
        ("holdout", "archive", "q3_holdout", 1, {}),
        lambda w: Holdout.objects.get(pk=w.holdout.pk).archived_at is not None,
    ),
]


@pytest.mark.parametrize(
    ("method", "url_name", "name", "body", "expected", "happened"),
    [case[1:] for case in API_WRITES],
    ids=[case[0] for case in API_WRITES],
)
def test_api_write__production_needs_review__202_then_applied_on_approval(
    world, project_member, method, url_name, name, body, expected, happened
):
    # Given a member's API call, and the project's default policy
    before = db_state(world.project)
    args = (name,) if name else ()
    data = body(world) if body else None

    # When they write
    response = getattr(session_client(project_member), method)(
        api_url(url_name, *args), data, format="json"
    )

    # Then 202: accepted as a change set waiting for review, nothing changed yet
    assert response.status_code == 202, response.content
    change_set = the_change_set(world.project)
    answer = response.json()["data"]["changeSet"]
    assert (answer["id"], answer["state"]) == (change_set.number, "in_review")
    assert answer["url"] == reverse("changeset-detail", args=[world.project.slug, answer["id"]])
    assert "production" in answer["environments"]
    assert "waiting for review" in response.json()["message"]
    assert db_state(world.project) == before
    kind, action, entity, base_revision, payload = expected
    assert change_set.source == "api"
    assert_change(change_set, kind, action, entity, base_revision, **payload)

    # And after another admin's approval it has happened
    approve(world, change_set)
    assert happened(world)


def test_api_patch__base_revision_is_the_one_read__a_write_before_approval_makes_it_stale(
    world, project_member
):
    # Given a PATCH waiting for review, based on the holdout's revision 1
    response = session_client(project_member).patch(
        api_url("api-holdout-detail", "q3_holdout"), {"passPercentage": 25}, format="json"
    )
    assert response.status_code == 202, response.content
    change_set = the_change_set(world.project)
    assert_change(change_set, "holdout", "update", "q3_holdout", 1, passPercentage=25)
    assert change_set.changes.get().payload == {
        **holdout_to_document(world.holdout),
        "passPercentage": 25,
    }

    # When the holdout changes before the approval (another change set, applied)
    services.holdout_update(
        actor=world.approver,
        holdout=world.holdout,
        document=holdout_document("q3_holdout", description="Changed meanwhile"),
    )

    # Then approving it refuses to apply it over the newer revision: it is stale
    with pytest.raises(Conflict) as exc:
        changeset_approve(actor=world.approver, change_set=change_set)
    assert exc.value.code == "stale"
    change_set.refresh_from_db()
    assert change_set.state == ChangeSetState.STALE
    world.holdout.refresh_from_db()
    assert world.holdout.percentage == 10


def test_api_write__refused_input__error_of_the_service_and_nothing_proposed(world, project_member):
    before = db_state(world.project)

    response = session_client(project_member).post(
        api_url("api-experiment-list"),
        experiment_document("typed", parameters=[parameter("color", "number", "grey")]),
        format="json",
    )
    start = session_client(project_member).post(api_url("api-experiment-start", "checkout_copy"))

    # The dry run named the field, as the service does; the status conflict is still a 409
    assert_error(response, 400, "wrong_type", "parameters[0].defaultValue")
    assert_error(start, 409, "illegal_transition")
    assert not ChangeSet.objects.exists()
    assert db_state(world.project) == before


def test_api_write__viewer_key__forbidden_nothing_proposed(world, project_admin):
    secret = console_key(project_admin, world.project, Role.VIEWER)

    response = key_client(secret).post(
        api_url("api-experiment-start", "checkout_button", project=None)
    )

    assert_error(response, 403, "permission_denied")
    assert not ChangeSet.objects.exists()


def test_api_fetched_document_posted_back__nothing_to_review(world, project_member):
    client = session_client(project_member)
    document = client.get(api_url("api-experiment-detail", "checkout_copy")).json()["data"]

    response = client.post(api_url("api-experiment-detail", "checkout_copy"), document, "json")

    assert response.status_code == 200, response.content
    assert response.json()["data"] == document
    assert not ChangeSet.objects.exists()


# ---------------------------------------------------------------- editing one's own change set


def _pending_holdout_update(client, world) -> ChangeSet:
    client.post(
        reverse("holdout-detail", args=[world.project.slug, world.holdout.pk]),
        {**holdout_data(None, percentage="7"), "revision": "1"},
    )
    return the_change_set(world.project)


def test_change_set_editor__author__prefilled_and_saved_into_the_change_set(
    client, world, project_member
):
    # Given the member's holdout update waiting for review, approved by someone already
    client.force_login(project_member)
    change_set = _pending_holdout_update(client, world)
    Approval.objects.create(
        change_set=change_set, user=world.approver, content_hash=change_set.content_hash
    )
    url = reverse("holdout-detail", args=[world.project.slug, world.holdout.pk])

    # When they open the editor on their change set
    html = client.get(url, {"change_set": change_set.number}).content.decode()

    # Then it shows the proposed document, not the saved holdout
    assert 'name="percentage" value="7"' in html
    assert f'name="change_set" value="{change_set.number}"' in html
    assert f"Save to change set #{change_set.number}" in html

    # When they change it again and save
    response = client.post(
        url,
        {
            **holdout_data(None, percentage="8"),
            "revision": str(world.holdout.revision),
            "change_set": str(change_set.number),
        },
    )

    # Then the change set holds the new document (approvals dropped), still one change,
    # and the holdout is untouched
    assert response.url == reverse("changeset-detail", args=[world.project.slug, change_set.number])
    change_set.refresh_from_db()
    assert change_set.state == ChangeSetState.IN_REVIEW
    assert_change(change_set, "holdout", "update", "q3_holdout", 1, passPercentage=8)
    assert not Approval.objects.filter(change_set=change_set, dismissed_at=None).exists()
    assert ChangeSet.objects.count() == 1
    world.holdout.refresh_from_db()
    assert world.holdout.percentage == 10
    approve(world, change_set)
    world.holdout.refresh_from_db()
    assert world.holdout.percentage == 8


def test_change_set_editor__create__prefilled_with_the_proposed_experiment(
    client, world, project_member
):
    client.force_login(project_member)
    client.post(
        reverse("experiment-create", args=[world.project.slug]),
        experiment_data("later", **QA_IN_TEST),
    )
    change_set = the_change_set(world.project)
    url = reverse("experiment-create", args=[world.project.slug])

    html = client.get(url, {"change_set": change_set.number}).content.decode()
    response = client.post(
        url,
        {
            **experiment_data("later", allocation="30", **QA_IN_TEST),
            "change_set": change_set.number,
        },
    )

    assert 'value="later"' in html
    assert response.status_code == 302, response.content.decode()[:3000]
    assert_change(change_set, "experiment", "create", "later", None, allocation=30)
    assert not Experiment.objects.filter(name="later").exists()


def test_change_set_editor__someone_else__forbidden(client, world, project_member, project_admin):
    client.force_login(project_member)
    change_set = _pending_holdout_update(client, world)
    client.force_login(project_admin)
    url = reverse("holdout-detail", args=[world.project.slug, world.holdout.pk])

    opened = client.get(url, {"change_set": change_set.number})
    saved = client.post(
        url, {**holdout_data(None, percentage="9"), "change_set": str(change_set.number)}
    )

    assert (opened.status_code, saved.status_code) == (403, 403)
    assert_change(change_set, "holdout", "update", "q3_holdout", 1, passPercentage=7)


def test_change_set_editor__change_set_not_about_this_entity__not_found(
    client, world, project_member
):
    client.force_login(project_member)
    change_set = _pending_holdout_update(client, world)

    response = client.get(
        reverse("experiment-detail", args=[world.project.slug, world.running.pk]),
        {"change_set": change_set.number},
    )

    assert response.status_code == 404


# ---------------------------------------------------------------- buttons that say what happens


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return " ".join(response.content.decode().split())


def test_experiment_page__lifecycle_buttons__say_review_or_at_once_and_do_what_they_say(
    client, world, project_member
):
    # Given a draft nobody is in (archiving it changes no SDK answer) whose start would
    # change what production's users receive
    client.force_login(project_member)
    quiet = services.experiment_create(
        actor=project_member, project=world.project, document=experiment_document("quiet_test")
    )
    url = reverse("experiment-detail", args=[world.project.slug, quiet.pk])
    before = db_state(world.project)

    # When its page renders
    html = _page(client, url)

    # Then Start says it will wait for production's review, Archive that it applies at
    # once, and rendering them proposed nothing
    assert "Start · submit for review (production)" in html
    assert "Archive · applies at once" in html
    assert "Archive · submit for review" not in html
    assert not ChangeSet.objects.exists()
    assert db_state(world.project) == before

    # And pressing Start does that: a change set waiting for production's review
    client.post(reverse("experiment-start", args=[world.project.slug, quiet.pk]))
    change_set = ChangeSet.objects.get(project=world.project)
    assert change_set.state == ChangeSetState.IN_REVIEW
    assert "production" in change_set.environments
    assert Experiment.objects.get(pk=quiet.pk).status == ExperimentStatus.DRAFT
    change_set.delete()  # withdrawn, so the archive below is not a conflict

    # And pressing Archive does that: applied at once
    response = client.post(reverse("experiment-archive", args=[world.project.slug, quiet.pk]))
    assert response.url == reverse("experiment-list", args=[world.project.slug])
    change_set = ChangeSet.objects.get(project=world.project)
    assert change_set.state == ChangeSetState.APPLIED
    assert Experiment.objects.get(pk=quiet.pk).status == ExperimentStatus.ARCHIVED


def test_experiment_page__running__ship_abandon_reset_say_they_wait_for_review(
    client, world, project_member
):
    client.force_login(project_member)
    html = _page(client, reverse("experiment-detail", args=[world.project.slug, world.running.pk]))
    for label in ("Ship a group", "Abandon", "Reset"):
        assert f"{label} · submit for review (production)" in html
    assert "Archive ·" not in html  # a running experiment is decided before it is archived
    assert "Ship Test · submit for review" in html
    assert "Submit for review" in html  # the confirmations' buttons
    assert "applies at once" not in html


def test_experiment_page__viewer__no_buttons_to_predict(client, world, project_viewer):
    client.force_login(project_viewer)
    html = _page(client, reverse("experiment-detail", args=[world.project.slug, world.running.pk]))
    assert "submit for review" not in html
    assert "applies at once" not in html


@pytest.mark.parametrize(
    ("url_name", "target"),
    [("layer-detail", "empty_layer"), ("holdout-detail", "holdout")],
)
def test_layer_and_holdout_pages__archive_button__says_it_waits_for_review(
    client, world, project_member, url_name, target
):
    client.force_login(project_member)
    obj = getattr(world, target)
    html = _page(client, reverse(url_name, args=[world.project.slug, obj.pk]))
    assert "Archive · submit for review (production)" in html
    assert not ChangeSet.objects.exists()


def test_experiment_page__ship_buttons__one_dry_run_whatever_the_number_of_groups(
    client, world, project_admin, project_member
):
    # Given two running experiments, with two groups and with five
    def running(name: str, groups: list[dict[str, Any]]) -> Experiment:
        created = services.experiment_create(
            actor=project_admin,
            project=world.project,
            document=experiment_document(name, allocation=10, groups=groups),
        )
        return services.experiment_start(actor=project_admin, experiment=created)

    two = running("two_groups", [group("Control", 50), group("Test", 50)])
    five = running("five_groups", [group(f"G{i}", 20) for i in range(5)])
    client.force_login(project_member)

    # When each page renders
    def queries(experiment: Experiment) -> int:
        url = reverse("experiment-detail", args=[world.project.slug, experiment.pk])
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    # Warm the caches every page reads (the spec fragments of each page's dry runs too).
    queries(two)
    queries(five)

    # Then each ship option says it waits for review, for the same number of queries
    assert queries(two) == queries(five)
    html = _page(client, reverse("experiment-detail", args=[world.project.slug, five.pk]))
    assert all(f"Ship G{i} · submit for review" in html for i in range(5))


def test_change_set__create_then_start_then_ship__follow_ups_wait_then_happen_in_order(
    world, project_member
):
    # Given
    changes = [
        ChangeInput("experiment", "create", "", experiment_document("new_flow", allocation=30)),
        ChangeInput("experiment", "start", "new_flow"),
        ChangeInput("experiment", "ship", "new_flow", {"group": "Test"}),
        ChangeInput("experiment", "abandon", "checkout_copy"),
    ]
    # When
    change_set = changeset_submit(actor=project_member, project=world.project, changes=changes)
    assert change_set.state == ChangeSetState.IN_REVIEW
    assert not Experiment.objects.filter(project=world.project, name="new_flow").exists()
    stored = list(change_set.changes.order_by("position"))
    assert [(c.entity_id is None, c.base_revision) for c in stored[:3]] == [(True, None)] * 3
    change_set = approve(world, change_set)
    # Then
    experiment = Experiment.objects.get(project=world.project, name="new_flow")
    assert experiment.status == ExperimentStatus.SHIPPED
    assert experiment.launched_group_id == experiment.groups[1]["id"]
    ids = list(change_set.changes.order_by("position").values_list("entity_id", flat=True))
    assert ids == [experiment.pk, experiment.pk, experiment.pk, world.running.pk]


def test_change_set__the_same_step_twice__the_second_refused_by_the_service_nothing_proposed(
    world, project_member
):
    # Given
    changes = [
        ChangeInput("experiment", "abandon", "checkout_copy"),
        ChangeInput("experiment", "abandon", "checkout_copy"),
    ]
    before = db_state(world.project)
    # When
    with pytest.raises(ApplicationError) as refused:
        changeset_submit(actor=project_member, project=world.project, changes=changes)
    # Then
    assert refused.value.change_position == 1
    assert not ChangeSet.objects.filter(project=world.project).exists()
    assert db_state(world.project) == before
