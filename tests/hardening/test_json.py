"""Hostile JSON (nested thousands deep, NUL, lone surrogates, NaN) on the console API and
`/v1/initialize`: a fast 400 `{"message", "code"}`, nothing stored, never a 5xx."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from console.http_input import JsonRefused, json_depth, load_json
from gates.models import FeatureGate
from tests.api_support import api_url_for, assert_error, session_client

pytestmark = pytest.mark.django_db

gates_url = api_url_for("gates-api")
DEEP = '{"name": "deep_gate", "rules": ' + "[" * 5000 + "]" * 5000 + "}"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("[" * 100_000 + "]" * 100_000, "too_deep"),
        ('{"a": "x\\u0000y"}', "nul_character"),
        ('{"x\\u0000": 1}', "nul_character"),
        ('{"a": ["\\ud800"]}', "invalid_unicode"),
        ('{"\\udfff": 1}', "invalid_unicode"),
    ],
)
def test_load_json__hostile__refused_with_code(text, code):
    with pytest.raises(JsonRefused) as refused:
        load_json(text)
    assert refused.value.code == code


def test_load_json__brackets_inside_strings__not_depth():
    assert load_json(json.dumps({"a": "[[[[" * 100})) == {"a": "[[[[" * 100}


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("", 0),
        ("3", 0),
        ('{"a": [1, {"b": []}]}', 4),
        ('["\\"[[[[", "\\\\", [["{"]]]', 3),
        ('{"\\\\\\"]]": {}}', 2),
    ],
)
def test_json_depth__escaped_quotes_and_backslashes__only_real_brackets(text, depth):
    assert json_depth(text.encode()) == depth


@pytest.mark.parametrize("text", ["NaN", '{"a": Infinity}', "[-Infinity]"])
def test_load_json__nan_infinity__not_json(text):
    with pytest.raises(ValueError, match="not JSON"):
        load_json(text)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (DEEP, "too_deep"),
        ('{"name": "nul\\u0000gate"}', "nul_character"),
        ('{"name": "g", "description": "\\ud800"}', "invalid_unicode"),
        ('{"name": "g", "x": NaN}', "parse_error"),
    ],
)
def test_gate_create__hostile_json__400_and_nothing_stored(project, site_admin, body, code):
    # Given
    client = session_client(site_admin)
    # When
    response = client.post(gates_url("api-gate-list"), data=body, content_type="application/json")
    # Then
    assert_error(response, 400, code)
    assert set(response.json()) == {"message", "code"}
    assert not FeatureGate.objects.filter(project=project).exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ('{"user": {"custom": ' + "[" * 3000 + "]" * 3000 + "}}", "too_deep"),
        ('{"user": {"userID": "a\\u0000"}}', "nul_character"),
        ('{"user": {"\\ud800": "x"}}', "invalid_unicode"),
    ],
)
def test_initialize__hostile_json__400(client, client_key, published_v1, body, code):
    url = reverse("sdk-initialize") + f"?k={client_key.secret}"
    response = client.post(url, data=body.encode(), content_type="text/plain")
    assert response.status_code == 400
    assert response.json()["code"] == code
