"""Writes of a single sign-on: the just-in-time account and the roles granted by groups.

Group convention: `<SSO_GROUPS_PREFIX><project-slug>-<role>` (default prefix "gatehouse-"), so
`gatehouse-payments-admin` makes its members admins of the project "payments". The groups are
read from the claim SSO_GROUPS_CLAIM (default "groups"; "" turns the mapping off) at every
sign-in. Only memberships the mapping made (`source="sso"`) are changed or removed by it;
memberships from an invite, a join or an approved request are never touched.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from console.audit import audit_record
from console.models import (
    ROLE_RANK,
    AccessRequest,
    AccessRequestStatus,
    Membership,
    MembershipSource,
    Project,
    Role,
    SsoIdentity,
)
from console.permissions import forget_roles
from console.sso import conf
from console.sso.exceptions import SsoError

logger = logging.getLogger(__name__)
User = get_user_model()

_CONTROL = re.compile(r"[\x00-\x1f\x7f<>]")


@dataclass(frozen=True)
class SsoClaims:
    """What Gatehouse takes from one verified sign-in."""

    issuer: str
    subject: str
    email: str
    first_name: str
    last_name: str
    groups: tuple[str, ...]


def _is_true(value) -> bool:
    # Some providers send the JSON string "true" instead of a boolean.
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _text(value, limit: int) -> str:
    return _CONTROL.sub("", value if isinstance(value, str) else "").strip()[:limit]


def sso_claims_parse(*, userinfo: dict, id_token: dict) -> SsoClaims:
    """Check the claims of one sign-in; raises SsoError for each reason to refuse it."""
    subject = id_token.get("sub")
    # OIDC Core 5.3.2: userinfo must describe the subject the ID token was issued for.
    if not subject or userinfo.get("sub") != subject:
        raise SsoError("token_invalid", "The userinfo subject differs from the ID token's.")
    email = (userinfo.get("email") or "").strip().lower()
    if not email:
        raise SsoError("email_missing")
    try:
        validate_email(email)
    except ValidationError as exc:
        raise SsoError("email_missing") from exc
    if not _is_true(userinfo.get("email_verified")):
        raise SsoError("email_unverified")
    if email.rsplit("@", 1)[1] not in conf.allowed_domains():
        raise SsoError("domain_not_allowed", f"Refused domain: {email.rsplit('@', 1)[1]}")
    first = _text(userinfo.get("given_name"), 150)
    last = _text(userinfo.get("family_name"), 150)
    if not first and not last:
        first, _, last = _text(userinfo.get("name"), 301).partition(" ")
    groups: tuple[str, ...] = ()
    claim = settings.SSO_GROUPS_CLAIM
    raw = userinfo.get(claim) if claim else None
    if isinstance(raw, str):
        raw = [raw]
    if isinstance(raw, list):
        groups = tuple(sorted({g for g in raw if isinstance(g, str)}))
    return SsoClaims(
        issuer=conf.issuer(),
        subject=str(subject)[:255],
        email=email,
        first_name=first[:150],
        last_name=last.strip()[:150],
        groups=groups,
    )


def _unique_username(email: str) -> str:
    base = re.sub(r"[^\w.@+-]", "", email)[:140] or "user"
    candidate, n = base, 1
    while User.objects.filter(username=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


@transaction.atomic
def sso_login(*, claims: SsoClaims):
    """The user for a verified sign-in: found by (issuer, subject), else linked by email, else
    created. Updates the name (and email) from the claims and applies the group roles.

    Refusals raise SsoError and roll everything back."""
    now = timezone.now()
    for _attempt in range(2):
        identity = (
            SsoIdentity.objects.select_for_update()
            .select_related("user")
            .filter(issuer=claims.issuer, subject=claims.subject)
            .first()
        )
        if identity is not None:
            user = _update_from_claims(identity.user, claims)
            identity.email, identity.last_login_at = claims.email, now
            identity.save(update_fields=["email", "last_login_at", "updated_at"])
            break
        try:
            # A savepoint: a concurrent first sign-in of the same person loses the race on
            # the unique constraints, and the second pass finds the identity it created.
            with transaction.atomic():
                user = _link_or_create(claims, now)
            break
        except IntegrityError:
            logger.info("sso.login_race subject=%s", claims.subject)
    else:
        raise SsoError("identity_conflict")
    if settings.SSO_GROUPS_CLAIM:
        sso_memberships_sync(user=user, groups=claims.groups)
    return user


def _update_from_claims(user, claims: SsoClaims):
    if not user.is_active:
        raise SsoError("account_inactive")
    before = {"first_name": user.first_name, "last_name": user.last_name, "email": user.email}
    user.first_name, user.last_name = claims.first_name, claims.last_name
    if claims.email != user.email.lower():
        if User.objects.filter(email__iexact=claims.email).exclude(pk=user.pk).exists():
            raise SsoError("identity_conflict")
        user.email = claims.email
    after = {"first_name": user.first_name, "last_name": user.last_name, "email": user.email}
    if after != before:
        user.save(update_fields=["first_name", "last_name", "email"])
        audit_record(
            actor=user,
            action="user.updated_from_sso",
            target=user,
            project=None,
            before=before,
            after=after,
        )
    return user


def _link_or_create(claims: SsoClaims, now):
    user = User.objects.select_for_update().filter(email__iexact=claims.email).first()
    if user is not None:
        # The provider is the authority for the allowed domains, so an invited or local
        # account of the same verified email becomes this person's; a second identity of the
        # same provider may not take it over.
        if SsoIdentity.objects.filter(user=user, issuer=claims.issuer).exists():
            raise SsoError("identity_conflict")
        user = _update_from_claims(user, claims)
        action = "sso_identity.linked"
    else:
        user = User(
            username=_unique_username(claims.email),
            email=claims.email,
            first_name=claims.first_name,
            last_name=claims.last_name,
        )
        user.set_unusable_password()
        user.full_clean(exclude=["password"], validate_constraints=False)
        user.save()
        action = "sso_identity.created"
    identity = SsoIdentity.objects.create(
        user=user,
        issuer=claims.issuer,
        subject=claims.subject,
        email=claims.email,
        last_login_at=now,
    )
    audit_record(
        actor=user,
        action=action,
        target=identity,
        project=None,
        after={"user": user.email, "issuer": claims.issuer, "subject": claims.subject},
    )
    return user


# ---------------------------------------------------------------- group roles


def sso_group_roles(groups) -> dict[str, tuple[str, str]]:
    """{project slug: (role, group)} for the groups that follow the convention; the highest
    role wins when several groups name the same project."""
    prefix = re.escape(settings.SSO_GROUPS_PREFIX)
    pattern = re.compile(rf"^{prefix}(?P<slug>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)-(?P<role>\w+)$")
    wanted: dict[str, tuple[str, str]] = {}
    for group in groups:
        match = pattern.match(group)
        if not match or match["role"] not in Role.values:
            continue
        slug, role = match["slug"], Role(match["role"])
        if slug not in wanted or ROLE_RANK[role] > ROLE_RANK[Role(wanted[slug][0])]:
            wanted[slug] = (role.value, group)
    return wanted


def _lock_admins(project_id: int) -> int:
    """Lock the project's admin rows (the order every membership service uses) and count them."""
    return len(
        list(
            Membership.objects.select_for_update()
            .filter(project_id=project_id, role=Role.ADMIN)
            .order_by("pk")
        )
    )


@transaction.atomic
def sso_memberships_sync(*, user, groups) -> None:
    """Make the user's SSO memberships match the groups: grant, change and remove roles.

    Audited with no actor (the system, on the provider's word). A change that would leave a
    project without an admin is skipped and logged."""
    wanted = sso_group_roles(groups)
    projects = {p.slug: p for p in Project.objects.active().filter(slug__in=wanted)}
    current = {
        m.project_id: m
        for m in Membership.objects.filter(user=user).select_related("project").order_by("pk")
    }
    for slug, (role, group) in sorted(wanted.items()):
        project = projects.get(slug)
        if project is None:
            continue
        membership = current.pop(project.pk, None)
        if membership is None:
            _grant(user, project, role, group)
        elif membership.source == MembershipSource.SSO:
            _change(membership, role, group)
    for membership in current.values():
        if membership.source == MembershipSource.SSO and membership.project.archived_at is None:
            _remove(membership)
    forget_roles(user)


def _grant(user, project: Project, role: str, group: str) -> None:
    membership = Membership.objects.create(
        project=project, user=user, role=role, source=MembershipSource.SSO, sso_group=group
    )
    AccessRequest.objects.filter(
        project=project, user=user, status=AccessRequestStatus.PENDING
    ).update(status=AccessRequestStatus.APPROVED, decided_at=timezone.now())
    audit_record(
        actor=None,
        action="member.added",
        target=membership,
        project=project,
        after={"user": user.email, "role": role, "source": "sso", "group": group},
    )


def _change(membership: Membership, role: str, group: str) -> None:
    admins = _lock_admins(membership.project_id)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if membership.role == role and membership.sso_group == group:
        return
    if membership.role == Role.ADMIN and role != Role.ADMIN and admins == 1:
        logger.warning("sso.keep_last_admin membership=%s", membership.pk)
        return
    old_role = membership.role
    membership.role, membership.sso_group = role, group
    membership.save(update_fields=["role", "sso_group", "updated_at"])
    audit_record(
        actor=None,
        action="member.role_changed",
        target=membership,
        project=membership.project,
        before={"user": membership.user.email, "role": old_role},
        after={"user": membership.user.email, "role": role, "source": "sso", "group": group},
    )


def _remove(membership: Membership) -> None:
    admins = _lock_admins(membership.project_id)
    if membership.role == Role.ADMIN and admins == 1:
        logger.warning("sso.keep_last_admin membership=%s", membership.pk)
        return
    audit_record(
        actor=None,
        action="member.removed",
        target=membership,
        project=membership.project,
        before={
            "user": membership.user.email,
            "role": membership.role,
            "source": "sso",
            "group": membership.sso_group,
        },
    )
    membership.delete()
