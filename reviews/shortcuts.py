"""What a domain app's view or API answers after changeset_submit: the applied result, or
"waiting for review" with the change set (HTTP 202 in the API, a redirect in the browser)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from rest_framework import status
from rest_framework.response import Response

from reviews.models import ChangeSet, ChangeSetState


def is_applied(change_set: ChangeSet) -> bool:
    return change_set.state == ChangeSetState.APPLIED


def change_set_summary(change_set: ChangeSet) -> dict:
    return {
        "id": change_set.number,
        "state": change_set.state,
        "title": change_set.title,
        "environments": change_set.environments,
        "url": reverse("changeset-detail", args=[change_set.project.slug, change_set.number]),
    }


def pending_message(change_set: ChangeSet) -> str:
    if change_set.state == ChangeSetState.DRAFT:
        return f"Saved as draft change set #{change_set.number}: send it for review when ready."
    return (
        f"Change set #{change_set.number} is waiting for review: it touches "
        f"{', '.join(change_set.environments)}."
    )


def api_pending(change_set: ChangeSet) -> Response:
    """202: accepted as change set `id` in `state`, not applied yet."""
    return Response(
        {
            "message": pending_message(change_set),
            "data": {"changeSet": change_set_summary(change_set)},
        },
        status=status.HTTP_202_ACCEPTED,
    )


def page_pending(request: HttpRequest, change_set: ChangeSet) -> HttpResponse:
    """Tell the browser user their change waits for review and show them the change set."""
    messages.info(request, pending_message(change_set))
    return redirect("changeset-detail", change_set.project.slug, change_set.number)
