"""Console API shapes. Input serializers check shape and types only (the services hold the
rules: lengths, characters, uniqueness, who may do what); output serializers render camelCase.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from console.api.documents import epoch_ms
from console.models import (
    AccessRequestStatus,
    EnvironmentTier,
    KeyKind,
    ProjectAccessMode,
    Role,
)

# Projects cannot make newcomers admins (a database constraint says so too).
DEFAULT_ROLES = [Role.MEMBER, Role.VIEWER]
DATE_FORMATS = ["%Y-%m-%d"]


def _text(**kwargs) -> serializers.CharField:
    """Free text: blank allowed, surrounding whitespace kept for the service to judge."""
    return serializers.CharField(allow_blank=True, trim_whitespace=False, **kwargs)


# ---------------------------------------------------------------- input


class ProjectCreateInput(serializers.Serializer):
    name = serializers.CharField()
    slug = _text(required=False)
    description = _text(required=False)
    accessMode = serializers.ChoiceField(
        ProjectAccessMode.choices, source="access_mode", required=False
    )
    defaultRole = serializers.ChoiceField(DEFAULT_ROLES, source="default_role", required=False)


class ProjectUpdateInput(serializers.Serializer):
    name = serializers.CharField(required=False)
    description = _text(required=False)
    accessMode = serializers.ChoiceField(
        ProjectAccessMode.choices, source="access_mode", required=False
    )
    defaultRole = serializers.ChoiceField(DEFAULT_ROLES, source="default_role", required=False)


class EnvironmentCreateInput(serializers.Serializer):
    name = serializers.CharField()
    tier = serializers.ChoiceField(EnvironmentTier.choices)


class EnvironmentUpdateInput(serializers.Serializer):
    name = serializers.CharField(required=False)
    tier = serializers.ChoiceField(EnvironmentTier.choices, required=False)


class EnvironmentReorderInput(serializers.Serializer):
    order = serializers.ListField(child=serializers.IntegerField())


class TagCreateInput(serializers.Serializer):
    name = serializers.CharField()
    description = _text(required=False)


class TagUpdateInput(serializers.Serializer):
    name = serializers.CharField(required=False)
    description = _text(required=False)


class KeyCreateInput(serializers.Serializer):
    kind = serializers.ChoiceField(KeyKind.choices)
    environment = serializers.IntegerField(required=False, allow_null=True)
    role = serializers.ChoiceField(Role.choices, required=False, allow_blank=True)
    name = _text(required=False)


class KeyRotateInput(serializers.Serializer):
    overlapHours = serializers.IntegerField(source="overlap_hours", required=False, allow_null=True)


class MemberInviteInput(serializers.Serializer):
    email = serializers.CharField()
    role = serializers.ChoiceField(Role.choices)


class MemberUpdateInput(serializers.Serializer):
    role = serializers.ChoiceField(Role.choices)


class AccessRequestApproveInput(serializers.Serializer):
    role = serializers.ChoiceField(Role.choices, required=False, allow_null=True)


class AccessRequestListQuery(serializers.Serializer):
    status = serializers.ChoiceField(AccessRequestStatus.choices, required=False)


class AuditLogQuery(serializers.Serializer):
    actor = _text(required=False)
    action = _text(required=False)
    targetType = _text(source="target_type", required=False)
    since = serializers.DateField(input_formats=DATE_FORMATS, required=False)
    until = serializers.DateField(input_formats=DATE_FORMATS, required=False)

    def validate(self, attrs):
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and since > until:
            raise serializers.ValidationError({"since": "since must not be after until."})
        return attrs


# ---------------------------------------------------------------- output


@extend_schema_field({"type": "integer", "description": "Epoch milliseconds."})
class EpochMillisecondsField(serializers.ReadOnlyField):
    """A datetime as Statsig's timestamps (`createdTime`, `lastModifiedTime`): integer
    milliseconds since the epoch, beside our ISO 8601 fields."""

    def to_representation(self, value) -> int | None:
        return epoch_ms(value)


_CHANGE = {
    "type": "object",
    "properties": {"old": {}, "new": {}},
    "required": ["old", "new"],
}


class ProjectOutput(serializers.Serializer):
    """`context["roles"]` maps project ids to the role the caller acts with."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    description = serializers.CharField()
    accessMode = serializers.CharField(source="access_mode")
    defaultRole = serializers.CharField(source="default_role")
    role = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    def get_role(self, obj) -> str | None:
        return self.context.get("roles", {}).get(obj.pk)


class ProjectListItemOutput(ProjectOutput):
    memberCount = serializers.IntegerField(source="member_count")


class EnvironmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    tier = serializers.CharField()
    position = serializers.IntegerField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    createdTime = EpochMillisecondsField(source="created_at")
    lastModifiedTime = EpochMillisecondsField(source="updated_at")


class TagOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    createdTime = EpochMillisecondsField(source="created_at")
    lastModifiedTime = EpochMillisecondsField(source="updated_at")


class KeyOutput(serializers.Serializer):
    """Key metadata. Never the key or its hash: the secret is added once, by the view."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    hint = serializers.CharField()
    environment = serializers.IntegerField(source="environment_id", allow_null=True)
    environmentName = serializers.SerializerMethodField(method_name="get_environment_name")
    role = serializers.SerializerMethodField()
    state = serializers.CharField()
    createdBy = serializers.SerializerMethodField(method_name="get_created_by")
    rotatedFrom = serializers.IntegerField(source="rotated_from_id", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    lastUsedAt = serializers.DateTimeField(source="last_used_at", allow_null=True)
    expiresAt = serializers.DateTimeField(source="expires_at", allow_null=True)
    revokedAt = serializers.DateTimeField(source="revoked_at", allow_null=True)
    createdTime = EpochMillisecondsField(source="created_at")
    lastModifiedTime = EpochMillisecondsField(source="updated_at")

    def get_environment_name(self, obj) -> str | None:
        return obj.environment.name if obj.environment_id else None

    def get_role(self, obj) -> str | None:
        return obj.role or None

    def get_created_by(self, obj) -> str | None:
        return obj.created_by.email if obj.created_by_id else None


class IssuedKeyOutput(KeyOutput):
    """The schema of a key just issued: the key and its secret (_issued_key_data)."""

    secret = serializers.CharField()


class RotatedKeyOutput(IssuedKeyOutput):
    previousKey = KeyOutput()  # noqa: N815 (API shape)


class MemberOutput(serializers.Serializer):
    id = serializers.IntegerField()
    userId = serializers.IntegerField(source="user_id")
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.display_name")
    role = serializers.CharField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


class AccessRequestOutput(serializers.Serializer):
    id = serializers.IntegerField()
    userId = serializers.IntegerField(source="user_id")
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.display_name")
    message = serializers.CharField()
    status = serializers.CharField()
    createdAt = serializers.DateTimeField(source="created_at")
    decidedAt = serializers.DateTimeField(source="decided_at", allow_null=True)
    decidedBy = serializers.SerializerMethodField(method_name="get_decided_by")

    def get_decided_by(self, obj) -> str | None:
        return obj.decided_by.email if obj.decided_by_id else None


class AuditEventOutput(serializers.Serializer):
    """Ours, plus what Statsig's entries carry that we can say exactly: `name` (the
    target's), `createdTime`, `updatedBy`, `updatedByUserID`, `modifierEmail` and
    `changes` (each top-level key that differs: `{old, new}`)."""

    id = serializers.IntegerField()
    createdAt = serializers.DateTimeField(source="created_at")
    actor = serializers.CharField(source="actor_label")
    action = serializers.CharField()
    targetType = serializers.CharField(source="target_type")
    targetId = serializers.CharField(source="target_id")
    targetLabel = serializers.CharField(source="target_label")
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)
    requestId = serializers.CharField(source="request_id")
    name = serializers.CharField(source="target_label")
    createdTime = EpochMillisecondsField(source="created_at")
    updatedBy = serializers.CharField(source="actor_label")
    updatedByUserID = serializers.SerializerMethodField(method_name="get_updated_by_user_id")
    modifierEmail = serializers.SerializerMethodField(method_name="get_modifier_email")
    changes = serializers.SerializerMethodField()

    def get_updated_by_user_id(self, obj) -> str | None:
        return str(obj.actor_id) if obj.actor_id else None

    def get_modifier_email(self, obj) -> str | None:
        return obj.actor.email if obj.actor_id else None

    @extend_schema_field({"type": "object", "additionalProperties": _CHANGE})
    def get_changes(self, obj) -> dict:
        before = obj.before if isinstance(obj.before, dict) else {}
        after = obj.after if isinstance(obj.after, dict) else {}
        keys = [*before, *(key for key in after if key not in before)]
        return {
            key: {"old": before.get(key), "new": after.get(key)}
            for key in keys
            if before.get(key) != after.get(key)
        }
