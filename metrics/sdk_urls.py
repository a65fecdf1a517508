"""The event intake endpoints, beside the console's SDK endpoints (trailing slash optional)."""

from django.urls import re_path

from metrics import sdk_views

urlpatterns = [
    re_path(r"^v1/log_event/?$", sdk_views.log_event, name="sdk-log-event"),
    re_path(r"^v1/rgstr/?$", sdk_views.rgstr, name="sdk-rgstr"),
]
