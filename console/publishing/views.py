"""The project's Publishing settings page: each environment's published spec and state,
"Publish now" and "Retry" (admins)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from console.exceptions import ApplicationError, NotAllowed
from console.models import ConfigSpec, Role, role_at_least
from console.permissions import project_role
from console.publishing import selectors, services
from console.publishing.forms import PublishForm
from console.specs.builder import SpecError
from console.web import project_for


@login_required
def publishing_page(request, slug):
    project = project_for(request, slug)
    context = {
        "project": project,
        "section": "settings",
        "tab": "publishing",
        "rows": selectors.publish_status(project),
        "latest_version": project.ruleset_versions.order_by("-number").first(),
        "can_publish": role_at_least(project_role(request.user, project), Role.ADMIN),
        "form": PublishForm(),
    }
    return render(request, "console/publishing.html", context)


@login_required
@require_POST
def publish_now(request, slug):
    project = project_for(request, slug, Role.ADMIN)
    form = PublishForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The reason is too long.")
        return redirect("publishing", slug=slug)
    try:
        version = services.spec_publish(
            actor=request.user,
            project=project,
            reason=form.cleaned_data["reason"] or "Published from the console",
            force=form.cleaned_data["force"],
        )
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except (ApplicationError, SpecError) as exc:
        messages.error(request, str(exc))
        return redirect("publishing", slug=slug)
    if version.was_created:
        messages.success(request, f"Version {version.number} recorded; pushing to Redis.")
    else:
        messages.info(request, f"Nothing changed since version {version.number}.")
    return redirect("publishing", slug=slug)


@login_required
@require_POST
def spec_retry(request, slug, spec_id):
    project = project_for(request, slug, Role.ADMIN)
    spec = get_object_or_404(ConfigSpec, pk=spec_id, environment__project=project)
    services.config_spec_retry(actor=request.user, spec=spec)
    messages.success(request, f"Push of {spec.environment.name} queued again.")
    return redirect("publishing", slug=slug)
