"""The holdout pages: list, editor, archive."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.views.decorators.http import require_POST

from console.models import Role
from console.web import (
    can_write,
    project_for,
)
from experiments import selectors
from experiments.documents import (
    holdout_to_document,
)
from experiments.forms import (
    HoldoutForm,
)
from experiments.models import Experiment
from experiments.views.common import GET_POST, _holdout, _problems, _save, entity_save_bar
from experiments.views.holdout_results import holdout_results_panel
from experiments.views.layers import _archive
from gates.selectors import unit_type_names
from reviews.shortcuts import archive_button, proposal_edit

# ---------------------------------------------------------------- holdouts


@login_required
def holdout_list(request, slug):
    project = project_for(request, slug)
    holdouts = list(selectors.holdout_list(project=project))
    return render(
        request,
        "experiments/holdout_list.html",
        {
            "project": project,
            "section": "experiments",
            "tab": "holdouts",
            "holdouts": holdouts,
            "can_write": can_write(request, project),
        },
    )


def _holdout_page(request, slug, pk: int | None = None):
    is_post = request.method == "POST"
    project = project_for(request, slug, Role.MEMBER if is_post or pk is None else Role.VIEWER)
    obj = _holdout(project, pk) if pk is not None else None
    change_edit = proposal_edit(request, project, "holdout", obj)
    kwargs = {
        "unit_types": unit_type_names(project=project),
        "experiments": sorted(
            Experiment.objects.active().filter(project=project).values_list("name", flat=True),
            key=str.lower,
        ),
        "editing": obj is not None,
    }
    if is_post:
        if obj is not None and obj.is_archived:
            raise PermissionDenied("This holdout is archived and cannot change.")
        form = HoldoutForm(request.POST, **kwargs)
        if form.is_valid():
            response = _save(
                request,
                project,
                "holdout",
                obj,
                form.document(),
                form=form,
                change_edit=change_edit,
            )
            if response is not None:
                return response
    elif change_edit is not None:
        doc = change_edit.document
        initial = {**HoldoutForm.initial_from(doc), "name": doc.get("name") or ""}
        form = HoldoutForm(initial=initial, **kwargs)
    else:
        doc = holdout_to_document(obj) if obj else None
        form = HoldoutForm(initial=HoldoutForm.initial_from(doc) if doc else {}, **kwargs)
    writable = can_write(request, project) and (obj is None or not obj.is_archived)
    context = {
        "project": project,
        "section": "experiments",
        "tab": "holdouts",
        "kind": {"key": "holdout", "label": "holdout"},
        "obj": obj,
        "form": form,
        "change_edit": change_edit,
        "savebar": entity_save_bar(request, "holdout", obj, change_edit),
        "can_write": writable,
        "archive_button": archive_button(request, project, "holdout", obj.name, noun="holdout")
        if writable and obj is not None
        else None,
        "problems": _problems(form, None) if is_post else [],
        "results_panel": holdout_results_panel(request, project, obj) if obj else None,
    }
    return render(request, "experiments/holdout_form.html", context, status=400 if is_post else 200)


@login_required
@GET_POST
def holdout_create(request, slug):
    return _holdout_page(request, slug)


@login_required
@GET_POST
def holdout_detail(request, slug, pk):
    return _holdout_page(request, slug, pk)


@login_required
@require_POST
def holdout_archive(request, slug, pk):
    project = project_for(request, slug, Role.MEMBER)
    holdout = _holdout(project, pk)
    return _archive(request, project, "holdout", holdout, label="Holdout", done="holdout-list")
