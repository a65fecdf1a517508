"""Metrics API, mounted at /console/v1/ beside the other apps' (no trailing slashes)."""

from django.urls import path

from metrics import api

app_name = "metrics-api"

urlpatterns = [
    path("events", api.EventListView.as_view(), name="api-event-list"),
]
