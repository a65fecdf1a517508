"""Reviews API, mounted at /console/v1/ (Statsig Console API style: no trailing slashes)."""

from django.urls import path

from reviews.api import views

app_name = "reviews-api"

urlpatterns = [
    path("reviews", views.ChangeSetListView.as_view(), name="api-review-list"),
    path("reviews/<int:number>", views.ChangeSetDetailView.as_view(), name="api-review-detail"),
    path("reviews/<int:number>/approve", views.ApproveView.as_view(), name="api-review-approve"),
    path("reviews/<int:number>/reject", views.RejectView.as_view(), name="api-review-reject"),
    path("reviews/<int:number>/apply", views.ApplyView.as_view(), name="api-review-apply"),
    path("reviews/<int:number>/cancel", views.CancelView.as_view(), name="api-review-cancel"),
    path("reviews/<int:number>/schedule", views.ScheduleView.as_view(), name="api-review-schedule"),
    path("reviews/<int:number>/send", views.SendView.as_view(), name="api-review-send"),
    path("reviews/<int:number>/rebase", views.RebaseView.as_view(), name="api-review-rebase"),
    path(
        "reviews/<int:number>/comments",
        views.CommentListView.as_view(),
        name="api-review-comments",
    ),
    path("review_policy", views.ReviewPolicyView.as_view(), name="api-review-policy"),
]
