"""Validation of proposed documents: every field cleaned or refused with the document path
of the fault; names resolved to references; dependency cycles refused."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import best_match as best_schema_error

from console.entities import SALT_SHAPE, imported_identity, imported_rule_id, new_salt
from console.exceptions import Conflict
from console.models import Environment, Project, Tag
from console.targeting.conditions import CONDITION_TYPES, ValueKind, clean_condition
from console.targeting.fields import (
    MAX_SAFE_INTEGER,
    boolean,
    clean_id_type,
    clean_owner,
    clean_tags,
    clean_unit_ids,
    fail,
    project_tags,
    require_object,
    text,
    unsafe_integer,
)
from gates.documents.common import (
    MAX_CONDITIONS,
    MAX_RULES,
    MAX_VALUE_BYTES,
    NAME_PATTERN,
    NAME_RULE,
    STATSIG_GATE_STATUS,
    STATSIG_GATE_TYPE,
    new_rule_id,
)
from gates.hooks import name_claimed_by
from gates.models import (
    BUILTIN_UNIT_TYPES,
    DynamicConfig,
    FeatureGate,
    GateStatus,
    ReferenceKind,
    Segment,
    SegmentKind,
    UnitType,
)
from gates.types import (
    DynamicConfigDocument,
    GateDocument,
    RolloutStepDoc,
    RuleDoc,
    SegmentDocument,
    StoredOverride,
    StoredRule,
)

# ---------------------------------------------------------------- validation


@dataclass
class Cleaned:
    """A validated document and what the services store from it."""

    document: dict[str, Any]
    rules: list[StoredRule] = field(default_factory=list)
    overrides: list[StoredOverride] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)
    owner: Any = None
    # (target kind, target id): the gates and segments the conditions use.
    references: set[tuple[str, int]] = field(default_factory=set)


@dataclass
class _Context:
    project: Project
    kind: str
    existing: Any
    environments: dict[str, Environment]
    tags: dict[str, Tag]
    unit_types: dict[str, str]
    # (kind, lowercased name) -> first field path that uses it
    wanted: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def load(cls, project: Project, kind: str, existing) -> _Context:
        unit_types = {u.lower(): u for u in BUILTIN_UNIT_TYPES}
        for name in UnitType.objects.filter(project=project).values_list("name", flat=True):
            unit_types[name.lower()] = name
        return cls(
            project=project,
            kind=kind,
            existing=existing,
            environments={e.name.lower(): e for e in Environment.objects.filter(project=project)},
            tags=project_tags(project),
            unit_types=unit_types,
        )


# The spec section each model is published in; names are unique within a section.
SPEC_SECTION = {FeatureGate: "feature_gates", DynamicConfig: "dynamic_configs"}


def _clean_name(ctx: _Context, doc: dict, model) -> str:
    name = doc.get("name")
    name = name.strip() if isinstance(name, str) else name
    if ctx.existing is not None:
        if name is not None and name != ctx.existing.name:
            raise fail(
                "A name cannot change: SDK calls and other rules use it. Create a new "
                "one and archive this one instead.",
                "name_immutable",
                "name",
            )
        return ctx.existing.name
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise fail(NAME_RULE, "invalid_name", "name")
    taken = (
        model.objects.active()
        .filter(project=ctx.project)
        .annotate(lname=Lower("name"))
        .filter(lname=name.lower())
        .exists()
    )
    if taken:
        raise Conflict(f"The name '{name}' is already taken.", code="duplicate", field="name")
    claimant = name_claimed_by(ctx.project, SPEC_SECTION.get(model, ""), name)
    if claimant:
        raise Conflict(
            f"The name '{name}' is already taken by the {claimant} '{name}': they share the "
            "SDKs' namespace.",
            code="duplicate",
            field="name",
        )
    return name


def _clean_percentage(value: Any, path: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise fail("The pass percentage is a number from 0 to 100.", "invalid_percentage", path)
    try:
        exact = Decimal(str(value))
    except InvalidOperation as exc:
        raise fail("The pass percentage is a number.", "invalid_percentage", path) from exc
    if not exact.is_finite() or not 0 <= exact <= 100:
        raise fail("The pass percentage is between 0 and 100.", "percentage_out_of_range", path)
    if exact != exact.quantize(Decimal("0.01")):
        raise fail(
            "The pass percentage has at most two decimals (e.g. 12.5 or 33.33).",
            "percentage_precision",
            path,
        )
    return int(exact) if exact == exact.to_integral_value() else float(exact)


def _clean_environments(ctx: _Context, value: Any, path: str) -> tuple[list[str] | None, Any]:
    if value is None:
        return None, None
    if not isinstance(value, list):
        raise fail("'environments' is a list of environment names, or null.", "invalid", path)
    names: list[str] = []
    ids: list[int] = []
    for i, name in enumerate(value):
        env = ctx.environments.get(name.strip().lower()) if isinstance(name, str) else None
        if env is None:
            raise fail(
                f"This project has no environment {name!r}; it has "
                f"{', '.join(e.name for e in ctx.environments.values())}.",
                "unknown_environment",
                f"{path}[{i}]",
            )
        if env.pk not in ids:
            names.append(env.name)
            ids.append(env.pk)
    return names, ids


def _json_size_ok(value: Any) -> bool:
    return len(json.dumps(value, separators=(",", ":"))) <= MAX_VALUE_BYTES


def _clean_return_value(value: Any, path: str, schema_validator) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail("A config value is a JSON object.", "invalid_value", path)
    if not _json_size_ok(value):
        raise fail(f"A config value has at most {MAX_VALUE_BYTES:,} bytes.", "too_large", path)
    if unsafe_integer(value):
        raise fail(
            f"Integers in a config value stay within ±{MAX_SAFE_INTEGER:,} (JavaScript SDKs "
            "would round larger ones); send larger numbers as strings.",
            "unsafe_integer",
            path,
        )
    if schema_validator is not None:
        error = best_schema_error(schema_validator.iter_errors(value))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
            raise fail(
                f"The value does not match the schema at {where}: {error.message}",
                "schema_mismatch",
                path,
            )
    return value


MAX_ROLLOUT_STEPS = 20
MAX_STEP_SECONDS = 90 * 24 * 3600


def _clean_rollout(value: Any, path: str, *, allowed: bool) -> list[RolloutStepDoc]:
    """A gate rule's rollout schedule: steps with strictly rising pass percentages, each at
    an aware time (rising too) or `afterSeconds` after the step before it."""
    if value is None or value == []:
        return []
    if not allowed:
        raise fail("Only feature gate rules have a rollout schedule.", "invalid", path)
    if not isinstance(value, list):
        raise fail("A rollout schedule is a list of steps.", "invalid", path)
    if len(value) > MAX_ROLLOUT_STEPS:
        raise fail(f"At most {MAX_ROLLOUT_STEPS} rollout steps.", "too_many_steps", path)
    steps: list[RolloutStepDoc] = []
    last_pct: float = -1
    last_at: datetime | None = None
    for k, raw in enumerate(value):
        spath = f"{path}[{k}]"
        if not isinstance(raw, dict):
            raise fail("Each rollout step is an object.", "invalid", spath)
        pct = _clean_percentage(raw.get("passPercentage"), f"{spath}.passPercentage")
        if pct <= last_pct:
            raise fail(
                "Each step raises the percentage above the step before it.",
                "not_rising",
                f"{spath}.passPercentage",
            )
        last_pct = pct
        step: RolloutStepDoc = {"passPercentage": pct}
        at, after = raw.get("at"), raw.get("afterSeconds")
        if (at is None) == (after is None):
            raise fail("Give each step a time ('at') or a wait ('afterSeconds').", "invalid", spath)
        if at is not None:
            when = parse_datetime(at) if isinstance(at, str) else None
            if when is None or timezone.is_naive(when):
                raise fail(
                    "A step's time is ISO 8601 with a timezone, e.g. 2026-12-24T09:30:00Z.",
                    "invalid_time",
                    f"{spath}.at",
                )
            when = when.astimezone(UTC)
            if last_at is not None and when <= last_at:
                raise fail("Step times rise from step to step.", "not_rising", f"{spath}.at")
            last_at = when
            step["at"] = when.isoformat().replace("+00:00", "Z")
        else:
            if (
                isinstance(after, bool)
                or not isinstance(after, int)
                or not 1 <= after <= MAX_STEP_SECONDS
            ):
                raise fail(
                    "A step's wait is a whole number of seconds, up to 90 days.",
                    "invalid",
                    f"{spath}.afterSeconds",
                )
            step["afterSeconds"] = after
        steps.append(step)
    return steps


def _imported_rule(ctx: _Context, doc: dict, rule_id: Any, path: str) -> tuple[str, str] | None:
    """A new entity's rule keeps the id and salt its import names (identity.rules: {id:
    salt}), when well-formed and not used by another rule of the project."""
    salts = imported_identity(doc).get("rules")
    if ctx.existing is not None or not isinstance(salts, dict) or rule_id not in salts:
        return None
    rule_id = imported_rule_id(rule_id, f"{path}.id")
    salt = salts[rule_id]
    if not isinstance(salt, str) or not SALT_SHAPE.match(salt):
        raise fail("An imported salt is a lowercase UUID.", "invalid_identity", f"{path}.id")
    for model in (FeatureGate, Segment, DynamicConfig):
        if model.objects.filter(project=ctx.project, rules__contains=[{"id": rule_id}]).exists():
            raise Conflict(
                f"Another rule of this project has the id {rule_id}.",
                code="identity_taken",
                field=f"{path}.id",
            )
    return rule_id, salt


def _clean_rules(
    ctx: _Context,
    doc: dict,
    *,
    schema_validator=None,
    config: bool = False,
    rollouts: bool = False,
):
    raw_rules = doc.get("rules") or []
    if not isinstance(raw_rules, list):
        raise fail("'rules' is a list.", "invalid", "rules")
    if len(raw_rules) > MAX_RULES:
        raise fail(f"At most {MAX_RULES} rules.", "too_many_rules", "rules")
    old = {r["id"]: r for r in (ctx.existing.rules if ctx.existing is not None else [])}
    cleaned: list[RuleDoc] = []
    stored: list[StoredRule] = []
    given_ids: set[str] = set()
    for i, raw in enumerate(raw_rules):
        path = f"rules[{i}]"
        if not isinstance(raw, dict):
            raise fail("Each rule is an object.", "invalid_rule", path)
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100:
            raise fail("Name the rule (up to 100 characters).", "required", f"{path}.name")
        rule_id = raw.get("id")
        if rule_id is not None and not isinstance(rule_id, str):
            raise fail("A rule id is text.", "invalid", f"{path}.id")
        if rule_id in given_ids:
            raise fail("Two rules have the same id.", "duplicate_rule_id", f"{path}.id")
        if rule_id:
            given_ids.add(rule_id)
        previous = old.get(rule_id) if rule_id else None
        imported = _imported_rule(ctx, doc, rule_id, path) if previous is None else None
        rule_id, salt = (
            (previous["id"], previous["salt"])
            if previous
            else imported or (new_rule_id(), new_salt())
        )
        percentage = _clean_percentage(raw.get("passPercentage"), f"{path}.passPercentage")
        raw_conditions = raw.get("conditions")
        if not isinstance(raw_conditions, list) or not raw_conditions:
            raise fail(
                "A rule needs at least one condition (use 'Everyone' for all units).",
                "no_conditions",
                f"{path}.conditions",
            )
        if len(raw_conditions) > MAX_CONDITIONS:
            raise fail(
                f"At most {MAX_CONDITIONS} conditions per rule.",
                "too_many_conditions",
                f"{path}.conditions",
            )
        conditions = []
        for j, raw_condition in enumerate(raw_conditions):
            cpath = f"{path}.conditions[{j}]"
            condition = clean_condition(raw_condition, path=cpath, unit_types=ctx.unit_types)
            target_kind = CONDITION_TYPES[condition["type"]].target
            if target_kind in (ValueKind.GATE, ValueKind.SEGMENT):
                key = (target_kind, condition["targetValue"].lower())
                ctx.wanted.setdefault(key, f"{cpath}.targetValue")
            conditions.append(condition)
        env_names, env_ids = _clean_environments(
            ctx, raw.get("environments"), f"{path}.environments"
        )
        rule_doc: RuleDoc = {
            "id": rule_id,
            "name": name.strip(),
            "passPercentage": percentage,
            "conditions": conditions,
            "environments": env_names,
        }
        stored_rule: StoredRule = {
            "id": rule_id,
            "salt": salt,
            "name": name.strip(),
            "passPercentage": percentage,
            "conditions": conditions,
            "environmentIds": env_ids,
        }
        if config:
            value = _clean_return_value(
                raw.get("returnValue"), f"{path}.returnValue", schema_validator
            )
            rule_doc["returnValue"] = stored_rule["returnValue"] = value
        schedule = _clean_rollout(
            raw.get("rolloutSchedule"), f"{path}.rolloutSchedule", allowed=rollouts
        )
        if schedule:
            rule_doc["rolloutSchedule"] = stored_rule["rolloutSchedule"] = schedule
        cleaned.append(rule_doc)
        stored.append(stored_rule)
    return cleaned, stored


def _clean_overrides(ctx: _Context, doc: dict):
    raw = doc.get("overrides") or []
    if not isinstance(raw, list):
        raise fail("'overrides' is a list.", "invalid", "overrides")
    cleaned, stored, seen = [], [], set()
    for i, entry in enumerate(raw):
        path = f"overrides[{i}]"
        if not isinstance(entry, dict):
            raise fail("Each override is an object.", "invalid", path)
        env_name = entry.get("environment")
        env = None
        if env_name is not None:
            env = ctx.environments.get(env_name.lower()) if isinstance(env_name, str) else None
            if env is None:
                raise fail(
                    f"This project has no environment {env_name!r}.",
                    "unknown_environment",
                    f"{path}.environment",
                )
        key = env.pk if env else None
        if key in seen:
            raise fail(
                "One override entry per environment.",
                "duplicate_override",
                f"{path}.environment",
            )
        seen.add(key)
        passing = clean_unit_ids(entry.get("passingIDs"), f"{path}.passingIDs", per="override list")
        failing = clean_unit_ids(entry.get("failingIDs"), f"{path}.failingIDs", per="override list")
        both = set(passing) & set(failing)
        if both:
            raise fail(
                f"{sorted(both)[0]!r} cannot be forced to pass and to fail.",
                "conflicting_override",
                f"{path}.failingIDs",
            )
        cleaned.append(
            {"environment": env.name if env else None, "passingIDs": passing, "failingIDs": failing}
        )
        stored.append({"environmentId": key, "passingIDs": passing, "failingIDs": failing})
    return cleaned, stored


def _resolve_references(ctx: _Context, own_name: str) -> set[tuple[str, int]]:
    """Turn the gate and segment names used by conditions into ids (one query per kind),
    refusing unknown or archived ones and self-references."""
    refs: set[tuple[str, int]] = set()
    for value_kind, model, entity_kind, label in (
        (ValueKind.GATE, FeatureGate, ReferenceKind.GATE, "gate"),
        (ValueKind.SEGMENT, Segment, ReferenceKind.SEGMENT, "segment"),
    ):
        names = {name: path for (k, name), path in ctx.wanted.items() if k == value_kind}
        if not names:
            continue
        if ctx.kind == entity_kind and own_name.lower() in names:
            raise fail(
                f"A {label} cannot use itself in its own rules.",
                "cycle",
                names[own_name.lower()],
            )
        found = dict(
            model.objects.active()
            .filter(project=ctx.project)
            .annotate(lname=Lower("name"))
            .filter(lname__in=list(names))
            .values_list("lname", "pk")
        )
        for name, path in sorted(names.items(), key=lambda item: item[1]):
            if name not in found:
                raise fail(f"This project has no {label} named {name!r}.", f"unknown_{label}", path)
            refs.add((entity_kind, found[name]))
    return refs


def _canonical_names(ctx: _Context, rules: list, stored: list, refs) -> None:
    """Write referenced gates' and segments' names as they are spelled."""
    if not refs:
        return
    spelled: dict[tuple[str, str], str] = {}
    for kind, model in ((ReferenceKind.GATE, FeatureGate), (ReferenceKind.SEGMENT, Segment)):
        ids = [pk for k, pk in refs if k == kind]
        for name in model.objects.filter(pk__in=ids).values_list("name", flat=True):
            spelled[(kind, name.lower())] = name
    for rule_list in (rules, stored):
        for rule in rule_list:
            for condition in rule["conditions"]:
                target = CONDITION_TYPES[condition["type"]].target
                if target in (ValueKind.GATE, ValueKind.SEGMENT):
                    kind = ReferenceKind.GATE if target == ValueKind.GATE else ReferenceKind.SEGMENT
                    key = (kind, condition["targetValue"].lower())
                    condition["targetValue"] = spelled.get(key, condition["targetValue"])


# The edges reachable from the starts (their sources reachable), leaving out the edited
# entity's own: PostgreSQL walks the graph (each node once: UNION drops repeats).
_REACHABLE_EDGES = """
WITH RECURSIVE reach(kind, id) AS (
    SELECT * FROM unnest(%(kinds)s::text[], %(ids)s::bigint[])
  UNION
    SELECT r.target_kind, r.target_id
    FROM reach JOIN gates_reference r ON r.source_kind = reach.kind AND r.source_id = reach.id
    WHERE r.project_id = %(project)s AND NOT (r.source_kind = %(kind)s AND r.source_id = %(id)s)
)
SELECT r.source_kind, r.source_id, r.target_kind, r.target_id
FROM reach JOIN gates_reference r ON r.source_kind = reach.kind AND r.source_id = reach.id
WHERE r.project_id = %(project)s AND NOT (r.source_kind = %(kind)s AND r.source_id = %(id)s)
"""


def _reachable_edges(
    project_id: int, me: tuple[str, int], starts: set[tuple[str, int]]
) -> list[tuple[str, int, str, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            _REACHABLE_EDGES,
            {
                "kinds": [kind for kind, _ in sorted(starts)],
                "ids": [pk for _, pk in sorted(starts)],
                "project": project_id,
                "kind": me[0],
                "id": me[1],
            },
        )
        return cursor.fetchall()


def _check_cycles(ctx: _Context, refs: set[tuple[str, int]]) -> None:
    """Refuse a change after which some gate or segment would depend on itself.

    The graph is every Reference of the project except the edited entity's own, plus its
    new ones; a cycle exists iff the entity is reachable from one of its new targets. Only
    the part reachable from them is read (_reachable_edges), not the project's graph."""
    if ctx.existing is None or not refs or ctx.kind == ReferenceKind.DYNAMIC_CONFIG:
        return
    me = (ctx.kind, ctx.existing.pk)
    graph: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for sk, sid, tk, tid in _reachable_edges(ctx.project.pk, me, refs):
        graph.setdefault((sk, sid), []).append((tk, tid))
    for start in sorted(refs):
        parent: dict[tuple[str, int], tuple[str, int] | None] = {start: None}
        stack = [start]
        while stack:
            node = stack.pop()
            if node == me:
                chain = [node]
                while parent[chain[-1]] is not None:
                    chain.append(parent[chain[-1]])  # type: ignore[arg-type]
                chain.append(me)
                raise fail(
                    "This would make a cycle: " + " → ".join(_node_labels(chain[::-1])) + ".",
                    "cycle",
                    _path_of(ctx, start),
                )
            for nxt in graph.get(node, []):
                if nxt not in parent:
                    parent[nxt] = node
                    stack.append(nxt)


def _node_labels(chain: list[tuple[str, int]]) -> list[str]:
    gates = dict(
        FeatureGate.objects.filter(pk__in=[i for k, i in chain if k == "gate"]).values_list(
            "pk", "name"
        )
    )
    segments = dict(
        Segment.objects.filter(pk__in=[i for k, i in chain if k == "segment"]).values_list(
            "pk", "name"
        )
    )
    return [
        f"gate {gates.get(i, i)}" if k == "gate" else f"segment {segments.get(i, i)}"
        for k, i in chain
    ]


def _path_of(ctx: _Context, node: tuple[str, int]) -> str | None:
    model = FeatureGate if node[0] == ReferenceKind.GATE else Segment
    name = model.objects.filter(pk=node[1]).values_list("name", flat=True).first() or ""
    value_kind = ValueKind.GATE if node[0] == ReferenceKind.GATE else ValueKind.SEGMENT
    return ctx.wanted.get((value_kind, name.lower()))


def _finish_references(ctx: _Context, name: str, cleaned: Cleaned) -> None:
    refs = _resolve_references(ctx, name)
    _check_cycles(ctx, refs)
    _canonical_names(ctx, cleaned.document["rules"], cleaned.rules, refs)
    cleaned.references = refs


_GATE_STATUS_ALIASES = {statsig: ours for ours, statsig in STATSIG_GATE_STATUS.items()}


def _is_permanent(doc: dict) -> bool:
    """isPermanent, or Statsig's `type` ("PERMANENT" / "TEMPORARY") standing for it; both
    given must agree."""
    is_permanent = boolean(doc, "isPermanent", default=False)
    if "type" not in doc:
        return is_permanent
    kind = doc["type"]
    by_type = {statsig: ours for ours, statsig in STATSIG_GATE_TYPE.items()}
    if not isinstance(kind, str) or kind not in by_type:
        raise fail("A gate's type is PERMANENT or TEMPORARY.", "invalid_type", "type")
    if doc.get("isPermanent") is not None and is_permanent != by_type[kind]:
        raise fail(
            f"The type {kind} contradicts isPermanent {str(is_permanent).lower()}: "
            "send one of them, or both agreeing.",
            "type_conflict",
            "type",
        )
    return by_type[kind]


def clean_gate(project: Project, doc: Any, existing: FeatureGate | None) -> Cleaned:
    """For services: validate_gate_document's work, plus what to store (salted rules,
    overrides by environment id, tag rows, owner, references)."""
    doc = require_object(doc)
    ctx = _Context.load(project, ReferenceKind.GATE, existing)
    name = _clean_name(ctx, doc, FeatureGate)
    status = doc.get("status") or GateStatus.IN_PROGRESS
    status = _GATE_STATUS_ALIASES.get(status, status) if isinstance(status, str) else status
    if status not in (GateStatus.IN_PROGRESS, GateStatus.LAUNCHED, GateStatus.DISABLED):
        raise fail(
            "The status is in_progress, launched or disabled (archive with gate_archive).",
            "invalid_status",
            "status",
        )
    rules, stored_rules = _clean_rules(ctx, doc, rollouts=True)
    overrides, stored_overrides = _clean_overrides(ctx, doc)
    tags = clean_tags(ctx.tags, doc)
    owner = clean_owner(ctx.project, doc)
    cleaned = Cleaned(
        document={
            "id": name,
            "name": name,
            "description": text(doc, "description", max_length=5000),
            "idType": clean_id_type(ctx.unit_types, doc),
            "isEnabled": boolean(doc, "isEnabled", default=True),
            "status": str(status),
            "isPermanent": _is_permanent(doc),
            "tags": [t.name for t in tags],
            "owner": owner.email if owner else None,
            "rules": rules,
            "overrides": overrides,
        },
        rules=stored_rules,
        overrides=stored_overrides,
        tags=tags,
        owner=owner,
    )
    _finish_references(ctx, name, cleaned)
    return cleaned


def clean_segment(project: Project, doc: Any, existing: Segment | None) -> Cleaned:
    doc = require_object(doc)
    ctx = _Context.load(project, ReferenceKind.SEGMENT, existing)
    name = _clean_name(ctx, doc, Segment)
    kind = doc.get("type")
    if kind not in SegmentKind.values:
        raise fail("A segment's type is rule_based or id_list.", "invalid_type", "type")
    if existing is not None and kind != existing.kind:
        raise fail(
            "A segment's type cannot change: create a new segment.", "type_immutable", "type"
        )
    if kind == SegmentKind.ID_LIST and doc.get("rules"):
        raise fail("ID-list segments have no rules: add or remove IDs instead.", "invalid", "rules")
    rules, stored_rules = _clean_rules(ctx, doc)
    tags = clean_tags(ctx.tags, doc)
    owner = clean_owner(ctx.project, doc)
    document: dict[str, Any] = {
        "id": name,
        "name": name,
        "description": text(doc, "description", max_length=5000),
        "type": kind,
        "idType": clean_id_type(ctx.unit_types, doc),
        "tags": [t.name for t in tags],
        "owner": owner.email if owner else None,
        "rules": rules,
    }
    if kind == SegmentKind.ID_LIST:
        document["count"] = existing.id_count if existing is not None else 0
    cleaned = Cleaned(document=document, rules=stored_rules, tags=tags, owner=owner)
    _finish_references(ctx, name, cleaned)
    return cleaned


def clean_dynamic_config(project: Project, doc: Any, existing: DynamicConfig | None) -> Cleaned:
    doc = require_object(doc)
    ctx = _Context.load(project, ReferenceKind.DYNAMIC_CONFIG, existing)
    name = _clean_name(ctx, doc, DynamicConfig)
    schema = doc.get("schema")
    validator = None
    if schema is not None:
        if not isinstance(schema, dict):
            raise fail("The schema is a JSON Schema object, or null.", "invalid_schema", "schema")
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise fail(
                f"This is not a valid JSON Schema: {exc.message}", "invalid_schema", "schema"
            ) from exc
        validator = Draft202012Validator(schema)
    default = _clean_return_value(
        {} if doc.get("defaultValue") is None else doc["defaultValue"], "defaultValue", validator
    )
    rules, stored_rules = _clean_rules(ctx, doc, schema_validator=validator, config=True)
    tags = clean_tags(ctx.tags, doc)
    owner = clean_owner(ctx.project, doc)
    cleaned = Cleaned(
        document={
            "id": name,
            "name": name,
            "description": text(doc, "description", max_length=5000),
            "idType": clean_id_type(ctx.unit_types, doc),
            "isEnabled": boolean(doc, "isEnabled", default=True),
            "tags": [t.name for t in tags],
            "owner": owner.email if owner else None,
            "defaultValue": default,
            "schema": schema,
            "rules": rules,
        },
        rules=stored_rules,
        tags=tags,
        owner=owner,
    )
    _finish_references(ctx, name, cleaned)
    return cleaned


def validate_gate_document(
    project: Project, doc: Any, existing: FeatureGate | None = None
) -> GateDocument:
    """The cleaned GateDocument, or DomainError/Conflict naming the field at fault."""
    return clean_gate(project, doc, existing).document  # type: ignore[return-value]


def validate_segment_document(
    project: Project, doc: Any, existing: Segment | None = None
) -> SegmentDocument:
    return clean_segment(project, doc, existing).document  # type: ignore[return-value]


def validate_dynamic_config_document(
    project: Project, doc: Any, existing: DynamicConfig | None = None
) -> DynamicConfigDocument:
    return clean_dynamic_config(project, doc, existing).document  # type: ignore[return-value]
