"""The ruleset versions of a project, with what each changed and its rollback."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from console.exceptions import ApplicationError
from console.models import Role, role_at_least
from console.web import is_partial, project_for
from reviews import selectors, services
from reviews.shortcuts import pending_message
from reviews.views.actions import _applied_message
from reviews.views.common import S, _role

# ---------------------------------------------------------------- publishing history


@login_required
@require_GET
def version_history(request, slug):
    """Each environment's recent ruleset versions, the change set that produced each, and
    "Roll back to this version" (members): the publishing page loads it into itself."""
    project = project_for(request, slug)
    context = {
        "project": project,
        "section": "settings",
        "tab": "publishing",
        "history": selectors.version_history(project=project),
        "can_roll_back": role_at_least(_role(request, project), Role.MEMBER),
    }
    template = (
        "reviews/partials/_version_history.html"
        if is_partial(request)
        else "reviews/version_history.html"
    )
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def changeset_rollback(request, slug, number):
    """GET: what rolling the project back to version `number` would change, environment by
    environment, before anyone proposes it. POST: propose it (a change set)."""
    project = project_for(request, slug, Role.MEMBER)
    version = selectors.version_for_rollback(project=project, number=number)
    if version is None:
        raise Http404("No such version.")
    if request.method == "GET":
        try:
            plan = services.rollback_plan(actor=request.user, version=version)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("publishing", project.slug)
        context = {"project": project, "section": "settings", "plan": plan}
        return render(request, "reviews/rollback_preview.html", context)
    try:
        change_set = services.changeset_rollback(actor=request.user, version=version)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("publishing", project.slug)
    if change_set.state == S.APPLIED:
        messages.success(
            request, _applied_message(change_set, f"Rolled back to version {version.number}")
        )
    else:
        messages.info(request, pending_message(change_set))
    return redirect("changeset-detail", project.slug, change_set.number)
