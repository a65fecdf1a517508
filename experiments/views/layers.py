"""The layer pages: list, editor, allocation bar, archive."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from console import selectors as console_selectors
from console.models import Role
from console.web import (
    can_write,
    is_partial,
    project_for,
    quiet_form,
)
from experiments import selectors
from experiments.documents import (
    layer_to_document,
)
from experiments.forms import (
    PARAMETER_TYPES,
    DesignEditor,
    LayerForm,
    show_value,
)
from experiments.models import Experiment, Layer
from experiments.views.common import GET_POST, _layer, _problems, _save, _step, entity_save_bar
from experiments.views.experiment_pages import _test_panel
from gates.forms import TestUserForm
from gates.selectors import unit_type_names
from reviews.services import ChangeInput
from reviews.shortcuts import (
    archive_button,
    is_applied,
    open_changes,
    page_pending,
    proposal_edit,
    version_choices,
)

# ---------------------------------------------------------------- layers


@login_required
def layer_list(request, slug):
    project = project_for(request, slug)
    layers = list(selectors.layer_list(project=project))
    return render(
        request,
        "experiments/layer_list.html",
        {
            "project": project,
            "section": "experiments",
            "tab": "layers",
            "layers": layers,
            "can_write": can_write(request, project),
        },
    )


@dataclass
class BarPart:
    label: str
    kind: str  # running, draft, free
    percent: float
    href: str = ""

    @property
    def width(self) -> str:
        return f"{self.percent:.1f}"

    @property
    def shown(self) -> str:
        return show_value("number", round(self.percent, 1))


def _allocation_bar(project, layer: Layer):
    allocation = selectors.layer_allocation(layer=layer)
    ids = dict(Experiment.objects.active().filter(layer=layer).values_list("name", "pk"))

    def href(name: str) -> str:
        return reverse("experiment-detail", args=[project.slug, ids[name]]) if name in ids else ""

    running = [
        BarPart(s.experiment, "running", s.percent, href(s.experiment)) for s in allocation.shares
    ]
    pending = [
        BarPart(s.experiment, "draft", s.percent, href(s.experiment)) for s in allocation.pending
    ]
    return allocation, running, pending


def _layer_context(request, project, obj, *, form=None, editor=None, **extra):
    writable = can_write(request, project) and (obj is None or not obj.is_archived)
    unit_types = unit_type_names(project=project)
    if form is None:
        doc = layer_to_document(obj) if obj else None
        form = LayerForm(
            initial=LayerForm.initial_from(doc) if doc else {},
            unit_types=unit_types,
            editing=obj is not None,
        )
        editor = DesignEditor.from_document(doc, with_groups=False)
    context = {
        "project": project,
        "section": "experiments",
        "tab": "layers",
        "kind": {"key": "layer", "label": "layer"},
        "obj": obj,
        "form": form,
        "editor": editor,
        "can_write": writable,
        "editor_url": request.path,
        "param_types": PARAMETER_TYPES,
        "problems": [],
        "savebar": entity_save_bar(request, "layer", obj, extra.get("change_edit")),
        **extra,
    }
    if obj is not None:
        if writable:
            context["archive_button"] = archive_button(
                request, project, "layer", obj.name, noun="layer"
            )
        context.update(_test_panel("layer", project, obj))
        allocation, running, pending = _allocation_bar(project, obj)
        context.update(
            allocation=allocation,
            running=running,
            pending=pending,
            free=BarPart("Free", "free", allocation.free_percent),
            members=list(selectors.experiment_list(project=project, layer=obj)),
        )
        if not obj.is_archived:
            environments = list(console_selectors.environment_list(project=project))
            context.setdefault("test_form", TestUserForm.for_environments(environments))
        if not obj.is_archived and extra.get("change_edit") is None:
            changes = open_changes(project, "layer", obj)
            for key, value in version_choices(request, changes).items():
                context.setdefault(key, value)
    return context


def _layer_page(request, slug, pk: int | None = None):
    is_post = request.method == "POST"
    project = project_for(request, slug, Role.MEMBER if is_post or pk is None else Role.VIEWER)
    obj = _layer(project, pk) if pk is not None else None
    change_edit = proposal_edit(request, project, "layer", obj)
    if not is_post:
        form = editor = None
        if change_edit is not None:
            doc = change_edit.document
            initial = {**LayerForm.initial_from(doc), "name": doc.get("name") or ""}
            form = LayerForm(
                initial=initial,
                unit_types=unit_type_names(project=project),
                editing=obj is not None,
            )
            editor = DesignEditor.from_document(doc, with_groups=False)
        context = _layer_context(
            request, project, obj, form=form, editor=editor, change_edit=change_edit
        )
        return render(request, "experiments/layer_form.html", context)
    form = LayerForm(
        request.POST, unit_types=unit_type_names(project=project), editing=obj is not None
    )
    editor = DesignEditor.from_data(request.POST, with_groups=False)
    context = _layer_context(
        request, project, obj, form=form, editor=editor, change_edit=change_edit
    )
    action = request.POST.get("editor_action")
    if action:
        editor.apply(action)
        quiet_form(form)
        if is_partial(request):
            return render(request, "experiments/partials/_design.html", context)
        return render(request, "experiments/layer_form.html", context)
    if obj is not None and obj.is_archived:
        raise PermissionDenied("This layer is archived and cannot change.")
    if form.is_valid():
        document = form.document(editor)
        if not editor.has_errors:
            response = _save(
                request,
                project,
                "layer",
                obj,
                document,
                form=form,
                editor=editor,
                change_edit=change_edit,
            )
            if response is not None:
                return response
    context["problems"] = _problems(form, editor)
    return render(request, "experiments/layer_form.html", context, status=400)


@login_required
@GET_POST
def layer_create(request, slug):
    return _layer_page(request, slug)


@login_required
@GET_POST
def layer_detail(request, slug, pk):
    return _layer_page(request, slug, pk)


def _archive(request, project, kind: str, obj, *, label: str, done: str):
    """Propose archiving `obj`: the list when applied, the change set when waiting for
    review, the entity again with the refusal."""
    change_set = _step(request, project, ChangeInput(kind, "archive", obj.name))
    if change_set is None:
        return redirect(f"{kind}-detail", project.slug, obj.pk)
    if not is_applied(change_set):
        return page_pending(request, change_set)
    messages.success(request, f"{label} {obj.name} archived.")
    return redirect(done, project.slug)


@login_required
@require_POST
def layer_archive(request, slug, pk):
    project = project_for(request, slug, Role.MEMBER)
    layer = _layer(project, pk)
    return _archive(request, project, "layer", layer, label="Layer", done="layer-list")
