"""Review pages: the queue, a change set (readable diffs, approvals, comments, the impact
preview and every action), the review settings, and rollback from the publishing history.

Views are adapters: check the role, bind a form, call one service, redirect. A refusal
becomes an error message on the page it came from. Action forms post with htmx and select
the change set's page out of the redirected answer (`#changeset-page`), so the impact
panel (kept with hx-preserve) is computed once per visit.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from console import selectors as console_selectors
from console.exceptions import ApplicationError, DomainError, NotFound
from console.models import Project, Role, role_at_least
from console.permissions import project_role
from console.web import is_partial, project_for
from reviews import registry, selectors, services
from reviews.forms import (
    CommentForm,
    EntityOwnerForm,
    QueueFilterForm,
    RebaseForm,
    RejectForm,
    ReviewGroupForm,
    ReviewPolicyForm,
)
from reviews.impact import impact_preview
from reviews.models import (
    OPEN_STATES,
    Approval,
    Change,
    ChangeSet,
    ChangeSetSource,
    ChangeSetState,
    ReviewGroup,
)
from reviews.policy import project_policy
from reviews.shortcuts import pending_message
from reviews.templatetags import reviews_tags
from reviews.templatetags.reviews_tags import kind_label

logger = logging.getLogger(__name__)

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


# ---------------------------------------------------------------- readable diffs


@dataclass
class Segment:
    text: str
    changed: bool
    sep: str = ""  # what separates it from the previous part (" · " or a new line)


@dataclass
class Side:
    label: str
    segments: list[Segment]
    code: bool  # pretty-printed JSON: shown as preformatted text


@dataclass
class DiffRow:
    status: str  # same, moved, changed, added, removed
    left: Side | None
    right: Side | None


@dataclass
class DiffBlock:
    """Rows shown as they are, or a run of unchanged rows folded away."""

    rows: list[DiffRow]
    folded: bool = False


def _is_code(text: str) -> bool:
    return text[:1] in "{[" and ("\n" in text or text in ("{}", "[]"))


def _parts(text: str) -> list[str]:
    return text.split("\n") if _is_code(text) else text.split(" · ")


def _side(line: tuple[str, str], other: tuple[str, str] | None) -> Side:
    """One side of a row, each part (" · "-separated, or a JSON line) marked when the other
    side lacks it: in "Employees · 50% pass · when …" only "50% pass" lights up."""
    label, text = line
    theirs = set(_parts(other[1])) if other is not None else set()
    code = _is_code(text)
    segments = []
    for i, part in enumerate(_parts(text)):
        if code:
            # The indentation of a JSON line stays out of the highlight.
            body = part.lstrip(" ")
            sep = ("\n" if i else "") + part[: len(part) - len(body)]
        else:
            body, sep = part, " · " if i else ""
        segments.append(Segment(body, part not in theirs, sep))
    return Side(label, segments, code)


def _plain(line: tuple[str, str]) -> Side:
    return _side(line, line)


def _key(line: tuple[str, str]) -> tuple[str, str]:
    # Positions in labels ("Rule 2") do not stop a moved rule from matching itself.
    return re.sub(r"\d+", "#", line[0]), line[1]


def _pairs(left: list[tuple[str, str]], right: list[tuple[str, str]]) -> dict[int, int]:
    """Which old line each new line replaces (right index → left index): the same label
    first, else a line of the same kind whose text is alike ("Rule 3" that became "Rule 4"
    with another percentage)."""
    pairs: dict[int, int] = {}
    taken: set[int] = set()
    for ri, r in enumerate(right):
        for li, lft in enumerate(left):
            if li not in taken and lft[0] == r[0]:
                pairs[ri] = li
                taken.add(li)
                break
    for ri, r in enumerate(right):
        if ri in pairs:
            continue
        best, best_ratio = None, 0.5
        for li, lft in enumerate(left):
            if li in taken or _key(lft)[0] != _key(r)[0]:
                continue
            ratio = difflib.SequenceMatcher(None, lft[1], r[1], autojunk=False).ratio()
            if ratio > best_ratio:
                best, best_ratio = li, ratio
        if best is not None:
            pairs[ri] = best
            taken.add(best)
    return pairs


def diff_rows(before: list[tuple[str, str]], after: list[tuple[str, str]]) -> list[DiffRow]:
    """Align two described documents line by line: equal lines side by side, changed ones
    paired by label, the rest added or removed (in the order of the new document)."""
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(
        None, [_key(x) for x in before], [_key(x) for x in after], autojunk=False
    )
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for a, b in zip(before[i1:i2], after[j1:j2], strict=True):
                rows.append(DiffRow("same" if a[0] == b[0] else "moved", _plain(a), _plain(b)))
            continue
        left, right = before[i1:i2], after[j1:j2]
        pairs = _pairs(left, right)
        taken = set(pairs.values())
        emitted: set[int] = set()
        for ri, r in enumerate(right):
            if ri in pairs:
                li = pairs[ri]
                for k in range(li):
                    if k not in taken and k not in emitted:
                        rows.append(DiffRow("removed", _side(left[k], None), None))
                        emitted.add(k)
                rows.append(DiffRow("changed", _side(left[li], r), _side(r, left[li])))
            else:
                rows.append(DiffRow("added", None, _side(r, None)))
        for k, lft in enumerate(left):
            if k not in taken and k not in emitted:
                rows.append(DiffRow("removed", _side(lft, None), None))
    return rows


def fold(rows: list[DiffRow]) -> list[DiffBlock]:
    """Long runs of unchanged lines folded away, in diffs long enough to need it (a short
    document is easier to review whole)."""
    if len(rows) <= FOLD_OVER:
        return [DiffBlock(rows)]
    blocks: list[DiffBlock] = []
    run: list[DiffRow] = []

    def flush() -> None:
        if run:
            blocks.append(DiffBlock(list(run), folded=len(run) >= FOLD_AT))
            run.clear()

    for row in rows:
        if row.status == "same":
            run.append(row)
            continue
        flush()
        if blocks and not blocks[-1].folded:
            blocks[-1].rows.append(row)
        else:
            blocks.append(DiffBlock([row]))
    flush()
    return blocks


@dataclass
class ChangeView:
    change: Change
    kind_label: str
    verb: str
    url: str | None
    mode: str  # "diff", "created" (no before), "none" (nothing to show)
    blocks: list[DiffBlock] = field(default_factory=list)
    lines: list[Side] = field(default_factory=list)  # created: the new document
    note: str = ""  # the payload of actions that are not documents (IDs, ship group)
    changed_count: int = 0
    stale: bool = False
    edit_url: str | None = None  # the author's editor for this proposed document


def _ids_note(change: Change) -> str:
    ids = change.payload.get("ids") if isinstance(change.payload, dict) else None
    if not isinstance(ids, list):
        return ""
    what = {
        "ids_add": "Adds",
        "ids_remove": "Removes",
        "ids_replace": "Replaces every ID with",
    }.get(change.action, "IDs:")
    shown = ", ".join(str(i) for i in ids[:SHOWN_IDS])
    more = f", … (+{len(ids) - SHOWN_IDS:,} more)" if len(ids) > SHOWN_IDS else ""
    noun = "ID" if len(ids) == 1 else "IDs"
    return f"{what} {len(ids):,} {noun}: {shown}{more}" if ids else f"{what} no IDs."


def _edit_url(handler, project: Project, change: Change, url: str | None, number: int):
    if handler is None or change.action not in ("create", "update"):
        return None
    if change.action == "update" and url:
        return f"{url}?change_set={number}"
    if change.action == "create" and handler.create_url is not None:
        return f"{handler.create_url(project)}?change_set={number}&change={change.position}"
    return None


def change_view(
    project: Project, change: Change, *, stale_ids: set[int], edit_number: int | None = None
) -> ChangeView:
    """`edit_number`: the change set's number when the viewer may edit it (its author)."""
    try:
        handler = registry.get(change.kind)
    except ApplicationError:
        handler = None
    label, verb = kind_label(change.kind), reviews_tags.verb(change)
    url = None
    if handler is not None and handler.url is not None and change.entity_id is not None:
        # An unsaved instance carries what the URL needs (project slug, pk): no query.
        url = handler.url(handler.model(pk=change.entity_id, project=project))
    view = ChangeView(change, label, verb, url, "none", stale=change.pk in stale_ids)
    if edit_number is not None:
        view.edit_url = _edit_url(handler, project, change, url, edit_number)
    if change.action.startswith("ids_"):
        view.note = _ids_note(change)
    elif change.action == "ship" and isinstance(change.payload, dict):
        view.note = f"Ships the group {change.payload.get('group') or '?'} to everyone."
    before = selectors.document_lines(change.kind, change.before) if change.before else []
    after = selectors.document_lines(change.kind, change.after) if change.after else []
    if change.before is None and after:
        view.mode = "created"
        view.lines = [_plain(line) for line in after]
    elif before or after:
        rows = diff_rows(before, after)
        view.mode = "diff"
        view.changed_count = sum(1 for r in rows if r.status not in ("same", "moved"))
        view.blocks = fold(rows)
    return view


# ---------------------------------------------------------------- the change set page


@dataclass
class ApprovalView:
    approval: Approval
    counts: bool
    dismissed: bool


@dataclass
class ConflictView:
    field_name: str
    entity: str
    kind_label: str
    key: str
    base: list[Side] | str
    theirs: list[Side] | str
    mine: list[Side] | str


def _value_lines(kind: str, key: str, value: Any) -> list[Side] | str:
    if value is None:
        return "(not set)"
    lines = selectors.document_lines(kind, {key: value})
    if lines:
        return [_plain(line) for line in lines]
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


def _conflicts(change_set: ChangeSet) -> list[ConflictView]:
    out = []
    for conflict in services.rebase_conflicts(change_set):
        change = conflict.change
        out.append(
            ConflictView(
                field_name=f"{RebaseForm.PREFIX}{change.position}.{conflict.key}",
                entity=change.entity_name,
                kind_label=kind_label(change.kind),
                key=conflict.key,
                base=_value_lines(change.kind, conflict.key, conflict.base),
                theirs=_value_lines(change.kind, conflict.key, conflict.theirs),
                mine=_value_lines(change.kind, conflict.key, conflict.mine),
            )
        )
    return out


def _detail_context(request, project: Project, change_set: ChangeSet) -> dict[str, Any]:
    user = request.user
    role = _role(request, project)
    member = role_at_least(role, Role.MEMBER)
    admin = role == Role.ADMIN
    is_author = change_set.author_id == user.pk
    state = change_set.state
    follow_up = change_set.source == ChangeSetSource.FOLLOW_UP

    changes, approvals, comments = selectors.changeset_details(change_set)
    needs = services.change_set_requirements(change_set)
    policy = project_policy(project)
    stale_ids: set[int] = set()
    conflicts: list[ConflictView] = []
    if state == S.STALE:
        stale_ids = {c.pk for c in services.stale_changes(change_set, changes)}
        if is_author and member:
            conflicts = _conflicts(change_set)

    counted = {a.pk for a in needs.approvals}
    approval_views = [
        ApprovalView(
            a,
            counts=a.pk in counted,
            dismissed=a.dismissed_at is not None or a.content_hash != change_set.content_hash,
        )
        for a in approvals
    ]
    approved_by_me = any(
        a.user_id == user.pk and not v.dismissed
        for a, v in zip(approvals, approval_views, strict=True)
    )
    author_or_admin = (is_author and member) or admin
    actions = {
        "approve": member
        and not is_author
        and state in (S.IN_REVIEW, S.APPROVED)
        and not approved_by_me,
        "reject": member and not is_author and state in (S.IN_REVIEW, S.APPROVED, S.STALE),
        "apply": author_or_admin and state == S.APPROVED and not follow_up,
        "cancel": author_or_admin and change_set.is_open,
        "send": is_author and member and state == S.DRAFT,
        "rebase": is_author and member and state == S.STALE,
        "break_glass": admin
        and is_author
        and policy.allow_break_glass
        and state in (S.DRAFT, S.IN_REVIEW)
        and not follow_up
        and needs.needs_review
        and not needs.met,
    }
    approve_applies = False
    if actions["approve"] and policy.apply_on_approval and not follow_up:
        my_groups = set(user.review_groups.filter(project=project).values_list("pk", flat=True))
        approve_applies = needs.approvals_missing <= 1 and all(
            g.pk in my_groups for g in needs.groups_missing
        )
    where = ", ".join(change_set.environments) or "every environment"
    return {
        "project": project,
        "section": "reviews",
        "change_set": change_set,
        "approve_applies": approve_applies,
        "approve_title": (
            "Yours is the approval that meets the policy: it is applied to "
            f"{where} at once, and the SDKs get it within seconds."
        ),
        "break_glass_question": (
            "Apply without review? For emergencies only: it is flagged as break-glass in the "
            "audit log, and a follow-up review is opened for someone else to check it after "
            "the fact."
        ),
        "follow_up": getattr(change_set, "follow_up", None),
        "changes": [
            change_view(
                project,
                c,
                stale_ids=stale_ids,
                edit_number=(
                    change_set.number
                    if is_author and member and change_set.state in OPEN_STATES
                    else None
                ),
            )
            for c in changes
        ],
        "needs": needs,
        "approvals": approval_views,
        "comments": comments,
        "policy": policy,
        "is_author": is_author,
        "is_member": member,
        "approved_by_me": approved_by_me,
        "actions": actions,
        "any_action": any(actions.values()),
        "conflicts": conflicts,
        "tiers": selectors.environment_tiers(project=project),
        "comment_form": CommentForm(),
        "reject_form": RejectForm(),
        # Open change sets against the configuration now, applied ones against the version
        # before theirs; a follow-up has nothing of its own to evaluate.
        "show_impact": (change_set.is_open or state == S.APPLIED) and not follow_up,
        "progress": selectors.apply_progress(change_set),
    }


@login_required
@require_GET
def changeset_detail(request, slug, number):
    project = project_for(request, slug)
    change_set = _get_change_set(project, number)
    return render(
        request, "reviews/changeset_detail.html", _detail_context(request, project, change_set)
    )


@login_required
@require_GET
def changeset_progress(request, slug, number):
    """The applying panel, polled by the page while the worker applies the change set.
    Once it is applied (or refused), htmx reloads the page to show the outcome."""
    project = project_for(request, slug)
    change_set = _get_change_set(project, number)
    progress = selectors.apply_progress(change_set)
    if progress is None:
        if is_partial(request):
            response = HttpResponse(status=204)
            response["HX-Refresh"] = "true"
            return response
        return _done(request, project, change_set)
    context = {"project": project, "change_set": change_set, "progress": progress}
    return render(request, "reviews/partials/_apply_progress.html", context)


@login_required
@require_GET
def changeset_impact(request, slug, number):
    """The impact panel, loaded after the page (it evaluates thousands of users)."""
    project = project_for(request, slug)
    change_set = _get_change_set(project, number)
    preview, error = None, None
    try:
        preview = impact_preview(change_set)
    except ApplicationError as exc:
        error = exc.message
    except Exception:  # the panel is an aid: a failure there must not break the page
        logger.exception("changeset.impact_failed id=%s", change_set.pk)
        error = "The impact could not be computed; the change set itself is fine."
    else:
        error = preview.error
    context = {
        "project": project,
        "section": "reviews",
        "change_set": change_set,
        "preview": preview,
        "error": error,
        "tiers": selectors.environment_tiers(project=project),
    }
    template = (
        "reviews/partials/_impact.html" if is_partial(request) else "reviews/changeset_impact.html"
    )
    return render(request, template, context)


# ---------------------------------------------------------------- actions


def _done(request, project: Project, change_set: ChangeSet):
    return redirect("changeset-detail", project.slug, change_set.number)


def _act(request, slug, number, needed: str, run) -> Any:
    """Load the change set, call `run(change_set)` (a service call that returns the message
    to show), and go back to the change set; a refusal becomes an error message."""
    project = project_for(request, slug, needed)
    change_set = _get_change_set(project, number)
    try:
        message = run(change_set)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        if message:
            level, text = message if isinstance(message, tuple) else (messages.SUCCESS, message)
            messages.add_message(request, level, text)
    return _done(request, project, change_set)


def _applying_message(prefix: str) -> str:
    return f"{prefix}. It is large: the worker is applying it, and this page shows how far."


def _applied_message(change_set: ChangeSet, prefix: str) -> str:
    version = change_set.ruleset_version
    number = f" as version {version.number}" if version else ""
    return f"{prefix}{number}: the SDKs get it within seconds."


@login_required
@require_POST
def changeset_approve(request, slug, number):
    def run(change_set):
        result = services.changeset_approve(actor=request.user, change_set=change_set)
        if result.state == S.APPLYING:
            return _applying_message("Approved")
        if getattr(result, "apply_error", None) is not None:
            return (
                messages.WARNING,
                f"Approved, but applying it was refused: {result.apply_error.message}",
            )
        if result.state == S.APPLIED:
            return _applied_message(result, "Approved and applied")
        if result.state == S.APPROVED:
            return "Approved. It meets the policy: the author or an admin can apply it now."
        needs = services.change_set_requirements(result)
        return f"Approved. Still needed: {needs.summary()}."

    return _act(request, slug, number, Role.MEMBER, run)


@login_required
@require_POST
def changeset_reject(request, slug, number):
    form = RejectForm(request.POST)

    def run(change_set):
        if not form.is_valid():
            raise DomainError(form.errors["reason"][0], field="reason")
        services.changeset_reject(
            actor=request.user, change_set=change_set, reason=form.cleaned_data["reason"]
        )
        return f"Change set #{change_set.number} rejected; the author is told why."

    return _act(request, slug, number, Role.MEMBER, run)


@login_required
@require_POST
def changeset_comment(request, slug, number):
    form = CommentForm(request.POST)

    def run(change_set):
        if not form.is_valid():
            raise DomainError(form.errors["body"][0], field="body")
        services.changeset_comment(
            actor=request.user, change_set=change_set, body=form.cleaned_data["body"]
        )
        return ""

    return _act(request, slug, number, Role.VIEWER, run)


@login_required
@require_POST
def changeset_apply(request, slug, number):
    def run(change_set):
        result = services.changeset_apply(actor=request.user, change_set=change_set)
        if result.state == S.APPLYING:
            return _applying_message("Applying")
        return _applied_message(result, "Applied")

    return _act(request, slug, number, Role.MEMBER, run)


@login_required
@require_POST
def changeset_break_glass(request, slug, number):
    def run(change_set):
        result = services.changeset_apply(
            actor=request.user, change_set=change_set, break_glass=True
        )
        if result.state == S.APPLYING:
            return (messages.WARNING, _applying_message("Applying without review (break-glass)"))
        follow_up = ChangeSet.objects.filter(follow_up_of=result).first()
        text = _applied_message(result, "Applied without review (break-glass)")
        if follow_up is not None:
            text += f" Follow-up review #{follow_up.number} is open for another reviewer."
        return (messages.WARNING, text)

    return _act(request, slug, number, Role.ADMIN, run)


@login_required
@require_POST
def changeset_cancel(request, slug, number):
    def run(change_set):
        services.changeset_cancel(actor=request.user, change_set=change_set)
        return f"Change set #{change_set.number} cancelled; nothing was applied."

    return _act(request, slug, number, Role.MEMBER, run)


@login_required
@require_POST
def changeset_send(request, slug, number):
    def run(change_set):
        result = services.changeset_send(actor=request.user, change_set=change_set)
        if result.state == S.APPLIED:
            return _applied_message(result, "No environment it touches requires review: applied")
        return pending_message(result)

    return _act(request, slug, number, Role.MEMBER, run)


@login_required
@require_POST
def changeset_rebase(request, slug, number):
    def run(change_set):
        resolutions = RebaseForm().resolutions(request.POST)
        services.changeset_rebase(
            actor=request.user, change_set=change_set, resolutions=resolutions
        )
        return (
            "Rebased on the current versions. Approvals given before were dropped: it is "
            "back in review."
        )

    return _act(request, slug, number, Role.MEMBER, run)


# ---------------------------------------------------------------- settings


def _settings_context(request, project: Project, **forms) -> dict[str, Any]:
    admin = _role(request, project) == Role.ADMIN
    rules = selectors.review_rules(project=project)
    groups = selectors.review_group_list(project=project)
    policy = project_policy(project)
    members = [m.user for m in console_selectors.member_list(project=project)]
    group_names = [g.name for g in groups]
    kinds = [(h.kind, h.label.capitalize()) for h in registry.kinds()]
    group_forms = []
    failed = forms.get("failed_group")
    for group in groups:
        if failed is not None and failed[0] == group.pk:
            group_forms.append((group, failed[1]))
            continue
        initial = {"name": group.name, "members": [str(u.pk) for u in group.members.all()]}
        group_forms.append(
            (
                group,
                ReviewGroupForm(members=members, initial=initial, prefix=f"group-{group.pk}"),
            )
        )
    context = {
        "project": project,
        "section": "settings",
        "tab": "reviews",
        "can_edit": admin,
        "policy": policy,
        "rules": rules,
        "groups": group_forms,
        "owners": selectors.entity_owner_list(project=project),
        "policy_form": forms.get("policy_form")
        or ReviewPolicyForm(rules=rules, groups=group_names, policy=policy),
        "group_form": forms.get("group_form") or ReviewGroupForm(members=members, prefix="new"),
        "owner_form": forms.get("owner_form") or EntityOwnerForm(kinds=kinds, groups=groups),
        "failed_group_id": failed[0] if failed else None,
    }
    if admin:
        context["entity_names"] = selectors.entity_names(project=project)
    return context


def _settings_page(request, project: Project, *, status: int = 200, **forms):
    return render(
        request,
        "reviews/review_settings.html",
        _settings_context(request, project, **forms),
        status=status,
    )


def _service_error(form, exc: ApplicationError, fields: dict[str, str] | None = None) -> None:
    name = (fields or {}).get(exc.field or "", exc.field)
    form.add_error(name if name in form.fields else None, exc.message)


@login_required
@GET_POST
def review_settings(request, slug):
    is_post = request.method == "POST"
    project = project_for(request, slug, Role.ADMIN if is_post else Role.VIEWER)
    if not is_post:
        return _settings_page(request, project)
    rules = selectors.review_rules(project=project)
    groups = [g.name for g in ReviewGroup.objects.filter(project=project).order_by("name")]
    form = ReviewPolicyForm(
        request.POST, rules=rules, groups=groups, policy=project_policy(project)
    )
    if form.is_valid():
        try:
            services.review_policy_update(
                actor=request.user,
                project=project,
                environments=form.environment_inputs(),
                allow_break_glass=form.cleaned_data["allow_break_glass"],
                apply_on_approval=form.cleaned_data["apply_on_approval"],
            )
        except ApplicationError as exc:
            _service_error(form, exc)
        else:
            messages.success(request, "Review policy saved.")
            return redirect("review-settings", project.slug)
    return _settings_page(request, project, status=400, policy_form=form)


def _members(project: Project) -> list:
    return [m.user for m in console_selectors.member_list(project=project)]


@login_required
@require_POST
def review_group_create(request, slug):
    project = project_for(request, slug, Role.ADMIN)
    form = ReviewGroupForm(request.POST, members=_members(project), prefix="new")
    if form.is_valid():
        try:
            group = services.review_group_save(
                actor=request.user,
                project=project,
                name=form.cleaned_data["name"],
                members=form.chosen_users(),
            )
        except ApplicationError as exc:
            _service_error(form, exc)
        else:
            messages.success(request, f"Review group {group.name} created.")
            return redirect("review-settings", project.slug)
    return _settings_page(request, project, status=400, group_form=form)


@login_required
@require_POST
def review_group_update(request, slug, group_id):
    project = project_for(request, slug, Role.ADMIN)
    group = get_object_or_404(ReviewGroup, pk=group_id, project=project)
    form = ReviewGroupForm(request.POST, members=_members(project), prefix=f"group-{group.pk}")
    if form.is_valid():
        try:
            group = services.review_group_save(
                actor=request.user,
                project=project,
                name=form.cleaned_data["name"],
                members=form.chosen_users(),
                group=group,
            )
        except ApplicationError as exc:
            _service_error(form, exc)
        else:
            messages.success(request, f"Review group {group.name} saved.")
            return redirect("review-settings", project.slug)
    return _settings_page(request, project, status=400, failed_group=(group.pk, form))


@login_required
@require_POST
def review_group_delete(request, slug, group_id):
    project = project_for(request, slug, Role.ADMIN)
    group = get_object_or_404(ReviewGroup, pk=group_id, project=project)
    name = group.name
    try:
        services.review_group_delete(actor=request.user, group=group)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Review group {name} deleted.")
    return redirect("review-settings", project.slug)


@login_required
@require_POST
def entity_owner_set(request, slug):
    project = project_for(request, slug, Role.ADMIN)
    groups = selectors.review_group_list(project=project)
    kinds = [(h.kind, h.label.capitalize()) for h in registry.kinds()]
    form = EntityOwnerForm(request.POST, kinds=kinds, groups=groups)
    if form.is_valid():
        try:
            services.entity_owner_set(
                actor=request.user,
                project=project,
                kind=form.cleaned_data["kind"],
                name=form.cleaned_data["name"].strip(),
                group=form.chosen_group(),
            )
        except ApplicationError as exc:
            _service_error(form, exc)
            if isinstance(exc, NotFound) and "name" not in form.errors:
                form.add_error("name", exc.message)
        else:
            messages.success(
                request,
                f"{form.chosen_group().name} now owns {form.cleaned_data['name'].strip()}: "
                "its approval is required for changes to it.",
            )
            return redirect("review-settings", project.slug)
    return _settings_page(request, project, status=400, owner_form=form)


@login_required
@require_POST
def entity_owner_remove(request, slug, owner_id):
    project = project_for(request, slug, Role.ADMIN)
    row = next(
        (r for r in selectors.entity_owner_list(project=project) if r.owner.pk == owner_id), None
    )
    if row is None:
        raise Http404("No such owner.")
    try:
        services.entity_owner_set(
            actor=request.user, project=project, kind=row.owner.kind, name=row.name, group=None
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{row.name} has no owning group any more.")
    return redirect("review-settings", project.slug)


# ---------------------------------------------------------------- publishing history


@login_required
@require_GET
def version_history(request, slug):
    """Each environment's recent ruleset versions, the change set that produced each, and
    "Roll back to this version" (members): the publishing page loads it into itself."""
    project = project_for(request, slug)
    context = {
        "project": project,
        "section": "settings",
        "tab": "publishing",
        "history": selectors.version_history(project=project),
        "can_roll_back": role_at_least(_role(request, project), Role.MEMBER),
    }
    template = (
        "reviews/partials/_version_history.html"
        if is_partial(request)
        else "reviews/version_history.html"
    )
    return render(request, template, context)


@login_required
@require_POST
def changeset_rollback(request, slug, environment_id, number):
    project = project_for(request, slug, Role.MEMBER)
    environment, version = selectors.version_for_rollback(
        project=project, environment_id=environment_id, number=number
    )
    if environment is None or version is None:
        raise Http404("No such environment or version.")
    try:
        change_set = services.changeset_rollback(
            actor=request.user, environment=environment, version=version
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("publishing", project.slug)
    if change_set.state == S.APPLIED:
        messages.success(
            request, _applied_message(change_set, f"Rolled back to version {version.number}")
        )
    else:
        messages.info(request, pending_message(change_set))
    return redirect("changeset-detail", project.slug, change_set.number)
