"""Settings → Keys: server, client and console keys (the secret shown once), rotate, revoke."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from console import selectors, services
from console.forms import (
    KeyCreateForm,
    KeyRotateForm,
)
from console.models import (
    ApiKey,
    KeyKind,
    Role,
)
from console.web import (
    call_on_form,
    call_with_message,
    can_admin,
    form_status,
    project_for,
)

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
