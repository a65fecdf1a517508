from django.contrib import admin
from django.urls import include, path, re_path

from console import views
from console.api import exceptions as api_exceptions
from console.api.openapi import OpenApiDocumentView

project_urls = [
    path("", views.project_home, name="project-home"),
    path("join/", views.project_join, name="project-join"),
    path("request-access/", views.project_request_access, name="project-request-access"),
    path("audit/", views.project_audit, name="project-audit"),
    path("search/", views.project_search, name="project-search"),
    path("settings/", views.project_settings, name="project-settings"),
    path("settings/environments/", views.project_environments, name="project-environments"),
    path("settings/environments/new/", views.environment_create, name="environment-create"),
    path(
        "settings/environments/<int:env_id>/", views.environment_update, name="environment-update"
    ),
    path(
        "settings/environments/<int:env_id>/move/", views.environment_move, name="environment-move"
    ),
    path(
        "settings/environments/<int:env_id>/delete/",
        views.environment_delete,
        name="environment-delete",
    ),
    path("settings/members/", views.project_members, name="project-members"),
    path("settings/members/invite/", views.member_invite, name="member-invite"),
    path("settings/members/<int:membership_id>/", views.member_update, name="member-update"),
    path("settings/members/<int:membership_id>/remove/", views.member_remove, name="member-remove"),
    path(
        "settings/requests/<int:request_id>/approve/",
        views.access_request_approve,
        name="access-request-approve",
    ),
    path(
        "settings/requests/<int:request_id>/deny/",
        views.access_request_deny,
        name="access-request-deny",
    ),
    path("settings/keys/", views.project_keys, name="project-keys"),
    path("settings/keys/new/", views.key_create, name="key-create"),
    path("settings/keys/<int:key_id>/rotate/", views.key_rotate, name="key-rotate"),
    path("settings/keys/<int:key_id>/revoke/", views.key_revoke, name="key-revoke"),
    path("settings/api/", views.project_api_docs, name="project-api-docs"),
    path("settings/tags/", views.project_tags, name="project-tags"),
    path("settings/tags/new/", views.tag_create, name="tag-create"),
    path("settings/tags/<int:tag_id>/", views.tag_update, name="tag-update"),
    path("settings/tags/<int:tag_id>/delete/", views.tag_delete, name="tag-delete"),
]

urlpatterns = [
    path("", include("console.sso.urls")),  # /oidc/ and the admin login through allauth
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("console/v1/", include("console.api.urls")),
    path("console/v1/", include("gates.api.urls")),
    path("console/v1/", include("experiments.api.urls")),
    path("console/v1/", include("reviews.api.urls")),
    path("console/v1/", include("console.webhooks.api_urls")),
    path("console/v1/", include("metrics.api_urls")),
    path(
        "console/v1/openapi.json",
        OpenApiDocumentView.as_view(),
        name="api-openapi",
    ),
    re_path(r"^console/v1/", api_exceptions.not_found),
    path("", include("metrics.sdk_urls")),
    path("", include("console.sdk_urls")),
    path("p/<slug:slug>/settings/publishing/", include("console.publishing.urls")),
    path("p/<slug:slug>/settings/webhooks/", include("console.webhooks.urls")),
    path("", views.home, name="home"),
    path("projects/", views.project_list, name="project-list"),
    path("projects/new/", views.project_create, name="project-create"),
    path("p/<slug:slug>/", include(project_urls)),
    path("p/<slug:slug>/", include("gates.urls")),
    path("p/<slug:slug>/", include("experiments.urls")),
    path("p/<slug:slug>/", include("reviews.urls")),
    path("p/<slug:slug>/", include("metrics.urls")),
]
