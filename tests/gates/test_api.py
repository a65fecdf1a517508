"""The gates API (/console/v1/gates, /segments, /dynamic_configs): permissions per role and
key, Statsig-shaped round trips, PATCH semantics, archival, ID lists, errors, queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from console import services as console_services
from console.models import AuditEvent, Project, Role, Tag, User
from gates import services
from gates.documents import STATSIG_GATE_STATUS, STATSIG_GATE_TYPE, gate_to_document
from gates.models import (
    DynamicConfig,
    FeatureGate,
    GateStatus,
    Reference,
    Segment,
    SegmentID,
    SegmentKind,
)
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
from tests.gates.factories import (
    DynamicConfigFactory,
    FeatureGateFactory,
    SegmentFactory,
    condition,
    config_document,
    gate_document,
    rule,
    segment_document,
)

api_url = api_url_for("gates-api")

# Tests of editing itself: every change set applies at once (test_review_paths.py covers
# the default policy, where production changes wait for review).
pytestmark = pytest.mark.usefixtures("no_review")


def answered(document: dict) -> dict:
    """A gate's document as the API answers it (without its metadata): the status as
    Statsig names it, and Statsig's `type`."""
    return {
        **document,
        "status": STATSIG_GATE_STATUS[document["status"]],
        "type": STATSIG_GATE_TYPE[document["isPermanent"]],
    }


def db_state() -> dict:
    """Every row the gates API can change."""
    return {
        "gates": list(FeatureGate.objects.order_by("pk").values()),
        "segments": list(Segment.objects.order_by("pk").values()),
        "segment_ids": list(SegmentID.objects.order_by("pk").values()),
        "configs": list(DynamicConfig.objects.order_by("pk").values()),
        "references": list(Reference.objects.order_by("pk").values()),
        "gate_tags": list(FeatureGate.tags.through.objects.order_by("pk").values()),
        "segment_tags": list(Segment.tags.through.objects.order_by("pk").values()),
        "config_tags": list(DynamicConfig.tags.through.objects.order_by("pk").values()),
        **write_counts(),
    }


def csv_file(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("ids.csv", text.encode(), content_type="text/csv")


# ---------------------------------------------------------------- the world and its endpoints


@dataclass
class World:
    project: Project
    admin: User
    member: User
    viewer: User
    outsider: User
    gate: FeatureGate  # enabled
    off_gate: FeatureGate  # disabled
    segment: Segment  # rule based
    id_list: Segment  # IDs u1, u2, u3
    config: DynamicConfig


@pytest.fixture
def world(project, project_admin, project_member, project_viewer, outsider) -> World:
    def make(service, document):
        return service(actor=project_admin, project=project, document=document)

    return World(
        project=project,
        admin=project_admin,
        member=project_member,
        viewer=project_viewer,
        outsider=outsider,
        gate=make(services.gate_create, gate_document("new_checkout", rules=[rule()])),
        off_gate=make(services.gate_create, gate_document("old_checkout", isEnabled=False)),
        segment=make(
            services.segment_create,
            segment_document(
                "employees",
                rules=[rule("Staff", [condition("email", "str_ends_with_any", ["@corp.example"])])],
            ),
        ),
        id_list=_id_list(project, project_admin, "beta_users", ["u1", "u2", "u3"]),
        config=make(services.dynamic_config_create, config_document("checkout_settings")),
    )


def _id_list(project, actor, name: str, ids: list[str]) -> Segment:
    segment = services.segment_create(
        actor=actor, project=project, document=segment_document(name, type="id_list")
    )
    if ids:
        services.segment_ids_add(actor=actor, segment=segment, ids=ids)
    segment.refresh_from_db()
    return segment


ENDPOINTS = [
    # gates
    Endpoint("gate-list", "get", lambda w: ("api-gate-list",), Role.VIEWER),
    Endpoint(
        "gate-create",
        "post",
        lambda w: ("api-gate-list",),
        Role.MEMBER,
        201,
        lambda w: gate_document("fresh_gate"),
    ),
    Endpoint("gate-get", "get", detail("api-gate-detail", "gate"), Role.VIEWER),
    Endpoint(
        "gate-update",
        "post",
        detail("api-gate-detail", "gate"),
        Role.MEMBER,
        body=lambda w: gate_document("new_checkout", description="Full update"),
    ),
    Endpoint(
        "gate-patch",
        "patch",
        detail("api-gate-detail", "gate"),
        Role.MEMBER,
        body=lambda w: {"description": "Patched"},
    ),
    Endpoint("gate-archive", "delete", detail("api-gate-detail", "gate"), Role.MEMBER),
    Endpoint("gate-enable", "put", detail("api-gate-enable", "off_gate"), Role.MEMBER),
    Endpoint("gate-disable", "post", detail("api-gate-disable", "gate"), Role.MEMBER),
    # segments
    Endpoint("segment-list", "get", lambda w: ("api-segment-list",), Role.VIEWER),
    Endpoint(
        "segment-create",
        "post",
        lambda w: ("api-segment-list",),
        Role.MEMBER,
        201,
        lambda w: segment_document("fresh_segment", type="id_list"),
    ),
    Endpoint("segment-get", "get", detail("api-segment-detail", "segment"), Role.VIEWER),
    Endpoint(
        "segment-update",
        "post",
        detail("api-segment-detail", "segment"),
        Role.MEMBER,
        body=lambda w: segment_document("employees", rules=[rule()]),
    ),
    Endpoint(
        "segment-patch",
        "patch",
        detail("api-segment-detail", "segment"),
        Role.MEMBER,
        body=lambda w: {"tags": ["core"]},
    ),
    Endpoint("segment-archive", "delete", detail("api-segment-detail", "segment"), Role.MEMBER),
    Endpoint("segment-ids-get", "get", detail("api-segment-id-list", "id_list"), Role.VIEWER),
    Endpoint(
        "segment-ids-add",
        "post",
        detail("api-segment-id-list", "id_list"),
        Role.MEMBER,
        body=lambda w: {"ids": ["u9"]},
    ),
    Endpoint(
        "segment-ids-remove",
        "delete",
        detail("api-segment-id-list", "id_list"),
        Role.MEMBER,
        body=lambda w: {"ids": ["u1"]},
    ),
    Endpoint(
        "segment-ids-replace",
        "put",
        detail("api-segment-id-list", "id_list"),
        Role.MEMBER,
        body=lambda w: {"file": csv_file("id\nu1\nu7\n")},
        format="multipart",
    ),
    # dynamic configs
    Endpoint("config-list", "get", lambda w: ("api-dynamic-config-list",), Role.VIEWER),
    Endpoint(
        "config-create",
        "post",
        lambda w: ("api-dynamic-config-list",),
        Role.MEMBER,
        201,
        lambda w: config_document("fresh_config"),
    ),
    Endpoint("config-get", "get", detail("api-dynamic-config-detail", "config"), Role.VIEWER),
    Endpoint(
        "config-update",
        "post",
        detail("api-dynamic-config-detail", "config"),
        Role.MEMBER,
        body=lambda w: config_document("checkout_settings", defaultValue={"theme": "dark"}),
    ),
    Endpoint(
        "config-patch",
        "patch",
        detail("api-dynamic-config-detail", "config"),
        Role.MEMBER,
        body=lambda w: {"isEnabled": False},
    ),
    Endpoint(
        "config-archive", "delete", detail("api-dynamic-config-detail", "config"), Role.MEMBER
    ),
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
    "name", ["api-gate-detail", "api-segment-detail", "api-dynamic-config-detail"]
)
def test_detail__entity_of_another_project__not_found(world, site_admin, name):
    # Given: the caller is admin of both projects; only the other one has "elsewhere"
    other = console_services.project_create(actor=site_admin, name="Growth", slug="growth")
    services.gate_create(actor=site_admin, project=other, document=gate_document("elsewhere"))
    services.segment_create(actor=site_admin, project=other, document=segment_document("elsewhere"))
    services.dynamic_config_create(
        actor=site_admin, project=other, document=config_document("elsewhere")
    )
    before = db_state()

    # When
    read = session_client(world.admin).get(api_url(name, "elsewhere"))
    archive = session_client(world.admin).delete(api_url(name, "elsewhere"))

    # Then
    assert_error(read, 404, "not_found")
    assert_error(archive, 404, "not_found")
    assert db_state() == before


def test_gate_get__name_in_other_case__found(world):
    # When
    response = session_client(world.viewer).get(api_url("api-gate-detail", "NEW_Checkout"))

    # Then
    assert response.status_code == 200
    assert response.json()["data"]["name"] == "new_checkout"


# ---------------------------------------------------------------- round trips

STATSIG_GATE = {
    "name": "checkout_v2",
    "description": "The second checkout",
    "idType": "userID",
    "isEnabled": True,
    "tags": ["core"],
    "rules": [
        {
            "name": "Staff",
            "passPercentage": 100,
            "conditions": [
                {
                    "type": "email",
                    "operator": "str_ends_with_any",
                    "targetValue": ["@corp.example"],
                    "field": None,
                    "customID": None,
                }
            ],
            "environments": None,
        },
        {
            "name": "Modern iOS in production",
            "passPercentage": 12.5,
            "conditions": [
                {
                    "type": "app_version",
                    "operator": "version_gte",
                    "targetValue": "2.4.0",
                    "field": None,
                    "customID": None,
                },
                {
                    "type": "custom_field",
                    "operator": "gt",
                    "targetValue": 18,
                    "field": "age",
                    "customID": None,
                },
                {
                    "type": "passes_segment",
                    "operator": None,
                    "targetValue": "employees",
                    "field": None,
                    "customID": None,
                },
            ],
            "environments": ["production"],
        },
    ],
}


def test_gate_create__statsig_document__get_returns_it_with_rule_ids(world):
    # Given
    client = session_client(world.member)

    # When
    created = client.post(api_url("api-gate-list"), STATSIG_GATE, format="json")
    fetched = client.get(api_url("api-gate-detail", "checkout_v2"))

    # Then
    assert created.status_code == 201, created.content
    assert fetched.status_code == 200
    data = fetched.json()["data"]
    assert data == created.json()["data"]
    rule_ids = [r.pop("id") for r in data["rules"]]
    assert all(isinstance(i, str) and len(i) == 22 for i in rule_ids)
    assert len(set(rule_ids)) == 2
    assert without_metadata(data, keep_id=True) == {
        **STATSIG_GATE,
        "id": "checkout_v2",
        "status": "In Progress",  # as Statsig names it
        "isPermanent": False,
        "type": "TEMPORARY",  # Statsig's name for isPermanent
        "owner": world.member.email,  # defaults to the creator
        "overrides": [],
    }
    gate = FeatureGate.objects.get(project=world.project, name="checkout_v2")
    assert [r["id"] for r in gate.rules] == rule_ids
    assert Reference.objects.filter(source_kind="gate", source_id=gate.pk).count() == 1


def test_gate_update__fetched_document_posted_back__nothing_changes(world):
    # Given
    client = session_client(world.member)
    client.post(api_url("api-gate-list"), STATSIG_GATE, format="json")
    document = client.get(api_url("api-gate-detail", "checkout_v2")).json()["data"]
    before = db_state()

    # When
    response = client.post(api_url("api-gate-detail", "checkout_v2"), document, format="json")

    # Then: same rule ids (and so the same salts), no new revision, no audit event
    assert response.status_code == 200, response.content
    assert response.json()["data"] == document
    assert db_state() == before


def test_gate_update__document_without_some_keys__those_keys_reset(world):
    # Given: a gate with tags and a rule
    client = session_client(world.member)
    client.post(api_url("api-gate-list"), STATSIG_GATE, format="json")

    # When: a whole document that names no tags and no rules
    response = client.post(
        api_url("api-gate-detail", "checkout_v2"),
        {"name": "checkout_v2", "description": "Only this"},
        format="json",
    )

    # Then: a POST is a full update
    data = response.json()["data"]
    assert response.status_code == 200, response.content
    assert (data["description"], data["tags"], data["rules"]) == ("Only this", [], [])


def test_segment_create__statsig_document__get_returns_it_with_rule_ids(world):
    # Given
    document = {
        "name": "ios_users",
        "description": "People on iOS",
        "type": "rule_based",
        "idType": "userID",
        "tags": [],
        "owner": world.admin.email,
        "rules": [
            {
                "name": "iOS",
                "passPercentage": 100,
                "conditions": [condition("os_name", "any", ["iOS"])],
                "environments": None,
            }
        ],
    }
    client = session_client(world.member)

    # When
    created = client.post(api_url("api-segment-list"), document, format="json")
    fetched = client.get(api_url("api-segment-detail", "ios_users"))

    # Then
    assert created.status_code == 201, created.content
    data = fetched.json()["data"]
    assert data == created.json()["data"]
    assert data["rules"][0].pop("id")
    assert without_metadata(data, keep_id=True) == {"id": document["name"], **document}


def test_dynamic_config_create__statsig_document__get_returns_it_with_rule_ids(world):
    # Given
    document = config_document(
        "limits",
        defaultValue={"limit": 10, "mode": "safe"},
        schema={"type": "object", "properties": {"limit": {"type": "integer"}}},
        owner=world.member.email,
        tags=["web"],
        rules=[
            rule(
                "Staff", [condition("email", "any", ["a@corp.example"])], returnValue={"limit": 99}
            )
        ],
    )
    client = session_client(world.member)

    # When
    created = client.post(api_url("api-dynamic-config-list"), document, format="json")
    fetched = client.get(api_url("api-dynamic-config-detail", "limits"))

    # Then
    assert created.status_code == 201, created.content
    data = fetched.json()["data"]
    assert data == created.json()["data"]
    assert data["rules"][0].pop("id")
    assert without_metadata(data, keep_id=True) == {"id": document["name"], **document}


# ---------------------------------------------------------------- PATCH


def test_gate_patch__description_only__rest_of_document_kept(world):
    # Given
    before = answered(gate_to_document(world.gate))

    # When
    response = session_client(world.member).patch(
        api_url("api-gate-detail", "new_checkout"), {"description": "Patched"}, format="json"
    )

    # Then: the same rules (ids and salts), only the description changed
    assert response.status_code == 200, response.content
    assert without_metadata(response.json()["data"], keep_id=True) == {
        **before,
        "description": "Patched",
    }
    gate = FeatureGate.objects.get(pk=world.gate.pk)
    assert gate.rules == world.gate.rules
    assert gate.revision == world.gate.revision + 1


def test_gate_patch__rules_given__only_rules_replaced(world):
    # Given
    before = answered(gate_to_document(world.gate))
    new_rule = rule("Half", pass_percentage=50)

    # When
    response = session_client(world.member).patch(
        api_url("api-gate-detail", "new_checkout"), {"rules": [new_rule]}, format="json"
    )

    # Then
    data = response.json()["data"]
    assert response.status_code == 200, response.content
    assert data["rules"][0].pop("id") != before["rules"][0]["id"]
    assert without_metadata(data, keep_id=True) == {**before, "rules": [new_rule]}


def test_gate_patch__name_changed__refused(world):
    # Given
    before = db_state()

    # When
    response = session_client(world.member).patch(
        api_url("api-gate-detail", "new_checkout"), {"name": "renamed"}, format="json"
    )

    # Then
    assert_error(response, 400, "name_immutable", "name")
    assert db_state() == before


def test_gate_patch__gate_changed_after_the_read__conflict(world, monkeypatch):
    # Given: the view reads revision 1, then someone else writes revision 2
    stale = FeatureGate.objects.select_related("project", "owner").get(pk=world.gate.pk)
    services.gate_update(
        actor=world.admin,
        gate=world.gate,
        document={**gate_to_document(world.gate), "tags": ["core"]},
    )
    monkeypatch.setattr("gates.api.views._gate", lambda project, name: stale)
    before = db_state()

    # When
    response = session_client(world.member).patch(
        api_url("api-gate-detail", "new_checkout"), {"description": "Patched"}, format="json"
    )

    # Then: refused rather than silently dropping the other write's tag
    assert_error(response, 409, "stale_revision")
    assert db_state() == before


def test_segment_patch__type_changed__refused(world):
    # Given
    before = db_state()

    # When
    response = session_client(world.member).patch(
        api_url("api-segment-detail", "employees"), {"type": "id_list"}, format="json"
    )

    # Then
    assert_error(response, 400, "type_immutable", "type")
    assert db_state() == before


def test_dynamic_config_patch__default_value__schema_and_rules_kept(world):
    # When
    response = session_client(world.member).patch(
        api_url("api-dynamic-config-detail", "checkout_settings"),
        {"defaultValue": {"theme": "dark"}},
        format="json",
    )

    # Then
    assert response.status_code == 200, response.content
    config = DynamicConfig.objects.get(pk=world.config.pk)
    assert config.default_value == {"theme": "dark"}
    assert (config.description, config.is_enabled) == (
        world.config.description,
        world.config.is_enabled,
    )


# ---------------------------------------------------------------- enable, disable, archive


def test_gate_disable__enabled_gate__only_is_enabled_changes(world):
    # Given
    before = answered(gate_to_document(world.gate))

    # When
    response = session_client(world.member).put(api_url("api-gate-disable", "new_checkout"))

    # Then
    assert response.status_code == 200, response.content
    assert without_metadata(response.json()["data"], keep_id=True) == {**before, "isEnabled": False}
    assert AuditEvent.objects.filter(action="gate.updated").count() == 1


def test_gate_enable__already_enabled__unchanged_and_not_audited(world):
    # Given
    before = db_state()

    # When
    response = session_client(world.member).post(api_url("api-gate-enable", "new_checkout"))

    # Then
    assert response.status_code == 200, response.content
    assert response.json()["data"]["isEnabled"] is True
    assert db_state() == before


def test_gate_archive__unused_gate__gone_from_reads_and_name_free(world):
    # Given
    client = session_client(world.member)

    # When
    response = client.delete(api_url("api-gate-detail", "new_checkout"))

    # Then
    assert response.status_code == 200, response.content
    assert response.json()["data"]["status"] == "Archived"
    assert_error(client.get(api_url("api-gate-detail", "new_checkout")), 404, "not_found")
    live = client.get(api_url("api-gate-list")).json()["data"]
    archived = client.get(api_url("api-gate-list", status="archived")).json()["data"]
    assert [g["name"] for g in live] == ["old_checkout"]
    assert [g["name"] for g in archived] == ["new_checkout"]
    again = client.post(api_url("api-gate-list"), gate_document("new_checkout"), format="json")
    assert again.status_code == 201, again.content


def test_gate_archive__used_by_another_gate__conflict(world):
    # Given: a gate whose rule passes new_checkout
    services.gate_create(
        actor=world.admin,
        project=world.project,
        document=gate_document(
            "follower", rules=[rule(conditions=[condition("passes_gate", None, "new_checkout")])]
        ),
    )
    before = db_state()

    # When
    response = session_client(world.member).delete(api_url("api-gate-detail", "new_checkout"))

    # Then
    assert_error(response, 409, "in_use")
    assert "follower" in response.json()["message"]
    assert db_state() == before


def test_gate_update__archived_gate__not_found(world):
    # Given
    services.gate_archive(actor=world.admin, gate=world.gate)
    before = db_state()

    # When
    response = session_client(world.member).patch(
        api_url("api-gate-detail", "new_checkout"), {"description": "x"}, format="json"
    )

    # Then
    assert_error(response, 404, "not_found")
    assert db_state() == before


def test_segment_archive__used_by_a_gate__conflict(world):
    # Given
    services.gate_create(
        actor=world.admin,
        project=world.project,
        document=gate_document(
            "staff_only", rules=[rule(conditions=[condition("passes_segment", None, "employees")])]
        ),
    )
    before = db_state()

    # When
    response = session_client(world.member).delete(api_url("api-segment-detail", "employees"))

    # Then
    assert_error(response, 409, "in_use")
    assert db_state() == before


def test_dynamic_config_archive__config__gone_from_reads(world):
    # Given
    client = session_client(world.member)

    # When
    response = client.delete(api_url("api-dynamic-config-detail", "checkout_settings"))

    # Then
    assert response.status_code == 200, response.content
    assert DynamicConfig.objects.get(pk=world.config.pk).archived_at is not None
    assert client.get(api_url("api-dynamic-config-list")).json()["data"] == []
    assert_error(
        client.get(api_url("api-dynamic-config-detail", "checkout_settings")), 404, "not_found"
    )


# ---------------------------------------------------------------- ID lists


def _ids(segment: Segment) -> list[str]:
    return sorted(SegmentID.objects.filter(segment=segment).values_list("unit_id", flat=True))


def test_segment_ids_add__new_and_present_ids__only_new_counted(world):
    # When
    response = session_client(world.member).post(
        api_url("api-segment-id-list", "beta_users"), {"ids": ["u3", "u4", "u5"]}, format="json"
    )

    # Then
    assert response.status_code == 200, response.content
    assert response.json()["data"] == {
        "name": "beta_users",
        "count": 5,
        "added": 2,
        "removed": 0,
    }
    assert _ids(world.id_list) == ["u1", "u2", "u3", "u4", "u5"]
    assert Segment.objects.get(pk=world.id_list.pk).id_count == 5


def test_segment_ids_remove__present_and_absent_ids__only_present_removed(world):
    # When
    response = session_client(world.member).delete(
        api_url("api-segment-id-list", "beta_users"), {"ids": ["u1", "nobody"]}, format="json"
    )

    # Then
    assert response.status_code == 200, response.content
    assert response.json()["data"] == {
        "name": "beta_users",
        "count": 2,
        "added": 0,
        "removed": 1,
    }
    assert _ids(world.id_list) == ["u2", "u3"]


def test_segment_ids_get__limit__pages_until_the_end(world):
    # Given
    client = session_client(world.viewer)

    # When
    first = client.get(api_url("api-segment-id-list", "beta_users", limit=2)).json()
    second = client.get(first["pagination"]["nextPage"]).json()

    # Then
    assert first["data"] == {"name": "beta_users", "count": 3, "ids": ["u1", "u2"]}
    assert first["pagination"]["totalItems"] == 3
    assert second["data"]["ids"] == ["u3"]
    assert second["pagination"]["nextPage"] is None


def test_segment_get__id_list_segment__document_shows_count(world):
    # When
    response = session_client(world.viewer).get(api_url("api-segment-detail", "beta_users"))

    # Then
    assert response.json()["data"]["type"] == "id_list"
    assert response.json()["data"]["count"] == 3


def test_segment_ids_replace__csv_upload__list_becomes_the_file(world):
    # When
    response = session_client(world.member).put(
        api_url("api-segment-id-list", "beta_users"),
        {"file": csv_file("userID\nu2\nu8\nu9\n")},
        format="multipart",
    )

    # Then
    assert response.status_code == 200, response.content
    assert response.json()["data"] == {
        "name": "beta_users",
        "count": 3,
        "added": 2,
        "removed": 2,
    }
    assert _ids(world.id_list) == ["u2", "u8", "u9"]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("u1,u2\nu3\n", "malformed_csv"),
        ('u1\n"unterminated\n', "malformed_csv"),
        ("id\n", "empty_csv"),
        ("\n".join(f"user-{n}" for n in range(200)), "file_too_large"),
    ],
    ids=["two-columns", "bad-quote", "header-only", "too-large"],
)
def test_segment_ids_replace__bad_csv__refused_and_nothing_changed(world, text, code, settings):
    # Given
    settings.GATEHOUSE_MAX_ID_FILE_BYTES = 1_000
    before = db_state()

    # When
    response = session_client(world.member).put(
        api_url("api-segment-id-list", "beta_users"), {"file": csv_file(text)}, format="multipart"
    )

    # Then
    assert_error(response, 400, code, "file")
    assert db_state() == before


@pytest.mark.parametrize(
    ("method", "body", "code", "field"),
    [
        ("post", {"ids": "u1"}, "invalid", "ids"),
        ("post", {}, "required", "ids"),
        ("post", {"ids": []}, "no_ids", "ids"),
        ("post", {"ids": ["ok", "x" * 300]}, "invalid_id", "ids"),
        ("delete", {"ids": [{"id": "u1"}]}, "invalid_id", "ids"),
        ("put", {"ids": ["u1"]}, "required", "file"),
    ],
)
def test_segment_ids__bad_body__refused_and_nothing_changed(world, method, body, code, field):
    # Given
    before = db_state()

    # When
    response = getattr(session_client(world.member), method)(
        api_url("api-segment-id-list", "beta_users"), body, format="json"
    )

    # Then
    assert_error(response, 400, code, field)
    assert db_state() == before


@pytest.mark.parametrize("method", ["get", "post"])
def test_segment_ids__rule_based_segment__refused(world, method):
    # Given
    before = db_state()
    body = {"ids": ["u1"]} if method == "post" else None

    # When
    response = getattr(session_client(world.member), method)(
        api_url("api-segment-id-list", "employees"), body, format="json"
    )

    # Then
    assert_error(response, 400, "not_an_id_list")
    assert db_state() == before


# ---------------------------------------------------------------- bad documents

BAD_DOCUMENTS = [
    (
        "invalid-regex",
        "api-gate-list",
        gate_document("g", rules=[rule(conditions=[condition("email", "str_matches", "(")])]),
        "invalid_regex",
        "rules[0].conditions[0].targetValue",
    ),
    (
        "gt-not-a-number",
        "api-gate-list",
        gate_document(
            "g",
            rules=[
                rule(),
                rule(
                    conditions=[
                        condition("public"),
                        condition("custom_field", "gt", "ten", field="age"),
                    ]
                ),
            ],
        ),
        "not_a_number",
        "rules[1].conditions[1].targetValue",
    ),
    (
        "bad-version",
        "api-gate-list",
        gate_document(
            "g", rules=[rule(conditions=[condition("app_version", "version_gt", "v1.x")])]
        ),
        "invalid_version",
        "rules[0].conditions[0].targetValue",
    ),
    (
        "unknown-gate",
        "api-gate-list",
        gate_document("g", rules=[rule(conditions=[condition("passes_gate", None, "ghost")])]),
        "unknown_gate",
        "rules[0].conditions[0].targetValue",
    ),
    (
        "gate-uses-itself",
        "api-gate-list",
        gate_document("loop", rules=[rule(conditions=[condition("fails_gate", None, "loop")])]),
        "cycle",
        "rules[0].conditions[0].targetValue",
    ),
    (
        "percentage-101",
        "api-gate-list",
        gate_document("g", rules=[rule(pass_percentage=101)]),
        "percentage_out_of_range",
        "rules[0].passPercentage",
    ),
    (
        "unknown-environment",
        "api-gate-list",
        gate_document("g", rules=[rule(environments=["moon"])]),
        "unknown_environment",
        "rules[0].environments[0]",
    ),
    (
        "unknown-tag",
        "api-gate-list",
        gate_document("g", tags=["nope"]),
        "unknown_tag",
        "tags[0]",
    ),
    (
        "bad-name",
        "api-gate-list",
        gate_document("has space"),
        "invalid_name",
        "name",
    ),
    (
        "unknown-segment",
        "api-segment-list",
        segment_document(
            "s", rules=[rule(conditions=[condition("passes_segment", None, "ghost")])]
        ),
        "unknown_segment",
        "rules[0].conditions[0].targetValue",
    ),
    (
        "id-list-with-rules",
        "api-segment-list",
        segment_document("s", type="id_list", rules=[rule()]),
        "invalid",
        "rules",
    ),
    (
        "config-value-against-schema",
        "api-dynamic-config-list",
        config_document(
            "c",
            schema={"type": "object", "properties": {"limit": {"type": "integer"}}},
            defaultValue={"limit": 1},
            rules=[rule(returnValue={"limit": "many"})],
        ),
        "schema_mismatch",
        "rules[0].returnValue",
    ),
    (
        "config-default-not-an-object",
        "api-dynamic-config-list",
        config_document("c", defaultValue=[1, 2]),
        "invalid_value",
        "defaultValue",
    ),
]


@pytest.mark.parametrize(
    ("url_name", "document", "code", "field"),
    [case[1:] for case in BAD_DOCUMENTS],
    ids=[case[0] for case in BAD_DOCUMENTS],
)
def test_create__invalid_document__field_named_and_nothing_saved(
    world, url_name, document, code, field
):
    # Given
    before = db_state()

    # When
    response = session_client(world.member).post(api_url(url_name), document, format="json")

    # Then
    assert_error(response, 400, code, field)
    assert db_state() == before


def test_gate_update__condition_closing_a_cycle__refused(world):
    # Given: follower passes new_checkout
    services.gate_create(
        actor=world.admin,
        project=world.project,
        document=gate_document(
            "follower", rules=[rule(conditions=[condition("passes_gate", None, "new_checkout")])]
        ),
    )
    before = db_state()

    # When: new_checkout would pass follower
    response = session_client(world.member).patch(
        api_url("api-gate-detail", "new_checkout"),
        {
            "rules": [
                rule(conditions=[condition("public"), condition("passes_gate", None, "follower")])
            ]
        },
        format="json",
    )

    # Then
    assert_error(response, 400, "cycle", "rules[0].conditions[1].targetValue")
    assert db_state() == before


def test_dynamic_config_patch__schema_the_default_fails__refused(world):
    # Given
    before = db_state()

    # When
    response = session_client(world.member).patch(
        api_url("api-dynamic-config-detail", "checkout_settings"),
        {"schema": {"type": "object", "required": ["limit"]}},
        format="json",
    )

    # Then
    assert_error(response, 400, "schema_mismatch", "defaultValue")
    assert db_state() == before


@pytest.mark.parametrize(
    ("url_name", "document"),
    [
        ("api-gate-list", gate_document("NEW_CHECKOUT")),
        ("api-segment-list", segment_document("Employees")),
        ("api-dynamic-config-list", config_document("checkout_settings")),
    ],
)
def test_create__name_taken__conflict(world, url_name, document):
    # Given
    before = db_state()

    # When
    response = session_client(world.member).post(api_url(url_name), document, format="json")

    # Then
    assert_error(response, 409, "duplicate", "name")
    assert db_state() == before


@pytest.mark.parametrize("body", [[gate_document("g")], "g", 3])
def test_gate_create__body_not_an_object__refused(world, body):
    # Given
    before = db_state()

    # When
    response = session_client(world.member).post(api_url("api-gate-list"), body, format="json")

    # Then
    assert_error(response, 400, "invalid_document")
    assert db_state() == before


def test_gate_create__form_encoded_body__unsupported_media_type(world):
    # When
    response = session_client(world.member).post(
        api_url("api-gate-list"), {"name": "g"}, format="multipart"
    )

    # Then
    assert_error(response, 415, "unsupported_media_type")
    assert not FeatureGate.objects.filter(name="g").exists()


def test_gate_create__member_role_console_key__created_and_audited_as_its_creator(world):
    # Given: an admin's key capped to the member role
    secret = console_key(world.admin, world.project, Role.MEMBER)

    # When
    response = key_client(secret).post(
        api_url("api-gate-list", project=None), gate_document("by_key"), format="json"
    )

    # Then
    assert response.status_code == 201, response.content
    gate = FeatureGate.objects.get(project=world.project, name="by_key")
    event = AuditEvent.objects.get(action="gate.created", target_id=str(gate.pk))
    assert event.actor_id == world.admin.pk
    assert response.json()["data"]["owner"] == world.admin.email


def test_gate_create__statsig_type_and_status__stored_as_ours_answered_as_statsigs(world):
    # Given: a body as Statsig's documentation writes it, sent with a console key
    client = key_client(console_key(world.admin, world.project, Role.MEMBER))
    body = {"name": "a_gate", "idType": "userID", "type": "PERMANENT", "status": "Launched"}

    # When
    created = client.post(api_url("api-gate-list", project=None), body, format="json")
    listed = client.get(api_url("api-gate-list", project=None, status="Launched"))

    # Then
    assert created.status_code == 201, created.content
    gate = FeatureGate.objects.get(project=world.project, name="a_gate")
    assert (gate.is_permanent, gate.status) == (True, GateStatus.LAUNCHED)
    assert gate_to_document(gate)["status"] == "launched"  # the canonical document is ours
    data = created.json()["data"]
    assert (data["type"], data["isPermanent"], data["status"]) == ("PERMANENT", True, "Launched")
    assert [g["name"] for g in listed.json()["data"]] == ["a_gate"]
    assert listed.json()["data"][0]["type"] == "PERMANENT"


def test_gate_patch__statsig_type_alone__replaces_is_permanent(world):
    # Given: a temporary gate
    client = key_client(console_key(world.admin, world.project, Role.MEMBER))

    # When
    response = client.patch(
        api_url("api-gate-detail", "new_checkout", project=None),
        {"type": "PERMANENT"},
        format="json",
    )

    # Then
    assert response.status_code == 200, response.content
    assert (response.json()["data"]["type"], response.json()["data"]["isPermanent"]) == (
        "PERMANENT",
        True,
    )
    assert FeatureGate.objects.get(pk=world.gate.pk).is_permanent is True


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"type": "TEMPORARY", "isPermanent": True}, "type_conflict"),
        ({"type": "permanent"}, "invalid_type"),
        ({"type": ["PERMANENT"]}, "invalid_type"),
    ],
)
def test_gate_create__bad_or_conflicting_type__refused_with_the_field(world, body, code):
    # Given
    client = key_client(console_key(world.admin, world.project, Role.MEMBER))
    before = db_state()

    # When
    response = client.post(
        api_url("api-gate-list", project=None), {"name": "a_gate", **body}, format="json"
    )

    # Then
    assert_error(response, 400, code, "type")
    assert db_state() == before


# ---------------------------------------------------------------- list filters


def test_gate_list__filters__matching_gates(world):
    # Given
    long_ago = timezone.now() - timedelta(days=60)
    core = Tag.objects.get(project=world.project, name="core")
    FeatureGateFactory(project=world.project, name="tagged", tags=[core])
    stale = FeatureGateFactory(project=world.project, name="shipped", status=GateStatus.LAUNCHED)
    FeatureGate.objects.filter(pk=stale.pk).update(status_changed_at=long_ago)
    client = session_client(world.viewer)

    def names(**query) -> list[str]:
        response = client.get(api_url("api-gate-list", **query))
        assert response.status_code == 200, response.content
        return [g["name"] for g in response.json()["data"]]

    # When / Then
    assert names() == ["new_checkout", "old_checkout", "shipped", "tagged"]
    assert names(tag="core") == ["tagged"]
    assert names(status="launched") == ["shipped"]
    assert names(status="Launched") == ["shipped"]  # Statsig's name
    assert names(stale="true") == ["shipped"]
    assert names(stale="false") == ["new_checkout", "old_checkout", "tagged"]
    assert names(search="CHECK") == ["new_checkout", "old_checkout"]


@pytest.mark.parametrize(
    ("query", "field"), [({"status": "paused"}, "status"), ({"stale": "yes"}, "stale")]
)
def test_gate_list__bad_filter__refused(world, query, field):
    # When
    response = session_client(world.viewer).get(api_url("api-gate-list", **query))

    # Then
    assert_error(response, 400, "invalid_choice", field)


def test_segment_list__type_filter__matching_segments(world):
    # When
    response = session_client(world.viewer).get(api_url("api-segment-list", type="id_list"))

    # Then
    assert [s["name"] for s in response.json()["data"]] == ["beta_users"]
    assert response.json()["pagination"]["totalItems"] == 1


def test_gate_list__limit__paginated(world):
    # When
    response = session_client(world.viewer).get(api_url("api-gate-list", limit=1))

    # Then
    body = response.json()
    assert [g["name"] for g in body["data"]] == ["new_checkout"]
    assert body["pagination"]["totalItems"] == 2
    assert body["pagination"]["nextPage"]


# ---------------------------------------------------------------- query counts


def _add_entities(kind: str, world: World, n: int) -> None:
    tags = list(Tag.objects.filter(project=world.project))
    for _ in range(n):
        common = {"project": world.project, "owner": world.member, "tags": tags}
        if kind == "gate":
            FeatureGateFactory(**common)
        elif kind == "segment":
            SegmentFactory(**common, kind=SegmentKind.RULE_BASED)
        else:
            DynamicConfigFactory(**common)


def _count_queries(client: APIClient, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(queries), len(response.json()["data"])


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("api-gate-list", "gate"),
        ("api-segment-list", "segment"),
        ("api-dynamic-config-list", "config"),
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
    # session or key, user, project, membership, count, page, tags, environment names
    assert many <= 8


def test_segment_ids_get__3_vs_503_ids__same_query_count(world):
    # Given
    client = session_client(world.viewer)
    url = api_url("api-segment-id-list", "beta_users", limit=10_000)
    services.segment_ids_add(
        actor=world.admin, segment=world.id_list, ids=[f"x{i}" for i in range(500)]
    )

    # When
    with CaptureQueriesContext(connection) as small:
        client.get(api_url("api-segment-id-list", "beta_users", limit=2))
    with CaptureQueriesContext(connection) as large:
        response = client.get(url)

    # Then
    assert len(response.json()["data"]["ids"]) == 503
    assert len(small) == len(large)
