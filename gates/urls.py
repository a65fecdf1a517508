"""Console pages of gates, segments and dynamic configs, mounted under /p/<slug>/ beside
the console's own project pages (URL names are <entity>-<action>)."""

from django.urls import path

from gates import views

urlpatterns = [
    path("gates/", views.gate_list, name="gate-list"),
    path("gates/new/", views.gate_create, name="gate-create"),
    path("gates/<int:pk>/", views.gate_detail, name="gate-detail"),
    path("gates/<int:pk>/archive/", views.gate_archive, name="gate-archive"),
    path("gates/<int:pk>/test/", views.gate_test, name="gate-test"),
    path(
        "gates/<int:pk>/rollouts/<int:rollout_id>/<slug:action>/",
        views.gate_rollout_action,
        name="gate-rollout-action",
    ),
    path("segments/", views.segment_list, name="segment-list"),
    path("segments/new/", views.segment_create, name="segment-create"),
    path("segments/<int:pk>/", views.segment_detail, name="segment-detail"),
    path("segments/<int:pk>/archive/", views.segment_archive, name="segment-archive"),
    path("segments/<int:pk>/test/", views.segment_test, name="segment-test"),
    path("segments/<int:pk>/ids/add/", views.segment_ids_add, name="segment-ids-add"),
    path("segments/<int:pk>/ids/remove/", views.segment_ids_remove, name="segment-ids-remove"),
    path("segments/<int:pk>/ids/upload/", views.segment_ids_upload, name="segment-ids-upload"),
    path("configs/", views.config_list, name="config-list"),
    path("configs/new/", views.config_create, name="config-create"),
    path("configs/<int:pk>/", views.config_detail, name="config-detail"),
    path("configs/<int:pk>/archive/", views.config_archive, name="config-archive"),
    path("configs/<int:pk>/test/", views.config_test, name="config-test"),
    path("unit-types/new/", views.unit_type_create, name="unit-type-create"),
]
