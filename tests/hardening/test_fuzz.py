"""Fuzz: hostile input to every console API endpoint and every SDK endpoint, as each console
key role. Whatever arrives (NUL, lone surrogates, deep nesting, huge and negative numbers,
NaN, wrong types, huge bodies, compressed bombs), the answer is never a 5xx, and every error
is in the documented `{"message", "code"}` shape.

The console API's endpoints are read from the URL resolver, so a new endpoint is fuzzed
without a change here. Examples are few per test (a fast loop); each run draws new ones.
"""

from __future__ import annotations

import gzip
import json
import re
from urllib.parse import quote

import pytest
from django.urls import get_resolver
from django.urls.resolvers import URLResolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from console.models import KeyKind, Role
from console.services import key_create
from tests.api_support import console_key

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")


def _routes(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


CONSOLE_ENDPOINTS = sorted(
    (route, method)
    for route, pattern in _routes(get_resolver().url_patterns)
    if route.startswith("console/v1/") and hasattr(pattern.callback, "view_class")
    for method in METHODS
    if hasattr(pattern.callback.view_class, method)
)
assert len(CONSOLE_ENDPOINTS) > 80  # the resolver walk found the API

TEXTS = st.sampled_from(
    [
        "",
        "\x00",
        "a\x00b",
        "\ud800",
        "x\udfff",
        "²",
        "１２３",
        "A" * 5000,
        "../../etc/passwd",
        "<script>alert(1)</script>",
        "' OR 1=1 --",
        "secret-" + "x" * 40,
        "production",
        "g1",
    ]
) | st.text(max_size=12)
NUMBERS = st.sampled_from([0, -1, 2**31, 2**63, -(2**63) - 1, 10**30, 1.5, -0.0]) | st.integers()
SCALARS = st.none() | st.booleans() | NUMBERS | TEXTS
FIELDS = st.sampled_from(
    [
        "name", "description", "id", "enabled", "isEnabled", "rules", "conditions", "type",
        "targetValue", "operator", "passPercentage", "returnValue", "defaultValue", "value",
        "groups", "parameters", "size", "idType", "layer", "ids", "title", "changes", "kind",
        "action", "payload", "role", "email", "environment", "environments", "url", "events",
        "reason", "breakGlass", "tags", "owner", "overlapHours", "requiresReview", "approvals",
        "allocation", "order", "user", "userID", "customIDs", "hash", "statsigMetadata",
    ]
)  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(FIELDS | TEXTS, inner, max_size=5),
    max_leaves=12,
)
JSON_BODIES = st.dictionaries(FIELDS, VALUES, max_size=6).map(lambda d: json.dumps(d).encode())
RAW_BODIES = st.sampled_from(
    [
        b"[" * 20_000 + b"]" * 20_000,
        b'{"name": ' * 5_000,
        b'{"name": NaN}',
        b'{"name": Infinity, "passPercentage": -Infinity}',
        b'{"name": 1e999999}',
        b'{"name": "\\u0000"}',
        b'{"\\ud800": "\\udc00\\ud800"}',
        b"\xff\xfe\x00",
        b"",
        b"null",
        b"[]",
        b'"x"',
        b"x" * 3_000_000,
    ]
)
BOMB = gzip.compress(b"0" * 64_000_000)
PATH_INTS = st.sampled_from(["1", "0", "2147483648", "99999999999999999999999"])
PATH_TEXTS = TEXTS.map(lambda t: quote(t, safe="", errors="surrogatepass"))


def _path(route: str, ints: str, text: str) -> str:
    route = re.sub(r"<int:\w+>", ints, route)
    return "/" + re.sub(r"<str:\w+>", text, route)


def _assert_answer(response) -> None:
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400 and response.status_code != 405:
        body = response.json()
        assert isinstance(body.get("message"), str)
        assert body["message"]
        assert isinstance(body.get("code"), str)
        assert body["code"]


@pytest.fixture
def keys(project, site_admin, no_review):
    """Console keys of each role, made by the project's admin, with a gate to aim at."""
    client = APIClient()
    client.credentials(HTTP_STATSIG_API_KEY=console_key(site_admin, project, Role.ADMIN))
    made = client.post("/console/v1/gates", {"name": "g1"}, format="json")
    assert made.status_code in (200, 201), made.content
    return {role: console_key(site_admin, project, role) for role in Role.values}


FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("role", Role.values)
@FUZZ
@given(
    endpoint=st.sampled_from(CONSOLE_ENDPOINTS),
    ints=PATH_INTS,
    text=PATH_TEXTS,
    body=JSON_BODIES | RAW_BODIES,
    query=st.dictionaries(st.sampled_from(["project", "limit", "page", "state"]), TEXTS),
)
def test_console_api__hostile_input__no_5xx_errors_in_shape(
    keys, role, endpoint, ints, text, body, query
):
    route, method = endpoint
    client = APIClient()
    client.credentials(HTTP_STATSIG_API_KEY=keys[role])
    path = _path(route, ints, text)
    params = "&".join(f"{k}={quote(v, safe='', errors='surrogatepass')}" for k, v in query.items())
    response = client.generic(
        method.upper(), f"{path}?{params}" if params else path, body, "application/json"
    )
    _assert_answer(response)


@pytest.fixture
def sdk_keys(project, site_admin):
    env = project.environments.first()

    def make(kind: str) -> str:
        return key_create(actor=site_admin, project=project, kind=kind, environment=env).secret

    return {"server": make(KeyKind.SERVER), "client": make(KeyKind.CLIENT)}


@FUZZ
@given(
    which=st.sampled_from(["server", "client", "garbage"]),
    version=st.sampled_from(["v1", "v2"]),
    since=TEXTS.map(lambda t: quote(t, safe="", errors="surrogatepass")),
    token=PATH_TEXTS,
    body=JSON_BODIES | RAW_BODIES,
    encoding=st.sampled_from(["", "gzip", "gzip-bomb", "se"]),
)
def test_sdk_endpoints__hostile_input__no_5xx_errors_in_shape(
    sdk_keys, which, version, since, token, body, encoding
):
    key = sdk_keys.get(which, "secret-" + "\x00" * 3)
    quoted = quote(key, safe="", errors="surrogatepass")
    client = APIClient()
    _assert_answer(client.get(f"/{version}/download_config_specs/{quoted}.json?sinceTime={since}"))
    _assert_answer(client.generic("POST", f"/v1/get_id_lists/{quoted}.json", body))
    _assert_answer(client.get(f"/v1/download_id_list_file/{token}"))
    headers = {}
    if encoding == "gzip":
        body = gzip.compress(body)
        headers["HTTP_CONTENT_ENCODING"] = "gzip"
    elif encoding == "gzip-bomb":
        body = BOMB
        headers["HTTP_CONTENT_ENCODING"] = "gzip"
    query = "&se=1" if encoding == "se" else ""
    _assert_answer(
        client.generic(
            "POST", f"/v1/initialize?k={quoted}{query}", body, "application/json", **headers
        )
    )
