"""The console API (/console/v1/): permissions per role and key, keys, errors, pages, queries."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from console import services
from console.models import (
    AccessRequest,
    AccessRequestStatus,
    ApiKey,
    AuditEvent,
    Environment,
    Membership,
    Project,
    Role,
    Tag,
    User,
    hash_key,
    role_at_least,
)
from tests.console.factories import MembershipFactory, UserFactory

SLUG = "payments"


def api_url(name: str, *args, project: str | None = SLUG) -> str:
    path = reverse(f"console-api:{name}", args=args)
    return f"{path}?project={project}" if project else path


def session_client(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def key_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_STATSIG_API_KEY=secret)
    return client


def console_key(actor: User, project: Project, role: str) -> services.IssuedKey:
    return services.key_create(
        actor=actor, project=project, kind="console", role=role, name=f"{role} key"
    )


def call(client: APIClient, method: str, url: str, body: dict | None = None):
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, body, format="json")


def db_state() -> dict:
    """Every row the API can change (a key's last use is bookkeeping, not a change)."""
    key_fields = [f.attname for f in ApiKey._meta.concrete_fields if f.name != "last_used_at"]
    return {
        "projects": list(Project.objects.order_by("pk").values()),
        "environments": list(Environment.objects.order_by("pk").values()),
        "tags": list(Tag.objects.order_by("pk").values()),
        "memberships": list(Membership.objects.order_by("pk").values()),
        "keys": list(ApiKey.objects.order_by("pk").values(*key_fields)),
        "access_requests": list(AccessRequest.objects.order_by("pk").values()),
        "users": User.objects.count(),
        "audit_events": AuditEvent.objects.count(),
    }


def assert_error(response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert isinstance(body["message"], str)
    assert body["message"]
    if code is not None:
        assert body["code"] == code, body


# ---------------------------------------------------------------- the world and its endpoints


@dataclass
class World:
    project: Project
    admin: User
    member: User
    viewer: User
    outsider: User
    environment: Environment
    tag: Tag
    server_key: ApiKey
    teammate: Membership
    access_request: AccessRequest


@pytest.fixture
def world(project, project_admin, project_member, project_viewer, outsider) -> World:
    environment = project.environments.get(name="development")
    server_key = services.key_create(
        actor=project_admin, project=project, kind="server", environment=environment
    ).key
    teammate = MembershipFactory(
        project=project,
        user=UserFactory(username="tara", email="tara@corp.example"),
        role=Role.MEMBER,
    )
    requester = UserFactory(username="rex", email="rex@corp.example")
    access_request = services.access_request_create(
        actor=requester, project=project, message="I work on checkout"
    )
    return World(
        project=project,
        admin=project_admin,
        member=project_member,
        viewer=project_viewer,
        outsider=outsider,
        environment=environment,
        tag=project.tags.get(name="core"),
        server_key=server_key,
        teammate=teammate,
        access_request=access_request,
    )


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: Callable[[World], tuple]  # (url name, *args)
    needed: str
    ok: int = 200
    body: Callable[[World], dict] | None = None

    @property
    def writes(self) -> bool:
        return self.method != "get"

    def __str__(self) -> str:
        return self.name


ENDPOINTS = [
    Endpoint("project-get", "get", lambda w: ("api-project-detail",), Role.VIEWER),
    Endpoint(
        "project-patch",
        "patch",
        lambda w: ("api-project-detail",),
        Role.ADMIN,
        body=lambda w: {"description": "Card payments"},
    ),
    Endpoint("environment-list", "get", lambda w: ("api-environment-list",), Role.VIEWER),
    Endpoint(
        "environment-create",
        "post",
        lambda w: ("api-environment-list",),
        Role.ADMIN,
        201,
        lambda w: {"name": "qa", "tier": "staging"},
    ),
    Endpoint(
        "environment-patch",
        "patch",
        lambda w: ("api-environment-detail", w.environment.pk),
        Role.ADMIN,
        body=lambda w: {"name": "dev"},
    ),
    Endpoint(
        "environment-delete",
        "delete",
        lambda w: ("api-environment-detail", w.environment.pk),
        Role.ADMIN,
    ),
    Endpoint(
        "environment-reorder",
        "post",
        lambda w: ("api-environment-reorder",),
        Role.ADMIN,
        body=lambda w: {
            "order": list(w.project.environments.order_by("-position").values_list("pk", flat=True))
        },
    ),
    Endpoint("tag-list", "get", lambda w: ("api-tag-list",), Role.VIEWER),
    Endpoint(
        "tag-create",
        "post",
        lambda w: ("api-tag-list",),
        Role.MEMBER,
        201,
        lambda w: {"name": "checkout"},
    ),
    Endpoint(
        "tag-patch",
        "patch",
        lambda w: ("api-tag-detail", w.tag.pk),
        Role.MEMBER,
        body=lambda w: {"description": "Core flows"},
    ),
    Endpoint("tag-delete", "delete", lambda w: ("api-tag-detail", w.tag.pk), Role.ADMIN),
    Endpoint("key-list", "get", lambda w: ("api-key-list",), Role.ADMIN),
    Endpoint(
        "key-create",
        "post",
        lambda w: ("api-key-list",),
        Role.ADMIN,
        201,
        lambda w: {"kind": "server", "environment": w.environment.pk, "name": "backend"},
    ),
    Endpoint(
        "key-rotate",
        "post",
        lambda w: ("api-key-rotate", w.server_key.pk),
        Role.ADMIN,
        201,
        lambda w: {"overlapHours": 1},
    ),
    Endpoint(
        "key-revoke", "post", lambda w: ("api-key-revoke", w.server_key.pk), Role.ADMIN, body=None
    ),
    Endpoint("member-list", "get", lambda w: ("api-member-list",), Role.VIEWER),
    Endpoint(
        "member-invite",
        "post",
        lambda w: ("api-member-list",),
        Role.ADMIN,
        201,
        lambda w: {"email": "nina@corp.example", "role": "viewer"},
    ),
    Endpoint(
        "member-patch",
        "patch",
        lambda w: ("api-member-detail", w.teammate.pk),
        Role.ADMIN,
        body=lambda w: {"role": "viewer"},
    ),
    Endpoint("member-delete", "delete", lambda w: ("api-member-detail", w.teammate.pk), Role.ADMIN),
    Endpoint("access-request-list", "get", lambda w: ("api-access-request-list",), Role.ADMIN),
    Endpoint(
        "access-request-approve",
        "post",
        lambda w: ("api-access-request-approve", w.access_request.pk),
        Role.ADMIN,
        body=lambda w: {"role": "viewer"},
    ),
    Endpoint(
        "access-request-deny",
        "post",
        lambda w: ("api-access-request-deny", w.access_request.pk),
        Role.ADMIN,
    ),
    Endpoint("audit-log-list", "get", lambda w: ("api-audit-log-list",), Role.VIEWER),
]


def _request(client: APIClient, endpoint: Endpoint, world: World, *, project: str | None):
    url = api_url(*endpoint.path(world), project=project)
    body = endpoint.body(world) if endpoint.body else ({} if endpoint.writes else None)
    return call(client, endpoint.method, url, body)


def _assert_outcome(response, endpoint: Endpoint, expected: int, before: dict) -> None:
    if expected == endpoint.ok:
        assert response.status_code == expected, response.content
        assert response.json()["message"]
        assert "data" in response.json()
        if endpoint.writes:
            assert AuditEvent.objects.count() > before["audit_events"]
        else:
            assert db_state() == before
        return
    code = {403: "permission_denied", 404: "not_found"}.get(expected)
    assert_error(response, expected, code)
    assert db_state() == before


def _expected(endpoint: Endpoint, role: str | None) -> int:
    if role is None:
        return 404
    return endpoint.ok if role_at_least(role, endpoint.needed) else 403


# ---------------------------------------------------------------- permission matrix


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
@pytest.mark.parametrize("caller", ["anonymous", "outsider", "viewer", "member", "admin"])
def test_endpoint__session_caller__answers_by_role(world, endpoint, caller):
    # Given
    user = None if caller == "anonymous" else getattr(world, caller)
    client = session_client(user)
    before = db_state()

    # When
    response = _request(client, endpoint, world, project=SLUG)

    # Then
    if user is None:
        assert_error(response, 401, "not_authenticated")
        assert db_state() == before
        return
    role = {"outsider": None}.get(caller, caller)
    _assert_outcome(response, endpoint, _expected(endpoint, role), before)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
@pytest.mark.parametrize("caller", ["unknown", "removed_creator", "viewer", "member", "admin"])
def test_endpoint__console_key__answers_by_key_role(world, endpoint, caller):
    # Given: keys made by an admin; a key's role caps what its admin creator may do
    if caller == "unknown":
        secret = "console-" + "x" * 43
    elif caller == "removed_creator":
        ada = MembershipFactory(project=world.project, role=Role.ADMIN).user
        secret = console_key(ada, world.project, Role.ADMIN).secret
        services.membership_remove(
            actor=world.admin, membership=Membership.objects.get(user=ada, project=world.project)
        )
    else:
        secret = console_key(world.admin, world.project, caller).secret
    client = key_client(secret)
    before = db_state()

    # When
    response = _request(client, endpoint, world, project=None)

    # Then
    if caller == "unknown":
        assert_error(response, 401, "invalid_api_key")
        assert db_state() == before
        return
    role = None if caller == "removed_creator" else caller
    _assert_outcome(response, endpoint, _expected(endpoint, role), before)


def test_console_key__creator_demoted__acts_with_creators_current_role(world):
    # Given: an admin's admin-role key, then the admin is made a viewer
    ada = MembershipFactory(project=world.project, role=Role.ADMIN)
    secret = console_key(ada.user, world.project, Role.ADMIN).secret
    services.membership_update(actor=world.admin, membership=ada, role=Role.VIEWER)
    client = key_client(secret)
    before = db_state()

    # When
    read = client.get(api_url("api-member-list", project=None))
    write = client.post(api_url("api-tag-list", project=None), {"name": "x"}, format="json")

    # Then
    assert read.status_code == 200
    assert_error(write, 403, "permission_denied")
    assert db_state() == before


def test_console_key__names_another_project__not_found(world, site_admin):
    # Given: the key's creator is admin of another project too
    other = services.project_create(actor=site_admin, name="Growth", slug="growth")
    secret = console_key(world.admin, world.project, Role.ADMIN).secret

    # When
    response = key_client(secret).get(api_url("api-tag-list", project=other.slug))
    own = key_client(secret).get(api_url("api-tag-list", project=SLUG))

    # Then
    assert_error(response, 404, "not_found")
    assert own.status_code == 200


def test_session__no_project_parameter__project_required(world):
    # Given
    client = session_client(world.member)

    # When
    response = client.get(api_url("api-tag-list", project=None))

    # Then
    assert_error(response, 400, "project_required")


def test_session__unknown_project__not_found(world):
    # When
    response = session_client(world.admin).get(api_url("api-tag-list", project="nope"))

    # Then
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("api-environment-detail", Environment),
        ("api-tag-detail", Tag),
        ("api-key-revoke", ApiKey),
        ("api-member-detail", Membership),
        ("api-access-request-deny", AccessRequest),
    ],
)
def test_object_endpoint__object_of_another_project__not_found(world, site_admin, name, model):
    # Given: the caller is admin of both projects; the object is in the other one
    other = services.project_create(actor=site_admin, name="Growth", slug="growth")
    services.access_request_create(actor=world.outsider, project=other)
    services.key_create(
        actor=site_admin, project=other, kind="client", environment=other.environments.first()
    )
    foreign = model.objects.filter(project=other).first()
    method = "post" if name.endswith(("revoke", "deny")) else "delete"
    before = db_state()

    # When
    response = call(session_client(world.admin), method, api_url(name, foreign.pk), {})

    # Then
    assert_error(response, 404, "not_found")
    assert db_state() == before


def test_session__csrf_token_missing__forbidden(world):
    # Given: a browser session, without the CSRF token
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.admin)
    before = db_state()

    # When
    response = client.post(api_url("api-tag-list"), {"name": "checkout"}, format="json")

    # Then
    assert_error(response, 403, "permission_denied")
    assert "CSRF" in response.json()["message"]
    assert db_state() == before


def test_member_delete__viewer_removes_self__left(world):
    # Given
    membership = Membership.objects.get(user=world.viewer, project=world.project)

    # When
    response = session_client(world.viewer).delete(api_url("api-member-detail", membership.pk))

    # Then
    assert response.status_code == 200
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_member_delete__last_admin__refused(world):
    # Given
    membership = Membership.objects.get(user=world.admin, project=world.project)
    before = db_state()

    # When
    response = session_client(world.admin).delete(api_url("api-member-detail", membership.pk))

    # Then
    assert_error(response, 400, "last_admin")
    assert db_state() == before


# ---------------------------------------------------------------- projects


def test_project_list__session_member__own_projects_with_role(world, site_admin):
    # Given: a project the member is not in
    services.project_create(actor=site_admin, name="Growth", slug="growth")

    # When
    response = session_client(world.member).get(api_url("api-project-list", project=None))

    # Then
    assert response.status_code == 200
    [item] = response.json()["data"]
    assert item["slug"] == SLUG
    assert item["role"] == "member"
    assert item["memberCount"] == 4
    assert item["accessMode"] == "closed"
    assert item["defaultRole"] == "member"
    assert "createdAt" in item


def test_project_list__outsider__empty(world):
    # When
    response = session_client(world.outsider).get(api_url("api-project-list", project=None))

    # Then
    assert response.status_code == 200
    assert response.json()["data"] == []


def test_project_list__console_key__only_its_project_with_capped_role(world, site_admin):
    # Given: the key's creator is in two projects
    services.project_create(actor=site_admin, name="Growth", slug="growth")
    secret = console_key(world.admin, world.project, Role.MEMBER).secret

    # When
    response = key_client(secret).get(api_url("api-project-list", project=None))

    # Then
    assert [(p["slug"], p["role"]) for p in response.json()["data"]] == [(SLUG, "member")]


def test_project_list__anonymous__unauthorized(db):
    # When
    response = APIClient().get(api_url("api-project-list", project=None))

    # Then
    assert_error(response, 401, "not_authenticated")


def test_project_create__site_admin__created_with_admin_role(site_admin):
    # When
    response = session_client(site_admin).post(
        api_url("api-project-list", project=None),
        {"name": "Search", "accessMode": "open", "defaultRole": "viewer"},
        format="json",
    )

    # Then
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert (data["slug"], data["accessMode"], data["defaultRole"], data["role"]) == (
        "search",
        "open",
        "viewer",
        "admin",
    )
    project = Project.objects.get(slug="search")
    assert Membership.objects.get(project=project).user == site_admin
    assert project.environments.count() == 3


def test_project_create__ordinary_user__forbidden(world):
    # Given
    before = db_state()

    # When
    response = session_client(world.member).post(
        api_url("api-project-list", project=None), {"name": "Search"}, format="json"
    )

    # Then
    assert_error(response, 403, "permission_denied")
    assert db_state() == before


def test_project_create__everyone_may_create__created(world, settings):
    # Given
    settings.GATEHOUSE_PROJECT_CREATORS = "everyone"

    # When
    response = session_client(world.outsider).post(
        api_url("api-project-list", project=None), {"name": "Search"}, format="json"
    )

    # Then
    assert response.status_code == 201
    assert Membership.objects.get(project__slug="search").user == world.outsider


def test_project_create__console_key__forbidden(world):
    # Given: even an admin key of a site admin
    secret = console_key(world.admin, world.project, Role.ADMIN).secret
    before = db_state()

    # When
    response = key_client(secret).post(
        api_url("api-project-list", project=None), {"name": "Search"}, format="json"
    )

    # Then
    assert_error(response, 403, "permission_denied")
    assert db_state() == before


def test_project_create__admin_as_default_role__rejected(site_admin):
    # Given
    before = db_state()

    # When
    response = session_client(site_admin).post(
        api_url("api-project-list", project=None),
        {"name": "Search", "defaultRole": "admin"},
        format="json",
    )

    # Then
    assert_error(response, 400, "invalid_choice")
    assert response.json()["field"] == "defaultRole"
    assert db_state() == before


def test_project_patch__one_field__others_kept(world):
    # When
    response = session_client(world.admin).patch(
        api_url("api-project-detail"), {"accessMode": "open"}, format="json"
    )

    # Then
    assert response.status_code == 200
    world.project.refresh_from_db()
    assert (world.project.name, world.project.access_mode) == ("Payments", "open")
    assert response.json()["data"]["accessMode"] == "open"


# ---------------------------------------------------------------- keys


def test_key_create__console_key__secret_only_in_create_response(world):
    # Given
    client = session_client(world.admin)

    # When
    created = client.post(
        api_url("api-key-list"), {"kind": "console", "role": "viewer", "name": "ci"}, format="json"
    )
    listed = client.get(api_url("api-key-list"))

    # Then: the response has the secret, the database only its sha256
    assert created.status_code == 201
    data = created.json()["data"]
    secret = data["secret"]
    assert secret.startswith("console-")
    key = ApiKey.objects.get(pk=data["id"])
    assert key.key_hash == hash_key(secret)
    assert data["hint"] == key.hint
    assert secret not in json.dumps(listed.json())
    assert all("secret" not in item and "keyHash" not in item for item in listed.json()["data"])
    stored = json.dumps(list(ApiKey.objects.values()), default=str) + json.dumps(
        list(AuditEvent.objects.values("before", "after", "target_label"))
    )
    assert secret not in stored
    item = next(i for i in listed.json()["data"] if i["id"] == key.pk)
    assert (item["kind"], item["role"], item["state"], item["environment"]) == (
        "console",
        "viewer",
        "active",
        None,
    )
    # The new key authenticates
    assert key_client(secret).get(api_url("api-tag-list", project=None)).status_code == 200


def test_key_create__server_key__bound_to_environment(world):
    # When
    response = session_client(world.admin).post(
        api_url("api-key-list"),
        {"kind": "server", "environment": world.environment.pk},
        format="json",
    )

    # Then
    data = response.json()["data"]
    assert response.status_code == 201
    assert data["secret"].startswith("secret-")
    assert (data["environment"], data["environmentName"], data["role"]) == (
        world.environment.pk,
        "development",
        None,
    )


def test_key_create__environment_of_another_project__not_found(world, site_admin):
    # Given
    other = services.project_create(actor=site_admin, name="Growth", slug="growth")
    before = db_state()

    # When
    response = session_client(world.admin).post(
        api_url("api-key-list"),
        {"kind": "server", "environment": other.environments.first().pk},
        format="json",
    )

    # Then
    assert_error(response, 404, "not_found")
    assert db_state() == before


def test_key_create__server_key_without_environment__rejected(world):
    # Given
    before = db_state()

    # When
    response = session_client(world.admin).post(
        api_url("api-key-list"), {"kind": "server"}, format="json"
    )

    # Then
    assert_error(response, 400, "invalid_environment")
    assert response.json()["field"] == "environment"
    assert db_state() == before


def test_console_key__revoked__unauthorized(world):
    # Given
    issued = console_key(world.admin, world.project, Role.ADMIN)
    services.key_revoke(actor=world.admin, key=issued.key)

    # When
    response = key_client(issued.secret).get(api_url("api-tag-list", project=None))

    # Then
    assert_error(response, 401, "invalid_api_key")


def test_console_key__expired__unauthorized(world):
    # Given
    issued = console_key(world.admin, world.project, Role.ADMIN)
    ApiKey.objects.filter(pk=issued.key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    # When
    response = key_client(issued.secret).get(api_url("api-tag-list", project=None))

    # Then
    assert_error(response, 401, "invalid_api_key")


def test_key_rotate__with_overlap__both_work_until_old_revoked(world):
    # Given
    old = console_key(world.admin, world.project, Role.ADMIN)
    admin = session_client(world.admin)

    # When
    response = admin.post(api_url("api-key-rotate", old.key.pk), {"overlapHours": 2}, format="json")

    # Then
    assert response.status_code == 201
    data = response.json()["data"]
    new_secret = data["secret"]
    assert new_secret != old.secret
    assert data["rotatedFrom"] == old.key.pk
    assert data["previousKey"]["id"] == old.key.pk
    assert data["previousKey"]["state"] == "expiring"
    expires = datetime.fromisoformat(data["previousKey"]["expiresAt"])
    assert timedelta(hours=1, minutes=59) < expires - timezone.now() <= timedelta(hours=2)
    assert "secret" not in data["previousKey"]
    tags = api_url("api-tag-list", project=None)
    assert key_client(old.secret).get(tags).status_code == 200
    assert key_client(new_secret).get(tags).status_code == 200

    # When the old key is revoked
    revoked = admin.post(api_url("api-key-revoke", old.key.pk))

    # Then only the new one works
    assert revoked.status_code == 200
    assert revoked.json()["data"]["state"] == "revoked"
    assert "secret" not in revoked.json()["data"]
    assert_error(key_client(old.secret).get(tags), 401, "invalid_api_key")
    assert key_client(new_secret).get(tags).status_code == 200


def test_key_rotate__zero_overlap__old_key_stops_at_once(world):
    # Given
    old = console_key(world.admin, world.project, Role.ADMIN)

    # When
    response = session_client(world.admin).post(
        api_url("api-key-rotate", old.key.pk), {"overlapHours": 0}, format="json"
    )

    # Then
    tags = api_url("api-tag-list", project=None)
    assert response.status_code == 201
    assert_error(key_client(old.secret).get(tags), 401, "invalid_api_key")
    assert key_client(response.json()["data"]["secret"]).get(tags).status_code == 200


def test_key_rotate__overlap_out_of_range__rejected(world):
    # Given
    before = db_state()

    # When
    response = session_client(world.admin).post(
        api_url("api-key-rotate", world.server_key.pk), {"overlapHours": -1}, format="json"
    )

    # Then
    assert_error(response, 400, "invalid_overlap")
    assert response.json()["field"] == "overlapHours"
    assert db_state() == before


def test_key_revoke__already_revoked__conflict(world):
    # Given
    services.key_revoke(actor=world.admin, key=world.server_key)
    before = db_state()

    # When
    response = session_client(world.admin).post(api_url("api-key-revoke", world.server_key.pk))

    # Then
    assert_error(response, 409, "already_revoked")
    assert db_state() == before


def test_console_key__used__last_used_at_recorded(world):
    # Given
    issued = console_key(world.admin, world.project, Role.ADMIN)
    assert issued.key.last_used_at is None

    # When
    key_client(issued.secret).get(api_url("api-tag-list", project=None))

    # Then
    issued.key.refresh_from_db()
    assert issued.key.last_used_at is not None
    listed = session_client(world.admin).get(api_url("api-key-list")).json()["data"]
    item = next(i for i in listed if i["id"] == issued.key.pk)
    assert datetime.fromisoformat(item["lastUsedAt"]) == issued.key.last_used_at


def test_console_key__write__audited_as_creator_via_key(world):
    # Given
    issued = console_key(world.admin, world.project, Role.MEMBER)

    # When
    key_client(issued.secret).post(
        api_url("api-tag-list", project=None), {"name": "checkout"}, format="json"
    )

    # Then
    event = AuditEvent.objects.get(action="tag.created")
    assert event.actor == world.admin
    assert event.via_key == issued.key
    assert issued.key.hint in event.actor_label


# ---------------------------------------------------------------- error format


@pytest.mark.parametrize(
    ("name", "body", "status", "code", "field"),
    [
        ("api-tag-list", {}, 400, "required", "name"),
        ("api-tag-list", {"name": ""}, 400, "blank", "name"),
        ("api-tag-list", {"name": "t" * 51}, 400, "too_long", "name"),
        ("api-tag-list", {"name": "<script>alert(1)</script>"}, 400, "invalid_characters", "name"),
        ("api-tag-list", {"name": "CORE"}, 409, "duplicate", "name"),
        ("api-tag-list", {"name": ["core"]}, 400, "invalid", "name"),
        ("api-environment-list", {"name": "qa"}, 400, "required", "tier"),
        ("api-environment-list", {"name": "qa", "tier": "prod"}, 400, "invalid_choice", "tier"),
        ("api-environment-list", {"name": "Staging", "tier": "staging"}, 409, "duplicate", "name"),
        ("api-environment-list", {"name": "q<a", "tier": "staging"}, 400, "invalid_characters",
         "name"),
        ("api-member-list", {"email": "nina@corp.example", "role": "owner"}, 400, "invalid_choice",
         "role"),
        ("api-member-list", {"email": "nope", "role": "viewer"}, 400, "invalid_email", "email"),
        ("api-member-list", {"email": "mia.member@corp.example", "role": "viewer"}, 409,
         "already_member", "email"),
        ("api-key-list", {"kind": "console", "role": "root"}, 400, "invalid_choice", "role"),
        ("api-key-list", {"kind": "console"}, 400, "invalid_role", "role"),
        ("api-key-list", {"kind": "master"}, 400, "invalid_choice", "kind"),
        ("api-environment-reorder", {"order": [1, 2]}, 400, "invalid_order", None),
        ("api-environment-reorder", {"order": "1,2,3"}, 400, "not_a_list", "order"),
        ("api-environment-reorder", {}, 400, "required", "order"),
    ],
)  # fmt: skip
def test_write__invalid_input__error_body_and_no_change(world, name, body, status, code, field):
    # Given
    before = db_state()

    # When
    response = session_client(world.admin).post(api_url(name), body, format="json")

    # Then
    assert_error(response, status, code)
    assert response.json().get("field") == field
    assert db_state() == before


def test_environment_reorder__duplicated_id__rejected(world):
    # Given
    ids = list(world.project.environments.values_list("pk", flat=True))
    before = db_state()

    # When
    response = session_client(world.admin).post(
        api_url("api-environment-reorder"), {"order": [ids[0], *ids]}, format="json"
    )

    # Then
    assert_error(response, 400, "invalid_order")
    assert db_state() == before


def test_tag_patch__too_long_name__rejected(world):
    # Given
    before = db_state()

    # When
    response = session_client(world.member).patch(
        api_url("api-tag-detail", world.tag.pk), {"name": "t" * 60}, format="json"
    )

    # Then
    assert_error(response, 400, "too_long")
    assert db_state() == before


def test_environment_delete__production__rejected(world):
    # Given
    production = world.project.environments.get(name="production")
    before = db_state()

    # When
    response = session_client(world.admin).delete(api_url("api-environment-detail", production.pk))

    # Then
    assert_error(response, 400, "production_protected")
    assert db_state() == before


def test_request__malformed_json__parse_error(world):
    # Given
    before = db_state()

    # When
    response = session_client(world.admin).generic(
        "POST", api_url("api-tag-list"), "{not json", content_type="application/json"
    )

    # Then
    assert_error(response, 400, "parse_error")
    assert db_state() == before


@pytest.mark.parametrize(
    "query",
    [
        "since=2024-13-01",
        "until=yesterday",
        "since=2024-05-02&until=2024-05-01",
        "since=01/05/2024",
    ],
)
def test_audit_log_list__bad_date_filter__rejected(world, query):
    # When
    response = session_client(world.admin).get(f"{api_url('api-audit-log-list')}&{query}")

    # Then
    assert_error(response, 400, "invalid")


def test_access_request_list__bad_status__rejected(world):
    # When
    response = session_client(world.admin).get(f"{api_url('api-access-request-list')}&status=x")

    # Then
    assert_error(response, 400, "invalid_choice")


def test_access_request_approve__already_decided__conflict(world):
    # Given
    services.access_request_deny(actor=world.admin, access_request=world.access_request)
    before = db_state()

    # When
    response = session_client(world.admin).post(
        api_url("api-access-request-approve", world.access_request.pk), {}, format="json"
    )

    # Then
    assert_error(response, 409, "already_decided")
    assert db_state() == before


def test_access_request_approve__role_given__member_with_that_role(world):
    # When
    response = session_client(world.admin).post(
        api_url("api-access-request-approve", world.access_request.pk),
        {"role": "viewer"},
        format="json",
    )

    # Then
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "approved"
    assert response.json()["data"]["decidedBy"] == world.admin.email
    membership = Membership.objects.get(project=world.project, user__username="rex")
    assert membership.role == Role.VIEWER


# ---------------------------------------------------------------- pagination and filters


def test_tag_list__limit__paginated(world):
    # When
    first = session_client(world.viewer).get(f"{api_url('api-tag-list')}&limit=2")
    last = session_client(world.viewer).get(f"{api_url('api-tag-list')}&limit=2&page=3")

    # Then
    body = first.json()
    assert set(body) == {"message", "data", "pagination"}
    assert [t["name"] for t in body["data"]] == ["core", "growth"]
    pagination = body["pagination"]
    assert (pagination["itemsPerPage"], pagination["pageNumber"], pagination["totalItems"]) == (
        2,
        1,
        5,
    )
    assert "page=2" in pagination["nextPage"]
    assert pagination["previousPage"] is None
    assert [t["name"] for t in last.json()["data"]] == ["web"]
    assert last.json()["pagination"]["nextPage"] is None


def test_tag_list__page_past_the_end__not_found(world):
    # When
    response = session_client(world.viewer).get(f"{api_url('api-tag-list')}&page=9")

    # Then
    assert_error(response, 404, "not_found")


@pytest.fixture
def audit_trail(world):
    """Events by three people over three days."""
    services.tag_create(actor=world.member, project=world.project, name="checkout")
    services.tag_update(actor=world.member, tag=world.tag, name="core", description="Core flows")
    services.environment_create(actor=world.admin, project=world.project, name="qa", tier="staging")
    AuditEvent.objects.filter(project=world.project, action="project.created").update(
        created_at=datetime(2024, 5, 1, 12, tzinfo=timezone.get_current_timezone())
    )
    AuditEvent.objects.filter(project=world.project, action="key.created").update(
        created_at=datetime(2024, 5, 2, 12, tzinfo=timezone.get_current_timezone())
    )
    return world


@pytest.mark.parametrize(
    ("query", "actions"),
    [
        ("action=tag.created", ["tag.created"]),
        ("action=tag.", ["tag.updated", "tag.created"]),
        ("targetType=environment", ["environment.created"]),
        ("actor=mia.member", ["tag.updated", "tag.created"]),
        ("since=2024-05-01&until=2024-05-01", ["project.created"]),
        ("since=2024-05-02&until=2024-05-02", ["key.created"]),
        ("until=2024-05-02", ["key.created", "project.created"]),
    ],
)
def test_audit_log_list__filter__matching_events(audit_trail, query, actions):
    # When
    response = session_client(audit_trail.viewer).get(f"{api_url('api-audit-log-list')}&{query}")

    # Then
    assert response.status_code == 200
    assert [e["action"] for e in response.json()["data"]] == actions


def test_audit_log_list__item__has_every_field(audit_trail):
    # When
    response = session_client(audit_trail.admin).get(
        f"{api_url('api-audit-log-list')}&action=tag.updated"
    )

    # Then
    [item] = response.json()["data"]
    assert set(item) == {
        "id",
        "createdAt",
        "actor",
        "action",
        "targetType",
        "targetId",
        "targetLabel",
        "before",
        "after",
        "requestId",
        # Statsig's names for what we can say exactly
        "name",
        "createdTime",
        "updatedBy",
        "updatedByUserID",
        "modifierEmail",
        "changes",
    }
    assert (item["actor"], item["targetType"], item["targetId"]) == (
        "mia.member@corp.example",
        "tag",
        str(audit_trail.tag.pk),
    )
    assert (item["before"], item["after"]) == (
        {"description": "Core product behaviour"},
        {"description": "Core flows"},
    )
    event = AuditEvent.objects.get(pk=item["id"])
    assert item["name"] == "core"
    assert item["createdTime"] == int(event.created_at.timestamp() * 1000)
    assert (item["updatedBy"], item["updatedByUserID"], item["modifierEmail"]) == (
        "mia.member@corp.example",
        str(audit_trail.member.pk),
        audit_trail.member.email,
    )
    assert item["changes"] == {
        "description": {"old": "Core product behaviour", "new": "Core flows"}
    }


def test_audit_log_list__console_key__statsig_fields_typed(audit_trail):
    # Given: an event at a known time, by no one (the system)
    at = datetime(2024, 5, 1, 12, tzinfo=timezone.get_current_timezone())
    AuditEvent.objects.filter(project=audit_trail.project, action="project.created").update(
        actor=None
    )
    client = key_client(console_key(audit_trail.admin, audit_trail.project, Role.VIEWER).secret)

    # When
    response = client.get(f"{api_url('api-audit-log-list', project=None)}?action=project.created")

    # Then
    assert response.status_code == 200, response.content
    [item] = response.json()["data"]
    assert item["createdTime"] == int(at.timestamp() * 1000)
    assert (item["updatedByUserID"], item["modifierEmail"]) == (None, None)
    assert item["name"] == audit_trail.project.name
    assert all(set(change) == {"old", "new"} for change in item["changes"].values())
    assert all(change["old"] is None for change in item["changes"].values())  # created


def epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def test_tags_keys_environments__console_key__statsig_times_beside_ours(world):
    # Given
    client = key_client(console_key(world.admin, world.project, Role.ADMIN).secret)

    # When
    created = client.post(
        api_url("api-tag-list", project=None), {"name": "checkout"}, format="json"
    )
    tags = client.get(api_url("api-tag-list", project=None)).json()["data"]
    keys = client.get(api_url("api-key-list", project=None)).json()["data"]
    environments = client.get(api_url("api-environment-list", project=None)).json()["data"]

    # Then: epoch-millisecond integers of the same instants as the ISO 8601 ones
    assert created.status_code == 201, created.content
    tag = Tag.objects.get(project=world.project, name="checkout")
    assert (created.json()["data"]["createdTime"], created.json()["data"]["lastModifiedTime"]) == (
        epoch_ms(tag.created_at),
        epoch_ms(tag.updated_at),
    )
    for items, model in ((tags, Tag), (keys, ApiKey), (environments, Environment)):
        assert items
        for item in items:
            row = model.objects.get(pk=item["id"])
            assert item["createdTime"] == epoch_ms(row.created_at)
            assert item["lastModifiedTime"] == epoch_ms(row.updated_at)
            parsed = datetime.fromisoformat(item["createdAt"].replace("Z", "+00:00"))
            assert item["createdTime"] == epoch_ms(parsed)


def test_audit_log_list__api_write__request_id_recorded(world):
    # When
    session_client(world.member).post(
        api_url("api-tag-list"), {"name": "checkout"}, format="json", HTTP_X_REQUEST_ID="req-42"
    )

    # Then
    response = session_client(world.member).get(
        f"{api_url('api-audit-log-list')}&action=tag.created"
    )
    assert response.json()["data"][0]["requestId"] == "req-42"


def test_access_request_list__status_filter__matching_requests(world):
    # Given
    services.access_request_deny(actor=world.admin, access_request=world.access_request)

    # When
    pending = session_client(world.admin).get(api_url("api-access-request-list"))
    denied = session_client(world.admin).get(f"{api_url('api-access-request-list')}&status=denied")

    # Then
    assert pending.json()["data"] == []
    [item] = denied.json()["data"]
    assert (item["email"], item["status"], item["message"]) == (
        "rex@corp.example",
        AccessRequestStatus.DENIED,
        "I work on checkout",
    )


# ---------------------------------------------------------------- query counts


def _add_rows(kind: str, world: World, n: int) -> None:
    for _ in range(n):
        suffix = Tag.objects.count() + Environment.objects.count() + User.objects.count()
        if kind == "environment":
            services.environment_create(
                actor=world.admin, project=world.project, name=f"env{suffix}", tier="staging"
            )
        elif kind == "tag":
            services.tag_create(actor=world.admin, project=world.project, name=f"tag{suffix}")
        elif kind == "key":
            services.key_create(
                actor=world.admin,
                project=world.project,
                kind="client",
                environment=world.environment,
            )
        elif kind == "member":
            MembershipFactory(project=world.project, role=Role.VIEWER)
        elif kind == "access_request":
            services.access_request_create(actor=UserFactory(), project=world.project)
        elif kind == "audit_event":
            services.tag_create(actor=world.member, project=world.project, name=f"t{suffix}")
        elif kind == "project":
            services.project_create(actor=world.admin, name=f"Project {suffix}")


def _count_queries(client: APIClient, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(queries)


@pytest.mark.parametrize(
    ("name", "kind", "slug"),
    [
        ("api-environment-list", "environment", SLUG),
        ("api-tag-list", "tag", SLUG),
        ("api-key-list", "key", SLUG),
        ("api-member-list", "member", SLUG),
        ("api-access-request-list", "access_request", SLUG),
        ("api-audit-log-list", "audit_event", SLUG),
        ("api-project-list", "project", None),
    ],
)
@pytest.mark.parametrize("auth", ["session", "key"])
def test_list_endpoint__3_vs_30_rows__same_query_count(world, name, kind, slug, auth):
    # Given
    if auth == "session":
        client = session_client(world.admin)
    else:
        client = key_client(console_key(world.admin, world.project, Role.ADMIN).secret)
        slug = None
    url = api_url(name, project=slug)
    url += "&limit=100" if slug else "?limit=100"
    client.get(url)  # warm up: the key's last use is written at most once a minute
    _add_rows(kind, world, 3)

    # When
    few = _count_queries(client, url)
    _add_rows(kind, world, 27)
    many = _count_queries(client, url)

    # Then
    assert few == many
    assert many <= 6
