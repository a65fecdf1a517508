"""Console API (Statsig Console API style): resolve the project and role, validate the input's
shape, call one service or selector, render. Domain exceptions become {"message", "code"}
responses in console.api.exceptions.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status

from console import selectors, services
from console.api import schema
from console.api import serializers as s
from console.api.base import ConsoleAPIView, ok, valid
from console.api.permissions import (
    get_in_project,
    request_key,
    require_role,
    resolve_project,
)
from console.exceptions import NotAllowed
from console.models import (
    AccessRequest,
    AccessRequestStatus,
    ApiKey,
    Environment,
    Membership,
    Role,
    Tag,
)
from console.permissions import capped_role

# ---------------------------------------------------------------- projects


class ProjectListView(ConsoleAPIView):
    @extend_schema(summary="List my projects", responses={200: s.ProjectListItemOutput(many=True)})
    def get(self, request):
        projects = selectors.project_list_for_user(user=request.user)
        key = request_key(request)
        if key is not None:
            projects = projects.filter(pk=key.project_id)
        page = self.paginate_queryset(projects)
        roles = {project.pk: capped_role(project.my_role, key) for project in page}
        output = s.ProjectListItemOutput(page, many=True, context={"roles": roles})
        return self.get_paginated_response(output.data)

    @extend_schema(
        summary="Create a project",
        description="Signed-in people only: a console key gets 403.",
        request=s.ProjectCreateInput,
        responses={201: schema.answer("ProjectAnswer", s.ProjectOutput()), **schema.errors(409)},
    )
    def post(self, request):
        if request_key(request) is not None:
            raise NotAllowed("Projects are created by signed-in people, not with API keys.")
        data = valid(s.ProjectCreateInput, request.data)
        project = services.project_create(actor=request.user, **data)
        output = s.ProjectOutput(project, context={"roles": {project.pk: Role.ADMIN}})
        return ok("Project created.", output.data, status.HTTP_201_CREATED)


class ProjectDetailView(ConsoleAPIView):
    @extend_schema(
        operation_id="project_get",
        summary="Get the project",
        responses={200: schema.answer("ProjectAnswer", s.ProjectOutput())},
    )
    def get(self, request):
        project, role = resolve_project(request)
        return ok("OK", s.ProjectOutput(project, context={"roles": {project.pk: role}}).data)

    @extend_schema(
        operation_id="project_update",
        summary="Update the project",
        request=s.ProjectUpdateInput,
        responses={200: schema.answer("ProjectAnswer", s.ProjectOutput())},
    )
    def patch(self, request):
        project, role = resolve_project(request, Role.ADMIN)
        data = valid(s.ProjectUpdateInput, request.data)
        project = services.project_update(
            actor=request.user,
            project=project,
            name=data.get("name", project.name),
            description=data.get("description", project.description),
            access_mode=data.get("access_mode", project.access_mode),
            default_role=data.get("default_role", project.default_role),
        )
        output = s.ProjectOutput(project, context={"roles": {project.pk: role}})
        return ok("Project updated.", output.data)


# ---------------------------------------------------------------- environments


class EnvironmentListView(ConsoleAPIView):
    @extend_schema(summary="List environments", responses={200: s.EnvironmentOutput(many=True)})
    def get(self, request):
        project, _ = resolve_project(request)
        return self.paginated(selectors.environment_list(project=project), s.EnvironmentOutput)

    @extend_schema(
        summary="Create an environment",
        request=s.EnvironmentCreateInput,
        responses={
            201: schema.answer("EnvironmentAnswer", s.EnvironmentOutput()),
            **schema.errors(409),
        },
    )
    def post(self, request):
        project, _ = resolve_project(request, Role.ADMIN)
        data = valid(s.EnvironmentCreateInput, request.data)
        environment = services.environment_create(actor=request.user, project=project, **data)
        return ok(
            "Environment created.",
            s.EnvironmentOutput(environment).data,
            status.HTTP_201_CREATED,
        )


class EnvironmentDetailView(ConsoleAPIView):
    @extend_schema(
        summary="Update an environment",
        request=s.EnvironmentUpdateInput,
        responses={
            200: schema.answer("EnvironmentAnswer", s.EnvironmentOutput()),
            **schema.errors(409),
        },
    )
    def patch(self, request, pk: int):
        project, _ = resolve_project(request, Role.ADMIN)
        environment = get_in_project(Environment.objects, project, pk, what="environment")
        data = valid(s.EnvironmentUpdateInput, request.data)
        environment = services.environment_update(
            actor=request.user,
            environment=environment,
            name=data.get("name", environment.name),
            tier=data.get("tier", environment.tier),
        )
        return ok("Environment updated.", s.EnvironmentOutput(environment).data)

    @extend_schema(
        summary="Delete an environment", responses={200: schema.DONE, **schema.errors(409)}
    )
    def delete(self, request, pk: int):
        project, _ = resolve_project(request, Role.ADMIN)
        environment = get_in_project(Environment.objects, project, pk, what="environment")
        services.environment_delete(actor=request.user, environment=environment)
        return ok("Environment deleted.", None)


class EnvironmentReorderView(ConsoleAPIView):
    @extend_schema(
        summary="Reorder environments",
        request=s.EnvironmentReorderInput,
        responses={200: schema.answer("EnvironmentsAnswer", s.EnvironmentOutput(many=True))},
    )
    def post(self, request):
        project, _ = resolve_project(request, Role.ADMIN)
        data = valid(s.EnvironmentReorderInput, request.data)
        environments = services.environment_reorder(
            actor=request.user, project=project, environment_ids=data["order"]
        )
        return ok("Environments reordered.", s.EnvironmentOutput(environments, many=True).data)


# ---------------------------------------------------------------- tags


class TagListView(ConsoleAPIView):
    @extend_schema(summary="List tags", responses={200: s.TagOutput(many=True)})
    def get(self, request):
        project, _ = resolve_project(request)
        return self.paginated(selectors.tag_list(project=project), s.TagOutput)

    @extend_schema(
        summary="Create a tag",
        request=s.TagCreateInput,
        responses={201: schema.answer("TagAnswer", s.TagOutput()), **schema.errors(409)},
    )
    def post(self, request):
        project, _ = resolve_project(request, Role.MEMBER)
        data = valid(s.TagCreateInput, request.data)
        tag = services.tag_create(actor=request.user, project=project, **data)
        return ok("Tag created.", s.TagOutput(tag).data, status.HTTP_201_CREATED)


class TagDetailView(ConsoleAPIView):
    @extend_schema(
        summary="Update a tag",
        request=s.TagUpdateInput,
        responses={200: schema.answer("TagAnswer", s.TagOutput()), **schema.errors(409)},
    )
    def patch(self, request, pk: int):
        project, _ = resolve_project(request, Role.MEMBER)
        tag = get_in_project(Tag.objects, project, pk, what="tag")
        data = valid(s.TagUpdateInput, request.data)
        tag = services.tag_update(
            actor=request.user,
            tag=tag,
            name=data.get("name", tag.name),
            description=data.get("description", tag.description),
        )
        return ok("Tag updated.", s.TagOutput(tag).data)

    @extend_schema(summary="Delete a tag", responses={200: schema.DONE})
    def delete(self, request, pk: int):
        project, _ = resolve_project(request, Role.ADMIN)
        tag = get_in_project(Tag.objects, project, pk, what="tag")
        services.tag_delete(actor=request.user, tag=tag)
        return ok("Tag deleted.", None)


# ---------------------------------------------------------------- keys


def _issued_key_data(issued: services.IssuedKey) -> dict:
    """The one response that ever carries a key's secret."""
    return {**s.KeyOutput(issued.key).data, "secret": issued.secret}


class KeyListView(ConsoleAPIView):
    @extend_schema(summary="List keys", responses={200: s.KeyOutput(many=True)})
    def get(self, request):
        project, _ = resolve_project(request, Role.ADMIN)
        return self.paginated(selectors.key_list(project=project), s.KeyOutput)

    @extend_schema(
        summary="Create a key",
        description="The answer carries the key's secret, the only time it is shown.",
        request=s.KeyCreateInput,
        responses={
            201: schema.answer("IssuedKeyAnswer", s.IssuedKeyOutput()),
            **schema.errors(409),
        },
    )
    def post(self, request):
        project, _ = resolve_project(request, Role.ADMIN)
        data = valid(s.KeyCreateInput, request.data)
        environment_id = data.pop("environment", None)
        environment = (
            get_in_project(Environment.objects, project, environment_id, what="environment")
            if environment_id is not None
            else None
        )
        issued = services.key_create(
            actor=request.user, project=project, environment=environment, **data
        )
        return ok(
            "Key created. Copy the secret now: it is not shown again.",
            _issued_key_data(issued),
            status.HTTP_201_CREATED,
        )


class KeyRotateView(ConsoleAPIView):
    @extend_schema(
        summary="Rotate a key",
        description="A new key with a new secret; the old one works for overlapHours more.",
        request=s.KeyRotateInput,
        responses={
            201: schema.answer("RotatedKeyAnswer", s.RotatedKeyOutput()),
            **schema.errors(409),
        },
    )
    def post(self, request, pk: int):
        project, _ = resolve_project(request, Role.ADMIN)
        key = get_in_project(ApiKey.objects, project, pk, what="key")
        data = valid(s.KeyRotateInput, request.data)
        issued = services.key_rotate(
            actor=request.user, key=key, overlap_hours=data.get("overlap_hours")
        )
        return ok(
            "Key rotated. Copy the new secret now: it is not shown again.",
            {**_issued_key_data(issued), "previousKey": s.KeyOutput(issued.key.rotated_from).data},
            status.HTTP_201_CREATED,
        )


class KeyRevokeView(ConsoleAPIView):
    @extend_schema(
        summary="Revoke a key",
        request=None,
        responses={200: schema.answer("KeyAnswer", s.KeyOutput()), **schema.errors(409)},
    )
    def post(self, request, pk: int):
        project, _ = resolve_project(request, Role.ADMIN)
        key = get_in_project(ApiKey.objects, project, pk, what="key")
        key = services.key_revoke(actor=request.user, key=key)
        return ok("Key revoked.", s.KeyOutput(key).data)


# ---------------------------------------------------------------- members and access


class MemberListView(ConsoleAPIView):
    @extend_schema(summary="List members", responses={200: s.MemberOutput(many=True)})
    def get(self, request):
        project, _ = resolve_project(request)
        return self.paginated(selectors.member_list(project=project), s.MemberOutput)

    @extend_schema(
        summary="Add a member",
        request=s.MemberInviteInput,
        responses={201: schema.answer("MemberAnswer", s.MemberOutput()), **schema.errors(409)},
    )
    def post(self, request):
        project, _ = resolve_project(request, Role.ADMIN)
        data = valid(s.MemberInviteInput, request.data)
        membership = services.membership_invite(actor=request.user, project=project, **data)
        return ok("Member added.", s.MemberOutput(membership).data, status.HTTP_201_CREATED)


class MemberDetailView(ConsoleAPIView):
    def _membership(self, project, pk) -> Membership:
        return get_in_project(Membership.objects.select_related("user"), project, pk, what="member")

    @extend_schema(
        summary="Change a member's role",
        request=s.MemberUpdateInput,
        responses={200: schema.answer("MemberAnswer", s.MemberOutput()), **schema.errors(409)},
    )
    def patch(self, request, pk: int):
        project, _ = resolve_project(request, Role.ADMIN)
        membership = self._membership(project, pk)
        data = valid(s.MemberUpdateInput, request.data)
        membership = services.membership_update(
            actor=request.user, membership=membership, role=data["role"]
        )
        return ok("Role changed.", s.MemberOutput(membership).data)

    @extend_schema(
        summary="Remove a member",
        description="Anyone may leave; removing someone else takes an admin.",
        responses={200: schema.DONE, **schema.errors(409)},
    )
    def delete(self, request, pk: int):
        project, role = resolve_project(request)
        membership = self._membership(project, pk)
        # Anyone may leave a project; removing someone else takes an admin.
        if membership.user_id != request.user.pk:
            require_role(role, Role.ADMIN)
        services.membership_remove(actor=request.user, membership=membership)
        return ok("Member removed.", None)


class AccessRequestListView(ConsoleAPIView):
    @extend_schema(
        summary="List access requests",
        parameters=[s.AccessRequestListQuery],
        responses={200: s.AccessRequestOutput(many=True)},
    )
    def get(self, request):
        project, _ = resolve_project(request, Role.ADMIN)
        query = valid(s.AccessRequestListQuery, request.query_params)
        access_requests = selectors.access_request_list(
            project=project, status=query.get("status", AccessRequestStatus.PENDING)
        )
        return self.paginated(access_requests, s.AccessRequestOutput)


class AccessRequestApproveView(ConsoleAPIView):
    @extend_schema(
        summary="Approve an access request",
        request=s.AccessRequestApproveInput,
        responses={
            200: schema.answer("AccessRequestAnswer", s.AccessRequestOutput()),
            **schema.errors(409),
        },
    )
    def post(self, request, pk: int):
        project, _ = resolve_project(request, Role.ADMIN)
        access_request = get_in_project(
            AccessRequest.objects.select_related("user"), project, pk, what="access request"
        )
        data = valid(s.AccessRequestApproveInput, request.data)
        access_request = services.access_request_approve(
            actor=request.user, access_request=access_request, role=data.get("role")
        )
        return ok("Access granted.", s.AccessRequestOutput(access_request).data)


class AccessRequestDenyView(ConsoleAPIView):
    @extend_schema(
        summary="Deny an access request",
        request=None,
        responses={
            200: schema.answer("AccessRequestAnswer", s.AccessRequestOutput()),
            **schema.errors(409),
        },
    )
    def post(self, request, pk: int):
        project, _ = resolve_project(request, Role.ADMIN)
        access_request = get_in_project(
            AccessRequest.objects.select_related("user"), project, pk, what="access request"
        )
        access_request = services.access_request_deny(
            actor=request.user, access_request=access_request
        )
        return ok("Access denied.", s.AccessRequestOutput(access_request).data)


# ---------------------------------------------------------------- audit log


class AuditLogListView(ConsoleAPIView):
    @extend_schema(
        summary="List audit log events",
        parameters=[s.AuditLogQuery],
        responses={200: s.AuditEventOutput(many=True)},
    )
    def get(self, request):
        project, _ = resolve_project(request)
        query = valid(s.AuditLogQuery, request.query_params)
        events = selectors.audit_event_list(
            project=project, filters=selectors.AuditFilters(**query)
        )
        return self.paginated(events, s.AuditEventOutput)
