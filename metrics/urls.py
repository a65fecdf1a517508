"""Metrics pages, mounted under /p/<slug>/ beside the other apps' pages."""

from django.urls import path

from metrics import views

urlpatterns = [
    path("metrics/events/", views.events, name="metrics-events"),
    path("metrics/events/tail/", views.events_tail, name="metrics-events-tail"),
]
