"""The change set page offers exactly the actions the services accept: both read
reviews.actions. For each state and each kind of viewer, every action is tried through its
service (in a savepoint that is rolled back) and compared with what the page shows."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse

from console.exceptions import ApplicationError
from reviews.models import ChangeSetState
from reviews.services import (
    changeset_apply,
    changeset_approve,
    changeset_cancel,
    changeset_reject,
    changeset_send,
    review_policy_update,
)
from tests.reviews.conftest import create_gate, submit

pytestmark = pytest.mark.django_db
S = ChangeSetState

SERVICES = {
    "approve": lambda actor, cs: changeset_approve(actor=actor, change_set=cs),
    "reject": lambda actor, cs: changeset_reject(actor=actor, change_set=cs, reason="No."),
    "apply": lambda actor, cs: changeset_apply(actor=actor, change_set=cs),
    "break_glass": lambda actor, cs: changeset_apply(actor=actor, change_set=cs, break_glass=True),
    "cancel": lambda actor, cs: changeset_cancel(actor=actor, change_set=cs),
    "send": lambda actor, cs: changeset_send(actor=actor, change_set=cs),
}


def _accepted(actor, change_set) -> set[str]:
    accepted = set()
    for action, run in SERVICES.items():
        try:
            with transaction.atomic():
                run(actor, change_set)
                transaction.set_rollback(True)
        except ApplicationError:
            continue
        accepted.add(action)
    return accepted


def _offered(client, actor, change_set) -> set[str]:
    client.force_login(actor)
    url = reverse("changeset-detail", args=[change_set.project.slug, change_set.number])
    actions = client.get(url).context["actions"]
    return {a for a, shown in actions.items() if shown and a in SERVICES}


@pytest.mark.parametrize("state", ["draft", "in_review", "approved", "rejected"])
def test_page_actions__every_viewer_and_state__exactly_what_the_services_accept(
    client, project, project_admin, second_admin, project_member, reviewer, project_viewer, state
):
    # Given break-glass allowed and apply-on-approval off (so an approval leaves it approved)
    review_policy_update(
        actor=project_admin, project=project, allow_break_glass=True, apply_on_approval=False
    )
    change_set = submit(project_admin, project, create_gate(), draft=state == "draft")
    if state in ("approved", "rejected"):
        changeset_approve(actor=second_admin, change_set=change_set)
    if state == "rejected":
        changeset_reject(actor=reviewer, change_set=change_set, reason="Not now.")
    change_set.refresh_from_db()
    assert change_set.state == state
    # When each viewer's page is compared with what each service accepts
    for viewer in (project_admin, second_admin, project_member, reviewer, project_viewer):
        offered = _offered(client, viewer, change_set)
        accepted = _accepted(viewer, change_set)
        # Then they agree (the page adds only its own restraint: Apply once approved, no
        # second approval of the same content)
        if state != S.APPROVED:
            accepted.discard("apply")
        if viewer == second_admin and state in ("approved", "rejected"):
            accepted.discard("approve")
        assert offered == accepted, (viewer.username, state)
