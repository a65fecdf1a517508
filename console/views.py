"""HTML pages of the console shell: projects, their settings, members, keys, tags, audit log.

Views are adapters: check access, bind a form, call one service or selector, render. With
htmx requests the same view answers with the partial template of the part that changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from console import selectors, services
from console.exceptions import ApplicationError
from console.forms import (
    AccessRequestForm,
    AuditFilterForm,
    EnvironmentForm,
    EnvironmentMoveForm,
    KeyCreateForm,
    KeyRotateForm,
    MemberInviteForm,
    MemberRoleForm,
    ProjectCreateForm,
    ProjectSettingsForm,
    TagForm,
)
from console.models import (
    AccessRequest,
    AccessRequestStatus,
    ApiKey,
    Environment,
    KeyKind,
    Membership,
    Project,
    ProjectAccessMode,
    Role,
    Tag,
    role_at_least,
)
from console.permissions import can_create_projects, project_role
from console.web import (
    call_on_form,
    call_with_message,
    can_admin,
    form_status,
    is_partial,
    project_for,
)

AUDIT_PAGE_SIZE = 50
GET_POST = require_http_methods(["GET", "POST"])


# ---------------------------------------------------------------- helpers


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
    return redirect("project-home", project.slug)


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


# ---------------------------------------------------------------- environments


def _environment_form(env: Environment, data=None) -> EnvironmentForm:
    return EnvironmentForm(
        data,
        initial={"name": env.name, "tier": env.tier},
        auto_id=f"id_env{env.pk}_%s",
    )


def _environments_page(request, project, *, create_form=None, failed=None):
    """The environments page; `failed` is (environment id, bound form) of a refused edit."""
    environments = list(selectors.environment_list_with_key_counts(project=project))
    rows = [
        (
            env,
            failed[1] if failed and failed[0] == env.pk else _environment_form(env),
            failed is not None and failed[0] == env.pk,
        )
        for env in environments
    ]
    context = {
        "project": project,
        "section": "settings",
        "tab": "environments",
        "rows": rows,
        "can_edit": can_admin(request, project),
        "create_form": create_form or EnvironmentForm(),
    }
    status = form_status([create_form, failed[1] if failed else None])
    if is_partial(request):
        return render(request, "console/partials/_environment_table.html", context, status=status)
    return render(request, "console/environment_list.html", context, status=status)


@login_required
def project_environments(request, slug):
    return _environments_page(request, project_for(request, slug))


@login_required
@require_POST
def environment_create(request, slug):
    project = project_for(request, slug, Role.ADMIN)
    form = EnvironmentForm(request.POST)
    if form.is_valid():
        ok, env = call_on_form(
            form,
            services.environment_create,
            actor=request.user,
            project=project,
            **form.cleaned_data,
        )
        if ok:
            messages.success(request, f"Environment {env.name} added.")
            return redirect("project-environments", project.slug)
    return _environments_page(request, project, create_form=form)


@login_required
@require_POST
def environment_update(request, slug, env_id):
    project = project_for(request, slug, Role.ADMIN)
    env = get_object_or_404(Environment, pk=env_id, project=project)
    form = _environment_form(env, request.POST)
    if form.is_valid():
        ok, saved = call_on_form(
            form,
            services.environment_update,
            actor=request.user,
            environment=env,
            **form.cleaned_data,
        )
        if ok:
            messages.success(request, f"Environment {saved.name} saved.")
            return redirect("project-environments", project.slug)
    return _environments_page(request, project, failed=(env.pk, form))


@login_required
@require_POST
def environment_move(request, slug, env_id):
    project = project_for(request, slug, Role.ADMIN)
    env = get_object_or_404(Environment, pk=env_id, project=project)
    form = EnvironmentMoveForm(request.POST)
    if form.is_valid():
        order = list(selectors.environment_list(project=project).values_list("pk", flat=True))
        i = order.index(env.pk)
        j = i - 1 if form.cleaned_data["direction"] == "up" else i + 1
        if 0 <= j < len(order):
            order[i], order[j] = order[j], order[i]
            call_with_message(
                request,
                services.environment_reorder,
                actor=request.user,
                project=project,
                environment_ids=order,
            )
    if is_partial(request):
        return _environments_page(request, project)
    return redirect("project-environments", project.slug)


@login_required
@require_POST
def environment_delete(request, slug, env_id):
    project = project_for(request, slug, Role.ADMIN)
    env = get_object_or_404(Environment, pk=env_id, project=project)
    name = env.name
    if call_with_message(request, services.environment_delete, actor=request.user, environment=env):
        messages.success(request, f"Environment {name} deleted; its keys no longer work.")
    return redirect("project-environments", project.slug)


# ---------------------------------------------------------------- members and access


def _members_page(request, project, *, invite_form=None, failed=None):
    """The members page; `failed` is (membership id, bound role form) of a refused change."""
    is_admin = can_admin(request, project)
    members = list(selectors.member_list(project=project))
    rows = [
        (
            m,
            failed[1]
            if failed and failed[0] == m.pk
            else MemberRoleForm(initial={"role": m.role}, auto_id=f"id_member{m.pk}_%s"),
        )
        for m in members
    ]
    requests = list(selectors.access_request_list(project=project)) if is_admin else []
    context = {
        "project": project,
        "section": "settings",
        "tab": "members",
        "rows": rows,
        "my_membership": next((m for m in members if m.user_id == request.user.pk), None),
        "access_requests": requests,
        "role_choices": Role.choices,
        "can_edit": is_admin,
        "invite_form": invite_form or MemberInviteForm(initial={"role": project.default_role}),
    }
    return render(
        request,
        "console/member_list.html",
        context,
        status=form_status([invite_form, failed[1] if failed else None]),
    )


@login_required
def project_members(request, slug):
    return _members_page(request, project_for(request, slug))


@login_required
@require_POST
def member_invite(request, slug):
    project = project_for(request, slug, Role.ADMIN)
    form = MemberInviteForm(request.POST)
    if form.is_valid():
        ok, membership = call_on_form(
            form,
            services.membership_invite,
            actor=request.user,
            project=project,
            **form.cleaned_data,
        )
        if ok:
            messages.success(
                request,
                f"{membership.user.email} added as {membership.get_role_display().lower()}; "
                "they get an email with a link.",
            )
            return redirect("project-members", project.slug)
    return _members_page(request, project, invite_form=form)


@login_required
@require_POST
def member_update(request, slug, membership_id):
    project = project_for(request, slug, Role.ADMIN)
    membership = get_object_or_404(
        Membership.objects.select_related("user"), pk=membership_id, project=project
    )
    form = MemberRoleForm(request.POST, auto_id=f"id_member{membership.pk}_%s")
    ok = (
        form.is_valid()
        and call_on_form(
            form,
            services.membership_update,
            actor=request.user,
            membership=membership,
            **form.cleaned_data,
        )[0]
    )
    if is_partial(request):
        membership.refresh_from_db(fields=["role"])
        if ok:
            form = MemberRoleForm(initial={"role": membership.role}, auto_id=form.auto_id)
        response = render(
            request,
            "console/partials/_member_row.html",
            {
                "project": project,
                "member": membership,
                "form": form,
                "saved": ok,
                "can_edit": True,
                "my_membership": None,
            },
            status=200 if ok else 400,
        )
        if ok and membership.user_id == request.user.pk:
            response["HX-Refresh"] = "true"  # the admin demoted themself: the page changes
        return response
    if ok:
        messages.success(
            request, f"{membership.user.email} is now {membership.get_role_display().lower()}."
        )
        return redirect("project-members", project.slug)
    return _members_page(request, project, failed=(membership.pk, form))


@login_required
@require_POST
def member_remove(request, slug, membership_id):
    # Anyone may leave; removing someone else is checked by the service (admins only).
    project = project_for(request, slug)
    membership = get_object_or_404(
        Membership.objects.select_related("user"), pk=membership_id, project=project
    )
    leaving = membership.user_id == request.user.pk
    if not call_with_message(
        request, services.membership_remove, actor=request.user, membership=membership
    ):
        return redirect("project-members", project.slug)
    if leaving:
        messages.success(request, f"You left {project.name}.")
        return redirect("project-list")
    messages.success(request, f"{membership.user.email} removed from {project.name}.")
    return redirect("project-members", project.slug)


def _access_request(project, request_id) -> AccessRequest:
    return get_object_or_404(
        AccessRequest.objects.select_related("user", "project"),
        pk=request_id,
        project=project,
        status=AccessRequestStatus.PENDING,
    )


@login_required
@require_POST
def access_request_approve(request, slug, request_id):
    project = project_for(request, slug, Role.ADMIN)
    access_request = _access_request(project, request_id)
    form = MemberRoleForm(request.POST)
    role = form.cleaned_data["role"] if form.is_valid() else None
    if call_with_message(
        request,
        services.access_request_approve,
        actor=request.user,
        access_request=access_request,
        role=role,
    ):
        messages.success(request, f"{access_request.user.email} can now open {project.name}.")
    return redirect("project-members", project.slug)


@login_required
@require_POST
def access_request_deny(request, slug, request_id):
    project = project_for(request, slug, Role.ADMIN)
    access_request = _access_request(project, request_id)
    if call_with_message(
        request, services.access_request_deny, actor=request.user, access_request=access_request
    ):
        messages.success(request, f"Request of {access_request.user.email} denied.")
    return redirect("project-members", project.slug)


# ---------------------------------------------------------------- keys


def _keys_page(request, project, *, create_form=None, issued=None, failed=None):
    """The keys page. `issued` (a services.IssuedKey) is rendered once, in this response only;
    `failed` is (key id, bound rotate form) of a refused rotation."""
    is_admin = can_admin(request, project)
    if is_admin and create_form is None:
        create_form = KeyCreateForm(environments=selectors.environment_list(project=project))
    context = {
        "project": project,
        "section": "settings",
        "tab": "keys",
        "environments": selectors.environment_list_with_keys(project=project),
        "console_keys": list(selectors.key_list(project=project).filter(kind=KeyKind.CONSOLE)),
        "can_edit": is_admin,
        "create_form": create_form,
        "default_overlap": settings.GATEHOUSE_KEY_ROTATION_OVERLAP_HOURS,
        "failed_key_id": failed[0] if failed else None,
        "failed_form": failed[1] if failed else None,
        "issued": issued,
    }
    response = render(
        request,
        "console/key_list.html",
        context,
        status=form_status([create_form, failed[1] if failed else None]),
    )
    # The secret is in this response only: no browser or proxy may keep a copy.
    response["Cache-Control"] = "no-store"
    return response


@login_required
def project_keys(request, slug):
    return _keys_page(request, project_for(request, slug))


@login_required
@require_POST
def key_create(request, slug):
    project = project_for(request, slug, Role.ADMIN)
    form = KeyCreateForm(request.POST, environments=selectors.environment_list(project=project))
    if form.is_valid():
        ok, issued = call_on_form(
            form, services.key_create, actor=request.user, project=project, **form.cleaned_data
        )
        if ok:
            return _keys_page(request, project, issued=issued)
    return _keys_page(request, project, create_form=form)


@login_required
@require_POST
def key_rotate(request, slug, key_id):
    project = project_for(request, slug, Role.ADMIN)
    key = get_object_or_404(ApiKey, pk=key_id, project=project)
    form = KeyRotateForm(request.POST)
    if form.is_valid():
        ok, issued = call_on_form(
            form, services.key_rotate, actor=request.user, key=key, **form.cleaned_data
        )
        if ok:
            return _keys_page(request, project, issued=issued)
    return _keys_page(request, project, failed=(key.pk, form))


@login_required
@require_POST
def key_revoke(request, slug, key_id):
    project = project_for(request, slug, Role.ADMIN)
    key = get_object_or_404(ApiKey, pk=key_id, project=project)
    if call_with_message(request, services.key_revoke, actor=request.user, key=key):
        messages.success(request, f"Key {key.hint}… revoked: it stops working now.")
    return redirect("project-keys", project.slug)


# ---------------------------------------------------------------- tags


def _tag_form(tag: Tag, data=None) -> TagForm:
    return TagForm(
        data,
        initial={"name": tag.name, "description": tag.description},
        auto_id=f"id_tag{tag.pk}_%s",
    )


def _tags_page(request, project, *, create_form=None, failed=None):
    """The tags page; `failed` is (tag id, bound form) of a refused edit."""
    role = project_role(request.user, project)
    rows = [
        (tag, failed[1] if failed and failed[0] == tag.pk else _tag_form(tag))
        for tag in selectors.tag_list(project=project)
    ]
    return render(
        request,
        "console/tag_list.html",
        {
            "project": project,
            "section": "settings",
            "tab": "tags",
            "rows": rows,
            "failed_tag_id": failed[0] if failed else None,
            "can_write": role_at_least(role, Role.MEMBER),
            "can_delete": role_at_least(role, Role.ADMIN),
            "create_form": create_form or TagForm(),
        },
        status=form_status([create_form, failed[1] if failed else None]),
    )


@login_required
def project_tags(request, slug):
    return _tags_page(request, project_for(request, slug))


@login_required
@require_POST
def tag_create(request, slug):
    project = project_for(request, slug, Role.MEMBER)
    form = TagForm(request.POST)
    if form.is_valid():
        ok, tag = call_on_form(
            form, services.tag_create, actor=request.user, project=project, **form.cleaned_data
        )
        if ok:
            messages.success(request, f"Tag {tag.name} created.")
            return redirect("project-tags", project.slug)
    return _tags_page(request, project, create_form=form)


@login_required
@require_POST
def tag_update(request, slug, tag_id):
    project = project_for(request, slug, Role.MEMBER)
    tag = get_object_or_404(Tag, pk=tag_id, project=project)
    form = _tag_form(tag, request.POST)
    if form.is_valid():
        ok, saved = call_on_form(
            form, services.tag_update, actor=request.user, tag=tag, **form.cleaned_data
        )
        if ok:
            messages.success(request, f"Tag {saved.name} saved.")
            return redirect("project-tags", project.slug)
    return _tags_page(request, project, failed=(tag.pk, form))


@login_required
@require_POST
def tag_delete(request, slug, tag_id):
    project = project_for(request, slug, Role.ADMIN)
    tag = get_object_or_404(Tag, pk=tag_id, project=project)
    name = tag.name
    if call_with_message(request, services.tag_delete, actor=request.user, tag=tag):
        messages.success(request, f"Tag {name} deleted.")
    return redirect("project-tags", project.slug)


# ---------------------------------------------------------------- audit log


@login_required
def project_audit(request, slug):
    project = project_for(request, slug)
    form = AuditFilterForm(request.GET, facets=selectors.audit_facets(project=project))
    filters = selectors.AuditFilters()
    if form.is_valid():
        filters = selectors.AuditFilters(
            **{name: value for name, value in form.cleaned_data.items() if value}
        )
    events = selectors.audit_event_list(project=project, filters=filters)
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "project": project,
        "section": "audit",
        "form": form,
        "page": page,
        "filtered": filters != selectors.AuditFilters(),
    }
    template = (
        "console/partials/_audit_table.html" if is_partial(request) else "console/audit_list.html"
    )
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response
