"""Demo gates, segments and configs for `manage.py demo_load`: proposed as one change set by
the demo user and approved by a second demo admin, so they are applied and published the
way every configuration change is."""

import os

from django.contrib.auth import get_user_model

from console import services as console_services
from console.models import Membership, Role
from reviews.models import ChangeSetSource, ChangeSetState
from reviews.services import ChangeInput, changeset_approve, changeset_submit

APPROVER_EMAIL = "ada@gatehouse.local"


def _condition(type_, operator=None, target=None, field=None):
    return {"type": type_, "operator": operator, "targetValue": target, "field": field}


def demo_approver(*, project, actor):
    """A project admin other than `actor` to approve the demo's change sets: an existing
    one, else Ada (made once, with the demo password, and added as an admin)."""
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
    user = User.objects.filter(email__iexact=APPROVER_EMAIL).first()
    if user is None:
        taken = User.objects.filter(username="ada").exists()
        user = User.objects.create_user(
            username=APPROVER_EMAIL if taken else "ada",
            email=APPROVER_EMAIL,
            password=os.environ.get("DEMO_PASSWORD", "demo-password"),
            first_name="Ada Admin",
        )
    console_services.membership_invite(
        actor=actor, project=project, email=user.email, role=Role.ADMIN
    )
    return user


def apply_demo_changes(*, project, actor, changes: list[ChangeInput], title: str):
    """Submit `changes` as one change set by `actor`; approve it as the demo approver when
    it waits for review (the default policy asks one approval for production)."""
    change_set = changeset_submit(
        actor=actor, project=project, changes=changes, title=title, source=ChangeSetSource.COMMAND
    )
    if change_set.state != ChangeSetState.APPLIED:
        approver = demo_approver(project=project, actor=actor)
        change_set = changeset_approve(actor=approver, change_set=change_set)
    if change_set.state != ChangeSetState.APPLIED:
        # The approval stands but applying was refused: say why (`apply_error`).
        raise getattr(change_set, "apply_error", None) or RuntimeError(
            f"The demo change set #{change_set.number} was not applied."
        )
    return change_set


def load(*, project, actor) -> None:
    if project.slug != "checkout":
        return
    segment = ChangeInput(
        "segment",
        "create",
        payload={
            "name": "employees",
            "description": "Everyone with a company email address.",
            "type": "rule_based",
            "rules": [
                {
                    "name": "Company email",
                    "passPercentage": 100,
                    "conditions": [_condition("email", "str_ends_with_any", ["@gatehouse.local"])],
                }
            ],
        },
    )
    gate = ChangeInput(
        "gate",
        "create",
        payload={
            "name": "new_checkout",
            "description": "The one-page checkout. Staff first, then a gradual rollout.",
            "tags": ["core", "web"],
            "owner": actor.email,
            "rules": [
                {
                    "name": "Employees",
                    "passPercentage": 100,
                    "conditions": [_condition("passes_segment", None, "employees")],
                },
                {
                    "name": "New app versions in the US and Canada",
                    "passPercentage": 50,
                    "conditions": [
                        _condition("country", "any", ["US", "CA"]),
                        _condition("app_version", "version_gte", "3.2.0"),
                    ],
                },
                {
                    "name": "Everyone else",
                    "passPercentage": 10,
                    "conditions": [_condition("public")],
                },
            ],
        },
    )
    config = ChangeInput(
        "dynamic_config",
        "create",
        payload={
            "name": "checkout_settings",
            "description": "Limits and copy of the checkout page.",
            "tags": ["core"],
            "defaultValue": {"max_items": 50, "express_pay": False, "banner": ""},
            "rules": [
                {
                    "name": "Employees try express pay",
                    "passPercentage": 100,
                    "conditions": [_condition("passes_segment", None, "employees")],
                    "returnValue": {
                        "max_items": 50,
                        "express_pay": True,
                        "banner": "Staff preview",
                    },
                }
            ],
        },
    )
    apply_demo_changes(
        project=project,
        actor=actor,
        changes=[segment, gate, config],
        title="Demo: the new checkout gate, its employees segment and settings",
    )
