"""Settings → Webhooks, mounted at /p/<slug>/settings/webhooks/."""

from django.urls import path

from console.webhooks import views

urlpatterns = [
    path("", views.webhook_list_page, name="project-webhooks"),
    path("new/", views.webhook_create, name="webhook-create"),
    path("<int:webhook_id>/", views.webhook_update, name="webhook-update"),
    path("<int:webhook_id>/rotate/", views.webhook_rotate, name="webhook-rotate"),
    path("<int:webhook_id>/delete/", views.webhook_delete, name="webhook-delete"),
    path("<int:webhook_id>/test/", views.webhook_test, name="webhook-test"),
    path(
        "deliveries/<int:delivery_id>/retry/",
        views.webhook_delivery_retry,
        name="webhook-delivery-retry",
    ),
]
