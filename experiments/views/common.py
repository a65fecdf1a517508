"""What the experiment, layer and holdout pages share: loading an entity of the URL,
putting a service's refusal on the form and editor, proposing the edited document as a
change set."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from console.exceptions import ApplicationError, NotAllowed
from console.models import Project
from console.web import (
    Problem,
    form_problems,
)
from experiments.forms import (
    DesignEditor,
)
from experiments.models import Experiment, Holdout, Layer
from reviews.models import ChangeSet, ChangeSetSource
from reviews.services import ChangeInput
from reviews.shortcuts import (
    ProposalEdit,
    SaveBar,
    is_applied,
    page_pending,
    propose,
    save_bar,
    save_check,
)

GET_POST = require_http_methods(["GET", "POST"])

# Document keys → form fields (validators name document paths).
FORM_FIELDS = {
    "name": "name",
    "description": "description",
    "hypothesis": "hypothesis",
    "idType": "id_type",
    "owner": "owner",
    "tags": "tags",
    "layerID": "layer",
    "allocation": "allocation",
    "targetingGateID": "targeting_gate",
    "targetingConditions": "targeting_conditions",
    "passPercentage": "percentage",
    "isGlobal": "is_global",
    "experimentIDs": "experiments",
}


# ---------------------------------------------------------------- helpers


def _experiment(project: Project, pk: int) -> Experiment:
    return get_object_or_404(
        Experiment.objects.select_related(
            "project", "owner", "layer", "targeting_gate", "decided_by"
        ).prefetch_related("tags"),
        pk=pk,
        project=project,
    )


def _layer(project: Project, pk: int) -> Layer:
    return get_object_or_404(Layer.objects.select_related("project"), pk=pk, project=project)


def _holdout(project: Project, pk: int) -> Holdout:
    return get_object_or_404(
        Holdout.objects.select_related("project").prefetch_related("experiments"),
        pk=pk,
        project=project,
    )


def _map_error(exc: ApplicationError, *, form, editor: DesignEditor | None = None) -> None:
    """Put a service's refusal on the field or row its document path names."""
    path = exc.field or ""
    if editor is not None and editor.attach(path, exc.message):
        return
    key = FORM_FIELDS.get(path.split("[")[0].split(".")[0])
    form.add_error(key if key in form.fields else None, exc.message)


def _problems(form, editor: DesignEditor | None) -> list[Problem]:
    problems = form_problems(form)
    if editor is None:
        return problems
    problems += [Problem("Parameters", e, "parameters") for e in editor.param_errors]
    for i, p in enumerate(editor.params):
        for errors in p.errors.values():
            problems += [Problem(f"Parameter {i + 1}", e, f"param-{i}") for e in errors]
    problems += [Problem("Groups", e, "groups") for e in editor.group_errors]
    problems += [Problem("Overrides", e, "groups") for e in editor.override_errors]
    for i, g in enumerate(editor.groups):
        where = f"Group {g.name or i + 1}"
        for errors in g.errors.values():
            problems += [Problem(where, e, f"group-{i}") for e in errors]
        for errors in g.value_errors.values():
            problems += [Problem(where, e, f"group-{i}") for e in errors]
    return problems


def _revision(request) -> int | None:
    revision = request.POST.get("revision", "")
    return int(revision) if revision.isdigit() else None


# ---------------------------------------------------------------- change sets


def _propose(
    request, project: Project, change: ChangeInput, change_edit: ProposalEdit | None = None
):
    """Propose one change from the browser as a change set (or, editing, replace that change
    of the author's change set). Raises the services' refusals, nothing saved."""
    if change_edit is not None:
        return change_edit.save(request, change.payload)
    return propose(request, project, change, source=ChangeSetSource.BROWSER)


# kind → (label, detail page)
KINDS = {
    "experiment": ("Experiment", "experiment-detail"),
    "layer": ("Layer", "layer-detail"),
    "holdout": ("Holdout", "holdout-detail"),
}


def _save(request, project, kind: str, obj, document, *, form, editor=None, change_edit):
    """Propose the editor's document (a create, or an update from the revision the form was
    loaded at) and answer: the entity when applied, the change set when it waits for review
    (or was the author's own, edited), None with the refusal on the form and editor."""
    label, detail = KINDS[kind]
    if obj is None:
        change = ChangeInput(kind, "create", "", document)
    else:
        change = ChangeInput(kind, "update", obj.name, document, _revision(request))
    if request.POST.get("save_check") and change_edit is None:
        # The save bar asking what saving would do: nothing is saved.
        bar = save_check(request, project, change, entity_save_bar(request, kind, obj, None))
        return render(request, "console/partials/_savebar_action.html", {"savebar": bar})
    try:
        change_set = _propose(request, project, change, change_edit)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except ApplicationError as exc:
        if exc.code == "unchanged" and obj is not None and change_edit is None:
            # Saved as it was loaded: no change set, nothing to review.
            messages.info(request, exc.message)
            return redirect(detail, project.slug, obj.pk)
        _map_error(exc, form=form, editor=editor)
        return None
    if not is_applied(change_set):
        return page_pending(request, change_set)
    saved = change_set.results[0]
    messages.success(request, f"{label} {saved.name} {'created' if obj is None else 'saved'}.")
    return redirect(detail, project.slug, saved.pk)


def entity_save_bar(request, kind: str, obj, change_edit: ProposalEdit | None) -> SaveBar:
    """The save bar of an experiment, layer or holdout page."""
    proposal = change_edit.change_set if change_edit is not None else None
    return save_bar(request, saved=obj is not None, noun=kind, proposal=proposal)


def _step(request, project, change: ChangeInput) -> ChangeSet | None:
    """A lifecycle or archive step as a change set, or None with the refusal as a message."""
    try:
        return _propose(request, project, change)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return None


def _values_text(values: dict[str, Any]) -> str:
    if not values:
        return "no parameters"
    return ", ".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in values.items())
