"""An ID-list segment's IDs (add, remove, upload a CSV: each a change set) and unit types."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from console.exceptions import ApplicationError, NotAllowed
from console.models import Role
from console.web import (
    is_partial,
    project_for,
    safe_next,
)
from gates import idlists, selectors, services
from gates.documents import segment_to_document
from gates.forms import (
    SegmentForm,
    SegmentIdsForm,
    SegmentUploadForm,
    UnitTypeForm,
)
from gates.views.pages import SEGMENT, Choices, _entity, _initial_editor, _page_context, _propose
from reviews.shortcuts import is_applied, page_pending

# ---------------------------------------------------------------- segment IDs


def _segment_ids_page(request, project, segment, **forms):
    choices = Choices.load(project, exclude=segment)
    doc = segment_to_document(segment)
    context = _page_context(
        request,
        SEGMENT,
        project,
        segment,
        choices=choices,
        form=SegmentForm(
            initial=SegmentForm.initial_from(doc), editing=True, **choices.form_kwargs()
        ),
        editor=_initial_editor(SEGMENT, doc),
        **forms,
    )
    return render(request, SEGMENT.template, context, status=400)


def _id_change_message(change) -> str:
    parts = []
    if change.added:
        parts.append(f"{change.added:,} added")
    if change.removed:
        parts.append(f"{change.removed:,} removed")
    if not parts:
        parts.append("nothing changed")
    return f"IDs: {', '.join(parts)}. The list now holds {change.segment.id_count:,}."


def _ids_done(request, project, segment, change_set):
    """The answer to an applied or pending ID-list change set."""
    if not is_applied(change_set):
        return page_pending(request, change_set)
    messages.success(request, _id_change_message(change_set.results[0]))
    return redirect(reverse("segment-detail", args=[project.slug, segment.pk]) + "#ids")


def _id_edit(request, slug, pk, action: str):
    project = project_for(request, slug, Role.MEMBER)
    segment = _entity(SEGMENT, project, pk)
    form = SegmentIdsForm(request.POST)
    if form.is_valid():
        try:
            change_set = _propose(
                request, project, "segment", action, segment.name, {"ids": form.cleaned_data["ids"]}
            )
        except NotAllowed as exc:
            raise PermissionDenied(exc.message) from exc
        except ApplicationError as exc:
            form.add_error("ids", exc.message)
        else:
            return _ids_done(request, project, segment, change_set)
    return _segment_ids_page(request, project, segment, ids_form=form)


@login_required
@require_POST
def segment_ids_add(request, slug, pk):
    return _id_edit(request, slug, pk, "ids_add")


@login_required
@require_POST
def segment_ids_remove(request, slug, pk):
    return _id_edit(request, slug, pk, "ids_remove")


@login_required
@require_POST
def segment_ids_upload(request, slug, pk):
    """A CSV of IDs, parsed here, added to the list or replacing it."""
    project = project_for(request, slug, Role.MEMBER)
    segment = _entity(SEGMENT, project, pk)
    form = SegmentUploadForm(request.POST, request.FILES)
    if form.is_valid():
        action = "ids_replace" if form.cleaned_data["mode"] == "replace" else "ids_add"
        try:
            ids = idlists.parse_id_csv(form.cleaned_data["file"], id_type=segment.id_type)
            change_set = _propose(request, project, "segment", action, segment.name, {"ids": ids})
        except NotAllowed as exc:
            raise PermissionDenied(exc.message) from exc
        except ApplicationError as exc:
            form.add_error("file", exc.message)
        else:
            return _ids_done(request, project, segment, change_set)
    return _segment_ids_page(request, project, segment, upload_form=form)


# ---------------------------------------------------------------- unit types


@login_required
@require_POST
def unit_type_create(request, slug):
    project = project_for(request, slug, Role.ADMIN)
    form = UnitTypeForm(request.POST)
    created = None
    if form.is_valid():
        try:
            created = services.unit_type_create(
                actor=request.user, project=project, **form.cleaned_data
            )
        except NotAllowed as exc:
            raise PermissionDenied(exc.message) from exc
        except ApplicationError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    if is_partial(request):
        context = {
            "unit_types": selectors.unit_type_names(project=project),
            "selected": created.name if created else request.POST.get("id_type", ""),
            "can_write": True,
            "can_add_unit_type": True,
            "unit_type_form": UnitTypeForm() if created else form,
            "unit_type_added": created,
            "project": project,
            "editor_url": request.POST.get("next", ""),
        }
        return render(
            request,
            "gates/partials/_unit_type_field.html",
            context,
            status=200 if created else 400,
        )
    if created:
        messages.success(request, f"Unit type {created.name} added.")
    else:
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
    return redirect(safe_next(request, reverse("gate-list", args=[project.slug])))
