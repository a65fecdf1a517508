"""Settings → Environments: create, rename, reorder, change tier, delete."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from console import selectors, services
from console.forms import (
    EnvironmentForm,
    EnvironmentMoveForm,
)
from console.models import (
    Environment,
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
