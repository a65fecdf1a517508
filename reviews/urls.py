from django.urls import path

from reviews import views

urlpatterns = [
    path("reviews/", views.changeset_list, name="changeset-list"),
    path("reviews/<int:number>/", views.changeset_detail, name="changeset-detail"),
    path("reviews/<int:number>/progress/", views.changeset_progress, name="changeset-progress"),
    path("reviews/<int:number>/impact/", views.changeset_impact, name="changeset-impact"),
    path("reviews/<int:number>/approve/", views.changeset_approve, name="changeset-approve"),
    path("reviews/<int:number>/reject/", views.changeset_reject, name="changeset-reject"),
    path("reviews/<int:number>/comment/", views.changeset_comment, name="changeset-comment"),
    path("reviews/<int:number>/apply/", views.changeset_apply, name="changeset-apply"),
    path(
        "reviews/<int:number>/break-glass/",
        views.changeset_break_glass,
        name="changeset-break-glass",
    ),
    path("reviews/<int:number>/schedule/", views.changeset_schedule, name="changeset-schedule"),
    path(
        "reviews/<int:number>/unschedule/",
        views.changeset_unschedule,
        name="changeset-unschedule",
    ),
    path("reviews/<int:number>/cancel/", views.changeset_cancel, name="changeset-cancel"),
    path("reviews/<int:number>/send/", views.changeset_send, name="changeset-send"),
    path("reviews/<int:number>/rebase/", views.changeset_rebase, name="changeset-rebase"),
    path(
        "reviews/rollback/<int:number>/",
        views.changeset_rollback,
        name="changeset-rollback",
    ),
    path("reviews/versions/", views.version_history, name="version-history"),
    path("settings/reviews/", views.review_settings, name="review-settings"),
    path("settings/reviews/groups/new/", views.review_group_create, name="review-group-create"),
    path(
        "settings/reviews/groups/<int:group_id>/",
        views.review_group_update,
        name="review-group-update",
    ),
    path(
        "settings/reviews/groups/<int:group_id>/delete/",
        views.review_group_delete,
        name="review-group-delete",
    ),
    path("settings/reviews/owners/", views.entity_owner_set, name="entity-owner-set"),
    path(
        "settings/reviews/owners/<int:owner_id>/remove/",
        views.entity_owner_remove,
        name="entity-owner-remove",
    ),
]
