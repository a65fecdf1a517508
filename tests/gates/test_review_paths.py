"""Every write of the gates app goes through a change set. With the default policy
(production needs one approval) each page, API endpoint and the demo propose a change set
that waits for review and change nothing; the editors edit their author's open change set;
the Django admin cannot change gates, segments or configs; and no adapter calls a write
service directly."""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

import gates
from console.models import Project, User
from gates import services
from gates.documents import gate_to_document
from gates.models import DynamicConfig, FeatureGate, Segment, SegmentID
from reviews.models import ChangeSet, ChangeSetSource, ChangeSetState
from reviews.services import ChangeInput, changeset_submit
from tests.api_support import api_url_for, session_client, without_metadata
from tests.gates.factories import config_document, gate_document, rule, segment_document
from tests.gates.test_api import answered
from tests.gates.test_views import config_data, gate_data, segment_data

api_url = api_url_for("gates-api")


@dataclass
class World:
    project: Project
    member: User
    gate: FeatureGate
    segment: Segment
    id_list: Segment  # u-1, u-2, u-3
    config: DynamicConfig


@pytest.fixture
def world(project, project_admin, project_member) -> World:
    """Entities made by the services themselves (set-up, not the path under test)."""

    def make(service, document):
        return service(actor=project_admin, project=project, document=document)

    id_list = make(services.segment_create, segment_document("beta", type="id_list"))
    services.segment_ids_add(actor=project_admin, segment=id_list, ids=["u-1", "u-2", "u-3"])
    id_list.refresh_from_db()
    return World(
        project=project,
        member=project_member,
        gate=make(services.gate_create, gate_document("new_checkout", rules=[rule()])),
        segment=make(services.segment_create, segment_document("employees", rules=[rule()])),
        id_list=id_list,
        config=make(services.dynamic_config_create, config_document("checkout_settings")),
    )


def configuration(project: Project) -> tuple:
    """Every gates row a write could change."""
    return (
        list(FeatureGate.objects.filter(project=project).values_list("pk", "revision")),
        list(Segment.objects.filter(project=project).values_list("pk", "revision", "id_count")),
        list(DynamicConfig.objects.filter(project=project).values_list("pk", "revision")),
        sorted(
            SegmentID.objects.filter(segment__project=project).values_list("unit_id", flat=True)
        ),
    )


def pending_change(project: Project, source: str):
    """The one change set made, in review, and its one change."""
    change_set = ChangeSet.objects.get(project=project)
    assert change_set.state == ChangeSetState.IN_REVIEW
    assert change_set.source == source
    assert "production" in change_set.environments
    change = change_set.changes.get()
    return change_set, change


def csv(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("ids.csv", text.encode(), content_type="text/csv")


# ---------------------------------------------------------------- pages

# A change of behaviour (the SDKs answer differently in every environment, production too);
# a description alone changes no environment's spec and so needs no review.
HALF = rule("Half", pass_percentage=50)

PAGE_WRITES = [
    # (id, url name, the world's object or None, form data, kind, action, entity name)
    (
        "gate-create",
        "gate-create",
        None,
        lambda w: gate_data("fresh", [HALF]),
        "gate",
        "create",
        "fresh",
    ),
    (
        "gate-edit",
        "gate-detail",
        "gate",
        lambda w: gate_data(None, [HALF], revision=str(w.gate.revision)),
        "gate",
        "update",
        "new_checkout",
    ),
    ("gate-archive", "gate-archive", "gate", lambda w: {}, "gate", "archive", "new_checkout"),
    (
        "segment-create",
        "segment-create",
        None,
        lambda w: segment_data("fresh", rules=[HALF]),
        "segment",
        "create",
        "fresh",
    ),
    (
        "segment-edit",
        "segment-detail",
        "segment",
        lambda w: segment_data(None, rules=[HALF], revision=str(w.segment.revision)),
        "segment",
        "update",
        "employees",
    ),
    (
        "segment-archive",
        "segment-archive",
        "segment",
        lambda w: {},
        "segment",
        "archive",
        "employees",
    ),
    (
        "config-create",
        "config-create",
        None,
        lambda w: config_data("fresh"),
        "dynamic_config",
        "create",
        "fresh",
    ),
    (
        "config-edit",
        "config-detail",
        "config",
        lambda w: config_data(None, [HALF], revision=str(w.config.revision)),
        "dynamic_config",
        "update",
        "checkout_settings",
    ),
    (
        "config-archive",
        "config-archive",
        "config",
        lambda w: {},
        "dynamic_config",
        "archive",
        "checkout_settings",
    ),
]


@pytest.mark.parametrize(
    ("url_name", "target", "data", "kind", "action", "name"),
    [case[1:] for case in PAGE_WRITES],
    ids=[case[0] for case in PAGE_WRITES],
)
def test_entity_page__default_policy__change_set_in_review_and_nothing_changes(
    client, world, url_name, target, data, kind, action, name
):
    # Given a member on a project whose production needs one approval
    client.force_login(world.member)
    args = [world.project.slug] + ([getattr(world, target).pk] if target else [])
    before = configuration(world.project)

    # When they save the form (or archive)
    response = client.post(reverse(url_name, args=args), data(world))

    # Then the page sends them to the change set, which holds the change, and nothing changed
    change_set, change = pending_change(world.project, ChangeSetSource.BROWSER)
    assert response.status_code == 302
    assert response.url == reverse("changeset-detail", args=[world.project.slug, 1])
    assert configuration(world.project) == before
    assert (change.kind, change.action, change.entity_name) == (kind, action, name)
    assert change_set.author == world.member
    if action == "update":
        entity = getattr(world, target)
        assert change.entity_id == entity.pk
        assert change.base_revision == entity.revision
        assert [r["passPercentage"] for r in change.payload["rules"]] == [50]
    if action == "create":
        assert change.payload["name"] == name
        assert change.entity_id is None


def test_gate_edit__description_only__applied_at_once_and_saved_message(client, world):
    # Given: a description is not in any environment's spec, so no review is needed
    client.force_login(world.member)
    url = reverse("gate-detail", args=[world.project.slug, world.gate.pk])

    saved_rules = gate_to_document(world.gate)["rules"]  # with their ids (and so salts)

    # When
    response = client.post(
        url, gate_data(None, saved_rules, description="Words", revision="1"), follow=True
    )

    # Then: applied at once through a change set, and the page says it was saved
    change_set = ChangeSet.objects.get(project=world.project)
    assert (change_set.state, change_set.environments) == (ChangeSetState.APPLIED, [])
    assert response.redirect_chain[-1][0] == url
    assert "Gate new_checkout saved." in response.content.decode()
    assert FeatureGate.objects.get(pk=world.gate.pk).description == "Words"


def test_entity_page__pending__message_says_it_waits_for_review(client, world):
    # Given
    client.force_login(world.member)

    # When
    response = client.post(
        reverse("gate-create", args=[world.project.slug]), gate_data("fresh", [HALF]), follow=True
    )

    # Then
    assert "Change set #1 is waiting for review" in response.content.decode()


def test_gate_edit__stale_revision__refused_and_no_change_set(client, world):
    # Given someone saved the gate after the member opened it
    client.force_login(world.member)
    opened = world.gate.revision
    services.gate_update(
        actor=world.member,
        gate=world.gate,
        document=gate_document("new_checkout", rules=[rule()], description="theirs"),
    )

    # When the member saves their older copy
    response = client.post(
        reverse("gate-detail", args=[world.project.slug, world.gate.pk]),
        gate_data(None, description="mine", revision=str(opened)),
    )

    # Then it is refused as before, and nothing is proposed
    assert response.status_code == 400
    assert "It changed since you opened it" in response.content.decode()
    assert not ChangeSet.objects.exists()


def test_entity_page__invalid_document__error_on_the_rule_and_no_change_set(client, world):
    # Given
    client.force_login(world.member)

    # When
    response = client.post(
        reverse("gate-create", args=[world.project.slug]),
        gate_data("g", [rule("Too much", pass_percentage=150)]),
    )

    # Then the dry run's error lands on the rule
    assert response.status_code == 400
    assert 'class="rule is-invalid" id="rule-0"' in response.content.decode()
    assert not ChangeSet.objects.exists()


ID_PAGE_WRITES = [
    ("add", "segment-ids-add", lambda: {"ids": "u-7 u-8"}, "ids_add", ["u-7", "u-8"]),
    ("remove", "segment-ids-remove", lambda: {"ids": "u-1"}, "ids_remove", ["u-1"]),
    (
        "upload-add",
        "segment-ids-upload",
        lambda: {"file": csv("id\nu-9\nu-10\n"), "mode": "add"},
        "ids_add",
        ["u-9", "u-10"],
    ),
    (
        "upload-replace",
        "segment-ids-upload",
        lambda: {"file": csv("id\nu-3\nu-4\n"), "mode": "replace"},
        "ids_replace",
        ["u-3", "u-4"],
    ),
]


@pytest.mark.parametrize(
    ("url_name", "data", "action", "ids"),
    [case[1:] for case in ID_PAGE_WRITES],
    ids=[case[0] for case in ID_PAGE_WRITES],
)
def test_segment_ids_page__default_policy__change_set_with_the_ids(
    client, world, url_name, data, action, ids
):
    # Given
    client.force_login(world.member)
    before = configuration(world.project)

    # When
    response = client.post(reverse(url_name, args=[world.project.slug, world.id_list.pk]), data())

    # Then
    change_set, change = pending_change(world.project, ChangeSetSource.BROWSER)
    assert response.status_code == 302
    assert response.url == reverse("changeset-detail", args=[world.project.slug, 1])
    assert configuration(world.project) == before
    assert (change.kind, change.action, change.entity_id) == ("segment", action, world.id_list.pk)
    assert change.payload == {"ids": ids}


def test_segment_ids_upload__malformed_csv__error_on_the_file_and_no_change_set(client, world):
    client.force_login(world.member)
    response = client.post(
        reverse("segment-ids-upload", args=[world.project.slug, world.id_list.pk]),
        {"file": csv("a,b\n"), "mode": "replace"},
    )
    assert response.status_code == 400
    assert "Line 1 has 2 values" in response.content.decode()
    assert not ChangeSet.objects.exists()


def test_segment_ids_upload__file_past_the_limit__error_on_the_file_and_no_change_set(
    client, world, settings
):
    settings.GATEHOUSE_MAX_ID_FILE_BYTES = 1_000
    client.force_login(world.member)
    response = client.post(
        reverse("segment-ids-upload", args=[world.project.slug, world.id_list.pk]),
        {"file": csv("".join(f"user-{n}\n" for n in range(200))), "mode": "add"},
    )
    assert response.status_code == 400
    assert "one upload takes at most" in response.content.decode()
    assert not ChangeSet.objects.exists()


def test_entity_page__viewer__403_and_no_change_set(client, world, project_viewer):
    client.force_login(project_viewer)
    response = client.post(reverse("gate-create", args=[world.project.slug]), gate_data("g"))
    assert response.status_code == 403
    assert not ChangeSet.objects.exists()


# ---------------------------------------------------------------- API

API_WRITES = [
    # (id, method, url name, entity name or None, body, format, kind, action)
    (
        "gate-create",
        "post",
        "api-gate-list",
        None,
        gate_document("fresh", rules=[HALF]),
        "gate",
        "create",
    ),
    (
        "gate-replace",
        "post",
        "api-gate-detail",
        "new_checkout",
        gate_document("new_checkout", rules=[HALF]),
        "gate",
        "update",
    ),
    (
        "gate-patch",
        "patch",
        "api-gate-detail",
        "new_checkout",
        {"isEnabled": False},
        "gate",
        "update",
    ),
    ("gate-archive", "delete", "api-gate-detail", "new_checkout", None, "gate", "archive"),
    ("gate-disable", "post", "api-gate-disable", "new_checkout", None, "gate", "update"),
    (
        "segment-create",
        "post",
        "api-segment-list",
        None,
        segment_document("fresh", rules=[HALF]),
        "segment",
        "create",
    ),
    (
        "segment-patch",
        "patch",
        "api-segment-detail",
        "employees",
        {"rules": [HALF]},
        "segment",
        "update",
    ),
    ("segment-archive", "delete", "api-segment-detail", "employees", None, "segment", "archive"),
    (
        "config-create",
        "post",
        "api-dynamic-config-list",
        None,
        config_document("fresh"),
        "dynamic_config",
        "create",
    ),
    (
        "config-patch",
        "patch",
        "api-dynamic-config-detail",
        "checkout_settings",
        {"defaultValue": {"theme": "dark"}},
        "dynamic_config",
        "update",
    ),
    (
        "config-archive",
        "delete",
        "api-dynamic-config-detail",
        "checkout_settings",
        None,
        "dynamic_config",
        "archive",
    ),
]


@pytest.mark.parametrize(
    ("method", "url_name", "name", "body", "kind", "action"),
    [case[1:] for case in API_WRITES],
    ids=[case[0] for case in API_WRITES],
)
def test_api_write__default_policy__202_with_the_change_set_and_nothing_changes(
    world, method, url_name, name, body, kind, action
):
    # Given
    before = configuration(world.project)
    url = api_url(url_name, name) if name else api_url(url_name)
    current = {
        "gate": world.gate,
        "segment": world.segment,
        "dynamic_config": world.config,
    }[kind]

    # When
    response = getattr(session_client(world.member), method)(url, body, format="json")

    # Then
    assert response.status_code == 202, response.content
    change_set, change = pending_change(world.project, ChangeSetSource.API)
    assert response.json()["data"]["changeSet"] == {
        "id": change_set.number,
        "state": "in_review",
        "title": change_set.title,
        "environments": change_set.environments,
        "url": reverse("changeset-detail", args=[world.project.slug, change_set.number]),
    }
    assert "waiting for review" in response.json()["message"]
    assert configuration(world.project) == before
    assert (change.kind, change.action) == (kind, action)
    if action == "create":
        assert change.payload == body
    else:
        assert (change.entity_id, change.base_revision) == (current.pk, current.revision)
    if method == "patch":
        # the whole document, merged: the PATCH's key over the current document's
        assert change.payload == {**change.before, **body}
    if url_name == "api-gate-disable":
        assert change.payload == {**change.before, "isEnabled": False}


API_ID_WRITES = [
    ("add", "post", {"ids": ["u-7"]}, "json", "ids_add", ["u-7"]),
    ("remove", "delete", {"ids": ["u-1"]}, "json", "ids_remove", ["u-1"]),
    ("replace", "put", None, "multipart", "ids_replace", ["u-2", "u-8"]),
]


@pytest.mark.parametrize(
    ("method", "body", "fmt", "action", "ids"),
    [case[1:] for case in API_ID_WRITES],
    ids=[case[0] for case in API_ID_WRITES],
)
def test_api_segment_ids__default_policy__202_with_the_ids(world, method, body, fmt, action, ids):
    # Given
    before = configuration(world.project)
    body = body or {"file": csv("userID\nu-2\nu-8\n")}

    # When
    response = getattr(session_client(world.member), method)(
        api_url("api-segment-id-list", "beta"), body, format=fmt
    )

    # Then
    assert response.status_code == 202, response.content
    change_set, change = pending_change(world.project, ChangeSetSource.API)
    assert response.json()["data"]["changeSet"]["id"] == change_set.number
    assert configuration(world.project) == before
    assert (change.kind, change.action, change.entity_id) == ("segment", action, world.id_list.pk)
    assert change.payload == {"ids": ids}


def test_api_patch__stale_entity__409_and_no_change_set(world, monkeypatch):
    # Given the view read revision 1, then someone else wrote revision 2
    stale = FeatureGate.objects.select_related("project", "owner").get(pk=world.gate.pk)
    services.gate_update(
        actor=world.member,
        gate=world.gate,
        document=gate_document("new_checkout", rules=[rule()], description="theirs"),
    )
    monkeypatch.setattr("gates.api.views._gate", lambda project, name: stale)

    # When
    response = session_client(world.member).patch(
        api_url("api-gate-detail", "new_checkout"), {"description": "mine"}, format="json"
    )

    # Then
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "stale_revision"
    assert not ChangeSet.objects.exists()


def test_api_patch__same_value__200_and_no_change_set(world):
    # When: the description it already has
    response = session_client(world.member).patch(
        api_url("api-gate-detail", "new_checkout"),
        {"description": world.gate.description},
        format="json",
    )

    # Then: nothing to propose
    assert response.status_code == 200, response.content
    assert not ChangeSet.objects.exists()


def test_api_patch__development_only_rule__applied_at_once(world):
    # Given: a rule limited to development (an environment that needs no review)
    saved_rules = gate_to_document(world.gate)["rules"]  # with their ids (and so salts)
    document = {"rules": [*saved_rules, rule("Devs", environments=["development"])]}

    # When
    response = session_client(world.member).patch(
        api_url("api-gate-detail", "new_checkout"), document, format="json"
    )

    # Then: applied at once, answered as before with the document
    assert response.status_code == 200, response.content
    assert [r["name"] for r in response.json()["data"]["rules"]] == ["Everyone", "Devs"]
    change_set = ChangeSet.objects.get(project=world.project)
    assert (change_set.state, change_set.environments) == (ChangeSetState.APPLIED, ["development"])
    assert FeatureGate.objects.get(pk=world.gate.pk).revision == world.gate.revision + 1


def test_api_create__invalid_document__400_with_the_field_and_no_change_set(world):
    response = session_client(world.member).post(
        api_url("api-gate-list"), gate_document("g", rules=[rule(pass_percentage=101)]), "json"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "rules[0].passPercentage"
    assert not ChangeSet.objects.exists()


# ---------------------------------------------------------------- editing a change set


def _propose_description(world, description: str) -> ChangeSet:
    """The member's change set switching the gate off, with a new description."""
    document = {**gate_to_document(world.gate), "isEnabled": False, "description": description}
    change_set = changeset_submit(
        actor=world.member,
        project=world.project,
        changes=[ChangeInput("gate", "update", "new_checkout", document, world.gate.revision)],
    )
    assert change_set.state == ChangeSetState.IN_REVIEW
    return change_set


def test_gate_editor__own_change_set__prefilled_from_the_proposal(client, world):
    # Given the member's change set proposing a new description
    change_set = _propose_description(world, "Proposed words")
    client.force_login(world.member)

    # When they open the gate's editor on it
    url = reverse("gate-detail", args=[world.project.slug, world.gate.pk])
    html = client.get(url, {"change_set": change_set.number}).content.decode()

    # Then the form shows the proposal, and saving goes to the change set
    assert "\nProposed words</textarea>" in html
    assert f"Save to change set #{change_set.number}" in html
    assert f'name="change_set" value="{change_set.number}"' in html


def test_gate_editor__own_change_set__saved_into_it_and_nothing_applied(client, world):
    # Given
    change_set = _propose_description(world, "Proposed words")
    client.force_login(world.member)
    before = configuration(world.project)

    # When the member edits the proposal and saves
    response = client.post(
        reverse("gate-detail", args=[world.project.slug, world.gate.pk]),
        gate_data(
            None,
            [HALF],
            description="Better words",
            change_set=str(change_set.number),
            revision=str(world.gate.revision),
        ),
    )

    # Then the change set holds the new document, still in review, still on the same base
    assert response.status_code == 302, response.content.decode()[:3000]
    assert response.url == reverse("changeset-detail", args=[world.project.slug, 1])
    change_set.refresh_from_db()
    change = change_set.changes.get()
    assert change_set.state == ChangeSetState.IN_REVIEW
    assert (change.action, change.base_revision) == ("update", world.gate.revision)
    assert change.payload["description"] == "Better words"
    assert [r["passPercentage"] for r in change.payload["rules"]] == [50]
    assert configuration(world.project) == before
    assert ChangeSet.objects.count() == 1


def test_gate_page__open_change_set__listed_with_an_edit_link_for_its_author(
    client, world, project_admin
):
    # Given the member's change set waiting to switch the gate off
    change_set = _propose_description(world, "Proposed words")
    url = reverse("gate-detail", args=[world.project.slug, world.gate.pk])
    edit_link = f'href="?change_set={change_set.number}&amp;change=0"'

    # When its author and then someone else open the gate
    client.force_login(world.member)
    mine = client.get(url).content.decode()
    client.force_login(project_admin)
    theirs = client.get(url).content.decode()

    # Then both see it waiting, and only the author is offered to edit it
    detail = reverse("changeset-detail", args=[world.project.slug, change_set.number])
    for html in (mine, theirs):
        assert "Waiting to change this gate" in html
        assert f'href="{detail}"' in html
    assert edit_link in mine
    assert edit_link not in theirs


def test_gate_editor__someone_elses_change_set__403(client, world, project_admin):
    change_set = _propose_description(world, "Proposed words")
    client.force_login(project_admin)
    url = reverse("gate-detail", args=[world.project.slug, world.gate.pk])
    assert client.get(url, {"change_set": change_set.number}).status_code == 403


def test_create_page__own_change_set__prefilled_and_saved_into_it(client, world):
    # Given the member's change set creating a segment
    change_set = changeset_submit(
        actor=world.member,
        project=world.project,
        changes=[
            ChangeInput("segment", "create", "staff", segment_document("staff", rules=[HALF]))
        ],
    )
    client.force_login(world.member)
    url = reverse("segment-create", args=[world.project.slug])

    # When they open the new-segment page on it, then save another description
    html = client.get(url, {"change_set": change_set.number}).content.decode()
    response = client.post(
        url,
        segment_data(
            "staff",
            rules=[HALF],
            description="Staff only",
            change_set=str(change_set.number),
        ),
    )

    # Then
    assert 'value="staff"' in html
    assert response.status_code == 302, response.content.decode()[:3000]
    change = ChangeSet.objects.get().changes.get()
    assert (change.action, change.payload["description"]) == ("create", "Staff only")
    assert not Segment.objects.filter(name="staff").exists()


# ---------------------------------------------------------------- no direct writes

# Unit types are project settings; the rollout controls hold, carry on or end a schedule a
# change set approved (gates/services/rollouts.py): neither defines configuration.
DIRECT_WRITES = (
    "SegmentIdsChange",
    "unit_type_create",
    "gate_rollout_pause",
    "gate_rollout_resume",
    "gate_rollout_stop",
    "rollouts_advance_due",
)
WRITE_SERVICES = {
    name
    for name in services.__all__
    if callable(getattr(services, name)) and name not in DIRECT_WRITES
}
ADAPTERS = ["api/views.py", "api/serializers.py", "demo.py"]


def _adapter_sources() -> list[Path]:
    root = Path(inspect.getfile(gates)).parent
    commands = sorted((root / "management" / "commands").glob("*.py"))
    pages = sorted((root / "views").glob("*.py")) + sorted((root / "forms").glob("*.py"))
    assert pages, "gates/views/ and gates/forms/ hold the pages and their forms"
    return pages + [root / name for name in ADAPTERS] + commands


def _direct_calls(source: str) -> set[str]:
    """Write services a module calls as `services.<name>` or imports from gates.services."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "services"
        ):
            found.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gates.services"):
            found.update(alias.name for alias in node.names)
    return found & WRITE_SERVICES


@pytest.mark.parametrize("path", _adapter_sources(), ids=lambda p: p.name)
def test_adapters__no_direct_write_service_call(path):
    # Unit types are project settings, not spec entities: their writes stay direct.
    assert not _direct_calls(path.read_text()), f"{path.name} writes around change sets"


# ---------------------------------------------------------------- the short path


def test_create_page__gate_nobody_passes__applied_at_once_without_review(client, world):
    # Given the default policy (production needs review)
    client.force_login(world.member)

    # When a member creates a gate with no rule yet
    response = client.post(
        reverse("gate-create", args=[world.project.slug]), gate_data("quiet"), follow=True
    )

    # Then it is created at once: no SDK answer changes, so nothing waits for review
    gate = FeatureGate.objects.get(project=world.project, name="quiet")
    assert response.redirect_chain[-1][0] == reverse(
        "gate-detail", args=[world.project.slug, gate.pk]
    )
    assert "Gate quiet created." in response.content.decode()
    change_set = ChangeSet.objects.get(project=world.project)
    assert (change_set.state, change_set.environments) == (ChangeSetState.APPLIED, [])


def _unchanged_gate_data(world):
    doc = gate_to_document(world.gate)
    return gate_data(
        None,
        doc["rules"],
        description=doc["description"],
        owner=doc["owner"] or "",
        revision=str(world.gate.revision),
    )


def test_edit_page__saved_unchanged__nothing_recorded_and_says_so(client, world):
    # Given the gate's page as loaded
    client.force_login(world.member)
    url = reverse("gate-detail", args=[world.project.slug, world.gate.pk])
    before = configuration(world.project)

    # When the member saves it without changing anything
    response = client.post(url, _unchanged_gate_data(world), follow=True)

    # Then they are told, and there is no change set and no change
    assert response.redirect_chain[-1][0] == url
    assert "Nothing to save: the feature gate &#x27;new_checkout&#x27; is unchanged." in (
        response.content.decode()
    )
    assert not ChangeSet.objects.exists()
    assert configuration(world.project) == before


@pytest.mark.parametrize(
    ("rules", "says", "not_says"),
    [
        ([HALF], "Submit for review", "Applies at once"),
        ("same", "data-unchanged", "Submit for review"),
    ],
    ids=["rule-change", "unchanged"],
)
def test_edit_page__save_check__button_says_what_saving_does_and_saves_nothing(
    client, world, rules, says, not_says
):
    # Given the gate's page, its form changed (or not)
    client.force_login(world.member)
    url = reverse("gate-detail", args=[world.project.slug, world.gate.pk])
    data = _unchanged_gate_data(world)
    if rules != "same":
        data = gate_data(None, rules, revision=str(world.gate.revision))
    before = configuration(world.project)

    # When the save bar asks what saving would do
    response = client.post(url, {**data, "save_check": "1"}, HTTP_HX_REQUEST="true")

    # Then it answers in the button, and nothing is saved
    html = response.content.decode()
    assert response.status_code == 200
    assert says in html
    assert not_says not in html
    assert "<form" not in html  # the save bar's button, not the page
    assert not ChangeSet.objects.exists()
    assert configuration(world.project) == before


def test_create_page__save_check__a_gate_nobody_passes_applies_at_once(client, world):
    client.force_login(world.member)
    url = reverse("gate-create", args=[world.project.slug])
    response = client.post(url, {**gate_data("quiet"), "save_check": "1"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "Create gate" in html
    assert "Applies at once" in html
    assert not FeatureGate.objects.filter(name="quiet").exists()
    assert not ChangeSet.objects.exists()


def test_api_patch__nothing_changes__200_unchanged_and_no_change_set(world):
    # Given the live gate, and a PATCH setting what it already has
    before = configuration(world.project)
    client = session_client(world.member)

    # When
    response = client.patch(
        api_url("api-gate-detail", "new_checkout"),
        {"description": world.gate.description, "rules": gate_to_document(world.gate)["rules"]},
        format="json",
    )

    # Then it answers with the gate as it is, and nothing is proposed or saved
    assert response.status_code == 200, response.content
    assert response.json()["message"] == "Gate unchanged."
    assert without_metadata(response.json()["data"], keep_id=True) == answered(
        gate_to_document(world.gate)
    )
    assert not ChangeSet.objects.exists()
    assert configuration(world.project) == before


# ---------------------------------------------------------------- the archive button


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return " ".join(response.content.decode().split())


@pytest.mark.parametrize(
    ("target", "kind"), [("gate", "gate"), ("config", "config"), ("segment", "segment")]
)
def test_entity_page__archive_served_entity__button_says_review_and_pressing_submits(
    client, world, target, kind
):
    # Given a gate everyone passes (or a config), served in production
    client.force_login(world.member)
    obj = getattr(world, target)
    before = configuration(world.project)

    # When its page renders, the Archive button says it waits for production's review
    html = _page(client, reverse(f"{kind}-detail", args=[world.project.slug, obj.pk]))
    assert "Archive · submit for review (production)" in html
    assert "Submit for review" in html  # the confirmation's button
    assert not ChangeSet.objects.exists()

    # And pressing it does that: a change set in review, nothing archived
    client.post(reverse(f"{kind}-archive", args=[world.project.slug, obj.pk]))
    change_set, change = pending_change(world.project, ChangeSetSource.BROWSER)
    assert change.action == "archive"
    assert configuration(world.project) == before


def test_gate_page__archive_gate_nobody_passes__button_says_at_once_and_pressing_archives(
    client, world
):
    # Given a gate nobody passes: archiving it changes no SDK answer
    quiet = services.gate_create(
        actor=world.member, project=world.project, document=gate_document("quiet")
    )
    client.force_login(world.member)

    html = _page(client, reverse("gate-detail", args=[world.project.slug, quiet.pk]))
    assert "Archive · applies at once" in html
    assert "Archive gate" in html  # the confirmation's button
    assert "submit for review" not in html

    response = client.post(reverse("gate-archive", args=[world.project.slug, quiet.pk]))
    assert response.url == reverse("gate-list", args=[world.project.slug])
    assert ChangeSet.objects.get(project=world.project).state == ChangeSetState.APPLIED
    assert FeatureGate.objects.get(pk=quiet.pk).archived_at is not None


def test_gate_page__viewer__no_archive_button(client, world, project_viewer):
    client.force_login(project_viewer)
    html = _page(client, reverse("gate-detail", args=[world.project.slug, world.gate.pk]))
    assert "Archive ·" not in html
