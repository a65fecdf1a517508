"""SDK endpoints, at the root like Statsig's API (`api="https://<console>/v1"`)."""

from django.urls import path, re_path

from console import sdk_views

urlpatterns = [
    path(
        "v1/download_config_specs/<str:key>.json",
        sdk_views.download_config_specs,
        {"version": "v1"},
        name="sdk-dcs-v1",
    ),
    path(
        "v1/download_config_specs",
        sdk_views.download_config_specs,
        {"version": "v1"},
        name="sdk-dcs-v1-header",
    ),
    path(
        "v2/download_config_specs/<str:key>.json",
        sdk_views.download_config_specs,
        {"version": "v2"},
        name="sdk-dcs-v2",
    ),
    path(
        "v2/download_config_specs",
        sdk_views.download_config_specs,
        {"version": "v2"},
        name="sdk-dcs-v2-header",
    ),
    path("v1/get_id_lists", sdk_views.get_id_lists, name="sdk-get-id-lists"),
    path("v1/get_id_lists/<str:key>.json", sdk_views.get_id_lists, name="sdk-get-id-lists-key"),
    path(
        "v1/download_id_list_file/<str:token>",
        sdk_views.download_id_list_file,
        name="sdk-id-list-file",
    ),
    path("v1/initialize", sdk_views.initialize, name="sdk-initialize"),
    re_path(r"^v[12]/", sdk_views.not_found),
]
