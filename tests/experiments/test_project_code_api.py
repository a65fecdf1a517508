"""GET /console/v1/export and POST /console/v1/import (experiments/api/projectcode.py)."""

from __future__ import annotations

import json

import pytest
import yaml
from django.urls import reverse

from console import services as console_services
from console.models import Role
from experiments.projectcode import dump_document, project_document
from gates.models import FeatureGate
from reviews.models import ChangeSet, ChangeSetState
from tests.api_support import console_key, key_client
from tests.conftest import review_nowhere
from tests.experiments.test_project_code import build_rich_project, latest_checksums

EXPORT = reverse("experiments-api:api-project-export")
IMPORT = reverse("experiments-api:api-project-import")


@pytest.fixture
def source(no_review, site_admin):
    build_rich_project(site_admin, no_review)
    return no_review


@pytest.fixture
def reviewed(site_admin):
    """A fresh project with the default policy: production needs one approval."""
    return console_services.project_create(actor=site_admin, name="Copy", slug="copy")


def test_export__viewer_key__the_project_document_as_yaml_or_json(source, site_admin):
    # Given
    client = key_client(console_key(site_admin, source, Role.VIEWER))
    # When
    as_yaml = client.get(EXPORT)
    as_json = client.get(EXPORT + "?format=json")
    # Then
    assert as_yaml.status_code == 200
    assert as_yaml["Content-Type"].startswith("application/yaml")
    assert as_yaml.content.decode() == dump_document(project_document(source))
    assert json.loads(as_json.content) == yaml.safe_load(as_yaml.content)
    assert client.get(EXPORT + "?format=xml").json()["field"] == "format"


def test_import__lone_surrogate_section__400_in_shape_nothing_kept(reviewed, site_admin):
    # Given the body the API fuzzing answered a 500 to: a section named "\ud800"
    client = key_client(console_key(site_admin, reviewed, Role.MEMBER))
    # When
    response = client.post(IMPORT, '{"version": 1, "\\ud800": []}', content_type="application/json")
    # Then
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_unicode"
    assert not ChangeSet.objects.filter(project=reviewed).exists()


def test_import__default_policy__one_change_set_waiting_for_review(source, reviewed, site_admin):
    # Given
    body = dump_document(project_document(source))
    client = key_client(console_key(site_admin, reviewed, Role.MEMBER))
    # When
    dry = client.post(IMPORT + "?dry_run=true", body, content_type="application/yaml")
    response = client.post(IMPORT, body, content_type="application/yaml")
    # Then
    assert dry.status_code == 200
    assert dry.json()["data"]["needsReview"] == ["production"]
    assert response.status_code == 202
    change_set = ChangeSet.objects.get(project=reviewed)
    assert change_set.state == ChangeSetState.IN_REVIEW
    assert response.json()["data"]["changeSet"]["id"] == change_set.number
    assert not FeatureGate.objects.filter(project=reviewed).exists()


def test_import__json_body_in_a_fresh_project__applied_with_the_same_specs(source, site_admin):
    # Given
    fresh = console_services.project_create(actor=site_admin, name="Copy", slug="copy")
    review_nowhere(fresh, site_admin)
    client = key_client(console_key(site_admin, fresh, Role.MEMBER))
    body = dump_document(project_document(source), "json")
    # When
    response = client.post(IMPORT, body, content_type="application/json")
    again = client.post(IMPORT, body, content_type="application/json")
    # Then
    assert response.status_code == 200, response.json()
    assert response.json()["data"]["changeSet"]["state"] == "applied"
    assert latest_checksums(fresh) == latest_checksums(source)
    assert again.status_code == 200
    assert again.json()["message"] == "Nothing to change."
    assert ChangeSet.objects.filter(project=fresh).count() == 1


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ("version: 1\ngates:\n  - name: g\n    rules: {\n", "invalid_yaml", None),
        ("version: 1\ngates: {}\n", "invalid_document", "gates"),
        (
            "version: 1\ngates:\n  - name: g\n    rules:\n      - name: r\n"
            "        passPercentage: 5\n        conditions:\n          - type: email\n"
            "            operator: bogus\n            targetValue: [a]\n",
            "operator_not_allowed",
            "gates[0].rules[0].conditions[0].operator",
        ),
    ],
)
def test_import__broken_document__400_with_the_path_and_nothing_kept(
    reviewed, site_admin, body, code, field
):
    # Given
    client = key_client(console_key(site_admin, reviewed, Role.MEMBER))
    # When
    response = client.post(IMPORT, body, content_type="application/yaml")
    # Then
    assert response.status_code == 400
    answer = response.json()
    assert set(answer) >= {"message", "code"}
    assert answer["code"] == code
    assert answer.get("field") == field
    assert not ChangeSet.objects.filter(project=reviewed).exists()


def test_import__viewer_key__refused(reviewed, site_admin):
    # Given
    client = key_client(console_key(site_admin, reviewed, Role.VIEWER))
    # When
    response = client.post(IMPORT, "version: 1\n", content_type="application/yaml")
    # Then
    assert response.status_code == 403
