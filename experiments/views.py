"""HTML pages of experiments, layers and holdouts.

Views are adapters, like the gates pages: check access, bind the form and the design editor
(parameters and groups), build the document, and propose it as a change set
(reviews.services.changeset_submit): applied at once when no environment it touches requires
review, else the user is sent to the change set waiting for review. The editor's buttons post
the whole form back with an `editor_action`; the view answers with the editor partial (htmx)
or the whole page, and saves nothing. Lifecycle steps are POSTs proposing one change, whose
refusals become messages. With `?change_set=<number>` an editor edits that change of the
author's own open change set instead. "Test a user" builds the environment's spec and
explains the experiment (or layer) rule by rule, and says why the user got what they got.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from console import selectors as console_selectors
from console.exceptions import ApplicationError, NotAllowed
from console.models import Project, Role
from console.web import (
    Problem,
    can_write,
    form_problems,
    is_partial,
    list_response,
    project_for,
    quiet_form,
    test_panel,
)
from experiments import explain, selectors
from experiments.documents import (
    experiment_to_document,
    holdout_to_document,
    layer_to_document,
)
from experiments.forms import (
    PARAMETER_TYPES,
    DesignEditor,
    ExperimentFilterForm,
    ExperimentForm,
    HoldoutForm,
    LayerForm,
    ShipForm,
    percent_text,
    show_value,
)
from experiments.models import Experiment, ExperimentStatus, Holdout, Layer
from gates.forms import TestUserForm
from gates.models import FeatureGate, Segment
from gates.selectors import unit_type_names
from reviews.models import ChangeSet, ChangeSetSource
from reviews.services import ChangeInput
from reviews.shortcuts import ProposalEdit, is_applied, page_pending, proposal_edit, propose

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


# kind → (label, detail page, document of a saved entity)
KINDS = {
    "experiment": ("Experiment", "experiment-detail", experiment_to_document),
    "layer": ("Layer", "layer-detail", layer_to_document),
    "holdout": ("Holdout", "holdout-detail", holdout_to_document),
}


def _save(request, project, kind: str, obj, document, *, form, editor=None, change_edit):
    """Propose the editor's document (a create, or an update from the revision the form was
    loaded at) and answer: the entity when applied, the change set when it waits for review
    (or was the author's own, edited), None with the refusal on the form and editor."""
    label, detail, to_document = KINDS[kind]
    if obj is None:
        change = ChangeInput(kind, "create", "", document)
    elif change_edit is None and to_document(obj) == document:
        messages.info(request, f"Nothing changed: {label.lower()} {obj.name} is as it was.")
        return redirect(detail, project.slug, obj.pk)
    else:
        change = ChangeInput(kind, "update", obj.name, document, _revision(request))
    try:
        change_set = _propose(request, project, change, change_edit)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except ApplicationError as exc:
        _map_error(exc, form=form, editor=editor)
        return None
    if not is_applied(change_set):
        return page_pending(request, change_set)
    saved = change_set.results[0]
    messages.success(request, f"{label} {saved.name} {'created' if obj is None else 'saved'}.")
    return redirect(detail, project.slug, saved.pk)


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


# ---------------------------------------------------------------- experiments: list


@login_required
def experiment_list(request, slug):
    project = project_for(request, slug)
    tags = list(console_selectors.tag_list(project=project).values_list("name", flat=True))
    form = ExperimentFilterForm(request.GET, tags=tags)
    search = status = tag = ""
    if form.is_valid():
        data = form.cleaned_data
        search, status, tag = data["q"].strip(), data["status"], data["tag"]
    experiments = list(
        selectors.experiment_list(project=project, search=search, status=status, tag=tag)
    )
    return list_response(
        request,
        template="experiments/experiment_list.html",
        partial="experiments/partials/_experiment_table.html",
        context={
            "project": project,
            "section": "experiments",
            "tab": "experiments",
            "form": form,
            "experiments": experiments,
            "filtered": bool(search or status or tag),
            "can_write": can_write(request, project),
        },
    )


# ---------------------------------------------------------------- experiments: create and edit


@dataclass
class Choices:
    members: list[str]
    tags: list[str]
    unit_types: list[str]
    environments: list[Any]
    layers: list[Layer]
    gates: list[str]
    segments: list[str]

    @classmethod
    def load(cls, project: Project) -> Choices:
        return cls(
            members=[m.user.email for m in console_selectors.member_list(project=project)],
            tags=list(console_selectors.tag_list(project=project).values_list("name", flat=True)),
            unit_types=unit_type_names(project=project),
            environments=list(console_selectors.environment_list(project=project)),
            layers=list(selectors.layer_list(project=project)),
            gates=sorted(
                FeatureGate.objects.active().filter(project=project).values_list("name", flat=True),
                key=str.lower,
            ),
            segments=sorted(
                Segment.objects.active().filter(project=project).values_list("name", flat=True),
                key=str.lower,
            ),
        )

    def layer_named(self, name: str | None) -> Layer | None:
        wanted = (name or "").lower()
        return next((x for x in self.layers if x.name.lower() == wanted), None) if wanted else None

    def experiment_form(self, *args, editing: bool, locked: bool = False, **kwargs):
        form = ExperimentForm(
            *args,
            members=self.members,
            tags=self.tags,
            unit_types=self.unit_types,
            layers=[x.name for x in self.layers],
            gates=self.gates,
            editing=editing,
            **kwargs,
        )
        if locked:
            # A started experiment keeps its unit type and layer (the service says so too).
            form.fields["id_type"].disabled = True
            form.fields["layer"].disabled = True
        return form


def _test_panel(key: str, project, obj) -> dict[str, str]:
    return test_panel(
        reverse(f"{key}-test", args=[project.slug, obj.pk]),
        f"Runs the saved {key} exactly as the SDKs would: which group, which values, and why.",
        "experiments/partials/_test_result.html",
    )


def _lifecycle(experiment: Experiment) -> dict[str, Any]:
    """What each lifecycle button offers, and the sentence its confirmation asks."""
    doc = experiment_to_document(experiment)
    status = experiment.status
    defaults = {p["name"]: p["defaultValue"] for p in doc["parameters"]}
    split = ", ".join(f"{g['name']} ({percent_text(g['size'])}%)" for g in doc["groups"])
    who = "eligible users"
    if doc["targetingGateID"]:
        who = f"users passing {doc['targetingGateID']}"
    elif doc["targetingConditions"]:
        who = "users matching the targeting conditions"
    start = (
        f"{percent_text(doc['allocation'])}% of {who} will be split into {split}. "
        "Everyone else keeps the defaults."
    )
    if doc["layerID"]:
        start += f" It takes {percent_text(doc['allocation'])}% of the layer {doc['layerID']}."
    ships = [
        {
            "name": g["name"],
            "question": f"Ship {g['name']}? Everyone gets {g['name']}’s values: "
            f"{_values_text(g['parameterValues'])} (held-out units excepted). "
            "The experiment stops assigning.",
        }
        for g in doc["groups"]
    ]
    return {
        "can_start": status == ExperimentStatus.DRAFT,
        "can_ship": status == ExperimentStatus.RUNNING,
        "can_abandon": status == ExperimentStatus.RUNNING,
        "can_reset": status
        in (ExperimentStatus.RUNNING, ExperimentStatus.SHIPPED, ExperimentStatus.ABANDONED),
        "can_archive": status
        in (ExperimentStatus.DRAFT, ExperimentStatus.SHIPPED, ExperimentStatus.ABANDONED),
        "start_question": f"Start {experiment.name}? {start}",
        "ships": ships,
        "abandon_question": f"Abandon {experiment.name}? Everyone gets the defaults: "
        f"{_values_text(defaults)}. The experiment stops assigning.",
        "reset_question": f"Reset {experiment.name}? It goes back to draft and re-randomizes "
        "everyone with a new salt: past assignments are lost, and users get the defaults "
        "until it starts again.",
        "archive_question": f"Archive {experiment.name}? It leaves the SDKs' rules at once: "
        "code asking for it gets the defaults.",
        "launched_group": doc["launchedGroup"],
    }


def _design_note(experiment: Experiment | None) -> str:
    if experiment is None or experiment.status == ExperimentStatus.DRAFT:
        return ""
    if experiment.status == ExperimentStatus.RUNNING:
        return (
            "The experiment is running: its parameters and groups are fixed, because changing "
            "them would move users between groups. Reset it to change them (everyone is "
            "re-randomized). Overrides and descriptions can still change."
        )
    if experiment.status == ExperimentStatus.ARCHIVED:
        return ""
    return (
        "The decision is made: parameters, groups and overrides are fixed. Reset the "
        "experiment to run it again."
    )


def _experiment_context(request, project, obj, *, choices: Choices, form, editor, **extra):
    writable = can_write(request, project) and (obj is None or not obj.is_archived)
    locked = obj is not None and obj.status != ExperimentStatus.DRAFT
    context = {
        "project": project,
        "section": "experiments",
        "tab": "experiments",
        "kind": {"key": "experiment", "label": "experiment"},
        "obj": obj,
        "form": form,
        "editor": editor,
        "choices": choices,
        "can_write": writable,
        "design_locked": locked,
        "overrides_locked": obj is not None
        and obj.status not in (ExperimentStatus.DRAFT, ExperimentStatus.RUNNING),
        "design_note": _design_note(obj),
        "editor_url": request.path,
        "param_types": PARAMETER_TYPES,
        "problems": [],
        **extra,
    }
    layer_field = form.fields.get("layer")
    if layer_field is not None and not layer_field.disabled:
        # Choosing a layer re-renders the design: its parameters' defaults are the layer's.
        layer_field.widget.attrs.update(
            {
                "hx-post": request.path,
                "hx-target": "#design",
                "hx-swap": "outerHTML",
                "hx-vals": '{"editor_action": "refresh"}',
            }
        )
    if obj is not None:
        context.update(_test_panel("experiment", project, obj))
        context["lifecycle"] = _lifecycle(obj)
        context["holdouts"] = list(selectors.holdouts_for_experiment(experiment=obj))
        if not obj.is_archived:
            context.setdefault("test_form", TestUserForm.for_environments(choices.environments))
    return context


def _experiment_page(request, slug, pk: int | None = None):
    is_post = request.method == "POST"
    project = project_for(request, slug, Role.MEMBER if is_post or pk is None else Role.VIEWER)
    obj = _experiment(project, pk) if pk is not None else None
    change_edit = proposal_edit(request, project, "experiment", obj)
    choices = Choices.load(project)
    editing = obj is not None
    locked = editing and obj.status != ExperimentStatus.DRAFT
    shown = change_edit.document if change_edit else None
    extra = {"change_edit": change_edit}

    if not is_post:
        doc = shown or (experiment_to_document(obj) if obj else None)
        initial = ExperimentForm.initial_from(doc) if doc else {}
        if doc is not None and obj is None:
            initial["name"] = doc.get("name") or ""
        if doc is None and request.user.email in choices.members:
            initial["owner"] = request.user.email
        if obj is not None and shown is None:
            layer = obj.layer
        else:
            layer = choices.layer_named((doc or {}).get("layerID") or request.GET.get("layer"))
        if doc is None and layer is not None:
            # "New experiment" from a layer's page: in that layer, with its parameters.
            initial.update(layer=layer.name, id_type=layer.id_type)
        form = choices.experiment_form(initial=initial, editing=editing, locked=locked)
        editor = DesignEditor.from_document(doc)
        editor.set_layer(layer)
        if doc is None:
            editor.adopt_layer_parameters()
        context = _experiment_context(
            request, project, obj, choices=choices, form=form, editor=editor, **extra
        )
        return render(request, "experiments/experiment_form.html", context)

    initial = ExperimentForm.initial_from(experiment_to_document(obj)) if obj else None
    form = choices.experiment_form(request.POST, initial=initial, editing=editing, locked=locked)
    editor = DesignEditor.from_data(request.POST)
    layer_name = initial["layer"] if locked else request.POST.get("layer")
    editor.set_layer(choices.layer_named(layer_name))
    context = _experiment_context(
        request, project, obj, choices=choices, form=form, editor=editor, **extra
    )

    action = request.POST.get("editor_action")
    if action:
        # An editor button (or the layer changing): change the rows, save nothing.
        if not locked:
            editor.apply(action)
            if action == "refresh":  # the layer changed
                editor.adopt_layer_parameters()
        quiet_form(form)
        if is_partial(request):
            return render(request, "experiments/partials/_design.html", context)
        return render(request, "experiments/experiment_form.html", context)

    if obj is not None and obj.is_archived:
        raise PermissionDenied("This experiment is archived and cannot change.")
    response = _save_experiment(request, project, obj, form, editor, change_edit)
    if response is not None:
        return response
    context["problems"] = _problems(form, editor)
    return render(request, "experiments/experiment_form.html", context, status=400)


def _save_experiment(request, project, obj, form, editor: DesignEditor, change_edit):
    if not form.is_valid():
        return None
    status = obj.status if obj is not None else ExperimentStatus.DRAFT
    document = form.document(editor, status=status)
    if editor.has_errors:
        return None
    return _save(
        request,
        project,
        "experiment",
        obj,
        document,
        form=form,
        editor=editor,
        change_edit=change_edit,
    )


@login_required
@GET_POST
def experiment_create(request, slug):
    return _experiment_page(request, slug)


@login_required
@GET_POST
def experiment_detail(request, slug, pk):
    return _experiment_page(request, slug, pk)


# ---------------------------------------------------------------- experiments: lifecycle


def _lifecycle_step(request, slug, pk, action: str, done: str, **payload):
    """Propose one lifecycle step of the experiment; `done` says what happened when it is
    applied at once."""
    project = project_for(request, slug, Role.MEMBER)
    experiment = _experiment(project, pk)
    change_set = _step(
        request, project, ChangeInput("experiment", action, experiment.name, payload)
    )
    if change_set is None:
        return redirect("experiment-detail", project.slug, experiment.pk)
    if not is_applied(change_set):
        return page_pending(request, change_set)
    messages.success(request, done.format(name=experiment.name, **payload))
    if change_set.results[0].status == ExperimentStatus.ARCHIVED:
        return redirect("experiment-list", project.slug)
    return redirect("experiment-detail", project.slug, experiment.pk)


@login_required
@require_POST
def experiment_start(request, slug, pk):
    return _lifecycle_step(
        request,
        slug,
        pk,
        "start",
        "Experiment {name} started: users are being assigned to its groups.",
    )


@login_required
@require_POST
def experiment_ship(request, slug, pk):
    form = ShipForm(request.POST)
    group = form.cleaned_data["group"] if form.is_valid() else ""
    return _lifecycle_step(
        request, slug, pk, "ship", "Shipped {group}: everyone now gets its values.", group=group
    )


@login_required
@require_POST
def experiment_abandon(request, slug, pk):
    return _lifecycle_step(request, slug, pk, "abandon", "Abandoned: everyone gets the defaults.")


@login_required
@require_POST
def experiment_reset(request, slug, pk):
    return _lifecycle_step(
        request, slug, pk, "reset", "Experiment {name} reset to draft with a new salt."
    )


@login_required
@require_POST
def experiment_archive(request, slug, pk):
    return _lifecycle_step(request, slug, pk, "archive", "Experiment {name} archived.")


# ---------------------------------------------------------------- test a user


def _test(request, slug, pk, *, layer: bool):
    project = project_for(request, slug)  # a read: viewers may test too
    obj = _layer(project, pk) if layer else _experiment(project, pk)
    environments = list(console_selectors.environment_list(project=project))
    form = TestUserForm.for_environments(environments, request.POST)
    outcome = None
    if form.is_valid() and not obj.is_archived:
        env = next(e for e in environments if str(e.pk) == form.cleaned_data["environment"])
        run = explain.explain_layer if layer else explain.explain_experiment
        outcome = run(obj, env, form.user())
    key = "layer" if layer else "experiment"
    context = {
        "project": project,
        "obj": obj,
        **_test_panel(key, project, obj),
        "test_form": form,
        "outcome": outcome,
    }
    status = 200 if form.is_valid() else 400
    if is_partial(request):
        return render(request, "gates/partials/_test_panel.html", context, status=status)
    if layer:
        page = _layer_context(request, project, obj, test_form=form, outcome=outcome)
        return render(request, "experiments/layer_form.html", page, status=status)
    choices = Choices.load(project)
    doc = experiment_to_document(obj)
    editor = DesignEditor.from_document(doc)
    editor.set_layer(obj.layer)
    page = _experiment_context(
        request,
        project,
        obj,
        choices=choices,
        form=choices.experiment_form(
            initial=ExperimentForm.initial_from(doc),
            editing=True,
            locked=obj.status != ExperimentStatus.DRAFT,
        ),
        editor=editor,
        test_form=form,
        outcome=outcome,
    )
    return render(request, "experiments/experiment_form.html", page, status=status)


@login_required
@require_POST
def experiment_test(request, slug, pk):
    return _test(request, slug, pk, layer=False)


@login_required
@require_POST
def layer_test(request, slug, pk):
    return _test(request, slug, pk, layer=True)


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
        **extra,
    }
    if obj is not None:
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
    context = {
        "project": project,
        "section": "experiments",
        "tab": "holdouts",
        "kind": {"key": "holdout", "label": "holdout"},
        "obj": obj,
        "form": form,
        "change_edit": change_edit,
        "can_write": can_write(request, project) and (obj is None or not obj.is_archived),
        "problems": _problems(form, None) if is_post else [],
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
