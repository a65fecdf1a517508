"""The experiment pages: the list, the design editor (create and edit), the lifecycle
steps (start, ship, abandon, reset, archive)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_POST

from console import selectors as console_selectors
from console.models import Project, Role
from console.snippets import sdk_snippets
from console.web import (
    can_write,
    is_partial,
    list_response,
    project_for,
    quiet_form,
    test_panel,
)
from experiments import selectors
from experiments.documents import (
    experiment_to_document,
)
from experiments.forms import (
    PARAMETER_TYPES,
    DesignEditor,
    ExperimentFilterForm,
    ExperimentForm,
    ShipForm,
    percent_text,
)
from experiments.models import LIFECYCLE_STEPS, Experiment, ExperimentStatus, Layer, lifecycle_steps
from experiments.views.common import (
    GET_POST,
    _experiment,
    _problems,
    _save,
    _step,
    _values_text,
    entity_save_bar,
)
from gates.forms import TestUserForm
from gates.models import FeatureGate, Segment
from gates.selectors import unit_type_names
from metrics.catalog.selectors import live_metric_ids
from metrics.models import ExposureKind
from metrics.panels import exposure_panel
from metrics.warehouse.selectors import assignment_source_list
from reviews.selectors import pending_for_list
from reviews.services import ChangeInput
from reviews.shortcuts import (
    ActionButton,
    action_button,
    is_applied,
    open_changes,
    page_pending,
    proposal_edit,
    version_choices,
)

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
    proposed = pending_for_list(project=project, kind="experiment", entities=experiments)
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
            "proposed": proposed,
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
    # The catalog's metric IDs ("name::type").
    metrics: list[str]
    # The project's warehouse assignment sources (names).
    assignment_sources: list[str]

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
            metrics=live_metric_ids(project=project),
            assignment_sources=list(
                assignment_source_list(project=project).values_list("name", flat=True)
            ),
        )

    def layer_named(self, name: str | None) -> Layer | None:
        wanted = (name or "").lower()
        return next((x for x in self.layers if x.name.lower() == wanted), None) if wanted else None

    def experiment_form(self, *args, editing: bool, locked: bool = False, **kwargs):
        # Metrics the experiment already names stay choosable (archived ones included).
        initial = kwargs.get("initial") or {}
        named = [*initial.get("primary_metrics", ()), *initial.get("secondary_metrics", ())]
        form = ExperimentForm(
            *args,
            members=self.members,
            tags=self.tags,
            unit_types=self.unit_types,
            layers=[x.name for x in self.layers],
            gates=self.gates,
            metrics=[*self.metrics, *(m for m in named if m not in self.metrics)],
            assignment_sources=self.assignment_sources,
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


# Each lifecycle step: its button's label and its confirmation's button.
_STEP_BUTTONS = {
    "start": ("Start", "Start experiment"),
    "ship": ("Ship a group", "Ship"),
    "abandon": ("Abandon", "Abandon experiment"),
    "reset": ("Reset", "Reset and re-randomize"),
    "archive": ("Archive", "Archive experiment"),
}


def _lifecycle_buttons(
    request, project, experiment: Experiment, steps, ships: list[dict[str, Any]]
) -> dict[str, ActionButton]:
    """What pressing each offered step's button will do (one dry run per button; shipping
    any group changes the same environments, so the first group's stands for all), and
    each ship option's button (`confirm` set on `ships`)."""
    buttons = {}
    for step, (label, confirm) in _STEP_BUTTONS.items():
        if step not in steps or (step == "ship" and not ships):
            continue
        payload = {"group": ships[0]["name"]} if step == "ship" else {}
        change = ChangeInput("experiment", step, experiment.name, payload)
        buttons[step] = action_button(request, project, change, label=label, confirm=confirm)
    if "ship" in buttons:
        review = " · submit for review" if buttons["ship"].needs_review else ""
        for ship in ships:
            ship["confirm"] = f"Ship {ship['name']}{review}"
    return buttons


def _lifecycle(request, project, experiment: Experiment, *, writable: bool) -> dict[str, Any]:
    """What each lifecycle button offers, what pressing it will do (apply at once or wait
    for review; predicted only for someone who can press it), and the sentence its
    confirmation asks."""
    doc = experiment_to_document(experiment)
    steps = lifecycle_steps(experiment.status)
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
            "confirm": f"Ship {g['name']}",
            "question": f"Ship {g['name']}? Everyone gets {g['name']}’s values: "
            f"{_values_text(g['parameterValues'])} (held-out units excepted). "
            "The experiment stops assigning.",
        }
        for g in doc["groups"]
    ]
    # Lazy: the dry runs run only when the page renders the buttons.
    buttons = SimpleLazyObject(
        lambda: _lifecycle_buttons(request, project, experiment, steps, ships) if writable else {}
    )
    return {
        **{f"can_{step}": step in steps for step in LIFECYCLE_STEPS},
        "buttons": buttons,
        "start_question": f"Start {experiment.name}? {start}",
        "ships": ships,
        "abandon_question": f"Abandon {experiment.name}? Everyone gets the defaults: "
        f"{_values_text(defaults)}. The experiment stops assigning.",
        "reset_question": f"Reset {experiment.name}? It goes back to draft and re-randomizes "
        "everyone with a new salt: past assignments are lost, and users get the defaults "
        "until it starts again.",
        "archive_question": f"Archive {experiment.name}? It leaves the SDKs' rules at once: "
        "code asking for it gets the defaults.",
        "launched_group": {g["id"]: g["name"] for g in doc["groups"]}.get(
            doc["launchedGroupID"] or ""
        ),
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
        "savebar": entity_save_bar(request, "experiment", obj, extra.get("change_edit")),
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
        context["lifecycle"] = _lifecycle(request, project, obj, writable=writable)
        context["holdouts"] = list(selectors.holdouts_for_experiment(experiment=obj))
        if not obj.is_archived:
            context.setdefault("test_form", TestUserForm.for_environments(choices.environments))
            params = [p["name"] for p in obj.parameters or [] if isinstance(p, dict)]
            context["snippets"] = sdk_snippets(
                kind="experiment", name=obj.name, param=params[0] if params else None
            )
        if not obj.is_archived and extra.get("change_edit") is None:
            # Anyone can test a user against what an open change set proposes.
            changes = open_changes(project, "experiment", obj)
            for key, value in version_choices(request, changes).items():
                context.setdefault(key, value)
        if request.method == "GET" and obj.status != ExperimentStatus.DRAFT:
            context["exposures_panel"] = exposure_panel(
                request,
                project,
                kind=ExposureKind.CONFIG,
                name=obj.name,
                groups=[group["name"] for group in obj.groups],
            )
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
