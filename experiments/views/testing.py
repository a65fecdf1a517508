"""Test a user on an experiment or a layer page (the logic is experiments.explain)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_POST

from console import selectors as console_selectors
from console.web import (
    is_partial,
    project_for,
)
from experiments import explain
from experiments.documents import (
    experiment_to_document,
)
from experiments.forms import (
    DesignEditor,
    ExperimentForm,
)
from experiments.models import ExperimentStatus
from experiments.views.common import _experiment, _layer
from experiments.views.experiment_pages import Choices, _experiment_context, _test_panel
from experiments.views.layers import _layer_context
from gates.forms import TestUserForm
from reviews.shortcuts import chosen_version, open_changes, version_choices

# ---------------------------------------------------------------- test a user


def _test(request, slug, pk, *, layer: bool):
    project = project_for(request, slug)  # a read: viewers may test too
    obj = _layer(project, pk) if layer else _experiment(project, pk)
    environments = list(console_selectors.environment_list(project=project))
    form = TestUserForm.for_environments(environments, request.POST)
    outcome = None
    changes = open_changes(project, "layer" if layer else "experiment", obj)
    if form.is_valid() and not obj.is_archived:
        env = next(e for e in environments if str(e.pk) == form.cleaned_data["environment"])
        chosen = chosen_version(request, changes, form, env)
        if chosen is not None and layer:
            outcome = explain.explain_layer(obj, env, form.user(), spec=chosen[0])
        elif chosen is not None:
            outcome = explain.explain_experiment(
                obj, env, form.user(), spec=chosen[0], document=chosen[1]
            )
    key = "layer" if layer else "experiment"
    context = {
        "project": project,
        "obj": obj,
        **_test_panel(key, project, obj),
        "test_form": form,
        **version_choices(request, changes),
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
