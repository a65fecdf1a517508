"""The change set page: its changes and diffs, approvals, comments, the actions the
viewer may take, the impact panel and the applying panel."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from console.exceptions import ApplicationError
from console.models import Project, Role, role_at_least
from console.web import is_partial, project_for
from reviews import selectors, services
from reviews.actions import ACTIONS, Actor, refusal
from reviews.forms import (
    CommentForm,
    RebaseForm,
    RejectForm,
    ScheduleForm,
)
from reviews.impact import impact_preview
from reviews.models import (
    OPEN_STATES,
    Approval,
    ChangeSet,
    ChangeSetSource,
)
from reviews.policy import project_policy
from reviews.templatetags.reviews_tags import kind_label
from reviews.views.actions import _done
from reviews.views.common import S, _get_change_set, _role
from reviews.views.diffs import Side, _plain, change_view

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- the change set page


@dataclass
class ApprovalView:
    approval: Approval
    counts: bool
    dismissed: bool


@dataclass
class ConflictView:
    field_name: str
    entity: str
    kind_label: str
    key: str
    base: list[Side] | str
    theirs: list[Side] | str
    mine: list[Side] | str


def _value_lines(kind: str, key: str, value: Any) -> list[Side] | str:
    if value is None:
        return "(not set)"
    lines = selectors.document_lines(kind, {key: value})
    if lines:
        return [_plain(line) for line in lines]
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


def _conflicts(change_set: ChangeSet) -> list[ConflictView]:
    out = []
    for conflict in services.rebase_conflicts(change_set):
        change = conflict.change
        out.append(
            ConflictView(
                field_name=f"{RebaseForm.PREFIX}{change.position}.{conflict.key}",
                entity=change.entity_name,
                kind_label=kind_label(change.kind),
                key=conflict.key,
                base=_value_lines(change.kind, conflict.key, conflict.base),
                theirs=_value_lines(change.kind, conflict.key, conflict.theirs),
                mine=_value_lines(change.kind, conflict.key, conflict.mine),
            )
        )
    return out


def _detail_context(request, project: Project, change_set: ChangeSet) -> dict[str, Any]:
    user = request.user
    role = _role(request, project)
    member = role_at_least(role, Role.MEMBER)
    is_author = change_set.author_id == user.pk
    state = change_set.state
    follow_up = change_set.source == ChangeSetSource.FOLLOW_UP

    changes, approvals, comments = selectors.changeset_details(change_set)
    needs = services.change_set_requirements(change_set)
    policy = project_policy(project)
    stale_ids: set[int] = set()
    conflicts: list[ConflictView] = []
    if state == S.STALE:
        stale_ids = {c.pk for c in services.stale_changes(change_set, changes)}
        if is_author and member:
            conflicts = _conflicts(change_set)

    counted = {a.pk for a in needs.approvals}
    approval_views = [
        ApprovalView(
            a,
            counts=a.pk in counted,
            dismissed=a.dismissed_at is not None or a.content_hash != change_set.content_hash,
        )
        for a in approvals
    ]
    approved_by_me = any(
        a.user_id == user.pk and not v.dismissed
        for a, v in zip(approvals, approval_views, strict=True)
    )
    who = Actor(role, is_author)
    actions = {
        action: refusal(action, change_set, who, needs=needs, policy=policy) is None
        for action in ACTIONS
    }
    # The page's own restraint: no second approval of the same content, and Apply once
    # approved (a draft that needs no review is applied by sending it).
    actions["approve"] = actions["approve"] and not approved_by_me
    actions["apply"] = actions["apply"] and state == S.APPROVED
    approve_applies = False
    scheduled_ahead = (
        change_set.is_scheduled
        and change_set.scheduled_for is not None
        and change_set.scheduled_for > timezone.now()
    )
    if actions["approve"] and policy.apply_on_approval and not follow_up and not scheduled_ahead:
        my_groups = set(user.review_groups.filter(project=project).values_list("pk", flat=True))
        approve_applies = needs.approvals_missing <= 1 and all(
            g.pk in my_groups for g in needs.groups_missing
        )
    where = ", ".join(change_set.environments) or "every environment"
    return {
        "project": project,
        "section": "reviews",
        "change_set": change_set,
        "approve_applies": approve_applies,
        "approve_title": (
            "Yours is the approval that meets the policy: it is applied to "
            f"{where} at once, and the SDKs get it within seconds."
        ),
        "break_glass_question": (
            "Apply without review? For emergencies only: it is flagged as break-glass in the "
            "audit log, and a follow-up review is opened for someone else to check it after "
            "the fact."
        ),
        "follow_up": getattr(change_set, "follow_up", None),
        "changes": [
            change_view(
                project,
                c,
                stale_ids=stale_ids,
                edit_number=(
                    change_set.number
                    if is_author and member and change_set.state in OPEN_STATES
                    else None
                ),
            )
            for c in changes
        ],
        "needs": needs,
        "approvals": approval_views,
        "comments": comments,
        "policy": policy,
        "is_author": is_author,
        "is_member": member,
        "approved_by_me": approved_by_me,
        "actions": actions,
        "any_action": any(actions.values()),
        "conflicts": conflicts,
        "tiers": selectors.environment_tiers(project=project),
        "comment_form": CommentForm(),
        "reject_form": RejectForm(),
        "schedule_form": ScheduleForm(initial={"at": change_set.scheduled_for}),
        "now": timezone.now(),
        # Open change sets against the configuration now, applied ones against the version
        # before theirs; a follow-up has nothing of its own to evaluate.
        "show_impact": (change_set.is_open or state == S.APPLIED) and not follow_up,
        "progress": selectors.apply_progress(change_set),
    }


@login_required
@require_GET
def changeset_detail(request, slug, number):
    project = project_for(request, slug)
    change_set = _get_change_set(project, number)
    return render(
        request, "reviews/changeset_detail.html", _detail_context(request, project, change_set)
    )


@login_required
@require_GET
def changeset_progress(request, slug, number):
    """The applying panel, polled by the page while the worker applies the change set.
    Once it is applied (or refused), htmx reloads the page to show the outcome."""
    project = project_for(request, slug)
    change_set = _get_change_set(project, number)
    if not is_partial(request):  # a link followed by hand: the page shows the panel
        return _done(request, project, change_set)
    progress = selectors.apply_progress(change_set)
    if progress is None:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    context = {"project": project, "change_set": change_set, "progress": progress}
    return render(request, "reviews/partials/_apply_progress.html", context)


@login_required
@require_GET
def changeset_impact(request, slug, number):
    """The impact panel, loaded after the page (it evaluates thousands of users)."""
    project = project_for(request, slug)
    change_set = _get_change_set(project, number)
    preview, error = None, None
    try:
        preview = impact_preview(change_set)
    except ApplicationError as exc:
        error = exc.message
    except Exception:  # the panel is an aid: a failure there must not break the page
        logger.exception("changeset.impact_failed id=%s", change_set.pk)
        error = "The impact could not be computed; the change set itself is fine."
    else:
        error = preview.error
    context = {
        "project": project,
        "section": "reviews",
        "change_set": change_set,
        "preview": preview,
        "error": error,
        "tiers": selectors.environment_tiers(project=project),
    }
    template = (
        "reviews/partials/_impact.html" if is_partial(request) else "reviews/changeset_impact.html"
    )
    return render(request, template, context)
