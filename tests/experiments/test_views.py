"""HTML pages of experiments, layers and holdouts: access per role, the design editor,
refusals shown where they belong with nothing saved, lifecycle steps, "test a user",
query counts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from console.models import AuditEvent, Project, Role
from console.specs.builder import build_spec
from console.specs.evaluator import Evaluator
from experiments import services
from experiments.documents import experiment_to_document
from experiments.models import Experiment, ExperimentStatus, Holdout, Layer, LayerBucket
from reviews.models import ChangeSet, ChangeSetState
from tests.experiments.factories import (
    experiment_data,
    experiment_document,
    holdout_data,
    holdout_document,
    layer_data,
    layer_document,
    parameter,
    running_data,
)

# Editing itself: every change set applies at once (tests/experiments/test_review_paths.py
# covers the default policy, where production changes wait for review).
pytestmark = pytest.mark.usefixtures("no_review")

ROLE_RANK = {None: 0, Role.VIEWER: 1, Role.MEMBER: 2, Role.ADMIN: 3}
XSS = "<script>alert(1)</script>"


# ---------------------------------------------------------------- shared set-up


@dataclass
class World:
    project: Project
    layer: Layer
    empty_layer: Layer
    experiment: Experiment  # a draft
    running: Experiment
    holdout: Holdout


@pytest.fixture
def world(project, project_admin, project_member, project_viewer, outsider) -> World:
    layer = services.layer_create(
        actor=project_admin, project=project, document=layer_document("checkout_layer")
    )
    empty_layer = services.layer_create(
        actor=project_admin, project=project, document=layer_document("empty_layer")
    )
    experiment = services.experiment_create(
        actor=project_admin, project=project, document=experiment_document("checkout_button")
    )
    running = services.experiment_create(
        actor=project_admin,
        project=project,
        document=experiment_document(
            "checkout_copy",
            layerID="checkout_layer",
            allocation=40,
            parameters=[parameter("color", "string", None)],
        ),
    )
    running = services.experiment_start(actor=project_admin, experiment=running)
    holdout = services.holdout_create(
        actor=project_admin, project=project, document=holdout_document("q3_holdout")
    )
    return World(project, layer, empty_layer, experiment, running, holdout)


def _entity_events() -> int:
    """Audit events of the entities themselves (a change set adds its own, and the ruleset
    version's)."""
    return AuditEvent.objects.filter(action__regex=r"^(experiment|layer|holdout)\.").count()


def _db_state(project: Project) -> tuple:
    """Everything an experiments write could change, to compare before and after."""
    return (
        _entity_events(),
        AuditEvent.objects.count(),
        ChangeSet.objects.filter(project=project).count(),
        list(Experiment.objects.filter(project=project).values_list("pk", "revision", "status")),
        list(Layer.objects.filter(project=project).values_list("pk", "revision")),
        list(Holdout.objects.filter(project=project).values_list("pk", "revision")),
        LayerBucket.objects.filter(layer__project=project).count(),
    )


TEST_USER = {"environment": "", "user_id": "u-1", "email": "pat@corp.example"}

# (url name, the world's object, method, minimum role, form data)
MATRIX = [
    ("experiment-list", None, "get", Role.VIEWER, None),
    ("experiment-create", None, "get", Role.MEMBER, None),
    ("experiment-create", None, "post", Role.MEMBER, experiment_data("new_button")),
    ("experiment-detail", "experiment", "get", Role.VIEWER, None),
    ("experiment-detail", "experiment", "post", Role.MEMBER, experiment_data(None)),
    ("experiment-detail", "running", "get", Role.VIEWER, None),
    ("experiment-start", "experiment", "post", Role.MEMBER, {}),
    ("experiment-ship", "running", "post", Role.MEMBER, {"group": "Test"}),
    ("experiment-abandon", "running", "post", Role.MEMBER, {}),
    ("experiment-reset", "running", "post", Role.MEMBER, {}),
    ("experiment-archive", "experiment", "post", Role.MEMBER, {}),
    ("experiment-test", "running", "post", Role.VIEWER, TEST_USER),
    ("layer-list", None, "get", Role.VIEWER, None),
    ("layer-create", None, "get", Role.MEMBER, None),
    ("layer-create", None, "post", Role.MEMBER, layer_data()),
    ("layer-detail", "layer", "get", Role.VIEWER, None),
    ("layer-detail", "layer", "post", Role.MEMBER, layer_data(None, description="x")),
    ("layer-archive", "empty_layer", "post", Role.MEMBER, {}),
    ("layer-test", "layer", "post", Role.VIEWER, TEST_USER),
    ("holdout-list", None, "get", Role.VIEWER, None),
    ("holdout-create", None, "get", Role.MEMBER, None),
    ("holdout-create", None, "post", Role.MEMBER, holdout_data()),
    ("holdout-detail", "holdout", "get", Role.VIEWER, None),
    ("holdout-detail", "holdout", "post", Role.MEMBER, holdout_data(None, percentage="7")),
    ("holdout-archive", "holdout", "post", Role.MEMBER, {}),
]
ACTORS = ["anonymous", "outsider", Role.VIEWER, Role.MEMBER, Role.ADMIN]
READS_BY_POST = {"experiment-test", "layer-test"}


def _url(world: World, name: str, target: str | None) -> str:
    slug = world.project.slug
    if target is None:
        return reverse(name, args=[slug])
    return reverse(name, args=[slug, getattr(world, target).pk])


def _login(client, actor, request) -> str | None:
    users = {
        "outsider": "outsider",
        Role.VIEWER: "project_viewer",
        Role.MEMBER: "project_member",
        Role.ADMIN: "project_admin",
    }
    if actor != "anonymous":
        client.force_login(request.getfixturevalue(users[actor]))
    return actor if actor in ROLE_RANK else None


# ---------------------------------------------------------------- permission matrix


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize(
    ("name", "target", "method", "needed", "data"),
    MATRIX,
    ids=[f"{m[0]}-{m[1] or 'project'}-{m[2]}" for m in MATRIX],
)
def test_experiments_pages__each_role__get_the_expected_status(
    client, world, request, actor, name, target, method, needed, data
):
    # Given a project with a draft and a running experiment, two layers and a holdout
    role = _login(client, actor, request)
    url = _url(world, name, target)
    if data is TEST_USER:
        data = {**TEST_USER, "environment": str(world.project.environments.first().pk)}
    before = _db_state(world.project)

    # When they open the page or send the form
    response = client.get(url) if method == "get" else client.post(url, data)

    # Then anonymous people sign in, outsiders are asked to request access, and the role
    # decides
    if actor == "anonymous":
        assert response.status_code == 302
        assert response.url.startswith(reverse("account_login"))
    elif actor == "outsider":
        assert response.status_code == 403
        assert "is a closed project" in response.content.decode()
    elif ROLE_RANK[role] < ROLE_RANK[needed]:
        assert response.status_code == 403
    elif method == "get" or name in READS_BY_POST:
        assert response.status_code == 200
    else:
        assert response.status_code == 302, response.content.decode()[:3000]
    if method == "post" and (
        role is None or ROLE_RANK[role] < ROLE_RANK[needed] or name in READS_BY_POST
    ):
        assert _db_state(world.project) == before
    elif method == "post":
        # One change set, applied at once, whose service recorded the entity's event
        assert _entity_events() == before[0] + 1
        assert ChangeSet.objects.get(project=world.project).state == ChangeSetState.APPLIED


def test_experiment_detail__viewer__read_only_without_lifecycle_buttons(
    client, world, project_viewer
):
    # Given a viewer
    client.force_login(project_viewer)

    # When they open the draft experiment
    url = reverse("experiment-detail", args=[world.project.slug, world.experiment.pk])
    html = client.get(url).content.decode()

    # Then everything is shown but disabled; only the test panel can be used
    assert '<fieldset class="plain" disabled>' in html
    assert "Save changes" not in html
    assert "Start experiment" not in html
    assert "+ Add group" not in html
    assert "Test this user" in html
    assert "read-only access" in html


# ---------------------------------------------------------------- create and edit


def test_experiment_create__two_groups_and_parameters__saved_as_typed(
    client, project, project_member
):
    # Given a member
    client.force_login(project_member)
    data = experiment_data(
        "pricing_test",
        params=[("price", "number", "9.5"), ("show_badge", "boolean", "false")],
        groups=[
            ("Control", 50, {}),
            ("Cheaper", 50, {"price": "7", "show_badge": "true"}),
        ],
        tags=["growth"],
        **{"group-1-ids": "qa-1, qa-2"},
    )

    # When they create the experiment
    response = client.post(reverse("experiment-create", args=[project.slug]), data)

    # Then it is a draft with typed values, defaults filled in, and the override
    exp = Experiment.objects.get(project=project, name="pricing_test")
    assert response.status_code == 302
    assert response.url == reverse("experiment-detail", args=[project.slug, exp.pk])
    assert exp.status == ExperimentStatus.DRAFT
    assert [p["defaultValue"] for p in exp.parameters] == [9.5, False]
    assert exp.groups[0]["parameterValues"] == {"price": 9.5, "show_badge": False}
    assert exp.groups[1]["parameterValues"] == {"price": 7, "show_badge": True}
    assert exp.overrides[0]["unitIDs"] == ["qa-1", "qa-2"]
    assert [t.name for t in exp.tags.all()] == ["growth"]


def _refused(client, url, data, project, *, contains: str):
    before = _db_state(project)
    response = client.post(url, data)
    html = response.content.decode()
    assert response.status_code == 400
    assert "Not saved." in html
    assert contains in html, html[:4000]
    assert _db_state(project) == before
    return html


def test_experiment_create__sizes_not_100__error_on_groups_nothing_saved(
    client, world, project_member
):
    client.force_login(project_member)
    data = experiment_data("half", groups=[("A", 50, {}), ("B", 40, {})])

    html = _refused(
        client,
        reverse("experiment-create", args=[world.project.slug]),
        data,
        world.project,
        contains="Group sizes add up to 100 percent (they add up to 90)",
    )

    # The editor shows the total as off, and the typed rows come back untouched
    assert "Total 90%" in html
    assert 'value="B"' in html


def test_experiment_create__wrong_parameter_type__error_on_the_value(client, world, project_member):
    client.force_login(project_member)
    data = experiment_data(
        "typed",
        params=[("limit", "number", "3")],
        groups=[("A", 50, {}), ("B", 50, {"limit": "lots"})],
    )

    html = _refused(
        client,
        reverse("experiment-create", args=[world.project.slug]),
        data,
        world.project,
        contains="This parameter is a number: &quot;lots&quot; is not.",
    )
    assert 'class="rule group is-invalid" id="group-1"' in html


def test_experiment_create__layer_lacks_free_buckets__error_on_allocation(
    client, world, project_member
):
    # Given a layer with 40% taken by a running experiment
    client.force_login(project_member)
    data = experiment_data(
        "greedy",
        params=[("color", "string", "")],
        layer="checkout_layer",
        allocation="70",
    )

    # Then asking for 70% is refused at the allocation
    html = _refused(
        client,
        reverse("experiment-create", args=[world.project.slug]),
        data,
        world.project,
        contains="has 60% free; this experiment asks for 70%",
    )
    assert '<a href="#id_allocation">Allocation</a>' in html


def test_experiment_detail__groups_changed_while_running__refused(client, world, project_member):
    # Given a running experiment whose group sizes someone edits anyway
    client.force_login(project_member)
    exp = world.running
    data = running_data(exp, layer="checkout_layer", allocation="40")
    data["group-0-size"], data["group-1-size"] = "60", "40"
    url = reverse("experiment-detail", args=[world.project.slug, exp.pk])

    # Then the change is refused at the groups, with the way out (reset)
    html = _refused(client, url, data, world.project, contains="A running experiment keeps its")
    assert "Reset it" in html


def test_experiment_detail__running__groups_are_read_only_with_a_note(
    client, world, project_member
):
    client.force_login(project_member)
    url = reverse("experiment-detail", args=[world.project.slug, world.running.pk])

    html = client.get(url).content.decode()

    assert "The experiment is running: its parameters and groups are fixed" in html
    assert 'id="group-0-size" name="group-0-size" value="50" min="0" max="100"' in html
    assert "readonly" in html
    assert "+ Add group" not in html


def test_experiment_detail__running__description_and_allocation_grow_saved(
    client, world, project_member
):
    client.force_login(project_member)
    exp = world.running
    data = running_data(exp, layer="checkout_layer", allocation="50", description="Now 50%")

    response = client.post(reverse("experiment-detail", args=[world.project.slug, exp.pk]), data)

    assert response.status_code == 302, response.content.decode()[:3000]
    exp.refresh_from_db()
    assert exp.description == "Now 50%"
    assert exp.allocation == 50
    assert LayerBucket.objects.filter(experiment=exp).count() == 500


def test_experiment_create__unknown_targeting_gate__error_on_the_field(
    client, world, project_member
):
    client.force_login(project_member)
    data = experiment_data("targeted", targeting_gate="no_such_gate")

    html = _refused(
        client,
        reverse("experiment-create", args=[world.project.slug]),
        data,
        world.project,
        contains="This project has no gate named &#x27;no_such_gate&#x27;.",
    )
    assert '<a href="#id_targeting_gate">Targeting gate</a>' in html


def test_experiment_create__xss_in_group_name__escaped(client, world, project_member):
    client.force_login(project_member)
    data = experiment_data("xss", groups=[(XSS, 50, {}), ("B", 40, {})])

    response = client.post(reverse("experiment-create", args=[world.project.slug]), data)

    assert XSS not in response.content.decode()
    assert "&lt;script&gt;" in response.content.decode()


@pytest.mark.parametrize(
    ("action", "groups", "params"),
    [("add_group", 3, 1), ("remove_group:0", 1, 1), ("add_param", 2, 2), ("remove_param:0", 2, 0)],
)
def test_experiment_editor__buttons__rerender_the_design_and_save_nothing(
    client, world, project_member, action, groups, params
):
    client.force_login(project_member)
    before = _db_state(world.project)
    data = {**experiment_data("draft_one"), "editor_action": action}

    response = client.post(
        reverse("experiment-create", args=[world.project.slug]), data, HTTP_HX_REQUEST="true"
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="design"')
    assert html.count('class="rule group') == groups
    assert len(re.findall(r'id="param-\d+-name"', html)) == params
    assert _db_state(world.project) == before


# ---------------------------------------------------------------- lifecycle


def _post(client, world, name, exp, data=None):
    return client.post(reverse(name, args=[world.project.slug, exp.pk]), data or {}, follow=True)


def test_lifecycle__start_ship_reset_archive__each_step_applied(client, world, project_member):
    client.force_login(project_member)
    exp = world.experiment

    response = _post(client, world, "experiment-start", exp)
    exp.refresh_from_db()
    assert exp.status == ExperimentStatus.RUNNING
    assert "users are being assigned" in response.content.decode()

    response = _post(client, world, "experiment-ship", exp, {"group": "Test"})
    exp.refresh_from_db()
    assert exp.status == ExperimentStatus.SHIPPED
    assert "Shipped Test: everyone now gets its values." in response.content.decode()
    env = world.project.environments.get(name="production")
    spec = build_spec(world.project, env, time_ms=1_700_000_000_000)
    result = Evaluator(spec).get_experiment({"userID": "x"}, exp.name)
    assert (result.rule_id, result.value) == ("launchedGroup", {"color": "blue"})

    _post(client, world, "experiment-reset", exp)
    exp.refresh_from_db()
    assert exp.status == ExperimentStatus.DRAFT

    response = _post(client, world, "experiment-archive", exp)
    exp.refresh_from_db()
    assert exp.status == ExperimentStatus.ARCHIVED
    assert response.redirect_chain[-1][0] == reverse("experiment-list", args=[world.project.slug])


def test_lifecycle__abandon__everyone_gets_defaults(client, world, project_member):
    client.force_login(project_member)

    _post(client, world, "experiment-abandon", world.running)

    world.running.refresh_from_db()
    assert world.running.status == ExperimentStatus.ABANDONED
    assert not LayerBucket.objects.filter(experiment=world.running).exists()


def test_lifecycle__illegal_step__message_and_nothing_changes(client, world, project_member):
    client.force_login(project_member)
    before = _db_state(world.project)

    response = _post(client, world, "experiment-start", world.running)

    assert "A running experiment cannot be started." in response.content.decode()
    assert _db_state(world.project) == before


def test_lifecycle__ship_unknown_group__message(client, world, project_member):
    client.force_login(project_member)

    response = _post(client, world, "experiment-ship", world.running, {"group": "Nope"})

    assert "The experiment has no group &#x27;Nope&#x27;." in response.content.decode()
    world.running.refresh_from_db()
    assert world.running.status == ExperimentStatus.RUNNING


def test_lifecycle__confirmations__say_what_users_will_see(client, world, project_member):
    client.force_login(project_member)

    draft = client.get(
        reverse("experiment-detail", args=[world.project.slug, world.experiment.pk])
    ).content.decode()
    running = client.get(
        reverse("experiment-detail", args=[world.project.slug, world.running.pk])
    ).content.decode()

    assert "100% of eligible users will be split into Control (50%), Test (50%)" in draft
    assert "Everyone gets Test’s values: color = &quot;blue&quot;" in running
    assert "Everyone gets the defaults: color = &quot;grey&quot;" in running
    assert "re-randomizes everyone with a new salt: past assignments are lost" in running


# ---------------------------------------------------------------- test a user


def _test_user(client, world, name, obj, **user):
    env = world.project.environments.get(name="production")
    data = {"environment": str(env.pk), **user}
    return client.post(reverse(name, args=[world.project.slug, obj.pk]), data, HTTP_HX_REQUEST="1")


def test_test_panel__running_experiment__user_in_a_group(
    client, world, project_viewer, project_admin
):
    # Given the running experiment raised to all of its layer, and a viewer
    client.force_login(project_viewer)
    services.experiment_update(
        actor=project_admin,
        experiment=world.running,
        document={**_doc(world.running), "allocation": 100},
    )

    html = _test_user(client, world, "experiment-test", world.running, user_id="u-1").content
    html = html.decode()

    assert "In the experiment" in html
    assert "In group " in html
    assert "was assigned to" in html


def _doc(exp: Experiment) -> dict[str, Any]:
    exp.refresh_from_db()
    return dict(experiment_to_document(exp))


def test_test_panel__override__says_override(client, world, project_member):
    client.force_login(project_member)
    services.experiment_update(
        actor=world.experiment.created_by,
        experiment=world.experiment,
        document={
            **_doc(world.experiment),
            "overrides": [{"group": "Test", "unitIDs": ["qa-1"], "segments": []}],
        },
    )

    html = _test_user(client, world, "experiment-test", world.experiment, user_id="qa-1")

    assert "Forced into Test" in html.content.decode()


def test_test_panel__draft__prestart_defaults(client, world, project_member):
    client.force_login(project_member)

    html = _test_user(client, world, "experiment-test", world.experiment, user_id="u-1")

    html = html.content.decode()
    assert "Not started" in html
    assert "&quot;color&quot;: &quot;grey&quot;" in html


def test_test_panel__layer__names_the_experiment_or_not_allocated(client, world, project_member):
    client.force_login(project_member)
    outcomes = set()
    for n in range(30):
        html = _test_user(client, world, "layer-test", world.layer, user_id=f"u-{n}")
        text = html.content.decode()
        assert html.status_code == 200
        outcomes.add("Allocated to checkout_copy" in text)
        if "Allocated to checkout_copy" not in text:
            assert "Not allocated" in text
    assert outcomes == {True, False}


# ---------------------------------------------------------------- layers and holdouts


def test_layer_detail__allocation_bar__running_share_drafts_and_free(client, world, project_member):
    client.force_login(project_member)
    services.experiment_create(
        actor=world.experiment.created_by,
        project=world.project,
        document=experiment_document(
            "next_up",
            layerID="checkout_layer",
            allocation=25,
            parameters=[parameter("color", "string", None)],
        ),
    )

    html = client.get(
        reverse("layer-detail", args=[world.project.slug, world.layer.pk])
    ).content.decode()

    assert 'data-width="40.0"' in html
    assert "checkout_copy · 40%" in html
    assert "Free · 60%" in html
    assert "draft, will ask for 25%" in html


def test_layer_create__bad_default__error_on_the_parameter(client, world, project_member):
    client.force_login(project_member)

    _refused(
        client,
        reverse("layer-create", args=[world.project.slug]),
        layer_data("numbers", params=[("limit", "number", "many")]),
        world.project,
        contains="This parameter is a number",
    )


def test_holdout_create__150_percent__error_on_the_percentage(client, world, project_member):
    client.force_login(project_member)

    html = _refused(
        client,
        reverse("holdout-create", args=[world.project.slug]),
        holdout_data("too_big", percentage="150"),
        world.project,
        contains="The holdout percentage is between 0 and 100 percent.",
    )
    assert '<a href="#id_percentage">Held out</a>' in html


def test_holdout_create__chosen_experiments__linked(client, world, project_member):
    client.force_login(project_member)

    client.post(
        reverse("holdout-create", args=[world.project.slug]),
        holdout_data("picky", experiments=["checkout_button"]),
    )

    holdout = Holdout.objects.get(name="picky")
    assert [e.name for e in holdout.experiments.all()] == ["checkout_button"]


# ---------------------------------------------------------------- lists


def test_experiment_list__filters_by_status_tag_and_search(client, world, project_member):
    client.force_login(project_member)
    url = reverse("experiment-list", args=[world.project.slug])

    running = client.get(url, {"status": "running"}).content.decode()
    search = client.get(url, {"q": "checkout_b"}, HTTP_HX_REQUEST="true").content.decode()
    none = client.get(url, {"tag": "growth"}).content.decode()

    assert "checkout_copy" in running
    assert "checkout_button" not in running
    assert search.lstrip().startswith('<section class="card" id="experiment-results">')
    assert "checkout_button" in search
    assert "checkout_copy" not in search
    assert "No experiments match these filters" in none


def test_experiment_list__empty__invites_to_create(client, project, project_member):
    client.force_login(project_member)

    html = client.get(reverse("experiment-list", args=[project.slug])).content.decode()

    assert "Create your first experiment" in html


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx)


@pytest.mark.parametrize("name", ["experiment-list", "layer-list", "holdout-list"])
def test_lists__many_rows__constant_queries(client, project, project_member, name):
    # Given rows with tags, an owner, layers and holdouts
    client.force_login(project_member)
    tags = [t.name for t in project.tags.all()[:2]]

    def add(start: int, n: int) -> None:
        for i in range(start, start + n):
            layer = services.layer_create(
                actor=project_member, project=project, document=layer_document(f"layer_{i}")
            )
            exp = services.experiment_create(
                actor=project_member,
                project=project,
                document=experiment_document(
                    f"exp_{i}",
                    tags=tags,
                    layerID=layer.name,
                    allocation=10,
                    parameters=[parameter("color", "string", None)],
                ),
            )
            services.experiment_start(actor=project_member, experiment=exp)
            services.holdout_create(
                actor=project_member,
                project=project,
                document=holdout_document(f"holdout_{i}", experimentIDs=[exp.name]),
            )

    url = reverse(name, args=[project.slug])
    add(0, 2)
    few = _queries(client, url)
    add(2, 4)
    many = _queries(client, url)

    assert many == few
