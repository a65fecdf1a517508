"""What the review pages share: the change set of the URL, the role of the viewer."""

from __future__ import annotations

from django.http import Http404
from django.views.decorators.http import require_http_methods

from console.models import Project
from console.permissions import project_role
from reviews import selectors
from reviews.models import (
    ChangeSet,
    ChangeSetState,
)

S = ChangeSetState
GET_POST = require_http_methods(["GET", "POST"])

SHOWN_IDS = 8
# Runs of this many unchanged lines (or more) are folded away in a diff of more than
# FOLD_OVER lines.
FOLD_AT = 4
FOLD_OVER = 16


def _role(request, project: Project) -> str | None:
    return project_role(request.user, project)


def _get_change_set(project: Project, number: int) -> ChangeSet:
    change_set = selectors.changeset_get(project=project, number=number)
    if change_set is None:
        raise Http404("No such change set.")
    return change_set
