"""The change set actions from the page: approve, reject, comment, apply, break glass,
cancel, send, rebase, roll back. Each calls one service and goes back to the page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from console.exceptions import ApplicationError, DomainError
from console.models import Project, Role
from console.web import project_for
from reviews import services
from reviews.forms import (
    CommentForm,
    RebaseForm,
    RejectForm,
    ScheduleForm,
)
from reviews.models import (
    ChangeSet,
)
from reviews.shortcuts import pending_message
from reviews.views.common import S, _get_change_set

# ---------------------------------------------------------------- actions


def _done(request, project: Project, change_set: ChangeSet):
    return redirect("changeset-detail", project.slug, change_set.number)


def _act(request, slug, number, needed: str, run) -> Any:
    """Load the change set, call `run(change_set)` (a service call that returns the message
    to show), and go back to the change set; a refusal becomes an error message."""
    project = project_for(request, slug, needed)
    change_set = _get_change_set(project, number)
    try:
        message = run(change_set)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        if message:
            level, text = message if isinstance(message, tuple) else (messages.SUCCESS, message)
            messages.add_message(request, level, text)
    return _done(request, project, change_set)


def _applying_message(prefix: str) -> str:
    return f"{prefix}. It is large: the worker is applying it, and this page shows how far."


def _applied_message(change_set: ChangeSet, prefix: str) -> str:
    version = change_set.ruleset_version
    if version is None:
        return f"{prefix}: it changes nothing SDKs receive, so no new version was published."
    return f"{prefix} as version {version.number}: the SDKs get it within seconds."


@login_required
@require_POST
def changeset_approve(request, slug, number):
    def run(change_set):
        result = services.changeset_approve(actor=request.user, change_set=change_set)
        if result.state == S.APPLYING:
            return _applying_message("Approved")
        if getattr(result, "apply_error", None) is not None:
            return (
                messages.WARNING,
                f"Approved, but applying it was refused: {result.apply_error.message}",
            )
        if result.state == S.APPLIED:
            return _applied_message(result, "Approved and applied")
        if result.state == S.APPROVED and result.is_scheduled:
            when = result.scheduled_for.strftime("%Y-%m-%d %H:%M UTC")
            return f"Approved. It is scheduled: the worker applies it at {when}."
        if result.state == S.APPROVED:
            return "Approved. It meets the policy: the author or an admin can apply it now."
        needs = services.change_set_requirements(result)
        return f"Approved. Still needed: {needs.summary()}."

    return _act(request, slug, number, Role.MEMBER, run)


@login_required
@require_POST
def changeset_reject(request, slug, number):
    form = RejectForm(request.POST)

    def run(change_set):
        if not form.is_valid():
            raise DomainError(form.errors["reason"][0], field="reason")
        services.changeset_reject(
            actor=request.user, change_set=change_set, reason=form.cleaned_data["reason"]
        )
        return f"Change set #{change_set.number} rejected; the author is told why."

    return _act(request, slug, number, Role.MEMBER, run)


@login_required
@require_POST
def changeset_comment(request, slug, number):
    form = CommentForm(request.POST)

    def run(change_set):
        if not form.is_valid():
            raise DomainError(form.errors["body"][0], field="body")
        services.changeset_comment(
            actor=request.user, change_set=change_set, body=form.cleaned_data["body"]
        )
        return ""

    return _act(request, slug, number, Role.VIEWER, run)


@login_required
@require_POST
def changeset_apply(request, slug, number):
    def run(change_set):
        result = services.changeset_apply(actor=request.user, change_set=change_set)
        if result.state == S.APPLYING:
            return _applying_message("Applying")
        return _applied_message(result, "Applied")

    return _act(request, slug, number, Role.MEMBER, run)


@login_required
@require_POST
def changeset_break_glass(request, slug, number):
    def run(change_set):
        result = services.changeset_apply(
            actor=request.user, change_set=change_set, break_glass=True
        )
        if result.state == S.APPLYING:
            return (messages.WARNING, _applying_message("Applying without review (break-glass)"))
        follow_up = ChangeSet.objects.filter(follow_up_of=result).first()
        text = _applied_message(result, "Applied without review (break-glass)")
        if follow_up is not None:
            text += f" Follow-up review #{follow_up.number} is open for another reviewer."
        return (messages.WARNING, text)

    return _act(request, slug, number, Role.ADMIN, run)


@login_required
@require_POST
def changeset_cancel(request, slug, number):
    def run(change_set):
        services.changeset_cancel(actor=request.user, change_set=change_set)
        return f"Change set #{change_set.number} cancelled; nothing was applied."

    return _act(request, slug, number, Role.MEMBER, run)


@login_required
@require_POST
def changeset_send(request, slug, number):
    def run(change_set):
        result = services.changeset_send(actor=request.user, change_set=change_set)
        if result.state == S.APPLIED:
            return _applied_message(result, "No environment it touches requires review: applied")
        return pending_message(result)

    return _act(request, slug, number, Role.MEMBER, run)


@login_required
@require_POST
def changeset_rebase(request, slug, number):
    def run(change_set):
        resolutions = RebaseForm().resolutions(request.POST)
        services.changeset_rebase(
            actor=request.user, change_set=change_set, resolutions=resolutions
        )
        return (
            "Rebased on the current versions. Approvals given before were dropped: it is "
            "back in review."
        )

    return _act(request, slug, number, Role.MEMBER, run)


@login_required
@require_POST
def changeset_schedule(request, slug, number):
    form = ScheduleForm(request.POST)

    def run(change_set):
        if not form.is_valid():
            raise DomainError(form.errors["at"][0], field="at")
        result = services.changeset_schedule(
            actor=request.user, change_set=change_set, at=form.cleaned_data["at"]
        )
        when = result.scheduled_for.strftime("%Y-%m-%d %H:%M UTC")
        if result.state == S.APPROVED:
            return f"Scheduled: the worker applies it at {when}."
        return f"Scheduled for {when}: once approved, the worker applies it then."

    return _act(request, slug, number, Role.MEMBER, run)


@login_required
@require_POST
def changeset_unschedule(request, slug, number):
    def run(change_set):
        result = services.changeset_schedule(actor=request.user, change_set=change_set, at=None)
        if result.state == S.APPROVED:
            return "Schedule cancelled: it stays approved; apply it when you are ready."
        return "Schedule cancelled: it is applied as soon as it is approved."

    return _act(request, slug, number, Role.MEMBER, run)
