"""Demo layer and experiments for `manage.py demo_load`, made the way every configuration
change is: proposed as change sets by the demo user and approved by a second demo admin, so
they are applied and published. One change (starting trust_badges) is left in review, so the
review queue has something to show."""

from __future__ import annotations

import os

from django.contrib.auth import get_user_model

from console import services as console_services
from console.exceptions import ApplicationError
from console.models import Membership, Project, Role
from reviews.models import ChangeSet, ChangeSetSource
from reviews.services import ChangeInput, changeset_approve, changeset_submit
from reviews.shortcuts import is_applied

# The second demo admin, who approves the demo user's change sets: gates/demo.py (which runs
# first) makes the same account; whichever runs first makes it.
REVIEWER_EMAIL = "ada@gatehouse.local"
REVIEWER_USERNAME = "ada"
REVIEWER_NAME = "Ada Admin"


def _parameter(name, type_, default):
    return {"name": name, "type": type_, "defaultValue": default, "description": ""}


def _group(name, size, values):
    return {"name": name, "description": "", "size": size, "parameterValues": values}


PARAMETERS = [
    _parameter("button_color", "string", "grey"),
    _parameter("show_trust_badges", "boolean", False),
]

LAYER = {
    "name": "checkout_page",
    "description": "Mutually exclusive tests of the checkout page.",
    "idType": "userID",
    "parameters": PARAMETERS,
}

BUTTON_COLOR = {
    "name": "checkout_button_color",
    "hypothesis": "A blue pay button makes more people finish the checkout.",
    "description": "Grey (today) against blue.",
    "idType": "userID",
    "allocation": 40,
    "layerID": "checkout_page",
    "parameters": PARAMETERS,
    "groups": [
        _group("Control", 50, {"button_color": "grey", "show_trust_badges": False}),
        _group("Blue", 50, {"button_color": "blue", "show_trust_badges": False}),
    ],
    "tags": ["web"],
}

TRUST_BADGES = {
    "name": "trust_badges",
    "hypothesis": "Payment trust badges reduce drop-off at the card form.",
    "idType": "userID",
    "allocation": 30,
    "layerID": "checkout_page",
    "parameters": PARAMETERS,
    "groups": [
        _group("Control", 50, {"button_color": "grey", "show_trust_badges": False}),
        _group("Badges", 50, {"button_color": "grey", "show_trust_badges": True}),
    ],
}


def second_admin(*, project: Project, actor):
    """A project admin other than `actor` to approve the demo's change sets: an existing one,
    else Ada (made once, with the demo password, and added as an admin)."""
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
        taken = User.objects.filter(username=REVIEWER_USERNAME).exists()
        user = User.objects.create_user(
            username=REVIEWER_EMAIL if taken else REVIEWER_USERNAME,
            email=REVIEWER_EMAIL,
            password=os.environ.get("DEMO_PASSWORD", "demo-password"),
            first_name=REVIEWER_NAME,
        )
    console_services.membership_invite(
        actor=actor, project=project, email=user.email, role=Role.ADMIN
    )
    return user


def _submit(actor, project: Project, title: str, *changes: ChangeInput) -> ChangeSet:
    return changeset_submit(
        actor=actor,
        project=project,
        changes=list(changes),
        title=title,
        source=ChangeSetSource.COMMAND,
    )


def _applied(actor, reviewer, project: Project, title: str, *changes: ChangeInput) -> ChangeSet:
    """Submit and, when it waits for review, approve (which applies it)."""
    change_set = _submit(actor, project, title, *changes)
    if not is_applied(change_set):
        change_set = changeset_approve(actor=reviewer, change_set=change_set)
    if not is_applied(change_set):
        raise ApplicationError(
            f"Demo change set #{change_set.number} was not applied: "
            f"{change_set.apply_error or change_set.state}"
        )
    return change_set


def load(*, project, actor) -> None:
    if project.slug != "checkout":
        return
    reviewer = second_admin(project=project, actor=actor)
    _applied(
        actor,
        reviewer,
        project,
        "Checkout page layer with two experiments",
        ChangeInput("layer", "create", payload=LAYER),
        ChangeInput("experiment", "create", payload=BUTTON_COLOR),
        ChangeInput("experiment", "create", payload=TRUST_BADGES),
    )
    _applied(
        actor,
        reviewer,
        project,
        "Start the blue button test",
        ChangeInput("experiment", "start", BUTTON_COLOR["name"]),
    )
    # Left for a reviewer: the review queue's first entry, proposed by a member when the
    # project has one (so the demo admin finds it under "To review").
    member = (
        Membership.objects.filter(project=project, role=Role.MEMBER)
        .select_related("user")
        .order_by("pk")
        .first()
    )
    _submit(
        member.user if member else actor,
        project,
        "Start the trust badges test",
        ChangeInput("experiment", "start", TRUST_BADGES["name"]),
    )
