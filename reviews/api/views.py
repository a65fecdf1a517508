"""Reviews in the console API (/console/v1/reviews, /console/v1/review_policy).

A change set is named by its number in the project. Console API keys act as the member who
created them, with the key's role as a ceiling: approving by key obeys the same rules as in
the browser (never one's own change set, viewers never).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.response import Response

from console.api import schema
from console.api.base import ConsoleAPIView, ok, valid
from console.api.parsers import SafeJSONParser
from console.api.permissions import resolve_project
from console.exceptions import NotFound
from console.models import Project, Role
from reviews import selectors, services
from reviews.models import Change, ChangeSet, ChangeSetSource, ChangeSetState, Comment
from reviews.services import ChangeInput, EnvironmentRuleInput


def _time(value) -> int | None:
    return int(value.timestamp() * 1000) if value else None


def change_document(change: Change) -> dict[str, Any]:
    return {
        "kind": change.kind,
        "action": change.action,
        "name": change.entity_name,
        "baseRevision": change.base_revision,
        "payload": change.payload,
        "before": change.before,
        "after": change.after,
    }


def change_set_document(change_set: ChangeSet, *, detail: bool = False) -> dict[str, Any]:
    """A change set as the API shows it (`changes` prefetched; `detail` adds the review)."""
    doc = {
        "id": change_set.number,
        "title": change_set.title,
        "description": change_set.description,
        "state": change_set.state,
        "source": change_set.source,
        "author": change_set.author.email,
        "environments": change_set.environments,
        "createdTime": _time(change_set.created_at),
        "submittedTime": _time(change_set.submitted_at),
        "appliedTime": _time(change_set.applied_at),
        "appliedBy": change_set.applied_by.email if change_set.applied_by else None,
        "rulesetVersion": (
            change_set.ruleset_version.number if change_set.ruleset_version else None
        ),
        "breakGlass": change_set.break_glass,
        "followUpOf": change_set.follow_up_of.number if change_set.follow_up_of else None,
        "rejectReason": change_set.reject_reason or None,
        "staleReason": change_set.stale_reason or None,
        # When the worker applies it once approved (epoch ms), while open; else None.
        "scheduledTime": _time(change_set.scheduled_for) if change_set.is_scheduled else None,
        "changes": [change_document(c) for c in change_set.changes.all()],
    }
    if change_set.state == ChangeSetState.APPLYING:
        # {"phase", "step", "done", "total"}: how far the worker is.
        doc["applyProgress"] = selectors.apply_progress(change_set)
    if change_set.apply_error_message:
        doc["applyError"] = {
            "message": change_set.apply_error_message,
            "code": change_set.apply_error_code,
        }
    if detail:
        needs = services.change_set_requirements(change_set)
        doc["review"] = {
            "needsReview": needs.needs_review,
            "environments": needs.environments,
            "approvalsRequired": needs.approvals_required,
            "approvals": [a.user.email for a in needs.approvals],
            "groupsRequired": [g.name for g in needs.groups],
            "groupsMissing": [g.name for g in needs.groups_missing],
            "met": needs.met,
            "summary": needs.summary(),
        }
        doc["comments"] = [
            {"author": c.author.email, "body": c.body, "createdTime": _time(c.created_at)}
            for c in change_set.comments.select_related("author")
        ]
        if getattr(change_set, "apply_error", None) is not None:
            doc["applyError"] = {
                "message": change_set.apply_error.message,
                "code": change_set.apply_error.code,
            }
    return doc


def _queryset(project: Project):
    return (
        ChangeSet.objects.filter(project=project)
        .select_related("project", "author", "applied_by", "ruleset_version", "follow_up_of")
        .prefetch_related(Prefetch("changes", queryset=Change.objects.order_by("position")))
    )


def _get(project: Project, number: int) -> ChangeSet:
    change_set = _queryset(project).filter(number=number).first()
    if change_set is None:
        raise NotFound(f"This project has no change set #{number}.")
    return change_set


def _answer(change_set: ChangeSet, message: str) -> Response:
    """200 with the change set; 202 when the worker is applying it (poll its GET)."""
    fresh = _get(change_set.project, change_set.number)
    fresh.apply_error = getattr(change_set, "apply_error", None)
    applying = fresh.state == ChangeSetState.APPLYING
    code = status.HTTP_202_ACCEPTED if applying else status.HTTP_200_OK
    if applying:
        message += " It is large: the worker is applying it; GET it to follow applyProgress."
    return ok(message, change_set_document(fresh, detail=True), code)


# ---------------------------------------------------------------- input


class ChangeInputSerializer(serializers.Serializer):
    kind = serializers.CharField(max_length=30)
    action = serializers.CharField(max_length=30)
    name = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    payload = serializers.DictField(required=False, default=dict)
    base_revision = serializers.IntegerField(required=False, allow_null=True, min_value=1)

    def to_internal_value(self, data):
        if isinstance(data, dict) and "baseRevision" in data:
            data = {**data, "base_revision": data["baseRevision"]}
        return super().to_internal_value(data)


def _inputs(items: list[dict]) -> list[ChangeInput]:
    return [
        ChangeInput(
            kind=item["kind"],
            action=item["action"],
            name=item["name"],
            payload=item["payload"],
            base_revision=item.get("base_revision"),
        )
        for item in items
    ]


class ChangeSetCreateInput(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    description = serializers.CharField(
        max_length=5000, required=False, default="", allow_blank=True
    )
    draft = serializers.BooleanField(required=False, default=False)
    changes = ChangeInputSerializer(many=True, allow_empty=False)


class ChangeSetEditInput(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    changes = ChangeInputSerializer(many=True, allow_empty=False, required=False)


class ListQuery(serializers.Serializer):
    state = serializers.ChoiceField(choices=ChangeSetState.values, required=False)


class RejectInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, allow_blank=True)


class ApplyInput(serializers.Serializer):
    breakGlass = serializers.BooleanField(required=False, default=False)


class ScheduleInput(serializers.Serializer):
    # ISO 8601 with a timezone; null cancels the schedule.
    at = serializers.DateTimeField(allow_null=True)


class CommentInput(serializers.Serializer):
    body = serializers.CharField(max_length=5000, allow_blank=True)


class RebaseInput(serializers.Serializer):
    resolutions = serializers.DictField(
        child=serializers.ChoiceField(choices=["mine", "theirs"]), required=False, default=dict
    )


class EnvironmentRuleSerializer(serializers.Serializer):
    environment = serializers.CharField(max_length=50)
    requiresReview = serializers.BooleanField()
    approvalsRequired = serializers.IntegerField(required=False, default=1)
    groups = serializers.ListField(
        child=serializers.CharField(max_length=60), required=False, default=list
    )


class PolicyInput(serializers.Serializer):
    allowBreakGlass = serializers.BooleanField(required=False)
    applyOnApproval = serializers.BooleanField(required=False)
    environments = EnvironmentRuleSerializer(many=True, required=False)


# ---------------------------------------------------------------- schema

_TIME = {**schema.INTEGER, "nullable": True, "description": "Epoch milliseconds."}
_EMAILS = schema.array(schema.STRING)
CHANGE = schema.component(
    "Change",
    schema.obj(
        {
            "kind": schema.STRING,
            "action": schema.STRING,
            "name": schema.STRING,
            "baseRevision": schema.nullable(schema.INTEGER),
            "payload": {"type": "object", "additionalProperties": True},
            "before": {"type": "object", "additionalProperties": True, "nullable": True},
            "after": {"type": "object", "additionalProperties": True, "nullable": True},
        }
    ),
)
_CHANGE_SET_FIELDS = {
    "id": schema.INTEGER,
    "title": schema.STRING,
    "description": schema.STRING,
    "state": {"type": "string", "enum": ChangeSetState.values},
    "source": schema.STRING,
    "author": schema.STRING,
    "environments": schema.array(schema.STRING),
    "createdTime": _TIME,
    "submittedTime": _TIME,
    "appliedTime": _TIME,
    "appliedBy": schema.NULLABLE_STRING,
    "rulesetVersion": schema.nullable(schema.INTEGER),
    "breakGlass": schema.BOOLEAN,
    "followUpOf": schema.nullable(schema.INTEGER),
    "rejectReason": schema.NULLABLE_STRING,
    "staleReason": schema.NULLABLE_STRING,
    "scheduledTime": _TIME,
    "changes": schema.array(CHANGE),
    "applyProgress": {"type": "object", "additionalProperties": True},
    "applyError": schema.obj({"message": schema.STRING, "code": schema.STRING}),
}
_OPTIONAL = ("applyProgress", "applyError")
CHANGE_SET = schema.component("ChangeSet", schema.obj(_CHANGE_SET_FIELDS, optional=_OPTIONAL))
COMMENT = schema.component(
    "Comment", schema.obj({"author": schema.STRING, "body": schema.STRING, "createdTime": _TIME})
)
CHANGE_SET_DETAIL = schema.component(
    "ChangeSetDetail",
    schema.obj(
        {
            **_CHANGE_SET_FIELDS,
            "review": schema.obj(
                {
                    "needsReview": schema.BOOLEAN,
                    "environments": schema.array(schema.STRING),
                    "approvalsRequired": schema.INTEGER,
                    "approvals": _EMAILS,
                    "groupsRequired": schema.array(schema.STRING),
                    "groupsMissing": schema.array(schema.STRING),
                    "met": schema.BOOLEAN,
                    "summary": schema.STRING,
                }
            ),
            "comments": schema.array(COMMENT),
        },
        optional=_OPTIONAL,
    ),
)
REVIEW_POLICY = schema.component(
    "ReviewPolicy",
    schema.obj(
        {
            "allowBreakGlass": schema.BOOLEAN,
            "applyOnApproval": schema.BOOLEAN,
            "environments": schema.array(
                schema.obj(
                    {
                        "environment": schema.STRING,
                        "requiresReview": schema.BOOLEAN,
                        "approvalsRequired": schema.INTEGER,
                        "groups": schema.array(schema.STRING),
                    }
                )
            ),
        }
    ),
)
_DETAIL = schema.envelope(CHANGE_SET_DETAIL)
_APPLYING = {202: schema.OpenApiResponse(_DETAIL, description="Large: the worker is applying it.")}


def _action(summary: str, request=None, description: str = ""):
    """extend_schema of a change set action: 200 with the change set, 202 while applying."""
    return extend_schema(
        summary=summary,
        description=description,
        request=request,
        responses={200: _DETAIL, **_APPLYING, **schema.errors(409)},
    )


# ---------------------------------------------------------------- views


class ReviewsView(ConsoleAPIView):
    parser_classes = [SafeJSONParser]


class ChangeSetListView(ReviewsView):
    @extend_schema(
        summary="List change sets",
        parameters=[ListQuery, *schema.PAGE_PARAMETERS],
        responses={200: schema.paginated(CHANGE_SET)},
    )
    def get(self, request):
        project, _ = resolve_project(request)
        query = valid(ListQuery, request.query_params)
        change_sets = _queryset(project)
        if query.get("state"):
            change_sets = change_sets.filter(state=query["state"])
        page = self.paginate_queryset(change_sets)
        return self.get_paginated_response([change_set_document(cs) for cs in page])

    @extend_schema(
        summary="Submit a change set",
        request=ChangeSetCreateInput,
        responses={
            201: _DETAIL,
            202: schema.OpenApiResponse(_DETAIL, description="Waiting for review, or a draft."),
            **schema.errors(409),
        },
    )
    def post(self, request):
        project, _ = resolve_project(request, Role.MEMBER)
        data = valid(ChangeSetCreateInput, request.data)
        change_set = services.changeset_submit(
            actor=request.user,
            project=project,
            changes=_inputs(data["changes"]),
            title=data["title"],
            description=data["description"],
            source=ChangeSetSource.API,
            draft=data["draft"],
        )
        document = change_set_document(_get(project, change_set.number), detail=True)
        if change_set.state == ChangeSetState.APPLIED:
            return ok("Change set applied.", document, status.HTTP_201_CREATED)
        message = (
            "Draft saved." if change_set.state == ChangeSetState.DRAFT else "Waiting for review."
        )
        return ok(message, document, status.HTTP_202_ACCEPTED)


class ChangeSetDetailView(ReviewsView):
    @extend_schema(summary="Get a change set", responses={200: _DETAIL})
    def get(self, request, number: int):
        project, _ = resolve_project(request)
        return ok("OK", change_set_document(_get(project, number), detail=True))

    @_action("Edit a change set", ChangeSetEditInput)
    def patch(self, request, number: int):
        project, _ = resolve_project(request, Role.MEMBER)
        data = valid(ChangeSetEditInput, request.data)
        change_set = services.changeset_edit(
            actor=request.user,
            change_set=_get(project, number),
            changes=_inputs(data["changes"]) if "changes" in data else None,
            title=data.get("title"),
            description=data.get("description"),
        )
        return _answer(change_set, "Change set updated.")


class ChangeSetActionView(ReviewsView):
    needed = Role.MEMBER

    def act(self, request, change_set: ChangeSet) -> tuple[ChangeSet, str]:
        raise NotImplementedError

    def post(self, request, number: int):
        project, _ = resolve_project(request, self.needed)
        change_set, message = self.act(request, _get(project, number))
        return _answer(change_set, message)


@extend_schema_view(post=_action("Approve a change set"))
class ApproveView(ChangeSetActionView):
    def act(self, request, change_set):
        change_set = services.changeset_approve(actor=request.user, change_set=change_set)
        if change_set.state == ChangeSetState.APPLIED:
            return change_set, "Approved and applied."
        if change_set.state == ChangeSetState.APPLYING:
            return change_set, "Approved."
        return change_set, "Approval recorded."


@extend_schema_view(post=_action("Reject a change set", RejectInput))
class RejectView(ChangeSetActionView):
    def act(self, request, change_set):
        data = valid(RejectInput, request.data)
        return (
            services.changeset_reject(
                actor=request.user, change_set=change_set, reason=data["reason"]
            ),
            "Rejected.",
        )


@extend_schema_view(
    post=_action(
        "Apply an approved change set",
        ApplyInput,
        "breakGlass (admins, when the policy allows it) applies without the approvals.",
    )
)
class ApplyView(ChangeSetActionView):
    def act(self, request, change_set):
        data = valid(ApplyInput, request.data)
        if data["breakGlass"]:
            resolve_project(request, Role.ADMIN)
        change_set = services.changeset_apply(
            actor=request.user, change_set=change_set, break_glass=data["breakGlass"]
        )
        return change_set, (
            "Applying." if change_set.state == ChangeSetState.APPLYING else "Applied."
        )


@extend_schema_view(post=_action("Cancel a change set"))
class CancelView(ChangeSetActionView):
    def act(self, request, change_set):
        return services.changeset_cancel(actor=request.user, change_set=change_set), "Cancelled."


@extend_schema_view(
    post=_action("Schedule a change set", ScheduleInput, "null cancels the schedule.")
)
class ScheduleView(ChangeSetActionView):
    def act(self, request, change_set):
        data = valid(ScheduleInput, request.data)
        change_set = services.changeset_schedule(
            actor=request.user, change_set=change_set, at=data["at"]
        )
        return change_set, ("Scheduled." if data["at"] else "Schedule cancelled.")


@extend_schema_view(post=_action("Send a draft for review"))
class SendView(ChangeSetActionView):
    def act(self, request, change_set):
        return services.changeset_send(actor=request.user, change_set=change_set), "Sent."


@extend_schema_view(post=_action("Rebase a stale change set", RebaseInput))
class RebaseView(ChangeSetActionView):
    def act(self, request, change_set):
        data = valid(RebaseInput, request.data)
        change_set = services.changeset_rebase(
            actor=request.user, change_set=change_set, resolutions=data["resolutions"]
        )
        return change_set, "Rebased."


class CommentListView(ReviewsView):
    @extend_schema(
        operation_id="reviews_comments_list",
        summary="List a change set's comments",
        parameters=schema.PAGE_PARAMETERS,
        responses={200: schema.paginated(COMMENT)},
    )
    def get(self, request, number: int):
        project, _ = resolve_project(request)
        change_set = _get(project, number)
        comments = Comment.objects.filter(change_set=change_set).select_related("author")
        page = self.paginate_queryset(comments)
        return self.get_paginated_response(
            [
                {"author": c.author.email, "body": c.body, "createdTime": _time(c.created_at)}
                for c in page
            ]
        )

    @extend_schema(
        operation_id="reviews_comments_create",
        summary="Comment on a change set",
        request=CommentInput,
        responses={
            201: schema.envelope(schema.obj({"author": schema.STRING, "body": schema.STRING})),
            **schema.errors(409),
        },
    )
    def post(self, request, number: int):
        project, _ = resolve_project(request)
        data = valid(CommentInput, request.data)
        comment = services.changeset_comment(
            actor=request.user, change_set=_get(project, number), body=data["body"]
        )
        return ok(
            "Comment added.",
            {"author": comment.author.email, "body": comment.body},
            status.HTTP_201_CREATED,
        )


class ReviewPolicyView(ReviewsView):
    @extend_schema(
        operation_id="review_policy_get",
        summary="Get the review policy",
        responses={200: schema.envelope(REVIEW_POLICY)},
    )
    def get(self, request):
        project, _ = resolve_project(request, Role.ADMIN)
        return ok("OK", services.review_policy_document(project))

    @extend_schema(
        operation_id="review_policy_update",
        summary="Update the review policy",
        request=PolicyInput,
        responses={200: schema.envelope(REVIEW_POLICY)},
    )
    def patch(self, request):
        project, _ = resolve_project(request, Role.ADMIN)
        data = valid(PolicyInput, request.data)
        environments = None
        if "environments" in data:
            environments = [
                EnvironmentRuleInput(
                    environment=item["environment"],
                    requires_review=item["requiresReview"],
                    approvals_required=item["approvalsRequired"],
                    groups=tuple(item["groups"]),
                )
                for item in data["environments"]
            ]
        services.review_policy_update(
            actor=request.user,
            project=project,
            environments=environments,
            allow_break_glass=data.get("allowBreakGlass"),
            apply_on_approval=data.get("applyOnApproval"),
        )
        return ok("Review policy updated.", services.review_policy_document(project))
