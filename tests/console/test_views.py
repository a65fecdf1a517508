"""HTML views of the console shell: access per role, bad input, secrets shown once, query counts."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from console import services
from console.models import (
    AccessRequest,
    AccessRequestStatus,
    ApiKey,
    AuditEvent,
    Environment,
    EnvironmentTier,
    KeyKind,
    Membership,
    Project,
    ProjectAccessMode,
    Role,
    Tag,
    hash_key,
)
from tests.console.factories import MembershipFactory, ProjectFactory, UserFactory

ROLE_RANK = {None: 0, Role.VIEWER: 1, Role.MEMBER: 2, Role.ADMIN: 3}
SECRET = re.compile(r"(?:secret|client|console)-[A-Za-z0-9_-]{40,}")
XSS = "<script>alert(1)</script>"


# ---------------------------------------------------------------- shared set-up


@dataclass
class World:
    """One project with a row of every kind, so every URL of the matrix has a target."""

    project: Project
    staging: Environment
    production: Environment
    target: Membership  # a member that admins may change or remove
    access_request: AccessRequest
    key: ApiKey
    tag: Tag


@pytest.fixture
def world(project, project_admin, project_member, project_viewer, outsider) -> World:
    asker = UserFactory(username="ada.asker", email="ada.asker@corp.example")
    return World(
        project=project,
        staging=project.environments.get(name="staging"),
        production=project.environments.get(name="production"),
        target=MembershipFactory(project=project, role=Role.MEMBER),
        access_request=services.access_request_create(actor=asker, project=project),
        key=services.key_create(
            actor=project_admin,
            project=project,
            kind=KeyKind.SERVER,
            environment=project.environments.get(name="production"),
            name="backend",
        ).key,
        tag=project.tags.get(name="growth"),
    )


def _db_state(project: Project) -> tuple:
    """Everything a write of this page could change, to compare before and after."""
    project.refresh_from_db()
    return (
        AuditEvent.objects.count(),
        (project.name, project.description, project.access_mode, project.default_role),
        list(
            Environment.objects.filter(project=project).values_list(
                "id", "name", "tier", "position"
            )
        ),
        list(Membership.objects.filter(project=project).values_list("id", "user_id", "role")),
        list(AccessRequest.objects.filter(project=project).values_list("id", "status")),
        list(ApiKey.objects.filter(project=project).values_list("id", "revoked_at", "expires_at")),
        list(Tag.objects.filter(project=project).values_list("id", "name", "description")),
    )


# (url name, the world's object the URL points at, method, minimum role, form data)
MATRIX = [
    ("project-home", "project", "get", Role.VIEWER, None),
    ("project-settings", "project", "get", Role.VIEWER, None),
    (
        "project-settings",
        "project",
        "post",
        Role.ADMIN,
        {"name": "Payments 2", "description": "", "access_mode": "open", "default_role": "viewer"},
    ),
    ("project-environments", "project", "get", Role.VIEWER, None),
    ("environment-create", "project", "post", Role.ADMIN, {"name": "qa", "tier": "staging"}),
    ("environment-update", "staging", "post", Role.ADMIN, {"name": "stage", "tier": "staging"}),
    ("environment-move", "staging", "post", Role.ADMIN, {"direction": "up"}),
    ("environment-delete", "staging", "post", Role.ADMIN, {}),
    ("project-members", "project", "get", Role.VIEWER, None),
    (
        "member-invite",
        "project",
        "post",
        Role.ADMIN,
        {"email": "new@corp.example", "role": "viewer"},
    ),
    ("member-update", "target", "post", Role.ADMIN, {"role": "viewer"}),
    ("member-remove", "target", "post", Role.ADMIN, {}),
    ("access-request-approve", "access_request", "post", Role.ADMIN, {"role": "viewer"}),
    ("access-request-deny", "access_request", "post", Role.ADMIN, {}),
    ("project-keys", "project", "get", Role.VIEWER, None),
    (
        "key-create",
        "project",
        "post",
        Role.ADMIN,
        {"kind": "console", "role": "viewer", "name": "ci"},
    ),
    ("key-rotate", "key", "post", Role.ADMIN, {"overlap_hours": "0"}),
    ("key-revoke", "key", "post", Role.ADMIN, {}),
    ("project-tags", "project", "get", Role.VIEWER, None),
    ("tag-create", "project", "post", Role.MEMBER, {"name": "checkout", "description": ""}),
    ("tag-update", "tag", "post", Role.MEMBER, {"name": "growth-2", "description": "Renamed"}),
    ("tag-delete", "tag", "post", Role.ADMIN, {}),
    ("project-audit", "project", "get", Role.VIEWER, None),
]
ACTORS = ["anonymous", "outsider", Role.VIEWER, Role.MEMBER, Role.ADMIN]


def _url(world: World, name: str, target: str) -> str:
    slug = world.project.slug
    if target == "project":
        return reverse(name, args=[slug])
    return reverse(name, args=[slug, getattr(world, target).pk])


def _login(client, actor, request) -> str | None:
    """Log `actor` in; return their role in the project (None for outsiders and anonymous)."""
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
    ids=[f"{m[0]}-{m[2]}" for m in MATRIX],
)
def test_project_pages__each_role__get_the_expected_status(
    client, world, request, actor, name, target, method, needed, data
):
    # Given a project with one row of every kind, and someone signed in with a role (or not)
    role = _login(client, actor, request)
    url = _url(world, name, target)
    before = _db_state(world.project)

    # When they open the page or send the form
    response = client.get(url) if method == "get" else client.post(url, data)

    # Then anonymous people go to the login page, outsiders (signed-in employees) are asked
    # to request access and change nothing, and roles decide
    if actor == "anonymous":
        assert response.status_code == 302
        assert response.url.startswith(reverse("account_login"))
    elif actor == "outsider":
        assert response.status_code == 403
        assert "is a closed project" in response.content.decode()
    elif ROLE_RANK[role] < ROLE_RANK[needed]:
        assert response.status_code == 403
    elif method == "get":
        assert response.status_code == 200
    else:
        # Keys answer with the secret itself; other writes redirect (POST/redirect/GET).
        assert response.status_code == (200 if name in ("key-create", "key-rotate") else 302)
    if method == "post" and (role is None or ROLE_RANK[role] < ROLE_RANK[needed]):
        assert _db_state(world.project) == before
    elif method == "post":
        assert AuditEvent.objects.count() == before[0] + 1


def test_project_pages__unknown_slug__404(client, site_admin):
    # Given a signed-in site admin
    client.force_login(site_admin)

    # When they open project URLs of a project that does not exist
    urls = [
        reverse(name, args=["nope"])
        for name in ("project-home", "project-settings", "project-keys", "project-audit")
    ]
    statuses = [client.get(url).status_code for url in urls]
    statuses.append(client.post(reverse("project-join", args=["nope"])).status_code)
    statuses.append(client.get(reverse("project-request-access", args=["nope"])).status_code)

    # Then every one is a 404
    assert statuses == [404] * 6


@pytest.mark.parametrize("name", ["home", "project-list", "project-create"])
def test_site_pages__anonymous__redirect_to_login(client, db, name):
    # Given nobody signed in
    # When they open a console page
    response = client.get(reverse(name))

    # Then they are sent to the login page
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_home__member__redirects_to_first_project(client, project, project_member):
    # Given a member of one project
    client.force_login(project_member)

    # When they open the root
    response = client.get(reverse("home"))

    # Then they land on that project
    assert response.url == reverse("project-home", args=[project.slug])


def test_home__no_project__redirects_to_directory(client, outsider):
    # Given someone in no project
    client.force_login(outsider)

    # When they open the root
    response = client.get(reverse("home"))

    # Then they land on the directory
    assert response.url == reverse("project-list")


@pytest.mark.parametrize(
    ("who", "status"), [("site_admin", 200), ("project_member", 403), ("outsider", 403)]
)
def test_project_create__get__only_site_admins(client, request, project, who, status):
    # Given a signed-in user (only site admins create projects by default)
    client.force_login(request.getfixturevalue(who))

    # When they open the new-project form
    response = client.get(reverse("project-create"))

    # Then only site admins get it
    assert response.status_code == status


def test_project_create__not_allowed__403_and_nothing_made(client, outsider):
    # Given someone who may not create projects
    client.force_login(outsider)

    # When they post the form anyway
    response = client.post(
        reverse("project-create"),
        {"name": "Sneaky", "slug": "", "access_mode": "open", "default_role": "member"},
    )

    # Then it is refused and no project exists
    assert response.status_code == 403
    assert not Project.objects.exists()


def test_project_create__site_admin__creates_and_redirects(client, site_admin):
    # Given a site admin
    client.force_login(site_admin)

    # When they create a project
    response = client.post(
        reverse("project-create"),
        {"name": "Search", "slug": "", "access_mode": "open", "default_role": "member"},
    )

    # Then it exists with the derived slug and they land on its overview
    project = Project.objects.get(slug="search")
    assert response.url == reverse("project-home", args=["search"])
    assert project.memberships.get().user == site_admin


# ---------------------------------------------------------------- join and request access


def test_project_join__open_project__member_with_default_role(client, outsider):
    # Given an open project and an employee outside it
    project = ProjectFactory(access_mode=ProjectAccessMode.OPEN, default_role=Role.VIEWER)
    client.force_login(outsider)

    # When they join it
    response = client.post(reverse("project-join", args=[project.slug]))

    # Then they are a viewer and see its overview
    assert response.url == reverse("project-home", args=[project.slug])
    assert Membership.objects.get(project=project, user=outsider).role == Role.VIEWER


def test_project_join__closed_project__error_message_and_directory(client, project, outsider):
    # Given a closed project
    client.force_login(outsider)

    # When an outsider tries to join it
    response = client.post(reverse("project-join", args=[project.slug]), follow=True)

    # Then they are back on the directory with the reason, and not a member
    assert response.redirect_chain[-1][0] == reverse("project-list")
    assert "This project is closed: request access instead." in response.content.decode()
    assert not Membership.objects.filter(project=project, user=outsider).exists()


def test_project_join__get__405(client, outsider):
    # Given an open project
    project = ProjectFactory(access_mode=ProjectAccessMode.OPEN)
    client.force_login(outsider)

    # When someone GETs the join URL
    response = client.get(reverse("project-join", args=[project.slug]))

    # Then nothing happens
    assert response.status_code == 405
    assert not Membership.objects.filter(project=project).exists()


def test_project_request_access__closed_project__request_created(client, project, outsider):
    # Given a closed project, and an outsider on its request form
    client.force_login(outsider)
    url = reverse("project-request-access", args=[project.slug])
    assert client.get(url).status_code == 200

    # When they send a message
    response = client.post(url, {"message": "I work on refunds"}, follow=True)

    # Then a pending request exists and the directory shows it as requested
    access_request = AccessRequest.objects.get(project=project, user=outsider)
    assert access_request.status == AccessRequestStatus.PENDING
    assert access_request.message == "I work on refunds"
    assert "Requested" in response.content.decode()


def test_project_request_access__open_project__error_message_and_directory(client, outsider):
    # Given an open project
    project = ProjectFactory(access_mode=ProjectAccessMode.OPEN)
    client.force_login(outsider)

    # When an outsider asks for access instead of joining
    response = client.post(
        reverse("project-request-access", args=[project.slug]), {"message": ""}, follow=True
    )

    # Then they are told to join, on the directory, and no request exists
    assert response.redirect_chain[-1][0] == reverse("project-list")
    assert "This project is open: join it directly." in response.content.decode()
    assert not AccessRequest.objects.exists()


def test_project_request_access__message_too_long__400(client, project, outsider):
    # Given an outsider on the request form of a closed project
    client.force_login(outsider)

    # When their message is too long
    response = client.post(
        reverse("project-request-access", args=[project.slug]), {"message": "x" * 501}
    )

    # Then the form comes back with the reason and nothing is stored
    assert response.status_code == 400
    assert "at most 500 characters" in response.content.decode()
    assert not AccessRequest.objects.exists()


def test_member_remove__member_leaves__back_to_directory(client, project, project_member):
    # Given a member
    client.force_login(project_member)
    membership = Membership.objects.get(project=project, user=project_member)

    # When they leave the project
    response = client.post(reverse("member-remove", args=[project.slug, membership.pk]))

    # Then they are out and on the directory
    assert response.url == reverse("project-list")
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_member_remove__last_admin_leaves__refused_with_message(client, project, project_admin):
    # Given the only admin
    client.force_login(project_admin)
    membership = Membership.objects.get(project=project, user=project_admin)

    # When they try to leave
    response = client.post(
        reverse("member-remove", args=[project.slug, membership.pk]), follow=True
    )

    # Then they stay, and are told why
    assert Membership.objects.filter(pk=membership.pk).exists()
    assert "at least one admin" in response.content.decode()


def test_member_update__htmx__returns_the_row(client, project, project_admin, project_member):
    # Given an admin on the members page
    client.force_login(project_admin)
    membership = Membership.objects.get(project=project, user=project_member)

    # When they change a role inline (htmx)
    response = client.post(
        reverse("member-update", args=[project.slug, membership.pk]),
        {"role": "viewer"},
        headers={"HX-Request": "true"},
    )

    # Then only the row comes back, and the role changed
    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith(f'<tr id="member-{membership.pk}"')
    assert "<html" not in content
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER


def test_member_update__htmx_last_admin__400_row_with_error(client, project, project_admin):
    # Given the only admin
    client.force_login(project_admin)
    membership = Membership.objects.get(project=project, user=project_admin)

    # When they demote themselves inline
    response = client.post(
        reverse("member-update", args=[project.slug, membership.pk]),
        {"role": "member"},
        headers={"HX-Request": "true"},
    )

    # Then the row comes back with the reason, unchanged
    assert response.status_code == 400
    assert "at least one admin" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN


def test_environment_move__htmx__returns_the_table_in_new_order(client, project, project_admin):
    # Given the default environments (development, staging, production)
    client.force_login(project_admin)
    production = project.environments.get(name="production")

    # When the admin moves production up (htmx)
    response = client.post(
        reverse("environment-move", args=[project.slug, production.pk]),
        {"direction": "up"},
        headers={"HX-Request": "true"},
    )

    # Then the partial table comes back, in the new order
    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith('<div id="environments">')
    names = list(project.environments.order_by("position").values_list("name", flat=True))
    assert names == ["development", "production", "staging"]
    assert content.index('"strong">production<') < content.index('"strong">staging<')


def test_environment_delete__production__refused_with_message(client, project, project_admin):
    # Given a production environment
    client.force_login(project_admin)
    production = project.environments.get(name="production")

    # When the admin tries to delete it
    response = client.post(
        reverse("environment-delete", args=[project.slug, production.pk]), follow=True
    )

    # Then it stays, and the page says why
    assert Environment.objects.filter(pk=production.pk).exists()
    assert "Production environments cannot be deleted." in response.content.decode()


def test_access_request_approve__role_chosen__member_with_that_role(client, world, project_admin):
    # Given a pending request
    client.force_login(project_admin)

    # When the admin approves it as viewer
    client.post(
        reverse("access-request-approve", args=[world.project.slug, world.access_request.pk]),
        {"role": "viewer"},
    )

    # Then the person is a viewer
    world.access_request.refresh_from_db()
    assert world.access_request.status == AccessRequestStatus.APPROVED
    membership = Membership.objects.get(project=world.project, user=world.access_request.user)
    assert membership.role == Role.VIEWER


# ---------------------------------------------------------------- bad input


def _assert_refused(response, message: str) -> str:
    content = response.content.decode()
    assert response.status_code == 400
    assert message in content
    return content


def test_project_create__duplicate_slug__400_and_nothing_made(client, project, site_admin):
    # Given a project with slug "payments"
    client.force_login(site_admin)

    # When another project is created with the same slug
    response = client.post(
        reverse("project-create"),
        {
            "name": "Payments EU",
            "slug": "payments",
            "access_mode": "open",
            "default_role": "member",
        },
    )

    # Then the form says so and nothing is created
    _assert_refused(response, "The slug &#x27;payments&#x27; is already taken.")
    assert Project.objects.count() == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("   ", "This field is required."),
        ("x" * 101, "Project name can be at most 100 characters"),
        ("<script>x</script>", "Project name cannot contain &#x27;&lt;&#x27;, &#x27;&gt;&#x27;"),
    ],
    ids=["empty", "too-long", "markup"],
)
def test_project_create__bad_name__400_and_nothing_made(client, site_admin, name, message):
    # Given a site admin
    client.force_login(site_admin)

    # When they create a project with a bad name
    response = client.post(
        reverse("project-create"),
        {"name": name, "slug": "new", "access_mode": "closed", "default_role": "member"},
    )

    # Then the form shows the reason, escapes what was typed and nothing is created
    content = _assert_refused(response, message)
    assert "<script>x" not in content
    assert not Project.objects.exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "This field is required."),
        ("n" * 101, "Project name can be at most 100 characters"),
        ("<b>Pay</b>", "cannot contain"),
    ],
    ids=["empty", "too-long", "markup"],
)
def test_project_settings__bad_name__400_and_unchanged(
    client, project, project_admin, name, message
):
    # Given an admin on the settings page
    client.force_login(project_admin)
    before = _db_state(project)

    # When they save a bad name
    response = client.post(
        reverse("project-settings", args=[project.slug]),
        {"name": name, "description": "", "access_mode": "closed", "default_role": "member"},
    )

    # Then the page shows the reason and nothing changed
    content = _assert_refused(response, message)
    assert "<b>Pay" not in content
    assert _db_state(project) == before


@pytest.mark.parametrize(
    ("url_name", "target", "data", "message"),
    [
        ("environment-create", None, {"name": "", "tier": "staging"}, "This field is required."),
        (
            "environment-create",
            None,
            {"name": "e" * 51, "tier": "staging"},
            "at most 50 characters",
        ),
        (
            "environment-create",
            None,
            {"name": "<script>", "tier": "staging"},
            "cannot contain &#x27;&lt;&#x27;",
        ),
        (
            "environment-create",
            None,
            {"name": "Staging", "tier": "staging"},
            "already has an environment named",
        ),
        (
            "environment-update",
            "staging",
            {"name": "   ", "tier": "staging"},
            "This field is required.",
        ),
        (
            "environment-update",
            "production",
            {"name": "production", "tier": "staging"},
            "A project needs a production environment",
        ),
        ("tag-create", None, {"name": "", "description": ""}, "This field is required."),
        ("tag-create", None, {"name": "t" * 51, "description": ""}, "at most 50 characters"),
        (
            "tag-create",
            None,
            {"name": "<script>alert(1)</script>", "description": ""},
            "Tag name cannot contain",
        ),
        ("tag-create", None, {"name": "GROWTH", "description": ""}, "already exists"),
        ("tag-update", "growth", {"name": "core", "description": ""}, "already exists"),
        (
            "tag-update",
            "growth",
            {"name": "ok", "description": "d" * 201},
            "at most 200 characters",
        ),
        ("member-invite", None, {"email": "not-an-email", "role": "member"}, "Enter a valid email"),
        (
            "member-invite",
            None,
            {"email": "mia.member@corp.example", "role": "member"},
            "is already a member",
        ),
        (
            "key-create",
            None,
            {"kind": "server", "environment": "", "name": ""},
            "Server and client keys belong to one of the project",
        ),
        (
            "key-create",
            None,
            {"kind": "console", "role": "", "name": "ci"},
            "Console API keys need a role",
        ),
        (
            "key-create",
            None,
            {"kind": "console", "role": "viewer", "name": "<script>alert(1)</script>"},
            "Key name cannot contain",
        ),
    ],
)
def test_settings_forms__bad_input__400_with_message_and_unchanged(
    client, project, project_admin, project_member, url_name, target, data, message
):
    # Given an admin on a settings page
    client.force_login(project_admin)
    before = _db_state(project)
    if target in ("staging", "production"):
        args = [project.slug, project.environments.get(name=target).pk]
    elif target:
        args = [project.slug, project.tags.get(name=target).pk]
    else:
        args = [project.slug]

    # When they send bad input
    response = client.post(reverse(url_name, args=args), data)

    # Then the page shows the reason next to the form, escapes the input, and nothing changed
    content = _assert_refused(response, message)
    assert "<script>alert(1)" not in content
    assert _db_state(project) == before


def test_key_rotate__bad_overlap__400_and_unchanged(client, world, project_admin):
    # Given an active key
    client.force_login(project_admin)
    before = _db_state(world.project)

    # When the admin asks for an overlap beyond 30 days
    response = client.post(
        reverse("key-rotate", args=[world.project.slug, world.key.pk]), {"overlap_hours": "9999"}
    )

    # Then the page says so and nothing changed
    _assert_refused(response, "The overlap is between 0 and 720 hours.")
    assert _db_state(world.project) == before


def test_project_description__markup__saved_and_escaped_everywhere(
    client, project, project_admin, project_viewer, outsider
):
    # Given an admin who saves a description containing a script, on an open project
    client.force_login(project_admin)
    response = client.post(
        reverse("project-settings", args=[project.slug]),
        {"name": "Payments", "description": XSS, "access_mode": "open", "default_role": "member"},
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.description == XSS

    # When the pages that show the description are rendered for admins, viewers and outsiders
    pages = [
        (project_admin, reverse("project-home", args=[project.slug])),
        (project_admin, reverse("project-settings", args=[project.slug])),
        (project_admin, reverse("project-list")),
        (project_viewer, reverse("project-settings", args=[project.slug])),
        (project_viewer, reverse("project-audit", args=[project.slug])),
        (outsider, reverse("project-list")),
    ]
    for user, url in pages:
        client.force_login(user)
        content = client.get(url).content.decode()

        # Then it appears escaped, never as markup
        assert "&lt;script&gt;alert(1)" in content, url
        assert "<script>alert(1)" not in content, url


# ---------------------------------------------------------------- keys: the secret is shown once


def test_key_create__server_key__secret_shown_once_and_only_hash_stored(
    client, project, project_admin
):
    # Given an admin on the keys page
    client.force_login(project_admin)
    production = project.environments.get(name="production")

    # When they create a server key
    response = client.post(
        reverse("key-create", args=[project.slug]),
        {"kind": "server", "environment": production.pk, "name": "backend"},
    )

    # Then the response itself shows the secret, uncached, with the warning
    content = response.content.decode()
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert "you won’t see it again" in content
    secret = SECRET.search(content).group(0)
    assert secret.startswith("secret-")

    # And the database holds only its SHA-256, the session nothing
    key = ApiKey.objects.get(project=project)
    assert key.key_hash == hash_key(secret)
    assert secret not in str(list(ApiKey.objects.values_list()))
    assert secret not in str(dict(client.session.items()))
    assert secret not in str(list(AuditEvent.objects.values_list("before", "after")))

    # And the keys page afterwards lists the key by its hint only
    later = client.get(reverse("project-keys", args=[project.slug])).content.decode()
    assert secret not in later
    assert f"{key.hint}…" in later
    assert not SECRET.search(later)


def test_key_rotate__default_overlap__new_secret_once_and_old_key_expiring(
    client, world, project_admin
):
    # Given an active server key
    client.force_login(project_admin)

    # When the admin rotates it with 24 hours of overlap
    response = client.post(
        reverse("key-rotate", args=[world.project.slug, world.key.pk]), {"overlap_hours": "24"}
    )

    # Then the new secret is shown once, and the old key is expiring
    secret = SECRET.search(response.content.decode()).group(0)
    successor = ApiKey.objects.get(rotated_from=world.key)
    assert successor.key_hash == hash_key(secret)
    world.key.refresh_from_db()
    assert world.key.state == "expiring"
    later = client.get(reverse("project-keys", args=[world.project.slug])).content.decode()
    assert secret not in later
    assert "expiring" in later


@pytest.mark.parametrize("who", ["project_member", "project_viewer"])
def test_project_keys__non_admin__sees_hints_not_actions(client, world, request, who):
    # Given a member or viewer
    client.force_login(request.getfixturevalue(who))

    # When they open the keys page
    content = client.get(reverse("project-keys", args=[world.project.slug])).content.decode()

    # Then they see the key's hint but no way to create, rotate or revoke
    assert f"{world.key.hint}…" in content
    assert reverse("key-create", args=[world.project.slug]) not in content
    assert reverse("key-revoke", args=[world.project.slug, world.key.pk]) not in content


# ---------------------------------------------------------------- navigation


def test_layout__sections_without_page__shown_disabled(
    client, project, project_member, monkeypatch
):
    # Given a member on the overview, and a section no installed app has given a page
    from console import navigation

    monkeypatch.setitem(navigation.SECTIONS, "later", navigation.Section("later", "Later"))
    client.force_login(project_member)

    # When the page renders
    content = client.get(reverse("project-home", args=[project.slug])).content.decode()

    # Then sections without a page are greyed out, the others are links
    assert 'aria-disabled="true"' in content
    assert "soon" in content
    assert f'href="{reverse("project-audit", args=[project.slug])}"' in content
    assert f'href="{reverse("metric-list", args=[project.slug])}"' in content


def test_project_audit__filters__only_matching_events(client, world, project_admin):
    # Given events of several kinds
    client.force_login(project_admin)

    # When the log is filtered by action (htmx)
    response = client.get(
        reverse("project-audit", args=[world.project.slug]),
        {"action": "key.created"},
        headers={"HX-Request": "true"},
    )

    # Then only the table comes back, with only that action
    content = response.content.decode()
    assert "<html" not in content
    assert "key.created" in content
    assert "project.created" not in content


# ---------------------------------------------------------------- query counts


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx)


def _assert_constant_queries(client, url, add_rows, django_assert_max_num_queries):
    few = _queries(client, url)
    assert few <= 12, f"{url} needs {few} queries"
    add_rows()
    with django_assert_max_num_queries(few):
        assert client.get(url).status_code == 200


def _more_members(project, n):
    for _ in range(n):
        MembershipFactory(project=project, role=Role.VIEWER)


def test_project_list__many_projects__constant_queries(
    client, project, outsider, django_assert_max_num_queries
):
    # Given 3 projects of each kind for an employee
    def add(n):
        for i in range(n):
            MembershipFactory(project=ProjectFactory(), user=outsider, role=Role.MEMBER)
            ProjectFactory(access_mode=ProjectAccessMode.OPEN)
            closed = ProjectFactory()
            if i % 2:
                AccessRequest.objects.create(project=closed, user=outsider)
            _more_members(closed, 2)

    add(3)
    client.force_login(outsider)

    # When the directory is shown with 3 and with 15 of each, the query count is the same
    _assert_constant_queries(
        client, reverse("project-list"), lambda: add(12), django_assert_max_num_queries
    )


def test_project_members__many_rows__constant_queries(
    client, world, project_admin, django_assert_max_num_queries
):
    # Given an admin, members and a pending request
    client.force_login(project_admin)

    def add():
        _more_members(world.project, 15)
        for _ in range(5):
            AccessRequest.objects.create(project=world.project, user=UserFactory())

    # When the page grows by 15 members and 5 requests, the query count stays
    _assert_constant_queries(
        client,
        reverse("project-members", args=[world.project.slug]),
        add,
        django_assert_max_num_queries,
    )


def test_project_keys__many_keys__constant_queries(
    client, world, project_admin, django_assert_max_num_queries
):
    # Given keys in an environment, and console keys
    client.force_login(project_admin)
    services.key_create(actor=project_admin, project=world.project, kind="console", role="viewer")
    services.key_create(
        actor=project_admin, project=world.project, kind="client", environment=world.staging
    )

    def add():
        for env in world.project.environments.all():
            for kind in ("server", "client"):
                issued = services.key_create(
                    actor=project_admin, project=world.project, kind=kind, environment=env
                )
                services.key_rotate(actor=project_admin, key=issued.key)
        for _ in range(5):
            services.key_create(
                actor=project_admin, project=world.project, kind="console", role="member"
            )
        services.environment_create(
            actor=project_admin, project=world.project, name="qa", tier="staging"
        )

    # When the page grows, the query count stays
    _assert_constant_queries(
        client,
        reverse("project-keys", args=[world.project.slug]),
        add,
        django_assert_max_num_queries,
    )


def test_project_tags__many_tags__constant_queries(
    client, project, project_member, django_assert_max_num_queries
):
    # Given the default 5 tags
    client.force_login(project_member)

    def add():
        Tag.objects.bulk_create(Tag(project=project, name=f"tag-{i}") for i in range(20))

    # When there are 20 more, the query count stays
    _assert_constant_queries(
        client, reverse("project-tags", args=[project.slug]), add, django_assert_max_num_queries
    )


def test_project_environments__many_environments__constant_queries(
    client, project, project_admin, django_assert_max_num_queries
):
    # Given the 3 default environments
    client.force_login(project_admin)

    def add():
        for i in range(10):
            env = services.environment_create(
                actor=project_admin, project=project, name=f"preview-{i}", tier="development"
            )
            services.key_create(
                actor=project_admin, project=project, kind="server", environment=env
            )

    # When there are 10 more (with keys), the query count stays
    _assert_constant_queries(
        client,
        reverse("project-environments", args=[project.slug]),
        add,
        django_assert_max_num_queries,
    )


def test_project_audit__many_events__constant_queries(
    client, world, project_admin, django_assert_max_num_queries
):
    # Given a handful of events
    client.force_login(project_admin)

    def add():
        for i in range(60):
            services.tag_create(actor=project_admin, project=world.project, name=f"t{i}")

    # When there are 60 more (two pages), the query count stays
    _assert_constant_queries(
        client,
        reverse("project-audit", args=[world.project.slug]),
        add,
        django_assert_max_num_queries,
    )


def test_project_home__many_rows__constant_queries(
    client, world, project_admin, django_assert_max_num_queries
):
    # Given a project with a few environments, keys and events
    client.force_login(project_admin)

    def add():
        _more_members(world.project, 10)
        for i in range(5):
            env = services.environment_create(
                actor=project_admin, project=world.project, name=f"e{i}", tier="development"
            )
            services.key_create(
                actor=project_admin, project=world.project, kind="server", environment=env
            )

    # When it has more of everything, the overview needs no more queries
    _assert_constant_queries(
        client,
        reverse("project-home", args=[world.project.slug]),
        add,
        django_assert_max_num_queries,
    )


def test_project_settings__viewer__read_only(client, project, project_viewer):
    # Given a viewer
    client.force_login(project_viewer)

    # When they open the general settings
    content = client.get(reverse("project-settings", args=[project.slug])).content.decode()

    # Then they see the values without a form
    assert "Only project admins can change these settings." in content
    assert 'name="name"' not in content


def test_environment_update__admin__renamed(client, project, project_admin):
    # Given an environment
    client.force_login(project_admin)
    staging = project.environments.get(name="staging")

    # When the admin renames it
    response = client.post(
        reverse("environment-update", args=[project.slug, staging.pk]),
        {"name": "pre-prod", "tier": EnvironmentTier.STAGING},
    )

    # Then it is renamed
    assert response.status_code == 302
    staging.refresh_from_db()
    assert staging.name == "pre-prod"
