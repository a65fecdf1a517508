"""The gate, segment and dynamic config pages: one editing flow for the three kinds (the
form and the rules editor, proposing the document as a change set, archiving, testing a
user)."""

from __future__ import annotations

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
from console.snippets import Snippet, sdk_snippets
from console.targeting.conditions import SEGMENT_PREFIX
from console.web import (
    Problem,
    can_admin,
    can_write,
    form_problems,
    is_partial,
    project_for,
    quiet_form,
    test_panel,
)
from gates import explain, hooks, idlists, selectors
from gates.documents import dynamic_config_to_document, gate_to_document, segment_to_document
from gates.forms import (
    DynamicConfigForm,
    GateForm,
    RulesEditor,
    SegmentForm,
    SegmentIdsForm,
    SegmentUploadForm,
    TestUserForm,
    UnitTypeForm,
    attach_override_error,
    condition_groups,
    override_rows,
    overrides_document,
)
from gates.models import DynamicConfig, FeatureGate, Segment, SegmentKind
from reviews.models import ChangeSetSource
from reviews.services import ChangeInput
from reviews.shortcuts import (
    archive_button,
    chosen_version,
    is_applied,
    open_changes,
    page_pending,
    proposal_edit,
    propose,
    save_bar,
    save_check,
    version_choices,
)

GET_POST = require_http_methods(["GET", "POST"])
ID_PAGE_SIZE = 60

# Document keys of the entity forms' fields (validators name document paths).
FORM_FIELDS = {
    "name": "name",
    "description": "description",
    "owner": "owner",
    "tags": "tags",
    "idType": "id_type",
    "status": "status",
    "isEnabled": "is_enabled",
    "isPermanent": "is_permanent",
    "defaultValue": "default_value",
    "schema": "schema",
    "type": "kind",
}

# ---------------------------------------------------------------- the three kinds


@dataclass(frozen=True)
class Kind:
    """What differs between the gate, segment and config pages."""

    key: str  # url names: <key>-list, <key>-create, <key>-detail, ...
    label: str
    model: Any
    form_class: Any
    to_document: Any
    change_kind: str  # the change sets' kind (gates/reviews.py)
    section: str
    explain_kind: str  # evaluator kind
    template: str
    config: bool = False  # rules return JSON values
    rollouts: bool = False  # rules may follow a rollout schedule

    def spec_name(self, obj) -> str:
        return SEGMENT_PREFIX + obj.name if self.key == "segment" else obj.name


GATE = Kind(
    key="gate",
    label="gate",
    model=FeatureGate,
    form_class=GateForm,
    to_document=gate_to_document,
    change_kind="gate",
    section="gates",
    explain_kind="gate",
    template="gates/gate_form.html",
    rollouts=True,
)
SEGMENT = Kind(
    key="segment",
    label="segment",
    model=Segment,
    form_class=SegmentForm,
    to_document=segment_to_document,
    change_kind="segment",
    section="segments",
    explain_kind="gate",
    template="gates/segment_form.html",
)
CONFIG = Kind(
    key="config",
    label="dynamic config",
    model=DynamicConfig,
    form_class=DynamicConfigForm,
    to_document=dynamic_config_to_document,
    change_kind="dynamic_config",
    section="gates",
    explain_kind="config",
    template="gates/config_form.html",
    config=True,
)


# ---------------------------------------------------------------- helpers


def _entity(kind: Kind, project: Project, pk: int):
    return get_object_or_404(
        kind.model.objects.select_related("project", "owner").prefetch_related("tags"),
        pk=pk,
        project=project,
    )


@dataclass
class Choices:
    """What the entity forms and the rules editor offer, read once per request."""

    members: list[str]
    tags: list[str]
    unit_types: list[str]
    environments: list[Any]
    gate_names: list[str]
    segment_names: list[str]

    @classmethod
    def load(cls, project: Project, *, exclude=None) -> Choices:
        gates = FeatureGate.objects.active().filter(project=project)
        segments = Segment.objects.active().filter(project=project)
        if isinstance(exclude, FeatureGate):
            gates = gates.exclude(pk=exclude.pk)
        if isinstance(exclude, Segment):
            segments = segments.exclude(pk=exclude.pk)
        return cls(
            members=[m.user.email for m in console_selectors.member_list(project=project)],
            tags=list(console_selectors.tag_list(project=project).values_list("name", flat=True)),
            unit_types=selectors.unit_type_names(project=project),
            environments=list(console_selectors.environment_list(project=project)),
            gate_names=sorted(gates.values_list("name", flat=True), key=str.lower),
            segment_names=sorted(segments.values_list("name", flat=True), key=str.lower),
        )

    def form_kwargs(self) -> dict[str, Any]:
        return {"members": self.members, "tags": self.tags, "unit_types": self.unit_types}


def _map_error(exc: ApplicationError, *, form, editor, override_order) -> None:
    """Put a service's refusal on the field or row its document path names."""
    path = exc.field or ""
    if editor is not None and editor.attach(path, exc.message):
        return
    if override_order is not None and attach_override_error(override_order, path, exc.message):
        return
    key = FORM_FIELDS.get(path.split("[")[0].split(".")[0])
    form.add_error(key if key in form.fields else None, exc.message)


def _problems(form, editor, overrides) -> list[Problem]:
    """Every error on the page, in page order, for the summary at the top."""
    problems = form_problems(form)
    if editor is not None:
        problems += [Problem("Rules", e, "rules") for e in editor.errors]
        for i, rule in enumerate(editor.rules):
            for errors in rule.errors.values():
                problems += [Problem(f"Rule {i + 1}", e, f"rule-{i}") for e in errors]
            for j, cond in enumerate(rule.conditions):
                for errors in cond.errors.values():
                    where = f"Rule {i + 1}, condition {j + 1}"
                    problems += [Problem(where, e, f"rule-{i}-cond-{j}") for e in errors]
    for row in overrides or []:
        where = f"Overrides, {row.label}"
        problems += [Problem(where, e, f"override-{row.key}") for e in row.errors]
    return problems


# ---------------------------------------------------------------- create and edit


def _initial_editor(kind: Kind, doc) -> RulesEditor:
    rules = doc["rules"] if doc else []
    return RulesEditor.from_rules(rules, config=kind.config, rollouts=kind.rollouts)


def _page_context(request, kind: Kind, project, obj, *, choices: Choices, form, editor, **extra):
    writable = can_write(request, project) and (obj is None or not obj.is_archived)
    context = {
        "project": project,
        "section": kind.section,
        "tab": "configs" if kind is CONFIG else "gates",
        "kind": kind,
        "obj": obj,
        "form": form,
        "editor": editor,
        "choices": choices,
        "condition_groups": condition_groups(),
        "can_write": writable,
        "can_add_unit_type": writable and can_admin(request, project),
        "unit_type_form": extra.pop("unit_type_form", None) or UnitTypeForm(),
        "editor_url": request.path,
        "problems": [],
        **extra,
    }
    proposal = context.get("proposal")
    context["savebar"] = save_bar(
        request,
        saved=obj is not None,
        noun=kind.label,
        proposal=proposal.change_set if proposal is not None else None,
    )
    if obj is not None and writable:
        context["archive_button"] = archive_button(
            request, project, kind.change_kind, obj.name, noun=kind.label
        )
    if obj is not None and not obj.is_archived:
        context.setdefault("test_form", TestUserForm.for_environments(choices.environments))
        context.update(_test_panel(kind, project, obj))
        context["snippets"] = _snippets(kind, obj)
    if obj is not None and not obj.is_archived and context.get("proposal") is None:
        # Open change sets that would change it: their authors can edit them from here.
        context["open_changes"] = open_changes(project, kind.change_kind, obj)
        # And anyone can test a user against what one of them proposes.
        for key, value in version_choices(request, context["open_changes"]).items():
            context.setdefault(key, value)
    if obj is not None and kind is SEGMENT and obj.kind == SegmentKind.ID_LIST:
        context.update(_id_browser_context(request, obj))
        context.setdefault("ids_form", SegmentIdsForm())
        context.setdefault("upload_form", SegmentUploadForm())
    return context


def _snippets(kind: Kind, obj) -> list[Snippet]:
    """How to read a gate or config from code (segments are not read directly)."""
    if kind is GATE:
        return sdk_snippets(kind="gate", name=obj.name)
    if kind is CONFIG:
        keys = list(obj.default_value) if isinstance(obj.default_value, dict) else []
        return sdk_snippets(kind="dynamic_config", name=obj.name, param=keys[0] if keys else None)
    return []


def _test_panel(kind: Kind, project, obj) -> dict[str, str]:
    return test_panel(
        reverse(f"{kind.key}-test", args=[project.slug, obj.pk]),
        f"Runs the saved {kind.label} exactly as the SDKs would.",
        "gates/partials/_test_result.html",
    )


def _set_overrides(context, rows) -> None:
    context["overrides"] = rows
    if rows is not None:
        count = sum(len(idlists.parse_pasted_ids(r.passing + " " + r.failing)) for r in rows)
        context["overrides_count"] = count
        context["overrides_open"] = bool(count) or any(r.errors for r in rows)


def _entity_page(request, slug, kind: Kind, pk: int | None = None):
    """The create (pk None) and edit page of a gate, segment or config."""
    is_post = request.method == "POST"
    project = project_for(request, slug, Role.MEMBER if is_post or pk is None else Role.VIEWER)
    obj = _entity(kind, project, pk) if pk is not None else None
    if not is_post and is_partial(request) and request.htmx.target == "id-browser" and obj:
        # The segment's ID browser searching or paging.
        context = {"project": project, "obj": obj, "can_write": can_write(request, project)}
        context.update(_id_browser_context(request, obj))
        return render(request, "gates/partials/_segment_id_browser.html", context)
    proposal = proposal_edit(request, project, kind.change_kind, obj)
    choices = Choices.load(project, exclude=obj)
    editing = obj is not None
    form_kwargs = {"editing": editing, **choices.form_kwargs()}
    overrides = None

    if not is_post:
        doc = kind.to_document(obj) if obj else None
        if proposal is not None:
            doc = proposal.document
        initial = kind.form_class.initial_from(doc) if doc else {}
        if doc is None and request.user.email in choices.members:
            initial["owner"] = request.user.email
        if proposal is not None and obj is None:
            # A proposed create: the fields only the new-entity form has.
            initial["name"] = doc["name"]
            if kind is SEGMENT:
                initial["kind"] = doc["type"]
        form = kind.form_class(initial=initial, **form_kwargs)
        editor = _initial_editor(kind, doc)
        if kind is GATE:
            overrides = override_rows(choices.environments, doc["overrides"] if doc else [])
        context = _page_context(
            request,
            kind,
            project,
            obj,
            choices=choices,
            form=form,
            editor=editor,
            proposal=proposal,
        )
        _set_overrides(context, overrides)
        if kind is GATE and obj is not None:
            context["panels"] = hooks.gate_panels(request, project, obj)
            context["rollouts"] = selectors.gate_rollouts(obj)
        return render(request, kind.template, context)

    form = kind.form_class(request.POST, **form_kwargs)
    editor = RulesEditor.from_data(request.POST, config=kind.config, rollouts=kind.rollouts)
    if kind is GATE:
        overrides = override_rows(choices.environments, data=request.POST)
    context = _page_context(
        request, kind, project, obj, choices=choices, form=form, editor=editor, proposal=proposal
    )
    _set_overrides(context, overrides)

    if request.POST.get("save_check") and is_partial(request):
        # The save bar asking what saving would do: nothing is saved.
        document, _order = _document(kind, obj, form, editor, overrides)
        change = None
        if document is not None:
            name, verb = (obj.name, "update") if obj is not None else ("", "create")
            change = ChangeInput(kind.change_kind, verb, name, document, _revision(request))
        context["savebar"] = save_check(request, project, change, context["savebar"])
        return render(request, "console/partials/_savebar_action.html", context)

    action = request.POST.get("editor_action")
    if action:
        # An editor button: change the rows, save nothing.
        editor.apply(action)
        quiet_form(form)
        if is_partial(request):
            return render(request, "gates/partials/_rules_editor.html", context)
        return render(request, kind.template, context)

    if obj is not None and obj.is_archived:
        raise PermissionDenied(f"This {kind.label} is archived and cannot change.")
    response = _save(request, kind, project, obj, form, editor, overrides, proposal)
    if response is not None:
        return response
    _set_overrides(context, overrides)
    context["problems"] = _problems(form, editor, overrides)
    return render(request, kind.template, context, status=400)


def _document(kind: Kind, obj, form, editor, overrides):
    """The entity's document from the form and the editor: (document, override order), or
    (None, None) when either has errors of its own."""
    form_ok = form.is_valid()
    rules = editor.to_document()
    if not form_ok or editor.has_errors:
        return None, None
    if kind is GATE:
        override_doc, override_order = overrides_document(overrides)
        return form.document(rules, override_doc), override_order
    if kind is SEGMENT:
        seg_kind = obj.kind if obj is not None else form.cleaned_data["kind"]
        return form.document(rules, kind=seg_kind), None
    return form.document(rules), None


def _save(request, kind: Kind, project, obj, form, editor, overrides, proposal):
    """Propose the document (or put it in the author's change set); a refusal lands on its
    field or row and returns None, nothing saved. Otherwise the response: the entity's page
    when applied at once, else the change set's."""
    document, override_order = _document(kind, obj, form, editor, overrides)
    if document is None:
        return None
    try:
        if proposal is not None:
            change_set = proposal.save(request, document)
        elif obj is None:
            change_set = _propose(request, project, kind.change_kind, "create", "", document)
        else:
            change_set = _propose(
                request,
                project,
                kind.change_kind,
                "update",
                obj.name,
                document,
                base_revision=_revision(request),
            )
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except ApplicationError as exc:
        if exc.code == "unchanged" and obj is not None and proposal is None:
            # Saved as it was loaded: no change set, nothing to review.
            messages.info(request, exc.message)
            return redirect(f"{kind.key}-detail", project.slug, obj.pk)
        _map_error(exc, form=form, editor=editor, override_order=override_order)
        return None
    if proposal is not None:
        messages.success(request, f"Change set #{change_set.number} updated.")
        return redirect("changeset-detail", project.slug, change_set.number)
    if not is_applied(change_set):
        return page_pending(request, change_set)
    saved = change_set.results[0]
    verb = "created" if obj is None else "saved"
    messages.success(request, f"{kind.label.capitalize()} {saved.name} {verb}.")
    return redirect(f"{kind.key}-detail", project.slug, saved.pk)


def _revision(request) -> int | None:
    """The revision the edit form was loaded at."""
    revision = request.POST.get("revision", "")
    return int(revision) if revision.isdigit() else None


def _propose(request, project, kind: str, action: str, name: str, payload=None, base_revision=None):
    change = ChangeInput(kind, action, name, payload or {}, base_revision)
    return propose(request, project, change, source=ChangeSetSource.BROWSER)


@login_required
@GET_POST
def gate_create(request, slug):
    return _entity_page(request, slug, GATE)


@login_required
@GET_POST
def gate_detail(request, slug, pk):
    return _entity_page(request, slug, GATE, pk)


@login_required
@GET_POST
def segment_create(request, slug):
    return _entity_page(request, slug, SEGMENT)


@login_required
@GET_POST
def segment_detail(request, slug, pk):
    return _entity_page(request, slug, SEGMENT, pk)


@login_required
@GET_POST
def config_create(request, slug):
    return _entity_page(request, slug, CONFIG)


@login_required
@GET_POST
def config_detail(request, slug, pk):
    return _entity_page(request, slug, CONFIG, pk)


def _id_browser_context(request, segment: Segment) -> dict[str, Any]:
    search = (request.GET.get("ids_q") or "").strip()
    after = request.GET.get("after") or ""
    page = selectors.segment_ids_page(
        segment=segment, search=search, after=after, limit=ID_PAGE_SIZE + 1
    )
    return {
        "ids_page": page[:ID_PAGE_SIZE],
        "ids_more": len(page) > ID_PAGE_SIZE,
        "ids_next": page[ID_PAGE_SIZE - 1] if len(page) > ID_PAGE_SIZE else "",
        "ids_search": search,
        "ids_after": after,
    }


# ---------------------------------------------------------------- archive


def _archive(request, slug, kind: Kind, pk: int):
    project = project_for(request, slug, Role.MEMBER)
    obj = _entity(kind, project, pk)
    try:
        change_set = _propose(request, project, kind.change_kind, "archive", obj.name)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(f"{kind.key}-detail", project.slug, obj.pk)
    if not is_applied(change_set):
        return page_pending(request, change_set)
    messages.success(request, f"{kind.label.capitalize()} {obj.name} archived.")
    return redirect(f"{kind.key}-list", project.slug)


@login_required
@require_POST
def gate_archive(request, slug, pk):
    return _archive(request, slug, GATE, pk)


@login_required
@require_POST
def segment_archive(request, slug, pk):
    return _archive(request, slug, SEGMENT, pk)


@login_required
@require_POST
def config_archive(request, slug, pk):
    return _archive(request, slug, CONFIG, pk)


# ---------------------------------------------------------------- test a user


def _test(request, slug, kind: Kind, pk: int):
    # A read: viewers may test too.
    project = project_for(request, slug)
    obj = _entity(kind, project, pk)
    environments = list(console_selectors.environment_list(project=project))
    form = TestUserForm.for_environments(environments, request.POST)
    outcome = None
    changes = open_changes(project, kind.change_kind, obj)
    if form.is_valid() and not obj.is_archived:
        env = next(e for e in environments if str(e.pk) == form.cleaned_data["environment"])
        chosen = chosen_version(request, changes, form, env)
        if chosen is not None:
            spec, document = chosen
            outcome = explain.explain_entity(obj, env, form.user(), spec=spec, document=document)
    context = {
        "project": project,
        "kind": kind,
        "obj": obj,
        "test_form": form,
        **version_choices(request, changes),
        "outcome": outcome,
        **_test_panel(kind, project, obj),
    }
    status = 200 if form.is_valid() else 400
    if is_partial(request):
        return render(request, "gates/partials/_test_panel.html", context, status=status)
    choices = Choices.load(project, exclude=obj)
    doc = kind.to_document(obj)
    page = _page_context(
        request,
        kind,
        project,
        obj,
        choices=choices,
        form=kind.form_class(
            initial=kind.form_class.initial_from(doc), editing=True, **choices.form_kwargs()
        ),
        editor=_initial_editor(kind, doc),
        test_form=form,
        outcome=outcome,
    )
    if kind is GATE:
        _set_overrides(page, override_rows(choices.environments, doc["overrides"]))
    return render(request, kind.template, page, status=status)


@login_required
@require_POST
def gate_test(request, slug, pk):
    return _test(request, slug, GATE, pk)


@login_required
@require_POST
def segment_test(request, slug, pk):
    return _test(request, slug, SEGMENT, pk)


@login_required
@require_POST
def config_test(request, slug, pk):
    return _test(request, slug, CONFIG, pk)
