"""The console API's OpenAPI document (/console/v1/openapi.json, docs/openapi.md): it names
every endpoint with every method its view answers, it is a valid OpenAPI 3.0 document, and
real answers of the API match the schemas it gives them."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from tests.api_support import console_key, key_client, session_client
from tests.experiments.factories import experiment_document, holdout_document, layer_document
from tests.gates.factories import config_document, gate_document, rule, segment_document

PREFIX = "/console/v1"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return APIClient().get(f"{PREFIX}/openapi.json").json()


def _api_routes() -> dict[str, set[str]]:
    """Every console API URL pattern as an OpenAPI path, with the methods its view has."""
    routes: dict[str, set[str]] = {}

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("console/v1/"):
                view = getattr(pattern.callback, "cls", None)
                if view is None or route == "console/v1/openapi.json":
                    continue
                path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route).replace("{pk}", "{id}")
                methods = {m for m in view.http_method_names if m not in ("options", "head")}
                routes[path] = {m for m in methods if hasattr(view, m)}

    walk(get_resolver().url_patterns, "")
    return routes


def test_document__every_console_api_route__present_with_every_method(db, document):
    # Given
    routes = _api_routes()

    # When
    described = {path: set(ops) - {"parameters"} for path, ops in document["paths"].items()}

    # Then
    assert len(routes) > 50
    assert described == routes


def test_document__generated__valid_openapi_3_without_warnings(db, tmp_path, document):
    # When
    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "openapi.yaml"))

    # Then
    validate_schema(document)
    operation_ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids))
    assert {"gates_list", "gates_get", "gates_create", "gates_update", "gates_patch"} <= set(
        operation_ids
    )
    assert document["components"]["securitySchemes"]["consoleKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "STATSIG-API-KEY",
        "description": document["components"]["securitySchemes"]["consoleKey"]["description"],
    }


@pytest.mark.parametrize("key", [None, "console-revoked-or-unknown"])
def test_document__without_a_valid_key__public(db, key):
    # Given
    client = APIClient() if key is None else key_client(key)

    # When
    response = client.get(f"{PREFIX}/openapi.json")

    # Then
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Gatehouse Console API"


# ---------------------------------------------------------------- real answers against it


def _json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema: `nullable` becomes a null alternative and
    component references point into `definitions`."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if "$ref" in out:
        out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/definitions/")
    if node.get("nullable"):
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        return {"anyOf": [out, {"type": "null"}]}
    return out


def assert_matches(document: dict, response, path: str, method: str) -> None:
    """The response's body matches the schema the document gives its status code."""
    operation = document["paths"][path][method]
    assert str(response.status_code) in operation["responses"], response.content
    content = operation["responses"][str(response.status_code)]["content"]
    schema = _json_schema(content["application/json"]["schema"])
    schema["definitions"] = _json_schema(document["components"]["schemas"])
    jsonschema.validate(response.json(), schema)


def test_answers__a_gate_a_list_an_error_a_pending_change__match_their_schemas(
    document, project, project_admin
):
    # Given: a gate without rules (created at once: it changes no SDK answer) and the
    # default review policy (changes to what production receives wait for review)
    client = session_client(project_admin)
    query = f"?project={project.slug}"
    created = client.post(f"{PREFIX}/gates{query}", gate_document("checkout"), format="json")
    assert created.status_code == 201, created.content
    keyed = key_client(console_key(project_admin, project, "admin"))

    # When
    one = keyed.get(f"{PREFIX}/gates/checkout")
    many = keyed.get(f"{PREFIX}/gates")
    missing = keyed.get(f"{PREFIX}/gates/nope")
    refused = APIClient().get(f"{PREFIX}/gates{query}")
    with_rules = gate_document("beta", rules=[rule()])
    pending = client.post(f"{PREFIX}/gates{query}", with_rules, format="json")
    environments = keyed.get(f"{PREFIX}/environments")
    policy = keyed.get(f"{PREFIX}/review_policy")

    # Then
    assert_matches(document, created, "/console/v1/gates", "post")
    assert_matches(document, one, "/console/v1/gates/{name}", "get")
    assert_matches(document, many, "/console/v1/gates", "get")
    assert many.json()["pagination"]["totalItems"] == 1
    assert_matches(document, missing, "/console/v1/gates/{name}", "get")
    assert missing.status_code == 404
    assert_matches(document, refused, "/console/v1/gates", "get")
    assert refused.status_code == 401
    assert pending.status_code == 202, pending.content
    assert_matches(document, pending, "/console/v1/gates", "post")
    assert pending.json()["data"]["changeSet"]["state"] == "in_review"
    assert_matches(document, environments, "/console/v1/environments", "get")
    assert_matches(document, policy, "/console/v1/review_policy", "get")


def test_answers__a_wrong_body__matches_the_error_schema(document, project, project_admin):
    # Given
    keyed = key_client(console_key(project_admin, project, "admin"))

    # When
    response = keyed.post(f"{PREFIX}/tags", {"name": ["not", "text"]}, format="json")

    # Then
    assert response.status_code == 400
    assert_matches(document, response, "/console/v1/tags", "post")
    assert response.json()["field"] == "name"


def test_answers__every_list_and_setting_of_a_fresh_project__match_their_schemas(
    document, project, project_admin
):
    # Given an admin key of a project made the way users make it
    keyed = key_client(console_key(project_admin, project, "admin"))
    reads = [
        path
        for path, operations in document["paths"].items()
        if "get" in operations and "{" not in path
    ]

    # When each is read (the export in JSON: it answers YAML unless asked)
    as_json = {"/console/v1/export": {"format": "json"}}
    answers = {path: keyed.get(path, as_json.get(path, {})) for path in reads}

    # Then each answers 200 in the shape the document gives it
    assert len(reads) >= 15
    for path, response in answers.items():
        assert response.status_code == 200, (path, response.content)
        assert_matches(document, response, path, "get")


@pytest.mark.parametrize("method", ["get", "post", "patch", "delete"])
def test_answers__a_path_no_endpoint_matches__json_404_for_every_method(db, method):
    # Given an id that is not a number, as a fuzzer sends it (members/<int:pk>)
    client = APIClient(enforce_csrf_checks=True)

    # When
    response = getattr(client, method)(f"{PREFIX}/members/1.5e-9", {}, format="json")

    # Then: the API's error shape, not Django's HTML CSRF page
    assert response.status_code == 404
    assert response.json() == {"message": "No such console API endpoint.", "code": "not_found"}


DOCUMENTS = [
    ("gates", gate_document("checkout", rules=[rule()])),
    ("segments", segment_document("employees", rules=[rule()])),
    ("dynamic_configs", config_document("settings")),
    ("layers", layer_document("checkout_layer")),
    ("experiments", experiment_document("button")),
    ("holdouts", holdout_document("q3_holdout")),
]


@pytest.mark.usefixtures("no_review")
@pytest.mark.parametrize(("resource", "body"), DOCUMENTS, ids=[r for r, _ in DOCUMENTS])
def test_answers__each_entity_document__matches_its_component(
    document, project, project_admin, resource, body
):
    # Given
    keyed = key_client(console_key(project_admin, project, "admin"))

    # When it is created, read and listed
    created = keyed.post(f"{PREFIX}/{resource}", body, format="json")
    read = keyed.get(f"{PREFIX}/{resource}/{body['name']}")
    listed = keyed.get(f"{PREFIX}/{resource}")

    # Then every answer has the shape the document gives it
    assert created.status_code == 201, created.content
    assert_matches(document, created, f"/console/v1/{resource}", "post")
    assert_matches(document, read, f"/console/v1/{resource}/{{name}}", "get")
    assert_matches(document, listed, f"/console/v1/{resource}", "get")
    assert [item["name"] for item in listed.json()["data"]] == [body["name"]]
