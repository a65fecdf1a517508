"""Console API v1, mounted at /console/v1/ (paths follow Statsig's Console API: no slashes)."""

from django.urls import path

from console.api import views

app_name = "console-api"

urlpatterns = [
    path("projects", views.ProjectListView.as_view(), name="api-project-list"),
    path("project", views.ProjectDetailView.as_view(), name="api-project-detail"),
    path("environments", views.EnvironmentListView.as_view(), name="api-environment-list"),
    path(
        "environments/reorder",
        views.EnvironmentReorderView.as_view(),
        name="api-environment-reorder",
    ),
    path(
        "environments/<int:pk>",
        views.EnvironmentDetailView.as_view(),
        name="api-environment-detail",
    ),
    path("tags", views.TagListView.as_view(), name="api-tag-list"),
    path("tags/<int:pk>", views.TagDetailView.as_view(), name="api-tag-detail"),
    path("keys", views.KeyListView.as_view(), name="api-key-list"),
    path("keys/<int:pk>/rotate", views.KeyRotateView.as_view(), name="api-key-rotate"),
    path("keys/<int:pk>/revoke", views.KeyRevokeView.as_view(), name="api-key-revoke"),
    path("members", views.MemberListView.as_view(), name="api-member-list"),
    path("members/<int:pk>", views.MemberDetailView.as_view(), name="api-member-detail"),
    path("access_requests", views.AccessRequestListView.as_view(), name="api-access-request-list"),
    path(
        "access_requests/<int:pk>/approve",
        views.AccessRequestApproveView.as_view(),
        name="api-access-request-approve",
    ),
    path(
        "access_requests/<int:pk>/deny",
        views.AccessRequestDenyView.as_view(),
        name="api-access-request-deny",
    ),
    path("audit_logs", views.AuditLogListView.as_view(), name="api-audit-log-list"),
]
