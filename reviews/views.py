"""Review pages: the queue and a change set (being built)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from console.permissions import get_project_for_user
from reviews.models import ChangeSet


@login_required
def changeset_list(request, slug):
    project = get_project_for_user(request.user, slug)
    change_sets = ChangeSet.objects.filter(project=project).select_related("author")[:50]
    return render(
        request, "reviews/changeset_list.html", {"project": project, "change_sets": change_sets}
    )


@login_required
def changeset_detail(request, slug, number):
    project = get_project_for_user(request.user, slug)
    change_set = get_object_or_404(ChangeSet, project=project, number=number)
    return render(
        request, "reviews/changeset_detail.html", {"project": project, "change_set": change_set}
    )
