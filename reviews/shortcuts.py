"""What a domain app's view or API answers after changeset_submit: the applied result, or
"waiting for review" with the change set (HTTP 202 in the API, a redirect in the browser)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, cast

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from rest_framework import status
from rest_framework.response import Response

from console.exceptions import ApplicationError
from console.models import Project
from console.web import signed_in_user
from reviews import registry
from reviews.models import OPEN_STATES, Change, ChangeSet, ChangeSetState
from reviews.services import (
    ChangeInput,
    changeset_check,
    changeset_edit,
    changeset_specs_after,
    changeset_submit,
)


def propose(
    request: HttpRequest, project: Project, change: ChangeInput, *, source: str
) -> ChangeSet:
    """One change from a page or the API, by the signed-in member, as its own change set:
    applied at once (`results[0]` is what the service returned) or waiting for review.
    Raises the services' refusals, nothing saved."""
    return changeset_submit(
        actor=signed_in_user(request), project=project, changes=[change], source=source
    )


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
    if change_set.state == ChangeSetState.APPLYING:
        return (
            f"Change set #{change_set.number} is large: the worker is applying it, and its "
            "page shows how far."
        )
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


# ---------------------------------------------------------------- the save bar


@dataclass(frozen=True)
class SaveBar:
    """The save button of an entity form and what it says saving will do."""

    label: str
    hint: str = ""
    check_url: str = ""  # where the form asks what saving would do (POST save_check=1)
    watch: bool = False  # shown only while the form differs from what was loaded
    dirty: bool = False  # the form came back with problems: it differs from the saved one
    unchanged: bool = False  # the server found it the same as the saved entity


def save_bar(
    request: HttpRequest, *, saved: bool, noun: str, proposal: ChangeSet | None = None
) -> SaveBar:
    """The save bar of a page that creates (`saved` False) or edits a `noun` ("gate"), or
    edits the author's proposal in change set `proposal`."""
    if proposal is not None:
        return SaveBar(f"Save to change set #{proposal.number}", dirty=request.method == "POST")
    label = "Save changes" if saved else f"Create {noun}"
    return SaveBar(
        label, check_url=request.path, watch=saved, dirty=saved and request.method == "POST"
    )


def save_check(
    request: HttpRequest, project: Project, change: ChangeInput | None, bar: SaveBar
) -> SaveBar:
    """`bar` saying what submitting `change` would do (a dry run, nothing saved): "Submit
    for review" when an environment it changes requires review. `change` is None when
    the form has errors of its own: the bar keeps its label (saving shows them)."""
    if change is None:
        return bar
    try:
        needs = changeset_check(actor=signed_in_user(request), project=project, changes=[change])
    except ApplicationError as exc:
        if exc.code == "unchanged":
            return replace(bar, unchanged=True)
        return bar
    if needs:
        return replace(
            bar,
            label="Submit for review",
            hint=f"It changes what users receive in {', '.join(needs)}, which requires review.",
        )
    return replace(
        bar, hint="Applies at once: nothing users receive changes where review is required."
    )


# ---------------------------------------------------------------- action buttons


@dataclass(frozen=True)
class ActionButton:
    """A lifecycle or archive button of an entity page and what pressing it will do,
    predicted by the same dry run as the save bar (changeset_check): `label` on the button
    ("Start · submit for review (production)", "Archive · applies at once"), `confirm` on
    the confirmation's button, `hint` under its question."""

    label: str
    confirm: str
    hint: str = ""
    needs_review: bool = False


def action_button(
    request: HttpRequest, project: Project, change: ChangeInput, *, label: str, confirm: str
) -> ActionButton:
    """What pressing the `label` button, which proposes `change`, will do: wait for the
    review of the environments whose SDK answers it changes, or apply at once. One dry run,
    nothing saved. A step the dry run refuses keeps its label and says why (pressing it
    shows the same refusal)."""
    try:
        needs = changeset_check(actor=signed_in_user(request), project=project, changes=[change])
    except ApplicationError as exc:
        return ActionButton(label, confirm, hint=exc.message)
    if needs:
        where = ", ".join(needs)
        return ActionButton(
            f"{label} · submit for review ({where})",
            "Submit for review",
            hint=f"It changes what users receive in {where}, which requires review: "
            "nothing happens until it is approved.",
            needs_review=True,
        )
    return ActionButton(
        f"{label} · applies at once",
        confirm,
        hint="Applies at once: nothing users receive changes where review is required.",
    )


def archive_button(
    request: HttpRequest, project: Project, kind: str, name: str, *, noun: str
) -> ActionButton:
    """The Archive button of the `kind` entity `name` (a `noun`: "gate"), saying what
    pressing it will do. Lazy: its dry run runs only when a page renders the button (not
    for the form's partial answers, which share the page's context)."""
    change = ChangeInput(kind, "archive", name, {})
    return cast(
        ActionButton,
        SimpleLazyObject(
            lambda: action_button(
                request, project, change, label="Archive", confirm=f"Archive {noun}"
            )
        ),
    )


# ---------------------------------------------------------------- editing a proposal


@dataclass(frozen=True)
class ProposalEdit:
    """The change of its author's own open change set that an entity editor works on instead
    of the saved entity (?change_set=<number>, and &change=<position> when the set creates
    several entities of the kind)."""

    change_set: ChangeSet
    change: Change
    changes: list[Change]  # all of the change set's, in order

    @property
    def document(self) -> dict[str, Any]:
        """The proposed document as the editor shows it: the dry run's rendering of the
        payload (`after`, every key filled in), else the payload."""
        return self.change.after or self.change.payload

    def save(self, request: HttpRequest, document: dict[str, Any]) -> ChangeSet:
        """Replace this change's document, the others kept (changeset_edit: re-validated,
        approvals dropped when the content changes)."""
        inputs = []
        for change in self.changes:
            if change.pk == self.change.pk:
                name = "" if change.action == "create" else change.entity_name
                inputs.append(
                    ChangeInput(change.kind, change.action, name, document, change.base_revision)
                )
            else:
                inputs.append(
                    ChangeInput(
                        change.kind,
                        change.action,
                        change.entity_name,
                        change.payload,
                        change.base_revision,
                    )
                )
        return changeset_edit(
            actor=signed_in_user(request), change_set=self.change_set, changes=inputs
        )


def proposal_edit(request: HttpRequest, project: Project, kind: str, entity) -> ProposalEdit | None:
    """The proposal the request names (None when it names none): the author's open change
    set's update of `entity` or, on a create page (`entity` None), its create of `kind`.
    404 when there is no such change, 403 for someone else's or a closed change set."""
    number = request.POST.get("change_set") or request.GET.get("change_set") or ""
    if not number:
        return None
    if not number.isdigit():
        raise Http404("No such change set.")
    change_set = get_object_or_404(ChangeSet, project=project, number=int(number))
    if change_set.author_id != request.user.pk:
        raise PermissionDenied("Only the author can edit this change set.")
    if change_set.state not in OPEN_STATES:
        raise PermissionDenied(
            f"Change set #{change_set.number} is {change_set.get_state_display().lower()}: "
            "it can no longer change."
        )
    changes = list(change_set.changes.order_by("position"))
    wanted = "create" if entity is None else "update"
    found = [
        c
        for c in changes
        if c.kind == kind and c.action == wanted and (entity is None or c.entity_id == entity.pk)
    ]
    position = request.POST.get("change") or request.GET.get("change") or ""
    if position.isdigit():
        found = [c for c in found if c.position == int(position)]
    if not found:
        raise Http404(f"Change set #{change_set.number} does not edit this {kind}.")
    return ProposalEdit(change_set, found[0], changes)


# ---------------------------------------------------------------- test a user: the proposed version


def open_changes(project: Project, kind: str, entity) -> list[Change]:
    """The changes open change sets propose to `entity` (of change kind `kind`), oldest first."""
    return list(
        Change.objects.filter(
            change_set__project=project,
            change_set__state__in=OPEN_STATES,
            kind=kind,
            entity_id=entity.pk,
        )
        .select_related("change_set")
        .order_by("change_set__number", "position")
    )


def version_choices(request: HttpRequest, changes: list[Change]) -> dict[str, Any]:
    """The test panel's version choice: the saved one or what an open change set proposes."""
    return {
        "test_versions": [(c.change_set.number, c.change_set.title) for c in changes],
        "test_version": (request.POST.get("version") or "").strip(),
    }


def chosen_version(
    request: HttpRequest, changes: list[Change], form, environment
) -> tuple[dict[str, Any] | None, dict[str, Any] | None] | None:
    """What the test panel runs: (spec, document), `environment`'s spec with the chosen
    change set applied (a dry run; nothing is kept) and the entity as it proposes it, or
    (None, None) for the saved version. None, with an error on `form`, when the choice is
    not an open change set of the entity or the change set cannot apply as it stands."""
    number = (request.POST.get("version") or "").strip()
    if not number:
        return None, None
    change = next((c for c in changes if str(c.change_set.number) == number), None)
    if change is None:
        form.add_error(None, "Choose the saved version or a change set that is still open.")
        return None
    try:
        spec = changeset_specs_after(change.change_set, [environment])[environment.name]
    except ApplicationError as exc:
        form.add_error(None, f"Change set #{number} cannot be applied as it stands: {exc}")
        return None
    document = change.after or change.payload
    takes_document = registry.get(change.kind).action(change.action).takes_document
    return spec, (document if takes_document and isinstance(document, dict) else None)
