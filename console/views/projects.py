"""Projects: the list, creating one, a project's home and its general settings."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from console import selectors, services
from console.exceptions import ApplicationError
from console.forms import (
    AccessRequestForm,
    ProjectCreateForm,
    ProjectSettingsForm,
)
from console.models import (
    AccessRequest,
    AccessRequestStatus,
    ApiKey,
    KeyKind,
    Project,
    ProjectAccessMode,
    Role,
)
from console.permissions import can_create_projects, project_role
from console.web import (
    call_on_form,
    can_admin,
    form_status,
    project_for,
    safe_next,
)

GET_POST = require_http_methods(["GET", "POST"])


# ---------------------------------------------------------------- projects


@login_required
def home(request):
    slug = (
        Project.objects.active()
        .for_user(request.user)
        .order_by("name")
        .values_list("slug", flat=True)
        .first()
    )
    return redirect("project-home", slug) if slug else redirect("project-list")


@login_required
def project_list(request):
    mine = list(selectors.project_list_for_user(user=request.user))
    request._switcher_projects = mine  # the switcher lists the same projects
    others = list(selectors.project_directory(user=request.user))
    return render(
        request,
        "console/project_list.html",
        {
            "my_projects": mine,
            "open_projects": [p for p in others if p.access_mode == ProjectAccessMode.OPEN],
            "closed_projects": [p for p in others if p.access_mode == ProjectAccessMode.CLOSED],
            "can_create": can_create_projects(request.user),
        },
    )


@login_required
@GET_POST
def project_create(request):
    if not can_create_projects(request.user):
        raise PermissionDenied("Only site admins can create projects.")
    form = ProjectCreateForm(request.POST) if request.method == "POST" else ProjectCreateForm()
    if request.method == "POST" and form.is_valid():
        ok, project = call_on_form(
            form, services.project_create, actor=request.user, **form.cleaned_data
        )
        if ok:
            messages.success(
                request,
                f"Project {project.name} created with development, staging and "
                "production environments.",
            )
            return redirect("project-home", project.slug)
    return render(request, "console/project_form.html", {"form": form}, status=form_status(form))


@dataclass(frozen=True)
class ChecklistStep:
    label: str
    hint: str
    done: bool
    url: str


@login_required
def project_home(request, slug):
    project = project_for(request, slug)
    environments = list(selectors.environment_list_with_key_counts(project=project))
    member_count = project.memberships.count()
    has_server_key = ApiKey.objects.usable().filter(project=project, kind=KeyKind.SERVER).exists()
    checklist = [
        ChecklistStep(
            "Create a server secret key",
            "Your backend SDK authenticates with it to download the gate rules.",
            has_server_key,
            reverse("project-keys", args=[project.slug]),
        ),
        ChecklistStep(
            "Invite teammates",
            "Add the people who will create gates and run experiments.",
            member_count > 1,
            reverse("project-members", args=[project.slug]),
        ),
    ]
    events = list(
        selectors.audit_event_list(project=project, filters=selectors.AuditFilters())[:10]
    )
    return render(
        request,
        "console/project_home.html",
        {
            "project": project,
            "section": "overview",
            "environments": environments,
            "member_count": member_count,
            "checklist": checklist,
            "checklist_done": all(step.done for step in checklist),
            "events": events,
        },
    )


def join_prompt(request, project: Project):
    """The answer to a signed-in employee's link into a project they are not in (403): join
    it (open) or request access (closed); after joining they land on the page they asked
    for."""
    pending = AccessRequest.objects.filter(
        project=project, user=request.user, status=AccessRequestStatus.PENDING
    ).exists()
    return render(
        request,
        "console/project_join_prompt.html",
        {
            "target": project,
            "is_open": project.access_mode == ProjectAccessMode.OPEN,
            "has_pending_request": pending,
            "form": AccessRequestForm(),
            "next": request.get_full_path(),
        },
        status=403,
    )


@login_required
@require_POST
def project_join(request, slug):
    project = get_object_or_404(Project.objects.active(), slug=slug)
    try:
        services.project_join(actor=request.user, project=project)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("project-list")
    messages.success(request, f"You joined {project.name}.")
    return redirect(safe_next(request, reverse("project-home", args=[project.slug])))


@login_required
@GET_POST
def project_request_access(request, slug):
    project = get_object_or_404(Project.objects.active(), slug=slug)
    if project_role(request.user, project) is not None:
        return redirect("project-home", project.slug)
    if project.access_mode == ProjectAccessMode.OPEN:
        messages.error(request, "This project is open: join it directly.")
        return redirect("project-list")
    form = AccessRequestForm(request.POST) if request.method == "POST" else AccessRequestForm()
    if request.method == "POST" and form.is_valid():
        try:
            services.access_request_create(
                actor=request.user, project=project, message=form.cleaned_data["message"]
            )
        except ApplicationError as exc:
            if exc.field not in form.fields:
                messages.error(request, exc.message)
                return redirect("project-list")
            form.add_error(exc.field, exc.message)
        else:
            messages.success(
                request, f"Access requested. The admins of {project.name} will decide."
            )
            return redirect("project-list")
    return render(
        request,
        "console/project_request_access.html",
        {"target": project, "form": form},
        status=form_status(form),
    )


@login_required
@GET_POST
def project_settings(request, slug):
    needed = Role.ADMIN if request.method == "POST" else Role.VIEWER
    project = project_for(request, slug, needed)
    if request.method == "POST":
        form = ProjectSettingsForm(request.POST)
        if form.is_valid():
            ok, _ = call_on_form(
                form,
                services.project_update,
                actor=request.user,
                project=project,
                **form.cleaned_data,
            )
            if ok:
                messages.success(request, "Project settings saved.")
                return redirect("project-settings", project.slug)
    else:
        form = ProjectSettingsForm(
            initial={
                "name": project.name,
                "description": project.description,
                "access_mode": project.access_mode,
                "default_role": project.default_role,
            }
        )
    return render(
        request,
        "console/project_settings.html",
        {
            "project": project,
            "section": "settings",
            "tab": "general",
            "form": form,
            "can_edit": can_admin(request, project),
        },
        status=form_status(form),
    )
