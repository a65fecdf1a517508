"""The review queue: to review, mine, recently applied and closed; search and filters."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from console.models import Role, role_at_least
from console.web import is_partial, project_for
from reviews import selectors
from reviews.forms import (
    QueueFilterForm,
)
from reviews.views.common import _role

# ---------------------------------------------------------------- the queue


@login_required
@require_GET
def changeset_list(request, slug):
    project = project_for(request, slug)
    can_approve = role_at_least(_role(request, project), Role.MEMBER)
    form = QueueFilterForm(request.GET)
    state = search = ""
    if form.is_valid():
        state, search = form.cleaned_data["state"], form.cleaned_data["q"].strip()
    queue = selectors.changeset_queue(
        project=project, user=request.user, can_approve=can_approve, state=state, search=search
    )
    context = {
        "project": project,
        "section": "reviews",
        "form": form,
        "queue": queue,
        "tiers": selectors.environment_tiers(project=project),
        "can_approve": can_approve,
        "filtered": bool(state or search),
    }
    template = (
        "reviews/partials/_queue.html" if is_partial(request) else "reviews/changeset_list.html"
    )
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response
