from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from console import notifications, services
from console.exceptions import Conflict, DomainError, NotAllowed
from console.models import (
    AccessRequest,
    AccessRequestStatus,
    ApiKey,
    AuditEvent,
    Environment,
    KeyKind,
    Membership,
    Project,
    Role,
    Tag,
    User,
    hash_key,
)
from tests.console.factories import UserFactory


def _env(project, name):
    return Environment.objects.get(project=project, name=name)


def _state(project):
    """Everything a refused write must leave unchanged."""
    return (
        list(Project.objects.order_by("pk").values()),
        list(Environment.objects.filter(project=project).order_by("pk").values()),
        list(Tag.objects.filter(project=project).order_by("pk").values()),
        list(Membership.objects.filter(project=project).order_by("pk").values()),
        list(ApiKey.objects.filter(project=project).order_by("pk").values()),
        AuditEvent.objects.count(),
    )


# ---------------------------------------------------------------- projects


def test_project_create__plain_user__refused_and_nothing_saved(outsider):
    # When / Then
    with pytest.raises(NotAllowed):
        services.project_create(actor=outsider, name="Mine")
    assert not Project.objects.exists()
    assert not AuditEvent.objects.exists()


def test_project_create__everyone_may_create__plain_user_becomes_admin(outsider, settings):
    # Given
    settings.GATEHOUSE_PROJECT_CREATORS = "everyone"
    # When
    project = services.project_create(actor=outsider, name="Side Quest")
    # Then
    assert project.slug == "side-quest"
    assert Membership.objects.get(project=project, user=outsider).role == Role.ADMIN


def test_project_create__records_after_snapshot(site_admin):
    # When
    project = services.project_create(
        actor=site_admin, name="Search", description="Ranking", access_mode="open"
    )
    # Then
    event = AuditEvent.objects.get()
    assert (event.action, event.project, event.actor) == ("project.created", project, site_admin)
    assert event.before == {}
    assert event.after["name"] == "Search"
    assert event.after["access_mode"] == "open"
    assert event.after["environments"] == ["development", "staging", "production"]


@pytest.mark.parametrize(
    ("name", "slug", "error", "code"),
    [
        ("", "", DomainError, "required"),
        ("   ", "", DomainError, "required"),
        ("x" * 101, "", DomainError, "too_long"),
        ("<script>alert(1)</script>", "", DomainError, "invalid_characters"),
        ("Fine", "Bad Slug!", DomainError, "invalid_slug"),
        ("Fine", "-edge-", DomainError, "invalid_slug"),
        ("Payments again", "payments", Conflict, "duplicate"),
    ],
)
def test_project_create__bad_input__clear_error_and_nothing_saved(
    project, site_admin, name, slug, error, code
):
    # Given
    before = _state(project)
    # When
    with pytest.raises(error) as exc:
        services.project_create(actor=site_admin, name=name, slug=slug)
    # Then
    assert exc.value.code == code
    assert exc.value.message
    assert _state(project) == before


def test_project_create__system_actor__owner_is_admin_and_event_says_system(db):
    # Given
    owner = UserFactory()
    # When
    project = services.project_create(actor=None, owner=owner, name="Ops")
    # Then
    assert Membership.objects.get(project=project).user == owner
    assert AuditEvent.objects.get().actor_label == "system"


def test_project_update__admin__records_only_changed_fields(project, project_admin):
    # When
    services.project_update(
        actor=project_admin,
        project=project,
        name="Payments",
        description="Money in, money out",
        access_mode="open",
        default_role="viewer",
    )
    # Then
    event = AuditEvent.objects.get(action="project.updated")
    assert event.before == {"description": "", "access_mode": "closed", "default_role": "member"}
    assert event.after == {
        "description": "Money in, money out",
        "access_mode": "open",
        "default_role": "viewer",
    }


def test_project_update__member__refused(project, project_member):
    before = _state(project)
    with pytest.raises(NotAllowed):
        services.project_update(
            actor=project_member,
            project=project,
            name="Hijacked",
            description="",
            access_mode="open",
            default_role="member",
        )
    assert _state(project) == before


def test_project_update__admin_as_default_role__refused(project, project_admin):
    with pytest.raises(DomainError):
        services.project_update(
            actor=project_admin,
            project=project,
            name="Payments",
            description="",
            access_mode="open",
            default_role="admin",
        )
    project.refresh_from_db()
    assert project.default_role == Role.MEMBER


def test_project_join__open_project__member_with_default_role(project, project_admin, outsider):
    # Given
    services.project_update(
        actor=project_admin,
        project=project,
        name=project.name,
        description="",
        access_mode="open",
        default_role="viewer",
    )
    # When
    membership = services.project_join(actor=outsider, project=project)
    # Then
    assert membership.role == Role.VIEWER
    assert AuditEvent.objects.filter(action="member.joined", actor=outsider).count() == 1
    with pytest.raises(Conflict):
        services.project_join(actor=outsider, project=project)


def test_project_join__closed_project__refused(project, outsider):
    with pytest.raises(NotAllowed) as exc:
        services.project_join(actor=outsider, project=project)
    assert exc.value.code == "project_closed"
    assert not Membership.objects.filter(user=outsider).exists()


# ---------------------------------------------------------------- environments


def test_environment_create__appends_with_next_position(project, project_admin):
    env = services.environment_create(
        actor=project_admin, project=project, name="qa", tier="staging"
    )
    assert env.position == 3
    event = AuditEvent.objects.get(action="environment.created")
    assert event.after == {"name": "qa", "tier": "staging", "position": 3}


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Production", "duplicate"),
        ("", "required"),
        ("q" * 51, "too_long"),
        ("a/b", "invalid_characters"),
    ],
)
def test_environment_create__bad_name__refused(project, project_admin, name, code):
    before = _state(project)
    with pytest.raises((DomainError, Conflict)) as exc:
        services.environment_create(actor=project_admin, project=project, name=name, tier="staging")
    assert exc.value.code == code
    assert _state(project) == before


def test_environment_create__member__refused(project, project_member):
    with pytest.raises(NotAllowed):
        services.environment_create(
            actor=project_member, project=project, name="qa", tier="staging"
        )


def test_environment_delete__production__refused(project, project_admin):
    before = _state(project)
    with pytest.raises(DomainError) as exc:
        services.environment_delete(actor=project_admin, environment=_env(project, "production"))
    assert exc.value.code == "production_protected"
    assert _state(project) == before


def test_environment_delete__staging__removes_it_and_its_keys(project, project_admin):
    # Given
    staging = _env(project, "staging")
    issued = services.key_create(
        actor=project_admin, project=project, kind="server", environment=staging
    )
    # When
    services.environment_delete(actor=project_admin, environment=staging)
    # Then
    assert not Environment.objects.filter(pk=staging.pk).exists()
    assert services.key_authenticate(issued.secret, kinds=("server",)) is None
    event = AuditEvent.objects.get(action="environment.deleted")
    assert event.before["name"] == "staging"
    assert event.before["keys"] == [issued.key.hint]


def test_environment_update__only_production_to_staging__refused(project, project_admin):
    with pytest.raises(DomainError) as exc:
        services.environment_update(
            actor=project_admin,
            environment=_env(project, "production"),
            name="prod",
            tier="staging",
        )
    assert exc.value.code == "last_production"
    assert _env(project, "production").tier == "production"


def test_environment_update__rename__records_before_after(project, project_admin):
    services.environment_update(
        actor=project_admin,
        environment=_env(project, "development"),
        name="dev",
        tier="development",
    )
    event = AuditEvent.objects.get(action="environment.updated")
    assert (event.before, event.after) == ({"name": "development"}, {"name": "dev"})


def test_environment_reorder__new_order_saved(project, project_admin):
    ids = list(
        Environment.objects.filter(project=project)
        .order_by("position")
        .values_list("pk", flat=True)
    )
    services.environment_reorder(actor=project_admin, project=project, environment_ids=ids[::-1])
    names = list(
        Environment.objects.filter(project=project)
        .order_by("position")
        .values_list("name", flat=True)
    )
    assert names == ["production", "staging", "development"]
    event = AuditEvent.objects.get(action="environment.reordered")
    assert event.after == {"order": names}


@pytest.mark.parametrize(
    "mutate", [lambda ids: ids[:2], lambda ids: [*ids, ids[0]], lambda ids: [*ids[:2], 999999]]
)
def test_environment_reorder__not_a_permutation__refused(project, project_admin, mutate):
    ids = list(Environment.objects.filter(project=project).values_list("pk", flat=True))
    before = _state(project)
    with pytest.raises(DomainError):
        services.environment_reorder(
            actor=project_admin, project=project, environment_ids=mutate(ids)
        )
    assert _state(project) == before


# ---------------------------------------------------------------- tags


def test_tag_create__member__ok_and_duplicate_case_insensitive_refused(project, project_member):
    services.tag_create(actor=project_member, project=project, name="Checkout")
    with pytest.raises(Conflict):
        services.tag_create(actor=project_member, project=project, name="checkout")
    assert Tag.objects.filter(project=project, name__iexact="checkout").count() == 1


def test_tag_create__viewer__refused(project, project_viewer):
    with pytest.raises(NotAllowed):
        services.tag_create(actor=project_viewer, project=project, name="nope")


def test_tag_delete__member_refused_admin_ok(project, project_member, project_admin):
    tag = Tag.objects.get(project=project, name="web")
    with pytest.raises(NotAllowed):
        services.tag_delete(actor=project_member, tag=tag)
    services.tag_delete(actor=project_admin, tag=tag)
    assert not Tag.objects.filter(pk=tag.pk).exists()
    assert AuditEvent.objects.get(action="tag.deleted").before == {
        "name": "web",
        "description": "Web app",
    }


# ---------------------------------------------------------------- members


def test_membership_invite__unknown_email__account_without_password(
    project, project_admin, django_capture_on_commit_callbacks
):
    # When
    with django_capture_on_commit_callbacks() as callbacks:
        membership = services.membership_invite(
            actor=project_admin, project=project, email="New.Person@Corp.Example", role="viewer"
        )
    # Then
    assert membership.user.email == "new.person@corp.example"
    assert not membership.user.has_usable_password()
    assert len(callbacks) == 1  # the notification is enqueued only after commit
    assert AuditEvent.objects.get(action="member.added").after == {
        "user": "new.person@corp.example",
        "role": "viewer",
    }


def test_membership_invite__notification_email_names_the_project(project, project_admin):
    membership = services.membership_invite(
        actor=project_admin, project=project, email="nia@corp.example", role="member"
    )
    assert notifications.send("member_added", membership.pk) is True
    assert mail.outbox[-1].to == ["nia@corp.example"]
    assert "Payments" in mail.outbox[-1].subject


@pytest.mark.parametrize(("email", "role"), [("not-an-email", "member"), ("a@b.example", "owner")])
def test_membership_invite__bad_input__refused(project, project_admin, email, role):
    before = _state(project)
    users = User.objects.count()
    with pytest.raises(DomainError):
        services.membership_invite(actor=project_admin, project=project, email=email, role=role)
    assert _state(project) == before
    assert User.objects.count() == users


def test_membership_invite__existing_member__conflict(project, project_admin, project_member):
    with pytest.raises(Conflict):
        services.membership_invite(
            actor=project_admin, project=project, email=project_member.email, role="admin"
        )
    assert Membership.objects.get(project=project, user=project_member).role == Role.MEMBER


def test_membership_update__last_admin_demoted__refused(project, project_admin):
    membership = Membership.objects.get(project=project, user=project_admin)
    with pytest.raises(DomainError) as exc:
        services.membership_update(actor=project_admin, membership=membership, role="member")
    assert exc.value.code == "last_admin"
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN


def test_membership_update__promote__records_role_change(project, project_admin, project_member):
    membership = Membership.objects.get(project=project, user=project_member)
    services.membership_update(actor=project_admin, membership=membership, role="admin")
    event = AuditEvent.objects.get(action="member.role_changed")
    assert event.before["role"] == "member"
    assert event.after["role"] == "admin"


def test_membership_remove__member_removes_other__refused(project, project_member, project_viewer):
    target = Membership.objects.get(project=project, user=project_viewer)
    with pytest.raises(NotAllowed):
        services.membership_remove(actor=project_member, membership=target)
    assert Membership.objects.filter(pk=target.pk).exists()


def test_membership_remove__leave_self__ok(project, project_viewer):
    services.membership_remove(
        actor=project_viewer,
        membership=Membership.objects.get(project=project, user=project_viewer),
    )
    assert not Membership.objects.filter(project=project, user=project_viewer).exists()
    assert AuditEvent.objects.filter(action="member.removed").count() == 1


def test_membership_remove__last_admin__refused(project, project_admin):
    membership = Membership.objects.get(project=project, user=project_admin)
    with pytest.raises(DomainError):
        services.membership_remove(actor=project_admin, membership=membership)
    assert Membership.objects.filter(pk=membership.pk).exists()


# ---------------------------------------------------------------- access requests


def test_access_request__closed_project__approve_adds_member(project, project_admin, outsider):
    # Given
    request = services.access_request_create(
        actor=outsider, project=project, message="I'm on payments"
    )
    with pytest.raises(Conflict):
        services.access_request_create(actor=outsider, project=project)
    # When
    services.access_request_approve(actor=project_admin, access_request=request, role="viewer")
    # Then
    request.refresh_from_db()
    assert request.status == AccessRequestStatus.APPROVED
    assert request.decided_by == project_admin
    assert Membership.objects.get(project=project, user=outsider).role == Role.VIEWER
    with pytest.raises(Conflict):
        services.access_request_deny(actor=project_admin, access_request=request)


def test_access_request__deny__no_membership_and_requester_told(project, project_admin, outsider):
    request = services.access_request_create(actor=outsider, project=project)
    services.access_request_deny(actor=project_admin, access_request=request)
    assert not Membership.objects.filter(project=project, user=outsider).exists()
    assert notifications.send("access_decided", request.pk)
    assert mail.outbox[-1].to == [outsider.email]
    assert "denied" in mail.outbox[-1].subject


def test_access_request__member_decides__refused(project, project_member, outsider):
    request = services.access_request_create(actor=outsider, project=project)
    with pytest.raises(NotAllowed):
        services.access_request_approve(actor=project_member, access_request=request)
    request.refresh_from_db()
    assert request.status == AccessRequestStatus.PENDING


def test_access_request__open_project__refused(project, project_admin, outsider):
    services.project_update(
        actor=project_admin,
        project=project,
        name=project.name,
        description="",
        access_mode="open",
        default_role="member",
    )
    with pytest.raises(DomainError):
        services.access_request_create(actor=outsider, project=project)
    assert not AccessRequest.objects.exists()


# ---------------------------------------------------------------- keys


def test_key_create__secret_only_hashed_at_rest(project, project_admin):
    # When
    issued = services.key_create(
        actor=project_admin, project=project, kind="server", environment=_env(project, "production")
    )
    # Then
    assert issued.secret.startswith("secret-")
    assert len(issued.secret) > 40
    key = ApiKey.objects.get(pk=issued.key.pk)
    assert key.key_hash == hash_key(issued.secret)
    assert issued.secret[7:] not in key.hint
    dumped = str(list(ApiKey.objects.values())) + str(list(AuditEvent.objects.values()))
    assert issued.secret not in dumped


@pytest.mark.parametrize(("kind", "prefix"), [("client", "client-"), ("console", "console-")])
def test_key_create__prefixes(project, project_admin, kind, prefix):
    issued = services.key_create(
        actor=project_admin,
        project=project,
        kind=kind,
        environment=_env(project, "staging") if kind == "client" else None,
        role="viewer" if kind == "console" else "",
    )
    assert issued.secret.startswith(prefix)
    assert services.key_authenticate(issued.secret, kinds=(kind,)) == issued.key


def test_key_create__server_key_without_environment__refused(project, project_admin):
    with pytest.raises(DomainError):
        services.key_create(actor=project_admin, project=project, kind="server")
    assert not ApiKey.objects.exists()


def test_key_create__member__refused(project, project_member):
    with pytest.raises(NotAllowed):
        services.key_create(actor=project_member, project=project, kind="console", role="member")
    assert not ApiKey.objects.exists()


def test_key_authenticate__wrong_kind_or_secret__none(project, project_admin):
    issued = services.key_create(
        actor=project_admin, project=project, kind="client", environment=_env(project, "staging")
    )
    assert services.key_authenticate(issued.secret, kinds=(KeyKind.SERVER,)) is None
    assert services.key_authenticate(issued.secret + "x", kinds=(KeyKind.CLIENT,)) is None
    assert services.key_authenticate("", kinds=(KeyKind.CLIENT,)) is None


def test_key_authenticate__records_last_use_once_a_minute(project, project_admin):
    issued = services.key_create(actor=project_admin, project=project, kind="console", role="admin")
    first = services.key_authenticate(issued.secret, kinds=("console",)).last_used_at
    assert first is not None
    again = services.key_authenticate(issued.secret, kinds=("console",)).last_used_at
    assert again == first


def test_key_rotate__overlap__both_work_until_old_revoked(project, project_admin):
    # Given
    old = services.key_create(
        actor=project_admin, project=project, kind="server", environment=_env(project, "production")
    )
    # When
    new = services.key_rotate(actor=project_admin, key=old.key, overlap_hours=24)
    # Then
    assert new.secret != old.secret
    assert new.key.rotated_from == old.key
    assert services.key_authenticate(old.secret, kinds=("server",)) == old.key
    assert services.key_authenticate(new.secret, kinds=("server",)) == new.key
    old.key.refresh_from_db()
    assert old.key.expires_at > timezone.now() + timedelta(hours=23)
    services.key_revoke(actor=project_admin, key=old.key)
    assert services.key_authenticate(old.secret, kinds=("server",)) is None
    assert services.key_authenticate(new.secret, kinds=("server",)) == new.key
    with pytest.raises(Conflict):
        services.key_rotate(actor=project_admin, key=old.key)


def test_key_rotate__no_overlap__old_stops_at_once(project, project_admin):
    old = services.key_create(actor=project_admin, project=project, kind="console", role="admin")
    services.key_rotate(actor=project_admin, key=old.key, overlap_hours=0)
    assert services.key_authenticate(old.secret, kinds=("console",)) is None


def test_key_rotate__expired_key__refused(project, project_admin):
    old = services.key_create(actor=project_admin, project=project, kind="console", role="admin")
    ApiKey.objects.filter(pk=old.key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.key_authenticate(old.secret, kinds=("console",)) is None
    with pytest.raises(Conflict):
        services.key_rotate(actor=project_admin, key=old.key)


def test_key_rotate__bad_overlap__refused(project, project_admin):
    old = services.key_create(actor=project_admin, project=project, kind="console", role="admin")
    with pytest.raises(DomainError):
        services.key_rotate(actor=project_admin, key=old.key, overlap_hours=-1)
    assert ApiKey.objects.count() == 1


# ---------------------------------------------------------------- one event per write


def _writes(project, admin, outsider):
    """(name, callable) for every core service; each must record exactly one audit event."""
    prod = _env(project, "production")
    staging = _env(project, "staging")
    tag = Tag.objects.get(project=project, name="core")

    def invite():
        return services.membership_invite(
            actor=admin, project=project, email="z@corp.example", role="member"
        )

    return [
        (
            "project_update",
            lambda: services.project_update(
                actor=admin,
                project=project,
                name="P2",
                description="d",
                access_mode="closed",
                default_role="member",
            ),
        ),
        (
            "environment_create",
            lambda: services.environment_create(
                actor=admin, project=project, name="qa", tier="staging"
            ),
        ),
        (
            "environment_update",
            lambda: services.environment_update(
                actor=admin, environment=staging, name="stage", tier="staging"
            ),
        ),
        (
            "environment_reorder",
            lambda: services.environment_reorder(
                actor=admin,
                project=project,
                environment_ids=list(project.environments.values_list("pk", flat=True))[::-1],
            ),
        ),
        (
            "environment_delete",
            lambda: services.environment_delete(actor=admin, environment=staging),
        ),
        ("tag_create", lambda: services.tag_create(actor=admin, project=project, name="new")),
        ("tag_update", lambda: services.tag_update(actor=admin, tag=tag, name="core2")),
        ("tag_delete", lambda: services.tag_delete(actor=admin, tag=tag)),
        ("membership_invite", invite),
        (
            "membership_update",
            lambda: services.membership_update(actor=admin, membership=invite(), role="viewer"),
        ),
        ("membership_remove", lambda: services.membership_remove(actor=admin, membership=invite())),
        (
            "access_request_create",
            lambda: services.access_request_create(actor=outsider, project=project),
        ),
        (
            "access_request_approve",
            lambda: services.access_request_approve(
                actor=admin,
                access_request=services.access_request_create(actor=outsider, project=project),
            ),
        ),
        (
            "access_request_deny",
            lambda: services.access_request_deny(
                actor=admin,
                access_request=services.access_request_create(actor=outsider, project=project),
            ),
        ),
        (
            "key_create",
            lambda: services.key_create(
                actor=admin, project=project, kind="server", environment=prod
            ),
        ),
        (
            "key_rotate",
            lambda: services.key_rotate(
                actor=admin,
                key=services.key_create(
                    actor=admin, project=project, kind="server", environment=prod
                ).key,
            ),
        ),
        (
            "key_revoke",
            lambda: services.key_revoke(
                actor=admin,
                key=services.key_create(
                    actor=admin, project=project, kind="server", environment=prod
                ).key,
            ),
        ),
    ]


WRITE_NAMES = [
    "project_update",
    "environment_create",
    "environment_update",
    "environment_reorder",
    "environment_delete",
    "tag_create",
    "tag_update",
    "tag_delete",
    "membership_invite",
    "membership_update",
    "membership_remove",
    "access_request_create",
    "access_request_approve",
    "access_request_deny",
    "key_create",
    "key_rotate",
    "key_revoke",
]
# Writes whose set-up itself calls one other service (which records its own event).
SETUP_EVENTS = {
    "membership_update": 1,
    "membership_remove": 1,
    "access_request_approve": 1,
    "access_request_deny": 1,
    "key_rotate": 1,
    "key_revoke": 1,
}


@pytest.mark.parametrize("name", WRITE_NAMES)
def test_every_service__one_audit_event_per_write(project, project_admin, outsider, name):
    # Given
    write = dict(_writes(project, project_admin, outsider))[name]
    before = AuditEvent.objects.count()
    # When
    write()
    # Then
    assert AuditEvent.objects.count() - before == 1 + SETUP_EVENTS.get(name, 0)


def test_every_service__list_covers_every_write(project, project_admin, outsider):
    assert set(WRITE_NAMES) == {n for n, _ in _writes(project, project_admin, outsider)}
