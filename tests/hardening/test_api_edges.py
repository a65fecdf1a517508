"""The console API answers in its own error shape at its edges: an unknown path is a JSON 404
and a body past DATA_UPLOAD_MAX_MEMORY_SIZE is a JSON 413 (never an HTML page), and nothing
is stored."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from gates.models import FeatureGate
from tests.api_support import api_url_for, assert_error, console_key, session_client

pytestmark = pytest.mark.django_db

gates_url = api_url_for("gates-api")
console_url = api_url_for("console-api")


@pytest.mark.parametrize(
    "path", ["/console/v1/nothing_here", "/console/v1/gates/x/y/z", "/console/v1/"]
)
def test_unknown_console_api_path__json_404(project_admin, path):
    response = session_client(project_admin).get(path)
    assert response["Content-Type"].startswith("application/json")
    assert_error(response, 404, "not_found")


def test_unknown_console_api_path__anonymous__json_404(db):
    response = session_client(None).post("/console/v1/nothing_here", {}, format="json")
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("method", ["post", "patch", "delete"])
def test_unknown_console_api_path__write_with_a_key__json_404_not_csrf_page(
    project, project_admin, method
):
    # Found by the fuzz (tests/hardening/test_api_fuzz.py): a path parameter the URL
    # converter refuses (`true` for an id) fell through to the catch-all, whose CSRF check
    # answered a write with Django's HTML 403 page.
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_STATSIG_API_KEY=console_key(project_admin, project, "admin"))
    response = getattr(client, method)("/console/v1/keys/true/revoke", {}, format="json")
    assert response["Content-Type"].startswith("application/json")
    assert_error(response, 404, "not_found")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
def test_oversized_json_body__json_413_and_nothing_stored(no_review, project_admin):
    body = json.dumps({"name": "big_gate", "description": "x" * 20_000})
    response = session_client(project_admin).post(
        gates_url("api-gate-list"), body, content_type="application/json"
    )
    assert_error(response, 413, "body_too_large")
    assert not FeatureGate.objects.filter(name="big_gate").exists()


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
def test_oversized_form_body__json_413(project_admin):
    from console.models import Tag

    response = session_client(project_admin).post(
        console_url("api-tag-list"),
        {"name": "big", "description": "x" * 20_000},
        format="multipart",
    )
    assert_error(response, 413, "body_too_large")
    assert not Tag.objects.filter(name="big").exists()
