"""The gates app's entity kinds for change sets (registered in GatesConfig.ready()):
how reviews finds, renders, describes and applies feature gates, segments and dynamic
configs.

The `describe_*` functions turn a document into the labelled lines a reviewer reads side
by side ("Rule 2" → "Employees · 100% pass · when Email ends with @corp.example"). They
accept partial documents (a rebase conflict shows one key) and never fail on odd values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.urls import reverse

from console.targeting.conditions import CONDITION_TYPES, OPERATORS, ValueKind
from console.targeting.text import show_time
from gates import selectors, services
from gates.documents import dynamic_config_to_document, gate_to_document, segment_to_document
from gates.documents.common import rollout_text
from gates.models import DynamicConfig, FeatureGate, GateStatus, Segment, SegmentKind
from reviews.registry import EVERY_ENVIRONMENT, Action, EntityKind, document_actions, register

Lines = list[tuple[str, str]]

# How many values of a list a line shows before "… (+N more)".
SHOWN_VALUES = 6

# Operators whose label reads "… any of": with one value the "any of" is dropped
# ("ends with @corp.example"); `none` operators read "is not X" / "does not contain X".
_SINGLE_PHRASES = {
    "any": "is",
    "any_case_sensitive": "is (case sensitive)",
    "none": "is not",
    "none_case_sensitive": "is not (case sensitive)",
    "str_starts_with_any": "starts with",
    "str_ends_with_any": "ends with",
    "str_contains_any": "contains",
    "str_contains_none": "does not contain",
}


# Read after "when": "when in segment employees AND passes gate beta".
_TARGET_PHRASES = {
    "passes_gate": "Passes gate",
    "fails_gate": "Fails gate",
    "passes_segment": "In segment",
    "fails_segment": "Not in segment",
}


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def percent(value: Any) -> str:
    return f"{_number(value)}%"


def show_values(values: Any, limit: int = SHOWN_VALUES) -> str:
    """A list as "a, b, c, … (+12 more)"; anything else as its text."""
    if not isinstance(values, list):
        return _json_inline(values) if isinstance(values, dict) else str(values)
    shown = ", ".join(str(v) for v in values[:limit])
    if len(values) > limit:
        shown += f", … (+{len(values) - limit:,} more)"
    return shown or "none"


def _json_inline(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def pretty(value: Any) -> str:
    """A JSON value as reviewers read it: indented, keys in order."""
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


def condition_text(condition: Any) -> str:
    """One document condition as a phrase: "Email ends with @corp.example",
    "Country is any of US, CA", "Passes gate beta_access"."""
    if not isinstance(condition, dict):
        return str(condition)
    ctype = CONDITION_TYPES.get(str(condition.get("type")))
    if ctype is None:
        return _json_inline(condition)
    if ctype.key == "public":
        return "Everyone"
    subject = ctype.label
    if condition.get("field"):
        subject = f"{subject} “{condition['field']}”"
    if condition.get("customID"):
        subject = f"{subject} ({condition['customID']})"
    target = condition.get("targetValue")
    op_key = condition.get("operator")
    operator = OPERATORS.get(op_key) if isinstance(op_key, str) else None
    if operator is None:
        # Gate and segment conditions name their target after the type's label.
        subject = _TARGET_PHRASES.get(ctype.key, subject)
        return f"{subject} {target}" if target not in (None, "") else subject
    if operator.value == ValueKind.TIME:
        return f"{subject} {operator.label} {show_time(target)}"
    if operator.value == ValueKind.REGEX:
        return f"{subject} matches /{target}/"
    if operator.value == ValueKind.VERSION and subject.lower().endswith("version"):
        # "App version ≥ 3.2.0", not "App version version ≥ 3.2.0".
        return f"{subject} {operator.label.removeprefix('version ')} {target}"
    if isinstance(target, list) and len(target) == 1 and op_key in _SINGLE_PHRASES:
        return f"{subject} {_SINGLE_PHRASES[op_key]} {target[0]}"
    return f"{subject} {operator.label} {show_values(target)}"


def conditions_text(conditions: Any) -> str:
    if not isinstance(conditions, list) or not conditions:
        return "no conditions"
    return " AND ".join(condition_text(c) for c in conditions)


def environments_text(environments: Any) -> str:
    """ "" for every environment, else "in production only" / "in staging and production only"."""
    if not isinstance(environments, list):
        return ""
    if not environments:
        return "in no environment"
    names = [str(e) for e in environments]
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"in {joined} only"


def rule_lines(rules: Any, *, verb: str = "pass", returns: bool = False) -> Lines:
    """A rule per line: ("Rule 2", "Employees · 100% pass · when … · in production only"),
    and for configs the value it returns on the next line."""
    if not isinstance(rules, list):
        return []
    lines: Lines = []
    for number, rule in enumerate(rules, start=1):
        if not isinstance(rule, dict):
            lines.append((f"Rule {number}", str(rule)))
            continue
        parts = [
            str(rule.get("name") or "Unnamed"),
            f"{percent(rule.get('passPercentage', 0))} {verb}",
            "when " + conditions_text(rule.get("conditions")),
        ]
        where = environments_text(rule.get("environments"))
        if where:
            parts.append(where)
        lines.append((f"Rule {number}", " · ".join(parts)))
        if returns:
            lines.append((f"Rule {number} returns", pretty(rule.get("returnValue", {}))))
        if rule.get("rolloutSchedule"):
            steps = rollout_text(rule["rolloutSchedule"]).splitlines()
            lines.append((f"Rule {number} rollout", " → ".join(steps) + " (times in UTC)"))
    return lines


def rollouts_changed(before: dict | None, after: dict | None) -> list[str]:
    """The environments of the rules whose rollout schedule is new or changed: the worker
    will change what they receive, so the change needs their review now."""
    if not after:
        return []
    old = {r.get("id"): r.get("rolloutSchedule") for r in (before or {}).get("rules") or []}
    names: list[str] = []
    for rule in after.get("rules") or []:
        schedule = rule.get("rolloutSchedule")
        if not schedule or (rule.get("id") in old and old[rule.get("id")] == schedule):
            continue
        if rule.get("environments") is None:
            return [EVERY_ENVIRONMENT]
        names.extend(rule["environments"])
    return names


def common_lines(doc: dict) -> Lines:
    """Description, unit type, tags and owner: the keys every kind shares."""
    lines: Lines = []
    if "description" in doc:
        lines.append(("Description", str(doc["description"] or "—")))
    if "idType" in doc:
        lines.append(("Unit type", str(doc["idType"])))
    if "tags" in doc:
        lines.append(("Tags", show_values(doc["tags"], limit=20) if doc["tags"] else "—"))
    if "owner" in doc:
        lines.append(("Owner", str(doc["owner"] or "—")))
    return lines


def _override_lines(overrides: Any) -> Lines:
    if not isinstance(overrides, list):
        return []
    lines: Lines = []
    for entry in overrides:
        if not isinstance(entry, dict):
            continue
        where = entry.get("environment") or "all environments"
        parts = []
        for key, verb in (("passingIDs", "pass"), ("failingIDs", "fail")):
            ids = entry.get(key) or []
            if ids:
                parts.append(f"{len(ids):,} forced to {verb}: {show_values(ids)}")
        lines.append((f"Overrides · {where}", " · ".join(parts) or "none"))
    return lines


def describe_gate(doc: dict) -> Lines:
    lines: Lines = []
    if "status" in doc:
        status = doc["status"]
        label = GateStatus(status).label if status in GateStatus.values else str(status)
        lines.append(("Status", label))
    if "isEnabled" in doc:
        lines.append(("Enabled", "On" if doc["isEnabled"] else "Off: fails for everyone"))
    if "isPermanent" in doc:
        lines.append(("Permanent", "Yes" if doc["isPermanent"] else "No (temporary)"))
    lines += common_lines(doc)
    if "rules" in doc:
        lines += rule_lines(doc["rules"]) or [("Rules", "No rules: everyone fails")]
    if "overrides" in doc:
        lines += _override_lines(doc["overrides"])
    return lines


def describe_segment(doc: dict) -> Lines:
    lines: Lines = []
    if "type" in doc:
        kind = doc["type"]
        label = SegmentKind(kind).label if kind in SegmentKind.values else str(kind)
        lines.append(("Type", label))
    lines += common_lines(doc)
    if "count" in doc:
        lines.append(("IDs", f"{doc['count'] or 0:,} IDs"))
    if "rules" in doc and doc.get("type") != SegmentKind.ID_LIST:
        lines += rule_lines(doc["rules"], verb="included") or [("Rules", "No rules: empty")]
    return lines


def describe_dynamic_config(doc: dict) -> Lines:
    lines: Lines = []
    if "isEnabled" in doc:
        lines.append(
            ("Enabled", "On" if doc["isEnabled"] else "Off: everyone gets the default value")
        )
    lines += common_lines(doc)
    if "defaultValue" in doc:
        lines.append(("Default value", pretty(doc["defaultValue"])))
    if "schema" in doc:
        lines.append(("Schema", pretty(doc["schema"]) if doc["schema"] else "None"))
    if "rules" in doc:
        rules = rule_lines(doc["rules"], verb="rollout", returns=True)
        lines += rules or [("Rules", "No rules: everyone gets the default value")]
    return lines


def _url(name: str):
    return lambda entity: reverse(name, args=[entity.project.slug, entity.pk])


def _create_url(name: str):
    return lambda project: reverse(name, args=[project.slug])


def _ids(payload: dict) -> Iterable:
    """The IDs of an ids_* change: a list, or (when a change set is applied) a stream of
    them from the database."""
    ids = payload.get("ids")
    return ids if isinstance(ids, Iterable) and not isinstance(ids, str | bytes | dict) else []


def _ids_preview(mode: str):
    return lambda a, _p, e, payload: services.segment_ids_preview(
        actor=a, segment=e, ids=_ids(payload), mode=mode
    )


def register_kinds() -> None:
    register(
        EntityKind(
            kind="gate",
            label="feature gate",
            model=FeatureGate,
            find=lambda project, name: selectors.gate_get(project=project, name=name),
            to_document=gate_to_document,
            describe=describe_gate,
            url=_url("gate-detail"),
            create_url=_create_url("gate-create"),
            changes_later=rollouts_changed,
            actions=document_actions(
                create=lambda a, p, doc: services.gate_create(actor=a, project=p, document=doc),
                update=lambda a, e, doc: services.gate_update(actor=a, gate=e, document=doc),
                archive=lambda a, e: services.gate_archive(actor=a, gate=e),
            ),
        )
    )
    register(
        EntityKind(
            kind="segment",
            label="segment",
            model=Segment,
            find=lambda project, name: selectors.segment_get(project=project, name=name),
            to_document=segment_to_document,
            describe=describe_segment,
            url=_url("segment-detail"),
            create_url=_create_url("segment-create"),
            actions={
                **document_actions(
                    create=lambda a, p, doc: services.segment_create(
                        actor=a, project=p, document=doc
                    ),
                    update=lambda a, e, doc: services.segment_update(
                        actor=a, segment=e, document=doc
                    ),
                    archive=lambda a, e: services.segment_archive(actor=a, segment=e),
                ),
                "ids_add": Action(
                    "Added IDs to",
                    lambda a, _p, e, payload: services.segment_ids_add(
                        actor=a, segment=e, ids=_ids(payload)
                    ),
                    bulk_key="ids",
                    preview=_ids_preview("add"),
                ),
                "ids_remove": Action(
                    "Removed IDs from",
                    lambda a, _p, e, payload: services.segment_ids_remove(
                        actor=a, segment=e, ids=_ids(payload)
                    ),
                    bulk_key="ids",
                    preview=_ids_preview("remove"),
                ),
                "ids_replace": Action(
                    "Replaced the IDs of",
                    lambda a, _p, e, payload: services.segment_ids_replace(
                        actor=a, segment=e, ids=_ids(payload)
                    ),
                    bulk_key="ids",
                    preview=_ids_preview("replace"),
                ),
            },
        )
    )
    register(
        EntityKind(
            kind="dynamic_config",
            label="dynamic config",
            model=DynamicConfig,
            find=lambda project, name: selectors.dynamic_config_get(project=project, name=name),
            to_document=dynamic_config_to_document,
            describe=describe_dynamic_config,
            url=_url("config-detail"),
            create_url=_create_url("config-create"),
            actions=document_actions(
                create=lambda a, p, doc: services.dynamic_config_create(
                    actor=a, project=p, document=doc
                ),
                update=lambda a, e, doc: services.dynamic_config_update(
                    actor=a, config=e, document=doc
                ),
                archive=lambda a, e: services.dynamic_config_archive(actor=a, config=e),
            ),
        )
    )
