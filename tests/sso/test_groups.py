"""Roles from the provider's groups claim: `gatehouse-<project slug>-<role>`."""

from __future__ import annotations

import pytest
from django.utils import timezone

from console import services
from console.models import AuditEvent, Membership, MembershipSource, Role
from console.sso.services import sso_group_roles, sso_memberships_sync
from tests.console.factories import ProjectFactory, UserFactory


def test_sso_group_roles__convention__highest_role_per_project_and_others_ignored(settings):
    # When
    roles = sso_group_roles(
        [
            "gatehouse-payments-viewer",
            "gatehouse-payments-admin",
            "gatehouse-payments-eu-member",
            "gatehouse-search-owner",  # not a role
            "engineering",  # not ours
        ]
    )
    # Then
    assert roles == {
        "payments": ("admin", "gatehouse-payments-admin"),
        "payments-eu": ("member", "gatehouse-payments-eu-member"),
    }


@pytest.mark.django_db
def test_sso_memberships_sync__new_group__grants_role_marked_sso_and_audited(site_admin):
    # Given a closed project and an employee outside it
    project = services.project_create(actor=site_admin, name="Payments", slug="payments")
    user = UserFactory()
    # When
    sso_memberships_sync(user=user, groups=["gatehouse-payments-admin"])
    # Then
    membership = Membership.objects.get(project=project, user=user)
    assert (membership.role, membership.source) == (Role.ADMIN, MembershipSource.SSO)
    assert membership.sso_group == "gatehouse-payments-admin"
    event = AuditEvent.objects.get(action="member.added", target_id=membership.pk)
    assert event.actor is None
    assert event.after["source"] == "sso"


@pytest.mark.django_db
def test_sso_memberships_sync__group_changed_or_gone__role_changed_then_removed(site_admin):
    # Given an SSO-granted admin
    project = services.project_create(actor=site_admin, name="Payments", slug="payments")
    user = UserFactory()
    sso_memberships_sync(user=user, groups=["gatehouse-payments-admin"])
    # When their group becomes viewer
    sso_memberships_sync(user=user, groups=["gatehouse-payments-viewer"])
    # Then
    assert Membership.objects.get(project=project, user=user).role == Role.VIEWER
    assert AuditEvent.objects.filter(action="member.role_changed").exists()
    # When the group is gone
    sso_memberships_sync(user=user, groups=[])
    # Then
    assert not Membership.objects.filter(project=project, user=user).exists()
    assert AuditEvent.objects.filter(action="member.removed", actor__isnull=True).exists()


@pytest.mark.django_db
def test_sso_memberships_sync__manual_membership__never_changed_or_removed(site_admin):
    # Given a member an admin invited by hand
    project = services.project_create(actor=site_admin, name="Payments", slug="payments")
    user = UserFactory()
    services.membership_invite(actor=site_admin, project=project, email=user.email, role="viewer")
    # When their groups say admin, and later say nothing
    sso_memberships_sync(user=user, groups=["gatehouse-payments-admin"])
    sso_memberships_sync(user=user, groups=[])
    # Then the hand-made membership is as the admin left it
    membership = Membership.objects.get(project=project, user=user)
    assert (membership.role, membership.source) == (Role.VIEWER, MembershipSource.MANUAL)


@pytest.mark.django_db
def test_sso_memberships_sync__last_admin_loses_group__kept_as_admin(db):
    # Given a project whose only admin came from SSO
    project = ProjectFactory(slug="payments")
    user = UserFactory()
    sso_memberships_sync(user=user, groups=["gatehouse-payments-admin"])
    # When the group goes away
    sso_memberships_sync(user=user, groups=[])
    # Then the project keeps its admin (and the sync logs it)
    assert Membership.objects.get(project=project, user=user).role == Role.ADMIN


@pytest.mark.django_db
def test_sso_memberships_sync__unknown_or_archived_project__ignored(db):
    # Given
    ProjectFactory(slug="old", archived_at=timezone.now())
    user = UserFactory()
    # When
    sso_memberships_sync(user=user, groups=["gatehouse-nowhere-admin", "gatehouse-old-admin"])
    # Then
    assert not Membership.objects.filter(user=user).exists()


@pytest.mark.django_db(transaction=True)
def test_sso_login__groups_claim__roles_granted_and_removed_at_each_sign_in(
    sso, new_sso_client, site_admin
):
    # Given two closed projects and an employee in the payments admins group
    payments = services.project_create(actor=site_admin, name="Payments", slug="payments")
    search = services.project_create(actor=site_admin, name="Search", slug="search")
    login = sso.account(groups=["gatehouse-payments-admin", "gatehouse-search-viewer", "staff"])

    # When they sign in
    new_sso_client().sign_in(login)

    # Then they hold the roles the groups give, marked as coming from SSO
    roles = dict(Membership.objects.filter(user__email=login).values_list("project__slug", "role"))
    assert roles == {"payments": "admin", "search": "viewer"}
    assert set(Membership.objects.filter(user__email=login).values_list("source", flat=True)) == {
        "sso"
    }

    # When the provider moves them out of payments and up in search, and they sign in again
    sso.update(login, groups=["gatehouse-search-member"])
    new_sso_client().sign_in(login)

    # Then the payments role is gone and the search role follows
    assert not Membership.objects.filter(project=payments, user__email=login).exists()
    assert Membership.objects.get(project=search, user__email=login).role == Role.MEMBER
    actions = set(AuditEvent.objects.filter(actor__isnull=True).values_list("action", flat=True))
    assert {"member.added", "member.role_changed", "member.removed"} <= actions


@pytest.mark.django_db
def test_member_page__sso_membership__shown_as_coming_from_sso(client, site_admin):
    # Given
    project = services.project_create(actor=site_admin, name="Payments", slug="payments")
    user = UserFactory(email="sam@corp.example")
    sso_memberships_sync(user=user, groups=["gatehouse-payments-member"])
    client.force_login(site_admin)
    # When
    page = client.get(f"/p/{project.slug}/settings/members/").content.decode()
    # Then
    rows = {r.split("</tr>")[0] for r in page.split('<tr id="member-')[1:]}
    sam = next(r for r in rows if "sam@corp.example" in r)
    root = next(r for r in rows if "root@corp.example" in r)
    assert ">SSO<" in sam
    assert "gatehouse-payments-member" in sam
    assert ">Manual<" in root
