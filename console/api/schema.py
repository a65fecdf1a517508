"""The console API's OpenAPI 3 document (/console/v1/openapi.json, docs/openapi.md): what the
views' @extend_schema annotations share.

- `ConsoleAutoSchema` (REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS) names operations after their
  path (`gates_list`, `gates_get`, `gates_create`, `gates_update`, `gates_patch`,
  `gates_archive`, `gates_enable`), adds `?project=` and the error answers every endpoint
  can give.
- `component(name, shape)` registers a component schema: a raw schema, or a TypedDict of
  the code (gates/types.py, experiments/types.py) turned into one by drf-spectacular, so the
  document follows the documents. `add_components` (a postprocessing hook) writes them out.
- `envelope` / `paginated` / `PENDING`: the answers' shapes (console/api/base.ok,
  console/api/pagination.py, reviews/shortcuts.api_pending).
"""

from __future__ import annotations

from typing import Any, Literal

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import resolve_type_hint
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers

from console.api.authentication import HEADER
from console.api.permissions import PROJECT_PARAM

Schema = dict[str, Any]

_COMPONENTS: dict[str, Any] = {}


_ENTITIES: set[str] = set()
# Per component: properties its answers carry in place of (or beside) the document's, and
# those its inputs accept in their place (aliases).
_ANSWER_PROPERTIES: dict[str, dict[str, Schema]] = {}
_INPUT_PROPERTIES: dict[str, dict[str, Schema]] = {}

# What answers add to an entity's document (console.api.documents.with_metadata): read-only,
# accepted and ignored on input.
_MILLISECONDS = {"type": "integer", "description": "Epoch milliseconds."}
METADATA: dict[str, Schema] = {
    "id": {"type": "string", "description": "Statsig's id of an entity: its name."},
    "createdTime": _MILLISECONDS,
    "creatorID": {"type": "string", "nullable": True},
    "creatorName": {"type": "string", "nullable": True},
    "creatorEmail": {"type": "string", "nullable": True},
    "lastModifiedTime": _MILLISECONDS,
}


def component(
    name: str,
    shape: Any,
    *,
    entity: bool = False,
    answers: dict[str, Schema] | None = None,
    inputs: dict[str, Schema] | None = None,
) -> Schema:
    """A reference to component `name`, registered with `shape`: a schema dict or a type
    (a TypedDict) resolved when the document is generated. An `entity`'s answers carry
    METADATA too (read-only properties). `answers`: properties the answers carry in place of
    the shape's (or beside them: always present); `inputs`: those its inputs (`partial`)
    accept in their place."""
    _COMPONENTS[name] = shape
    if entity:
        _ENTITIES.add(name)
    if answers:
        _ANSWER_PROPERTIES[name] = answers
    if inputs:
        _INPUT_PROPERTIES[name] = inputs
    return {"$ref": f"#/components/schemas/{name}"}


def _resolved(shape: Any, *, as_input: bool = False) -> Schema:
    name = None
    if isinstance(shape, dict) and "$ref" in shape:
        name = shape["$ref"].rsplit("/", 1)[1]
        shape = _COMPONENTS[name]
    schema = shape if isinstance(shape, dict) else _numbers(resolve_type_hint(shape))
    if name in _ENTITIES:
        readonly = {key: {**value, "readOnly": True} for key, value in METADATA.items()}
        schema = {**schema, "properties": {**readonly, **schema.get("properties", {})}}
    extra = (_INPUT_PROPERTIES if as_input else _ANSWER_PROPERTIES).get(name or "", {})
    if extra:
        schema = {**schema, "properties": {**schema.get("properties", {}), **extra}}
        if not as_input:
            required = schema.get("required", [])
            schema["required"] = [*required, *(key for key in extra if key not in required)]
    return schema


def _numbers(node: Any) -> Any:
    """`float | int` resolves to oneOf number/integer, which a whole number matches twice
    (so fails): it is a number."""
    if isinstance(node, list):
        return [_numbers(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _numbers(value) for key, value in node.items()}
    choices = node.get("oneOf")
    if choices and {c.get("type") for c in choices} == {"number", "integer"} and len(choices) == 2:
        del node["oneOf"]
        node["type"] = "number"
    return node


def partial(shape: Any, *, required: tuple[str, ...] = ()) -> Schema:
    """`shape` (a component reference, a schema or a TypedDict) as an input: every property
    optional but `required` (a missing key means its default; in a PATCH, the current
    value)."""
    schema = dict(_resolved(shape, as_input=True))
    schema.pop("required", None)
    if required:
        schema["required"] = list(required)
    return schema


def add_components(result: Schema, generator, request, public) -> Schema:
    """Postprocessing hook: write the registered components into the document."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name in _COMPONENTS:
        schemas[name] = _resolved({"$ref": f"#/components/schemas/{name}"})
    result["components"]["schemas"] = dict(sorted(schemas.items()))
    return result


# ---------------------------------------------------------------- shapes of every answer

STRING: Schema = {"type": "string"}
NULLABLE_STRING: Schema = {"type": "string", "nullable": True}
INTEGER: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOLEAN: Schema = {"type": "boolean"}
ANY: Schema = {}


def obj(properties: dict[str, Schema], *, optional: tuple[str, ...] = ()) -> Schema:
    """An object whose `properties` are all present unless named in `optional`."""
    required = [name for name in properties if name not in optional]
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def nullable(schema: Schema) -> Schema:
    if "$ref" in schema:
        return {"allOf": [schema], "nullable": True}
    return {**schema, "nullable": True}


ERROR = component(
    "Error",
    {
        "type": "object",
        "description": (
            "Every refusal (console/api/exceptions.py): a sentence for people, a stable code "
            "for programs, the input at fault when there is one (a field path such as "
            "rules[1].conditions[0].targetValue) and, for a body that fails its shape, the "
            "serializer's errors by field."
        ),
        "required": ["message", "code"],
        "properties": {
            "message": STRING,
            "code": STRING,
            "field": STRING,
            "errors": {"type": "object", "additionalProperties": True},
        },
    },
)

PAGINATION = component(
    "Pagination",
    obj(
        {
            "itemsPerPage": INTEGER,
            "pageNumber": INTEGER,
            "totalItems": INTEGER,
            "nextPage": {**NULLABLE_STRING, "format": "uri"},
            "previousPage": {**NULLABLE_STRING, "format": "uri"},
        }
    ),
)


def envelope(data: Schema) -> Schema:
    """{"message", "data"}: every successful answer (console.api.base.ok)."""
    return obj({"message": STRING, "data": data})


_ANSWERS: dict[str, serializers.Serializer] = {}


def answer(name: str, data: serializers.BaseSerializer) -> serializers.Serializer:
    """{"message", "data"} around a serializer's output: component `name` (one class per
    name, however many endpoints answer it)."""
    if name not in _ANSWERS:
        fields = {"message": serializers.CharField(), "data": data}
        _ANSWERS[name] = inline_serializer(name, fields)
    return _ANSWERS[name]


NULL: Schema = {"type": "object", "nullable": True, "enum": [None], "description": "Always null."}
DONE = component("Done", envelope(NULL))


def paginated(item: Schema) -> Schema:
    """One page of a list (console.api.pagination.ConsolePagination)."""
    return obj({"message": STRING, "data": array(item), "pagination": PAGINATION})


CHANGE_SET_SUMMARY = component(
    "ChangeSetSummary",
    obj(
        {
            "id": {**INTEGER, "description": "The change set's number in the project."},
            "state": STRING,
            "title": STRING,
            "environments": array(STRING),
            "url": {**STRING, "description": "The change set's page in the console."},
        }
    ),
)

PENDING = component(
    "Pending",
    {
        **envelope(obj({"changeSet": CHANGE_SET_SUMMARY})),
        "description": (
            "Accepted as a change set, not applied yet (reviews/shortcuts.api_pending): "
            "waiting for review, saved as a draft or being applied by the worker."
        ),
    },
)

# ---------------------------------------------------------------- answers


def body(schema: Schema) -> dict[str, Schema]:
    """A JSON request body of raw `schema`."""
    return {"application/json": schema}


def pending() -> dict[int, OpenApiResponse]:
    """The 202 of an endpoint that proposes a change set."""
    return {
        202: OpenApiResponse(
            PENDING,
            description="Proposed as a change set that waits for review (or the worker).",
        )
    }


ERROR_DESCRIPTIONS = {
    400: "Bad input (a field, a query parameter, a session naming no project).",
    401: "No credentials, or an unknown, revoked or expired console key.",
    403: "The role (the key's, capped by its creator's) is too low.",
    404: "No such entity, or a project the caller is not a member of.",
    409: "Conflicts with the current state (a stale revision, an open change set, a "
    "lifecycle step the status does not allow).",
    413: "The request body is too large.",
    415: "The body is not JSON.",
    429: "Too many unknown keys from this address.",
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ERROR, description=ERROR_DESCRIPTIONS[code]) for code in codes}


PROJECT = OpenApiParameter(
    PROJECT_PARAM,
    str,
    description=(
        "The project's slug. Required with a signed-in session; with a console key, the "
        "key's project (naming another is a 404)."
    ),
)
PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="The page number, from 1."),
    OpenApiParameter("limit", int, description="Items per page (default 50, at most 500)."),
]
ENVIRONMENT = OpenApiParameter(
    "environment",
    str,
    description="The environment's name (any case); without it, the project's first.",
)

# ---------------------------------------------------------------- entity documents


def _input(document: Schema, suffix: str, *, required: tuple[str, ...] = ()) -> Schema:
    """Component `<Document><suffix>`: `document` as an input (see `partial`)."""
    name = document["$ref"].rsplit("/", 1)[1] + suffix
    return component(name, partial(document, required=required))


def documents(
    resource: str,
    document: Schema,
    *,
    noun: str,
    query: type[serializers.Serializer] | None = None,
) -> dict[str, Any]:
    """extend_schema_view arguments for a reviews.api.documents.ProposedListView: GET one
    page of `document`s (filtered by `query`), POST proposes creating one."""
    return {
        "get": extend_schema(
            summary=f"List {resource}",
            parameters=[*([query] if query else []), *PAGE_PARAMETERS],
            responses={200: paginated(document)},
        ),
        "post": extend_schema(
            summary=f"Create a {noun}",
            description=(
                "Proposed as a change set: 201 with the document when it applies at once, "
                "202 when it waits for review. A missing key takes its default."
            ),
            request=body(_input(document, "Create", required=("name",))),
            responses={201: envelope(document), **pending(), **errors(409, 413, 415)},
        ),
    }


def document(resource: str, document: Schema, *, noun: str) -> dict[str, Any]:
    """extend_schema_view arguments for a reviews.api.documents.ProposedDetailView."""
    writes = {200: envelope(document), **pending(), **errors(409, 413, 415)}
    return {
        "get": extend_schema(summary=f"Get a {noun}", responses={200: envelope(document)}),
        "post": extend_schema(
            summary=f"Replace a {noun}",
            description="The whole document: a missing key takes its default.",
            request=body(_input(document, "Changes")),
            responses=writes,
        ),
        "patch": extend_schema(
            summary=f"Update part of a {noun}",
            description=(
                "The given top-level keys replace the current ones; 409 stale_revision when "
                "the entity changed meanwhile."
            ),
            request=body(_input(document, "Changes")),
            responses=writes,
        ),
        "delete": extend_schema(
            summary=f"Archive a {noun}",
            request=None,
            responses={200: envelope(document), **pending(), **errors(409)},
        ),
    }


# ---------------------------------------------------------------- the schema class

_VERBS_ON_ITEM = {
    "get": "get",
    "post": "update",
    "put": "replace",
    "patch": "patch",
    "delete": "delete",
}
_VERBS_ON_LIST = {"get": "list", "post": "create", "put": "replace", "patch": "update"}
# What DELETE does to an entity named by its name: archive (Statsig's semantics).
_ARCHIVED = {"gates", "segments", "dynamic_configs", "experiments", "layers", "holdouts", "metrics"}


class ConsoleAutoSchema(AutoSchema):
    """Operation IDs from the path, `?project=` and the common error answers everywhere."""

    def get_operation_id(self) -> str:
        method = self.method.lower()
        parts = [p for p in self.path.removeprefix("/console/v1/").split("/") if p]
        words = [p for p in parts if not p.startswith("{")]
        base = "_".join(words)
        if parts[-1].startswith("{"):  # an entity
            verb = _VERBS_ON_ITEM[method]
            if method == "delete" and words[0] in _ARCHIVED:
                verb = "archive"
            return f"{base}_{verb}"
        if len(words) == 1:  # a collection
            return f"{base}_{_VERBS_ON_LIST[method]}"
        # An action (gates/{name}/enable, environments/reorder): its name, and the method
        # when PUT and POST both do it (Statsig's PUT, our POST alias).
        if method == "post" and "PUT" in self.view.allowed_methods:
            return f"{base}_post"
        return base if method in ("get", "post", "put") else f"{base}_{method}"

    def get_override_parameters(self) -> list:
        if self.path == "/console/v1/projects":  # every project of the caller
            return super().get_override_parameters()
        return [PROJECT, *super().get_override_parameters()]

    def _get_response_bodies(self, direction: Literal["request", "response"] = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        codes = [400, 401, 403, 404, 429]
        if self.method in ("POST", "PUT", "PATCH") and self._get_request_body() is not None:
            codes += [413, 415]
        for code, response in errors(*codes).items():
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(
                    response, str(code), direction=direction
                )
        return dict(sorted(responses.items()))


class ConsoleKeyScheme(OpenApiAuthenticationExtension):
    target_class = "console.api.authentication.ConsoleKeyAuthentication"
    name = "consoleKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": HEADER,
            "description": (
                "A console key (console-...) of the project, made under Settings, Keys. It "
                "acts as its creator, with the key's role as a ceiling."
            ),
        }
