"""Validation of a proposed holdout document."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models.functions import Lower

from console.exceptions import Conflict
from console.models import Project
from console.targeting.fields import (
    boolean,
    clean_id_type,
    fail,
    require_object,
    text,
)
from experiments.documents.cleaning import _clean_name, _clean_percent, _unit_types
from experiments.documents.common import _number
from experiments.models import Experiment, Holdout
from gates.selectors import gate_get

# ---------------------------------------------------------------- holdouts


@dataclass
class CleanedHoldout:
    document: dict[str, Any]
    percentage: Decimal
    experiments: list[Experiment]


def clean_holdout(project: Project, doc: Any, existing: Holdout | None) -> CleanedHoldout:
    doc = require_object(doc)
    name = _clean_name(project, doc, Holdout, existing, "holdout")
    if existing is None and gate_get(project=project, name=name) is not None:
        raise Conflict(
            f"A gate is named '{name}': holdouts and gates share SDK names.",
            code="duplicate",
            field="name",
        )
    id_type = clean_id_type(_unit_types(project), doc)
    percentage = _clean_percent(
        doc.get("passPercentage"),
        "passPercentage",
        decimals=2,
        what="holdout percentage",
        code="invalid_percentage",
    )
    is_global = boolean(doc, "isGlobal", default=False)
    raw = doc.get("experimentIDs") or []
    if not isinstance(raw, list):
        raise fail("'experimentIDs' is a list of experiment names.", "invalid", "experimentIDs")
    if is_global and raw:
        raise fail(
            "A global holdout applies to every experiment: leave experimentIDs empty.",
            "global_with_experiments",
            "experimentIDs",
        )
    wanted = {n.strip().lower(): i for i, n in enumerate(raw) if isinstance(n, str)}
    found = {
        e.name.lower(): e
        for e in Experiment.objects.active()
        .filter(project=project)
        .annotate(lname=Lower("name"))
        .filter(lname__in=list(wanted))
    }
    for i, item in enumerate(raw):
        if not isinstance(item, str) or item.strip().lower() not in found:
            raise fail(
                f"This project has no experiment named {item!r}.",
                "unknown_experiment",
                f"experimentIDs[{i}]",
            )
    experiments = sorted(found.values(), key=lambda e: e.name.lower())
    return CleanedHoldout(
        document={
            "name": name,
            "description": text(doc, "description", max_length=5000),
            "idType": id_type,
            "passPercentage": _number(percentage),
            "isGlobal": is_global,
            "experimentIDs": [e.name for e in experiments],
        },
        percentage=percentage,
        experiments=experiments,
    )


def validate_holdout_document(project: Project, doc: Any, existing: Holdout | None = None):
    return clean_holdout(project, doc, existing).document
