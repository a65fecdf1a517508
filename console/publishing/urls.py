from django.urls import path

from console.publishing import views

urlpatterns = [
    path("", views.publishing_page, name="publishing"),
    path("publish/", views.publish_now, name="publishing-publish"),
    path("specs/<int:spec_id>/retry/", views.spec_retry, name="publishing-retry"),
]
