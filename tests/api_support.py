"""Helpers shared by the console API tests of the domain apps: clients, console keys, the error
format, and the permission-matrix endpoints table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from rest_framework.test import APIClient

from console import services as console_services
from console.api.documents import READ_ONLY_KEYS
from console.models import AuditEvent, Membership, Project, Role, User, role_at_least
from reviews.models import ChangeSet, ChangeSetSource, ChangeSetState
from tests.console.factories import MembershipFactory

SLUG = "payments"  # the `project` fixture's slug


def api_url_for(namespace: str) -> Callable[..., str]:
    """`api_url(name, *args, project=SLUG, **query)` for the URL names of `namespace`."""

    def api_url(name: str, *args, project: str | None = SLUG, **query) -> str:
        path = reverse(f"{namespace}:{name}", args=args)
        params = ({"project": project} if project else {}) | query
        return path + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")

    return api_url


def session_client(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def key_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_STATSIG_API_KEY=secret)
    return client


def console_key(actor: User, project: Project, role: str) -> str:
    issued = console_services.key_create(
        actor=actor, project=project, kind="console", role=role, name=f"{role} key"
    )
    return issued.secret


def without_metadata(data: dict, *, keep_id: bool = False) -> dict:
    """An entity answer without its read-only metadata (and Statsig's `id`, unless the
    entity's own document has it): the entity's document."""
    dropped = READ_ONLY_KEYS if keep_id else READ_ONLY_KEYS | {"id"}
    return {key: value for key, value in data.items() if key not in dropped}


def assert_error(response, status: int, code: str | None = None, field: str | None = None):
    assert response.status_code == status, response.content
    body = response.json()
    assert isinstance(body["message"], str)
    assert body["message"]
    if code is not None:
        assert body["code"] == code, body
    if field is not None:
        assert body.get("field") == field, body


@dataclass(frozen=True)
class Endpoint:
    """One row of a permission matrix: `path(world)` gives (url name, *args)."""

    name: str
    method: str
    path: Callable[[Any], tuple]
    needed: str
    ok: int = 200
    body: Callable[[Any], dict] | None = None
    format: str = "json"

    @property
    def writes(self) -> bool:
        return self.method != "get"

    def __str__(self) -> str:
        return self.name


def detail(name: str, attr: str) -> Callable[[Any], tuple]:
    """An entity URL of the world: `name` with the name of `world.<attr>`."""
    return lambda w: (name, getattr(w, attr).name)


def call(client: APIClient, endpoint: Endpoint, url: str, world):
    body = endpoint.body(world) if endpoint.body else ({} if endpoint.writes else None)
    if body is None:
        return getattr(client, endpoint.method)(url)
    return getattr(client, endpoint.method)(url, body, format=endpoint.format)


def expected_status(endpoint: Endpoint, role: str | None) -> int:
    if role is None:
        return 404
    return endpoint.ok if role_at_least(role, endpoint.needed) else 403


def write_counts() -> dict[str, int]:
    """What a permitted configuration write adds, for an app's db_state(): the entity's own
    audit event (its change set records its events, and its ruleset version's, besides) and
    one change set from the API, applied at once under the `no_review` policy."""
    return {
        "entity_events": AuditEvent.objects.exclude(action__startswith="changeset.")
        .exclude(action__startswith="ruleset.")
        .count(),
        "change_sets": ChangeSet.objects.count(),
        "applied_api_change_sets": ChangeSet.objects.filter(
            state=ChangeSetState.APPLIED, source=ChangeSetSource.API
        ).count(),
    }


def assert_outcome(response, endpoint: Endpoint, expected: int, before: dict, db_state) -> None:
    """A permitted call answers, and a write is one change set applied at once with one audit
    event of the entity (reads change nothing); a refused one answers with its error and
    changes nothing. `db_state()` includes write_counts()."""
    if expected == endpoint.ok:
        assert response.status_code == expected, response.content
        assert response.json()["message"]
        assert response.json()["data"] is not None
        if endpoint.writes:
            after = write_counts()
            for counted in ("entity_events", "change_sets", "applied_api_change_sets"):
                assert after[counted] == before[counted] + 1, counted
        else:
            assert db_state() == before
        return
    code = {403: "permission_denied", 404: "not_found"}.get(expected)
    assert_error(response, expected, code)
    assert db_state() == before


def check_session_call(world, endpoint: Endpoint, caller: str, api_url, db_state) -> None:
    """The permission matrix by session: anonymous 401, outsider 404, the role decides."""
    # Given
    user = None if caller == "anonymous" else getattr(world, caller)
    before = db_state()
    # When
    url = api_url(*endpoint.path(world), project=SLUG)
    response = call(session_client(user), endpoint, url, world)
    # Then
    if user is None:
        assert_error(response, 401, "not_authenticated")
        assert db_state() == before
        return
    role = {"outsider": None}.get(caller, caller)
    assert_outcome(response, endpoint, expected_status(endpoint, role), before, db_state)


def check_key_call(world, endpoint: Endpoint, caller: str, api_url, db_state) -> None:
    """The permission matrix by console key: keys made by an admin; a key's role caps what
    its creator may do; an unknown key is 401 and a removed creator's key sees nothing."""
    # Given
    if caller == "unknown":
        secret = "console-" + "x" * 43
    elif caller == "removed_creator":
        ada = MembershipFactory(project=world.project, role=Role.ADMIN).user
        secret = console_key(ada, world.project, Role.ADMIN)
        console_services.membership_remove(
            actor=world.admin, membership=Membership.objects.get(user=ada, project=world.project)
        )
    elif caller == "member_admin_key":
        # An admin-role key credited to a member acts as a member (the lower of the two).
        secret = console_services.key_create(
            actor=None,
            owner=world.member,
            project=world.project,
            kind="console",
            role=Role.ADMIN,
            name="member's admin key",
        ).secret
    else:
        secret = console_key(world.admin, world.project, caller)
    before = db_state()
    # When
    url = api_url(*endpoint.path(world), project=None)
    response = call(key_client(secret), endpoint, url, world)
    # Then
    if caller == "unknown":
        assert_error(response, 401, "invalid_api_key")
        assert db_state() == before
        return
    role = {"removed_creator": None, "member_admin_key": Role.MEMBER}.get(caller, caller)
    assert_outcome(response, endpoint, expected_status(endpoint, role), before, db_state)
