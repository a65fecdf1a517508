"""Settings → Members: invite, roles, removal, leaving; access requests and joining."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from console import selectors, services
from console.forms import (
    MemberInviteForm,
    MemberRoleForm,
)
from console.models import (
    AccessRequest,
    AccessRequestStatus,
    Membership,
    Role,
)
from console.web import (
    call_on_form,
    call_with_message,
    can_admin,
    form_status,
    is_partial,
    project_for,
)

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
