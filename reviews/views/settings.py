"""Settings → Reviews: the review policy per environment, review groups, entity owners."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from console import selectors as console_selectors
from console.exceptions import ApplicationError, NotFound
from console.models import Project, Role
from console.web import project_for
from reviews import registry, selectors, services
from reviews.forms import (
    EntityOwnerForm,
    ReviewGroupForm,
    ReviewPolicyForm,
)
from reviews.models import (
    ReviewGroup,
)
from reviews.policy import project_policy
from reviews.views.common import GET_POST, _role

# ---------------------------------------------------------------- settings


def _settings_context(request, project: Project, **forms) -> dict[str, Any]:
    admin = _role(request, project) == Role.ADMIN
    rules = selectors.review_rules(project=project)
    groups = selectors.review_group_list(project=project)
    policy = project_policy(project)
    members = [m.user for m in console_selectors.member_list(project=project)]
    group_names = [g.name for g in groups]
    kinds = [(h.kind, h.label.capitalize()) for h in registry.kinds()]
    group_forms = []
    failed = forms.get("failed_group")
    for group in groups:
        if failed is not None and failed[0] == group.pk:
            group_forms.append((group, failed[1]))
            continue
        initial = {"name": group.name, "members": [str(u.pk) for u in group.members.all()]}
        group_forms.append(
            (
                group,
                ReviewGroupForm(members=members, initial=initial, prefix=f"group-{group.pk}"),
            )
        )
    context = {
        "project": project,
        "section": "settings",
        "tab": "reviews",
        "can_edit": admin,
        "policy": policy,
        "rules": rules,
        "groups": group_forms,
        "owners": selectors.entity_owner_list(project=project),
        "policy_form": forms.get("policy_form")
        or ReviewPolicyForm(rules=rules, groups=group_names, policy=policy),
        "group_form": forms.get("group_form") or ReviewGroupForm(members=members, prefix="new"),
        "owner_form": forms.get("owner_form") or EntityOwnerForm(kinds=kinds, groups=groups),
        "failed_group_id": failed[0] if failed else None,
    }
    if admin:
        context["entity_names"] = selectors.entity_names(project=project)
    return context


def _settings_page(request, project: Project, *, status: int = 200, **forms):
    return render(
        request,
        "reviews/review_settings.html",
        _settings_context(request, project, **forms),
        status=status,
    )


def _service_error(form, exc: ApplicationError, fields: dict[str, str] | None = None) -> None:
    name = (fields or {}).get(exc.field or "", exc.field)
    form.add_error(name if name in form.fields else None, exc.message)


@login_required
@GET_POST
def review_settings(request, slug):
    is_post = request.method == "POST"
    project = project_for(request, slug, Role.ADMIN if is_post else Role.VIEWER)
    if not is_post:
        return _settings_page(request, project)
    rules = selectors.review_rules(project=project)
    groups = [g.name for g in ReviewGroup.objects.filter(project=project).order_by("name")]
    form = ReviewPolicyForm(
        request.POST, rules=rules, groups=groups, policy=project_policy(project)
    )
    if form.is_valid():
        try:
            services.review_policy_update(
                actor=request.user,
                project=project,
                environments=form.environment_inputs(),
                allow_break_glass=form.cleaned_data["allow_break_glass"],
                apply_on_approval=form.cleaned_data["apply_on_approval"],
            )
        except ApplicationError as exc:
            _service_error(form, exc)
        else:
            messages.success(request, "Review policy saved.")
            return redirect("review-settings", project.slug)
    return _settings_page(request, project, status=400, policy_form=form)


def _members(project: Project) -> list:
    return [m.user for m in console_selectors.member_list(project=project)]


@login_required
@require_POST
def review_group_create(request, slug):
    project = project_for(request, slug, Role.ADMIN)
    form = ReviewGroupForm(request.POST, members=_members(project), prefix="new")
    if form.is_valid():
        try:
            group = services.review_group_save(
                actor=request.user,
                project=project,
                name=form.cleaned_data["name"],
                members=form.chosen_users(),
            )
        except ApplicationError as exc:
            _service_error(form, exc)
        else:
            messages.success(request, f"Review group {group.name} created.")
            return redirect("review-settings", project.slug)
    return _settings_page(request, project, status=400, group_form=form)


@login_required
@require_POST
def review_group_update(request, slug, group_id):
    project = project_for(request, slug, Role.ADMIN)
    group = get_object_or_404(ReviewGroup, pk=group_id, project=project)
    form = ReviewGroupForm(request.POST, members=_members(project), prefix=f"group-{group.pk}")
    if form.is_valid():
        try:
            group = services.review_group_save(
                actor=request.user,
                project=project,
                name=form.cleaned_data["name"],
                members=form.chosen_users(),
                group=group,
            )
        except ApplicationError as exc:
            _service_error(form, exc)
        else:
            messages.success(request, f"Review group {group.name} saved.")
            return redirect("review-settings", project.slug)
    return _settings_page(request, project, status=400, failed_group=(group.pk, form))


@login_required
@require_POST
def review_group_delete(request, slug, group_id):
    project = project_for(request, slug, Role.ADMIN)
    group = get_object_or_404(ReviewGroup, pk=group_id, project=project)
    name = group.name
    try:
        services.review_group_delete(actor=request.user, group=group)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Review group {name} deleted.")
    return redirect("review-settings", project.slug)


@login_required
@require_POST
def entity_owner_set(request, slug):
    project = project_for(request, slug, Role.ADMIN)
    groups = selectors.review_group_list(project=project)
    kinds = [(h.kind, h.label.capitalize()) for h in registry.kinds()]
    form = EntityOwnerForm(request.POST, kinds=kinds, groups=groups)
    if form.is_valid():
        try:
            services.entity_owner_set(
                actor=request.user,
                project=project,
                kind=form.cleaned_data["kind"],
                name=form.cleaned_data["name"].strip(),
                group=form.chosen_group(),
            )
        except ApplicationError as exc:
            _service_error(form, exc)
            if isinstance(exc, NotFound) and "name" not in form.errors:
                form.add_error("name", exc.message)
        else:
            messages.success(
                request,
                f"{form.chosen_group().name} now owns {form.cleaned_data['name'].strip()}: "
                "its approval is required for changes to it.",
            )
            return redirect("review-settings", project.slug)
    return _settings_page(request, project, status=400, owner_form=form)


@login_required
@require_POST
def entity_owner_remove(request, slug, owner_id):
    project = project_for(request, slug, Role.ADMIN)
    row = next(
        (r for r in selectors.entity_owner_list(project=project) if r.owner.pk == owner_id), None
    )
    if row is None:
        raise Http404("No such owner.")
    try:
        services.entity_owner_set(
            actor=request.user, project=project, kind=row.owner.kind, name=row.name, group=None
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{row.name} has no owning group any more.")
    return redirect("review-settings", project.slug)
