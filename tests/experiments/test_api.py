"""The experiments API (/console/v1/experiments, /layers, /holdouts): permissions per role
and key, Statsig-shaped round trips, PATCH semantics, the lifecycle actions, refused inputs
(nothing saved), list filters and query counts."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from console import services as console_services
from console.api.documents import READ_ONLY_KEYS
from console.models import AuditEvent, Project, Role, Tag, User
from experiments import services
from experiments.documents import experiment_to_document
from experiments.models import (
    Experiment,
    ExperimentStatus,
    Holdout,
    Layer,
    LayerBucket,
)
from gates import services as gate_services
from gates.models import FeatureGate
from tests.api_support import (
    Endpoint,
    api_url_for,
    assert_error,
    check_key_call,
    check_session_call,
    console_key,
    detail,
    key_client,
    session_client,
    without_metadata,
    write_counts,
)
from tests.experiments.factories import (
    ExperimentFactory,
    LayerFactory,
    experiment_document,
    group,
    holdout_document,
    layer_document,
    parameter,
)
from tests.gates.factories import gate_document

# Editing itself: every change set applies at once (tests/experiments/test_review_paths.py
# covers the default policy, where production changes wait for review).
pytestmark = pytest.mark.usefixtures("no_review")

api_url = api_url_for("experiments-api")


def db_state() -> dict:
    """Every row the experiments API can change."""
    return {
        "experiments": list(Experiment.objects.order_by("pk").values()),
        "layers": list(Layer.objects.order_by("pk").values()),
        "holdouts": list(Holdout.objects.order_by("pk").values()),
        "buckets": list(LayerBucket.objects.order_by("pk").values()),
        "experiment_tags": list(Experiment.tags.through.objects.order_by("pk").values()),
        "holdout_experiments": list(Holdout.experiments.through.objects.order_by("pk").values()),
        **write_counts(),
    }


def layered(name: str, allocation: float, **fields) -> dict:
    """An experiment of checkout_layer setting its color parameter."""
    fields.setdefault("parameters", [{"name": "color", "type": "string"}])
    return experiment_document(name, layerID="checkout_layer", allocation=allocation, **fields)


# ---------------------------------------------------------------- the world and its endpoints


@dataclass
class World:
    project: Project
    admin: User
    member: User
    viewer: User
    outsider: User
    gate: FeatureGate
    layer: Layer  # checkout_layer: pricing_test runs in 30% of it
    empty_layer: Layer  # no experiments
    draft: Experiment  # checkout_button, no layer
    running: Experiment  # pricing_test, in checkout_layer
    holdout: Holdout


@pytest.fixture
def world(project, project_admin, project_member, project_viewer, outsider) -> World:
    def make(service, document):
        return service(actor=project_admin, project=project, document=document)

    gate = make(gate_services.gate_create, gate_document("beta"))
    layer = make(services.layer_create, layer_document())
    empty_layer = make(services.layer_create, layer_document("empty_layer"))
    draft = make(services.experiment_create, experiment_document("checkout_button"))
    running = services.experiment_start(
        actor=project_admin,
        experiment=make(services.experiment_create, layered("pricing_test", 30)),
    )
    holdout = make(services.holdout_create, holdout_document())
    return World(
        project=project,
        admin=project_admin,
        member=project_member,
        viewer=project_viewer,
        outsider=outsider,
        gate=gate,
        layer=layer,
        empty_layer=empty_layer,
        draft=draft,
        running=running,
        holdout=holdout,
    )


ENDPOINTS = [
    # experiments
    Endpoint("experiment-list", "get", lambda w: ("api-experiment-list",), Role.VIEWER),
    Endpoint(
        "experiment-create",
        "post",
        lambda w: ("api-experiment-list",),
        Role.MEMBER,
        201,
        lambda w: experiment_document("fresh_experiment"),
    ),
    Endpoint("experiment-get", "get", detail("api-experiment-detail", "draft"), Role.VIEWER),
    Endpoint(
        "experiment-update",
        "post",
        detail("api-experiment-detail", "draft"),
        Role.MEMBER,
        body=lambda w: experiment_document("checkout_button", description="Full update"),
    ),
    Endpoint(
        "experiment-patch",
        "patch",
        detail("api-experiment-detail", "draft"),
        Role.MEMBER,
        body=lambda w: {"description": "Patched"},
    ),
    Endpoint("experiment-archive", "delete", detail("api-experiment-detail", "draft"), Role.MEMBER),
    Endpoint("experiment-start", "put", detail("api-experiment-start", "draft"), Role.MEMBER),
    Endpoint(
        "experiment-ship",
        "post",
        detail("api-experiment-ship", "running"),
        Role.MEMBER,
        body=lambda w: {"group": "Test"},
    ),
    Endpoint(
        "experiment-make-decision",
        "put",
        detail("api-experiment-make-decision", "running"),
        Role.MEMBER,
        body=lambda w: {"id": w.running.groups[0]["id"]},
    ),
    Endpoint(
        "experiment-abandon", "post", detail("api-experiment-abandon", "running"), Role.MEMBER
    ),
    Endpoint(
        "experiment-reset",
        "put",
        detail("api-experiment-reset", "running"),
        Role.MEMBER,
        body=lambda w: {"confirm": True},
    ),
    # layers
    Endpoint("layer-list", "get", lambda w: ("api-layer-list",), Role.VIEWER),
    Endpoint(
        "layer-create",
        "post",
        lambda w: ("api-layer-list",),
        Role.MEMBER,
        201,
        lambda w: layer_document("fresh_layer"),
    ),
    Endpoint("layer-get", "get", detail("api-layer-detail", "layer"), Role.VIEWER),
    Endpoint(
        "layer-update",
        "post",
        detail("api-layer-detail", "layer"),
        Role.MEMBER,
        body=lambda w: layer_document("checkout_layer", description="Full update"),
    ),
    Endpoint(
        "layer-patch",
        "patch",
        detail("api-layer-detail", "layer"),
        Role.MEMBER,
        body=lambda w: {"description": "Patched"},
    ),
    Endpoint("layer-archive", "delete", detail("api-layer-detail", "empty_layer"), Role.MEMBER),
    Endpoint("layer-allocation", "get", detail("api-layer-allocation", "layer"), Role.VIEWER),
    # holdouts
    Endpoint("holdout-list", "get", lambda w: ("api-holdout-list",), Role.VIEWER),
    Endpoint(
        "holdout-create",
        "post",
        lambda w: ("api-holdout-list",),
        Role.MEMBER,
        201,
        lambda w: holdout_document("fresh_holdout"),
    ),
    Endpoint("holdout-get", "get", detail("api-holdout-detail", "holdout"), Role.VIEWER),
    Endpoint(
        "holdout-update",
        "post",
        detail("api-holdout-detail", "holdout"),
        Role.MEMBER,
        body=lambda w: holdout_document("q3_holdout", passPercentage=20),
    ),
    Endpoint(
        "holdout-patch",
        "patch",
        detail("api-holdout-detail", "holdout"),
        Role.MEMBER,
        body=lambda w: {"experimentIDs": ["checkout_button"]},
    ),
    Endpoint("holdout-archive", "delete", detail("api-holdout-detail", "holdout"), Role.MEMBER),
]


# ---------------------------------------------------------------- permission matrix


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
@pytest.mark.parametrize("caller", ["anonymous", "outsider", "viewer", "member", "admin"])
def test_endpoint__session_caller__answers_by_role(world, endpoint, caller):
    check_session_call(world, endpoint, caller, api_url, db_state)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
@pytest.mark.parametrize(
    "caller", ["unknown", "removed_creator", "viewer", "member", "admin", "member_admin_key"]
)
def test_endpoint__console_key__answers_by_key_role(world, endpoint, caller):
    check_key_call(world, endpoint, caller, api_url, db_state)


@pytest.mark.parametrize(
    "name", ["api-experiment-detail", "api-layer-detail", "api-holdout-detail"]
)
def test_detail__entity_of_another_project__not_found(world, site_admin, name):
    # Given: the caller is admin of both projects; only the other one has "elsewhere"
    other = console_services.project_create(actor=site_admin, name="Growth", slug="growth")
    for service, document in [
        (services.experiment_create, experiment_document("elsewhere")),
        (services.layer_create, layer_document("elsewhere")),
        (services.holdout_create, holdout_document("elsewhere")),
    ]:
        service(actor=site_admin, project=other, document=document)
    before = db_state()

    # When
    read = session_client(world.admin).get(api_url(name, "elsewhere"))
    archive = session_client(world.admin).delete(api_url(name, "elsewhere"))

    # Then
    assert_error(read, 404, "not_found")
    assert_error(archive, 404, "not_found")
    assert db_state() == before


def test_experiment_get__name_in_other_case__found(world):
    # When
    response = session_client(world.viewer).get(api_url("api-experiment-detail", "Checkout_BUTTON"))

    # Then
    assert response.status_code == 200
    assert response.json()["data"]["name"] == "checkout_button"


# ---------------------------------------------------------------- round trips

STATSIG_EXPERIMENT = {
    "name": "new_pricing",
    "description": "Cheaper plans for new users",
    "hypothesis": "A lower entry price converts more trials.",
    "idType": "userID",
    "status": "draft",
    "allocation": 40.5,
    "layerID": None,
    "targetingGateID": "beta",
    "targetingConditions": [],
    "parameters": [
        parameter("plan", "string", "standard"),
        parameter("discount", "number", 0),
        parameter("banner", "object", {"text": "hi"}),
    ],
    "groups": [
        group("Control", 33.34, {"plan": "standard", "discount": 0, "banner": {"text": "hi"}}),
        group("Cheap", 33.33, {"plan": "lite", "discount": 10, "banner": {"text": "hi"}}),
        group("Free", 33.33, {"plan": "free", "discount": 100, "banner": {"text": "yo"}}),
    ],
    "overrides": [{"group": "Free", "unitIDs": ["u1", "u2"], "segments": []}],
    "tags": ["core"],
    "owner": None,
    # The scorecard, as Statsig's Console API names it.
    "primaryMetricTags": ["core"],
    "duration": 21,
    "defaultConfidenceInterval": "90",
    "bonferroniCorrection": True,
}


def test_experiment_create__statsig_document__get_returns_it_with_group_ids(world):
    # Given
    client = session_client(world.member)

    # When
    created = client.post(api_url("api-experiment-list"), STATSIG_EXPERIMENT, format="json")
    fetched = client.get(api_url("api-experiment-detail", "new_pricing"))

    # Then
    assert created.status_code == 201, created.content
    assert fetched.status_code == 200
    data = fetched.json()["data"]
    assert data == created.json()["data"]
    group_ids = [g.pop("id") for g in data["groups"]]
    assert len(set(group_ids)) == 3
    # Statsig's read-only metadata, in the answer only: the id, epoch-millisecond times.
    metadata = {key: data.pop(key) for key in [*READ_ONLY_KEYS, "id"] if key in data}
    assert metadata["id"] == "new_pricing"
    assert metadata["creatorEmail"] == world.member.email
    assert isinstance(metadata["createdTime"], int)
    assert metadata["lastModifiedTime"] >= metadata["createdTime"] > 1_600_000_000_000
    assert data == {
        **STATSIG_EXPERIMENT,
        "status": "setup",  # Statsig's name of our draft
        "owner": world.member.email,  # defaults to the creator
        "launchedGroupID": None,
        # What the body left out, at Statsig's defaults (CUPED on).
        "primaryMetrics": [],
        "secondaryMetrics": [],
        "secondaryMetricTags": [],
        "benjaminiHochbergCorrection": False,
        "sequentialTesting": False,
        "cuped": True,
    }
    experiment = Experiment.objects.get(project=world.project, name="new_pricing")
    assert [g["id"] for g in experiment.groups] == group_ids
    assert experiment.targeting_gate == world.gate


def test_experiment_update__fetched_document_posted_back__nothing_changes(world):
    # Given
    client = session_client(world.member)
    document = client.get(api_url("api-experiment-detail", "pricing_test")).json()["data"]
    before = db_state()

    # When
    response = client.post(api_url("api-experiment-detail", "pricing_test"), document, "json")

    # Then
    assert response.status_code == 200, response.content
    assert response.json()["data"] == document
    assert db_state() == before


def test_layer_create__statsig_document__get_returns_it(world):
    # Given
    client = session_client(world.member)
    document = layer_document("search_layer", parameters=[parameter("ranker", "string", "bm25")])

    # When
    created = client.post(api_url("api-layer-list"), document, format="json")
    fetched = client.get(api_url("api-layer-detail", "search_layer"))

    # Then
    assert created.status_code == 201, created.content
    assert fetched.json()["data"] == created.json()["data"]
    assert without_metadata(fetched.json()["data"]) == document


def test_holdout_create__statsig_document__get_returns_it(world):
    # Given
    client = session_client(world.member)
    document = holdout_document(
        "pricing_holdout", passPercentage=12.5, experimentIDs=["pricing_test"]
    )

    # When
    created = client.post(api_url("api-holdout-list"), document, format="json")
    fetched = client.get(api_url("api-holdout-detail", "pricing_holdout"))

    # Then
    assert created.status_code == 201, created.content
    assert fetched.json()["data"] == created.json()["data"]
    assert without_metadata(fetched.json()["data"]) == document
    holdout = Holdout.objects.get(name="pricing_holdout")
    assert list(holdout.experiments.all()) == [world.running]


# ---------------------------------------------------------------- PATCH


def test_experiment_patch__description_only__rest_of_document_kept(world):
    # Given
    before = experiment_to_document(world.running)

    # When
    response = session_client(world.member).patch(
        api_url("api-experiment-detail", "pricing_test"),
        {"description": "Patched", "tags": ["core"]},
        format="json",
    )

    # Then
    assert response.status_code == 200, response.content
    data = without_metadata(response.json()["data"])
    assert data == {**before, "description": "Patched", "tags": ["core"]}
    world.running.refresh_from_db()
    assert world.running.revision == 3  # created, started, patched


def test_experiment_patch__experiment_changed_after_the_read__conflict(world, monkeypatch):
    # Given: the view reads revision 1, then someone else writes revision 2
    stale = Experiment.objects.select_related("project", "owner", "layer", "targeting_gate").get(
        pk=world.draft.pk
    )
    services.experiment_update(
        actor=world.admin,
        experiment=world.draft,
        document={**experiment_to_document(world.draft), "tags": ["core"]},
    )
    monkeypatch.setattr("experiments.api.views._experiment", lambda project, name: stale)
    before = db_state()

    # When
    response = session_client(world.member).patch(
        api_url("api-experiment-detail", "checkout_button"),
        {"description": "Patched"},
        format="json",
    )

    # Then: refused rather than silently dropping the other write's tag
    assert_error(response, 409, "stale_revision")
    assert db_state() == before


def test_experiment_patch__name_changed__refused(world):
    # Given
    before = db_state()

    # When
    response = session_client(world.member).patch(
        api_url("api-experiment-detail", "checkout_button"), {"name": "renamed"}, format="json"
    )

    # Then
    assert_error(response, 400, "name_immutable", "name")
    assert db_state() == before


def test_experiment_patch__status_changed__refused(world):
    # Given
    before = db_state()

    # When
    response = session_client(world.member).patch(
        api_url("api-experiment-detail", "checkout_button"), {"status": "running"}, format="json"
    )

    # Then: the lifecycle actions change the status, a document does not
    assert_error(response, 400, "status_read_only", "status")
    assert db_state() == before


def test_layer_patch__default_changed__experiments_follow(world):
    # When
    response = session_client(world.member).patch(
        api_url("api-layer-detail", "checkout_layer"),
        {"parameters": [parameter("color", "string", "green"), parameter("discount", "number", 0)]},
        format="json",
    )

    # Then
    assert response.status_code == 200, response.content
    fetched = session_client(world.viewer).get(api_url("api-experiment-detail", "pricing_test"))
    assert fetched.json()["data"]["parameters"][0]["defaultValue"] == "green"


def test_holdout_patch__percentage__rest_kept(world):
    # When
    response = session_client(world.member).patch(
        api_url("api-holdout-detail", "q3_holdout"), {"passPercentage": 25.5}, format="json"
    )

    # Then
    assert response.status_code == 200, response.content
    assert without_metadata(response.json()["data"]) == holdout_document(passPercentage=25.5)


# ---------------------------------------------------------------- lifecycle


def test_experiment_start__draft__running(world):
    # When
    response = session_client(world.member).post(api_url("api-experiment-start", "checkout_button"))

    # Then
    assert response.status_code == 200, response.content
    assert response.json()["data"]["status"] == "active"
    world.draft.refresh_from_db()
    assert world.draft.status == ExperimentStatus.RUNNING
    assert world.draft.started_at is not None


def test_experiment_ship__group_by_name__shipped_and_buckets_freed(world):
    # When
    response = session_client(world.member).put(
        api_url("api-experiment-ship", "pricing_test"), {"group": "test"}, format="json"
    )

    # Then
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    test_group = next(g for g in world.running.groups if g["name"] == "Test")
    assert (data["status"], data["launchedGroupID"]) == ("decision_made", test_group["id"])
    assert not LayerBucket.objects.filter(experiment=world.running).exists()
    assert AuditEvent.objects.filter(action="experiment.shipped").count() == 1


def test_experiment_make_decision__statsig_group_id__shipped(world):
    # Given
    control = world.running.groups[0]

    # When
    response = session_client(world.member).post(
        api_url("api-experiment-make-decision", "pricing_test"),
        {"id": control["id"], "decisionReason": "Control wins"},
        format="json",
    )

    # Then
    assert response.status_code == 200, response.content
    world.running.refresh_from_db()
    assert world.running.status == ExperimentStatus.SHIPPED
    assert world.running.launched_group_id == control["id"]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({}, 400, "required", "group"),
        ({"group": ""}, 400, "required", "group"),
        ({"group": "Nobody"}, 400, "unknown_group", "group"),
    ],
)
def test_experiment_ship__no_or_unknown_group__refused_and_still_running(
    world, body, status, code, field
):
    # Given
    before = db_state()

    # When
    response = session_client(world.member).post(
        api_url("api-experiment-ship", "pricing_test"), body, format="json"
    )

    # Then
    assert_error(response, status, code, field)
    assert db_state() == before


def test_experiment_abandon__running__abandoned_and_buckets_freed(world):
    # When
    response = session_client(world.member).put(api_url("api-experiment-abandon", "pricing_test"))

    # Then
    assert response.status_code == 200, response.content
    assert response.json()["data"]["status"] == "abandoned"
    assert response.json()["data"]["launchedGroupID"] is None
    assert not LayerBucket.objects.filter(experiment=world.running).exists()


@pytest.mark.parametrize("body", [{}, {"confirm": False}])
def test_experiment_reset__not_confirmed__refused_and_still_running(world, body):
    # Given
    before = db_state()

    # When
    response = session_client(world.member).post(
        api_url("api-experiment-reset", "pricing_test"), body, format="json"
    )

    # Then
    assert_error(response, 400, "confirmation_required", "confirm")
    assert db_state() == before


def test_experiment_reset__confirmed__draft_with_new_salts(world):
    # Given
    salts = (world.running.salt, world.running.layer_salt)

    # When
    response = session_client(world.member).post(
        api_url("api-experiment-reset", "pricing_test"), {"confirm": True}, format="json"
    )

    # Then
    assert response.status_code == 200, response.content
    assert response.json()["data"]["status"] == "setup"
    world.running.refresh_from_db()
    assert world.running.status == ExperimentStatus.DRAFT
    assert (world.running.salt, world.running.layer_salt) != salts
    assert world.running.salt not in salts
    assert world.running.layer_salt not in salts
    assert not LayerBucket.objects.filter(experiment=world.running).exists()


@pytest.mark.parametrize(
    ("method", "url_name", "name", "body"),
    [
        ("post", "api-experiment-start", "pricing_test", None),
        ("post", "api-experiment-ship", "checkout_button", {"group": "Test"}),
        ("put", "api-experiment-abandon", "checkout_button", None),
        ("post", "api-experiment-reset", "checkout_button", {"confirm": True}),
        ("delete", "api-experiment-detail", "pricing_test", None),
    ],
    ids=["start-running", "ship-draft", "abandon-draft", "reset-draft", "archive-running"],
)
def test_experiment_action__status_does_not_allow_it__conflict(world, method, url_name, name, body):
    # Given
    before = db_state()

    # When
    response = getattr(session_client(world.member), method)(
        api_url(url_name, name), body, format="json"
    )

    # Then
    assert_error(response, 409, "illegal_transition")
    assert db_state() == before


def test_experiment_archive__draft__gone_from_reads_and_name_free(world):
    # Given
    client = session_client(world.member)

    # When
    response = client.delete(api_url("api-experiment-detail", "checkout_button"))

    # Then
    assert response.status_code == 200, response.content
    assert response.json()["data"]["status"] == "archived"
    assert_error(client.get(api_url("api-experiment-detail", "checkout_button")), 404)
    names = [e["name"] for e in client.get(api_url("api-experiment-list")).json()["data"]]
    assert names == ["pricing_test"]
    again = client.post(
        api_url("api-experiment-list"), experiment_document("checkout_button"), format="json"
    )
    assert again.status_code == 201, again.content


def test_layer_archive__layer_with_experiments__conflict(world):
    # Given
    before = db_state()

    # When
    response = session_client(world.member).delete(api_url("api-layer-detail", "checkout_layer"))

    # Then
    assert_error(response, 409, "in_use")
    assert db_state() == before


def test_layer_allocation__running_and_draft_experiments__shares_free_and_pending(world):
    # Given: a draft asking for 20% of the layer
    services.experiment_create(
        actor=world.admin, project=world.project, document=layered("pending_test", 20)
    )

    # When
    response = session_client(world.viewer).get(api_url("api-layer-allocation", "checkout_layer"))

    # Then
    assert response.status_code == 200, response.content
    assert response.json()["data"] == {
        "name": "checkout_layer",
        "usedBuckets": 300,
        "freeBuckets": 700,
        "freePercent": 70.0,
        "experiments": [
            {"experimentID": "pricing_test", "status": "running", "buckets": 300, "percent": 30.0}
        ],
        "pending": [
            {"experimentID": "pending_test", "status": "draft", "buckets": 200, "percent": 20.0}
        ],
    }


# ---------------------------------------------------------------- refused inputs


def _groups(*sizes_and_colors) -> list[dict]:
    return [group(f"G{i}", size, {"color": c}) for i, (size, c) in enumerate(sizes_and_colors)]


BAD_DOCUMENTS = [
    (
        "group-sizes-not-100",
        "post",
        "api-experiment-list",
        (),
        experiment_document("e", groups=_groups((50, "a"), (40, "b"))),
        400,
        "group_sizes",
        "groups",
    ),
    (
        "parameter-value-wrong-type",
        "post",
        "api-experiment-list",
        (),
        experiment_document("e", groups=_groups((50, "a"), (50, 7))),
        400,
        "wrong_type",
        "groups[1].parameterValues.color",
    ),
    (
        "parameter-default-wrong-type",
        "post",
        "api-experiment-list",
        (),
        experiment_document("e", parameters=[parameter("color", "number", "grey")]),
        400,
        "wrong_type",
        "parameters[0].defaultValue",
    ),
    (
        "not-enough-free-layer-buckets",
        "post",
        "api-experiment-list",
        (),
        layered("e", 70.1),
        409,
        "layer_full",
        "allocation",
    ),
    (
        "running-experiment-groups-edited",
        "patch",
        "api-experiment-detail",
        ("pricing_test",),
        {"groups": _groups((60, "grey"), (40, "blue"))},
        409,
        "experiment_running",
        "groups",
    ),
    (
        "running-experiment-allocation-lowered",
        "patch",
        "api-experiment-detail",
        ("pricing_test",),
        {"allocation": 10},
        409,
        "allocation_decrease",
        "allocation",
    ),
    (
        "allocation-above-100",
        "patch",
        "api-experiment-detail",
        ("pricing_test",),
        {"allocation": 100.1},
        400,
        "percentage_out_of_range",
        "allocation",
    ),
    (
        "unknown-targeting-gate",
        "post",
        "api-experiment-list",
        (),
        experiment_document("e", targetingGateID="no_such_gate"),
        400,
        "unknown_gate",
        "targetingGateID",
    ),
    (
        "unknown-layer",
        "post",
        "api-experiment-list",
        (),
        experiment_document("e", layerID="no_such_layer"),
        400,
        "unknown_layer",
        "layerID",
    ),
    (
        "experiment-name-taken",
        "post",
        "api-experiment-list",
        (),
        experiment_document("CHECKOUT_BUTTON"),
        409,
        "duplicate",
        "name",
    ),
    (
        "holdout-above-100",
        "post",
        "api-holdout-list",
        (),
        holdout_document("h", passPercentage=100.5),
        400,
        "percentage_out_of_range",
        "passPercentage",
    ),
    (
        "holdout-patched-above-100",
        "patch",
        "api-holdout-detail",
        ("q3_holdout",),
        {"passPercentage": 101},
        400,
        "percentage_out_of_range",
        "passPercentage",
    ),
    (
        "holdout-unknown-experiment",
        "post",
        "api-holdout-list",
        (),
        holdout_document("h", experimentIDs=["nope"]),
        400,
        "unknown_experiment",
        "experimentIDs[0]",
    ),
    (
        "layer-parameter-without-default",
        "post",
        "api-layer-list",
        (),
        layer_document("l", parameters=[{"name": "color", "type": "string"}]),
        400,
        "missing_default",
        "parameters[0]",
    ),
    (
        "layer-name-taken",
        "post",
        "api-layer-list",
        (),
        layer_document("Checkout_Layer"),
        409,
        "duplicate",
        "name",
    ),
]


@pytest.mark.parametrize(
    ("method", "url_name", "args", "document", "status", "code", "field"),
    [case[1:] for case in BAD_DOCUMENTS],
    ids=[case[0] for case in BAD_DOCUMENTS],
)
def test_write__bad_input__field_named_and_nothing_saved(
    world, method, url_name, args, document, status, code, field
):
    # Given
    before = db_state()

    # When
    response = getattr(session_client(world.member), method)(
        api_url(url_name, *args), document, format="json"
    )

    # Then
    assert_error(response, status, code, field)
    assert db_state() == before


def test_experiment_patch__running_descriptions_and_allocation_raised__saved(world):
    # When
    response = session_client(world.member).patch(
        api_url("api-experiment-detail", "pricing_test"),
        {"hypothesis": "Sharper", "allocation": 45},
        format="json",
    )

    # Then
    assert response.status_code == 200, response.content
    assert LayerBucket.objects.filter(experiment=world.running).count() == 450


@pytest.mark.parametrize("body", [[experiment_document("e")], "e", 3])
def test_experiment_create__body_not_an_object__refused(world, body):
    # Given
    before = db_state()

    # When
    response = session_client(world.member).post(
        api_url("api-experiment-list"), body, format="json"
    )

    # Then
    assert_error(response, 400, "invalid_document")
    assert db_state() == before


def test_experiment_create__form_encoded_body__unsupported_media_type(world):
    # When
    response = session_client(world.member).post(
        api_url("api-experiment-list"), {"name": "e"}, format="multipart"
    )

    # Then
    assert_error(response, 415, "unsupported_media_type")
    assert not Experiment.objects.filter(name="e").exists()


def test_experiment_create__member_role_console_key__created_and_audited_as_its_creator(world):
    # Given: an admin's key capped to the member role
    secret = console_key(world.admin, world.project, Role.MEMBER)

    # When
    response = key_client(secret).post(
        api_url("api-experiment-list", project=None),
        experiment_document("by_key"),
        format="json",
    )

    # Then
    assert response.status_code == 201, response.content
    experiment = Experiment.objects.get(project=world.project, name="by_key")
    event = AuditEvent.objects.get(action="experiment.created", target_id=str(experiment.pk))
    assert event.actor_id == world.admin.pk
    assert response.json()["data"]["owner"] == world.admin.email


# ---------------------------------------------------------------- list filters


def test_experiment_list__filters__matching_experiments(world):
    # Given
    core = Tag.objects.get(project=world.project, name="core")
    tagged = ExperimentFactory(project=world.project, name="tagged", hypothesis="Needle")
    tagged.tags.set([core])
    client = session_client(world.viewer)

    def names(**query) -> list[str]:
        response = client.get(api_url("api-experiment-list", **query))
        assert response.status_code == 200, response.content
        return [e["name"] for e in response.json()["data"]]

    # When / Then
    assert names() == ["checkout_button", "pricing_test", "tagged"]
    assert names(tag="core") == ["tagged"]
    assert names(status="running") == ["pricing_test"]
    assert names(layer="CHECKOUT_LAYER") == ["pricing_test"]
    assert names(search="needle") == ["tagged"]
    assert names(search="CHECKOUT") == ["checkout_button"]
    assert names(status="draft", tag="core") == ["tagged"]


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ({"status": "paused"}, "invalid_choice", "status"),
        ({"layer": "nope"}, "unknown_layer", "layer"),
    ],
)
def test_experiment_list__bad_filter__refused(world, query, code, field):
    # When
    response = session_client(world.viewer).get(api_url("api-experiment-list", **query))

    # Then
    assert_error(response, 400, code, field)


def test_experiment_list__limit__paginated(world):
    # When
    response = session_client(world.viewer).get(api_url("api-experiment-list", limit=1))

    # Then
    body = response.json()
    assert [e["name"] for e in body["data"]] == ["checkout_button"]
    assert body["pagination"]["totalItems"] == 2
    assert body["pagination"]["nextPage"]


# ---------------------------------------------------------------- query counts


def _add_entities(kind: str, world: World, n: int) -> None:
    tags = list(Tag.objects.filter(project=world.project))
    for _ in range(n):
        if kind == "experiment":
            experiment = ExperimentFactory(
                project=world.project,
                owner=world.member,
                layer=world.layer,
                targeting_gate=world.gate,
            )
            experiment.tags.set(tags)
        elif kind == "layer":
            LayerFactory(project=world.project)
        else:
            holdout = Holdout.objects.create(
                project=world.project, name=f"holdout_{Holdout.objects.count():05d}", percentage=5
            )
            holdout.experiments.set([world.draft, world.running])


def _count_queries(client: APIClient, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(queries), len(response.json()["data"])


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("api-experiment-list", "experiment"),
        ("api-layer-list", "layer"),
        ("api-holdout-list", "holdout"),
    ],
)
@pytest.mark.parametrize("auth", ["session", "key"])
def test_list_endpoint__3_vs_30_entities__same_query_count(world, name, kind, auth):
    # Given
    if auth == "session":
        client, url = session_client(world.admin), api_url(name, limit=100)
    else:
        client = key_client(console_key(world.admin, world.project, Role.ADMIN))
        url = api_url(name, project=None, limit=100)
    client.get(url)  # warm up: the key's last use is written at most once a minute
    _add_entities(kind, world, 3)

    # When
    few, few_rows = _count_queries(client, url)
    _add_entities(kind, world, 27)
    many, many_rows = _count_queries(client, url)

    # Then
    assert many_rows == few_rows + 27
    assert few == many
    # session or key, user, project, membership, count, page, tags or experiments
    assert many <= 7
