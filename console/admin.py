"""Site admins can look at everything here; changes go through the console (its services
check permissions and write the audit log), so these models are read-only in the admin."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from console.models import (
    AccessRequest,
    ApiKey,
    AuditEvent,
    Environment,
    Membership,
    Project,
    Tag,
    User,
)

admin.site.register(User, UserAdmin)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Project)
class ProjectAdmin(ReadOnlyAdmin):
    list_display = ["name", "slug", "access_mode", "created_at"]
    search_fields = ["name", "slug"]


@admin.register(Environment)
class EnvironmentAdmin(ReadOnlyAdmin):
    list_display = ["name", "project", "tier", "position"]
    list_select_related = ["project"]


@admin.register(Tag)
class TagAdmin(ReadOnlyAdmin):
    list_display = ["name", "project"]
    list_select_related = ["project"]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ["user", "project", "role"]
    list_select_related = ["user", "project"]


@admin.register(AccessRequest)
class AccessRequestAdmin(ReadOnlyAdmin):
    list_display = ["user", "project", "status", "created_at"]
    list_select_related = ["user", "project"]


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    list_display = ["hint", "kind", "project", "environment", "revoked_at", "last_used_at"]
    list_select_related = ["project", "environment"]
    exclude = ["key_hash"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_label", "action", "target_type", "target_label"]
    list_filter = ["action", "target_type"]
    search_fields = ["actor_label", "target_label", "request_id"]
