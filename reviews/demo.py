"""How the domain apps' demo data goes in: as change sets, like every configuration change.
The demo user proposes; a second demo admin (Ada, made once) approves, which applies and
publishes."""

from __future__ import annotations

import os

from django.contrib.auth import get_user_model

from console import services as console_services
from console.exceptions import ApplicationError
from console.models import Membership, Project, Role
from reviews.models import ChangeSet, ChangeSetSource
from reviews.services import ChangeInput, changeset_approve, changeset_submit
from reviews.shortcuts import is_applied

REVIEWER_EMAIL = "ada@gatehouse.local"


def demo_reviewer(*, project: Project, actor):
    """A project admin other than `actor`: an existing one, else Ada (made once, with the
    demo password, and added as an admin)."""
    other = (
        Membership.objects.filter(project=project, role=Role.ADMIN)
        .exclude(user=actor)
        .select_related("user")
        .order_by("pk")
        .first()
    )
    if other is not None:
        return other.user
    User = get_user_model()
    user = User.objects.filter(email__iexact=REVIEWER_EMAIL).first()
    if user is None:
        taken = User.objects.filter(username="ada").exists()
        user = User.objects.create_user(
            username=REVIEWER_EMAIL if taken else "ada",
            email=REVIEWER_EMAIL,
            password=os.environ.get("DEMO_PASSWORD", "demo-password"),
            first_name="Ada Admin",
        )
    console_services.membership_invite(
        actor=actor, project=project, email=user.email, role=Role.ADMIN
    )
    return user


def demo_propose(*, project: Project, actor, title: str, changes: list[ChangeInput]) -> ChangeSet:
    return changeset_submit(
        actor=actor, project=project, changes=changes, title=title, source=ChangeSetSource.COMMAND
    )


def demo_apply(*, project: Project, actor, title: str, changes: list[ChangeInput]) -> ChangeSet:
    """Propose `changes` and, when they wait for review, approve them as the demo reviewer
    (which applies them). Raises if they end up not applied."""
    change_set = demo_propose(project=project, actor=actor, title=title, changes=changes)
    if not is_applied(change_set):
        reviewer = demo_reviewer(project=project, actor=actor)
        change_set = changeset_approve(actor=reviewer, change_set=change_set)
    if not is_applied(change_set):
        raise change_set.apply_error or ApplicationError(
            f"Demo change set #{change_set.number} was not applied ({change_set.state})."
        )
    return change_set
