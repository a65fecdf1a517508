"""Webhooks API, mounted at /console/v1/ beside console.api (no trailing slashes)."""

from django.urls import path

from console.webhooks import api

app_name = "webhooks-api"

urlpatterns = [
    path("webhooks", api.WebhookListView.as_view(), name="api-webhook-list"),
    path("webhooks/<int:pk>", api.WebhookDetailView.as_view(), name="api-webhook-detail"),
    path(
        "webhooks/<int:pk>/rotate_secret",
        api.WebhookRotateView.as_view(),
        name="api-webhook-rotate",
    ),
    path("webhooks/<int:pk>/test", api.WebhookTestView.as_view(), name="api-webhook-test"),
    path(
        "webhooks/<int:pk>/deliveries",
        api.WebhookDeliveryListView.as_view(),
        name="api-webhook-deliveries",
    ),
    path(
        "webhook_deliveries/<int:pk>/retry",
        api.WebhookDeliveryRetryView.as_view(),
        name="api-webhook-delivery-retry",
    ),
]
