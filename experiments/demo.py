"""Demo layer and experiments for `manage.py demo_load`, made the way every configuration
change is: proposed as change sets by the demo user and approved by a second demo admin, so
they are applied and published. One change (starting trust_badges) is left in review, so the
review queue has something to show."""

from __future__ import annotations

from console.models import Membership, Role
from reviews.demo import demo_apply, demo_propose
from reviews.services import ChangeInput


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


def load(*, project, actor) -> None:
    if project.slug != "checkout":
        return
    demo_apply(
        project=project,
        actor=actor,
        title="Checkout page layer with two experiments",
        changes=[
            ChangeInput("layer", "create", payload=LAYER),
            ChangeInput("experiment", "create", payload=BUTTON_COLOR),
            ChangeInput("experiment", "create", payload=TRUST_BADGES),
        ],
    )
    demo_apply(
        project=project,
        actor=actor,
        title="Start the blue button test",
        changes=[ChangeInput("experiment", "start", BUTTON_COLOR["name"])],
    )
    # Left for a reviewer: the review queue's first entry, proposed by a member when the
    # project has one (so the demo admin finds it under "To review").
    member = (
        Membership.objects.filter(project=project, role=Role.MEMBER)
        .select_related("user")
        .order_by("pk")
        .first()
    )
    demo_propose(
        project=project,
        actor=member.user if member else actor,
        title="Start the trust badges test",
        changes=[ChangeInput("experiment", "start", TRUST_BADGES["name"])],
    )
