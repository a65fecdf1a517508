"""Cleaning shared by the three kinds: parameters, groups, targeting, layer references."""

from __future__ import annotations

import json
import math
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models.functions import Lower

from console.exceptions import Conflict
from console.models import Project
from console.targeting.fields import (
    MAX_SAFE_INTEGER,
    fail,
    text,
    unsafe_integer,
)
from experiments.documents.common import (
    HUNDRED,
    MAX_PARAMETERS,
    MAX_STRING_VALUE,
    PARAMETER_NAME,
    PARAMETER_TYPES,
)
from experiments.types import (
    StoredParameter,
)
from gates.documents import (
    MAX_VALUE_BYTES,
    NAME_PATTERN,
    NAME_RULE,
)
from gates.selectors import unit_type_names

# ---------------------------------------------------------------- shared cleaning


def _clean_name(project: Project, doc: dict, model, existing, what: str) -> str:
    name = doc.get("name")
    name = name.strip() if isinstance(name, str) else name
    if existing is not None:
        if name is not None and name != existing.name:
            raise fail(
                "A name cannot change: SDK calls use it. Create a new one and archive this "
                "one instead.",
                "name_immutable",
                "name",
            )
        return existing.name
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise fail(NAME_RULE, "invalid_name", "name")
    taken = (
        model.objects.active()
        .filter(project=project)
        .annotate(lname=Lower("name"))
        .filter(lname=name.lower())
        .exists()
    )
    if taken:
        raise Conflict(
            f"The {what} name '{name}' is already taken.", code="duplicate", field="name"
        )
    return name


def _unit_types(project: Project) -> dict[str, str]:
    return {name.lower(): name for name in unit_type_names(project=project)}


def _clean_percent(value: Any, path: str, *, decimals: int, what: str, code: str) -> Decimal:
    """A percentage from 0 to 100 with at most `decimals` decimals, as an exact Decimal."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise fail(f"The {what} is a number from 0 to 100.", code, path)
    try:
        exact = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise fail(f"The {what} is a number from 0 to 100.", code, path) from exc
    if not exact.is_finite() or not 0 <= exact <= HUNDRED:
        raise fail(f"The {what} is between 0 and 100 percent.", "percentage_out_of_range", path)
    step = Decimal(1).scaleb(-decimals)
    if exact != exact.quantize(step):
        raise fail(
            f"The {what} has at most {decimals} decimal{'s' if decimals > 1 else ''}.",
            "percentage_precision",
            path,
        )
    return exact.quantize(step)


def _non_finite(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_non_finite(v) for v in value)
    return isinstance(value, float) and not math.isfinite(value)


def check_value(kind: str, value: Any, path: str) -> Any:
    """A parameter value of type `kind`, or DomainError code="wrong_type"."""
    ok = {
        "string": isinstance(value, str),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "object": isinstance(value, dict),
    }[kind]
    if not ok:
        article = "an" if kind == "object" else "a"
        raise fail(
            f"This parameter is {article} {kind}: {json.dumps(value)[:80]} is not.",
            "wrong_type",
            path,
        )
    if kind == "string" and len(value) > MAX_STRING_VALUE:
        raise fail(f"Text values have at most {MAX_STRING_VALUE:,} characters.", "too_long", path)
    if _non_finite(value):
        raise fail("Numbers are finite.", "wrong_type", path)
    if unsafe_integer(value):
        raise fail(
            f"Integers stay within ±{MAX_SAFE_INTEGER:,} (JavaScript SDKs would round larger "
            "ones); send larger numbers as strings.",
            "unsafe_integer",
            path,
        )
    if kind == "object" and len(json.dumps(value, separators=(",", ":"))) > MAX_VALUE_BYTES:
        raise fail(f"A value has at most {MAX_VALUE_BYTES:,} bytes.", "too_large", path)
    return value


def _clean_parameters(
    doc: dict,
    *,
    layer_params: dict[str, StoredParameter] | None,
    default_required: bool = True,
) -> list[StoredParameter]:
    """Parameters with their defaults; in a layer, each must be a layer parameter of the
    same type, whose default it takes (stored as None, rendered from the layer). Without
    `default_required` (an experiment outside a layer), a missing or null default is None:
    no default, so units outside the groups get no value for it."""
    raw = doc.get("parameters") or []
    if not isinstance(raw, list):
        raise fail("'parameters' is a list.", "invalid", "parameters")
    if len(raw) > MAX_PARAMETERS:
        raise fail(f"At most {MAX_PARAMETERS} parameters.", "too_many_parameters", "parameters")
    out: list[StoredParameter] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        path = f"parameters[{i}]"
        if not isinstance(item, dict):
            raise fail("Each parameter is an object.", "invalid", path)
        name = item.get("name")
        name = name.strip() if isinstance(name, str) else name
        if not isinstance(name, str) or not PARAMETER_NAME.match(name):
            raise fail(
                "Parameter names use letters, digits, '_', '.' and '-' (1-100, starting with "
                "a letter or '_').",
                "invalid_name",
                f"{path}.name",
            )
        if name.lower() in seen:
            raise fail(f"Two parameters are named {name!r}.", "duplicate", f"{path}.name")
        seen.add(name.lower())
        kind = item.get("type")
        if kind not in PARAMETER_TYPES:
            raise fail(
                f"A parameter's type is one of {', '.join(PARAMETER_TYPES)}.",
                "invalid_type",
                f"{path}.type",
            )
        description = text(item, "description", max_length=1000, path=f"{path}.description")
        if layer_params is None:
            if "defaultValue" not in item and default_required:
                raise fail("Give the parameter a default value.", "missing_default", path)
            default = item.get("defaultValue")
            if default is not None or default_required:
                default = check_value(kind, default, f"{path}.defaultValue")
        else:
            owned = layer_parameter(layer_params, name, f"{path}.name")
            if owned["type"] != kind:
                raise fail(
                    f"The layer's {name!r} is a {owned['type']}.", "wrong_type", f"{path}.type"
                )
            if (
                item.get("defaultValue") is not None
                and item["defaultValue"] != owned["defaultValue"]
            ):
                raise fail(
                    "In a layer, the defaults are the layer's: change them on the layer.",
                    "layer_default",
                    f"{path}.defaultValue",
                )
            default = None
        out.append(
            {"name": name, "type": kind, "defaultValue": default, "description": description}
        )
    return out


def layer_parameter(
    layer_params: dict[str, StoredParameter], name: str, path: str
) -> StoredParameter:
    """The layer's parameter `name` that an experiment in the layer sets, or a refusal."""
    owned = layer_params.get(name)
    if owned is None:
        raise fail(
            f"The layer has no parameter {name!r}: an experiment in a layer sets "
            "layer parameters (add it to the layer first).",
            "unknown_layer_parameter",
            path,
        )
    return owned
