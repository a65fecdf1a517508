"""Settings → Tags."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from console import selectors, services
from console.forms import (
    TagForm,
)
from console.models import (
    Role,
    Tag,
    role_at_least,
)
from console.permissions import project_role
from console.web import (
    call_on_form,
    call_with_message,
    form_status,
    project_for,
)

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
