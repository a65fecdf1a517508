"""The gates app's spec contributor: live gates and segments into `feature_gates`,
dynamic configs into `dynamic_configs`, large ID-list segments into `id_lists`.

Four queries per build whatever the number of entities (gates, segments, configs, and
the IDs of small ID-list segments).

Shapes (docs/statsig-spec.md §6 and §12):
* gate: `defaultValue: false`; rules `returnValue: true`; disabled (switch off or status
  disabled) → `enabled: false, rules: []`; launched → one public 100% rule; otherwise the
  override rules (`unit_id any [ids]` with the gate's idType, pass 100 / pass 0, ids ending
  in "override") and then the rules that apply to this environment.
* segment: `segment:<name>`, entity `segment`; an ID list of up to INLINE_ID_LIMIT IDs is
  one `unit_id any [ids]` rule, a larger one `unit_id in_segment_list <name>` plus
  `id_lists[<name>]` (its file: gates.selectors.segment_id_list_lines).
* dynamic config: `defaultValue` object, rules return their `returnValue`.
"""

from __future__ import annotations

from typing import Any

from django.db.models import BooleanField, JSONField
from django.db.models.expressions import RawSQL

from console.targeting.conditions import condition_to_spec
from gates.models import DynamicConfig, FeatureGate, GateStatus, Segment, SegmentID, SegmentKind

INLINE_ID_LIMIT = 1_000
SEGMENT_PREFIX = "segment:"
# Part of every fragment key: bump it when a spec function gives other specs for the same rows.
FRAGMENT_FORMAT = "gates/1"


def _applies(rule: dict[str, Any], environment_id: int) -> bool:
    ids = rule.get("environmentIds")
    return ids is None or environment_id in ids


def _rule(rule: dict[str, Any], id_type: str, return_value: Any) -> dict[str, Any]:
    return {
        "name": rule["id"],
        "groupName": rule["name"],
        "id": rule["id"],
        "salt": rule["salt"],
        "passPercentage": rule["passPercentage"],
        "conditions": [condition_to_spec(c, id_type=id_type) for c in rule["conditions"]],
        "returnValue": return_value,
        "idType": id_type,
    }


def _fixed_rule(rule_id: str, group: str, condition: dict, id_type: str, *, passes: bool):
    # A rule that decides without bucketing: pass 100 or 0 (never returnValue false with
    # 100%, which legacy SDKs read as true).
    return {
        "name": rule_id,
        "groupName": group,
        "id": rule_id,
        "salt": "",
        "passPercentage": 100 if passes else 0,
        "conditions": [condition],
        "returnValue": passes,
        "idType": id_type,
    }


def _public(id_type: str) -> dict[str, Any]:
    return {
        "type": "public",
        "operator": None,
        "targetValue": None,
        "field": None,
        "additionalValues": {},
        "idType": id_type,
    }


def _unit_id_any(ids: list[str], id_type: str) -> dict[str, Any]:
    return {
        "type": "unit_id",
        "operator": "any",
        "targetValue": ids,
        "field": None,
        "additionalValues": {},
        "idType": id_type,
    }


def _override_rules(overrides: list[dict], environment_id: int, id_type: str) -> list[dict]:
    """Leading rules for this environment: its own entry wins over the every-environment
    one for an ID listed in both."""
    everywhere = next((o for o in overrides if o["environmentId"] is None), None)
    here = next((o for o in overrides if o["environmentId"] == environment_id), None)
    own_pass = set(here["passingIDs"]) if here else set()
    own_fail = set(here["failingIDs"]) if here else set()
    failing, passing = set(own_fail), set(own_pass)
    if everywhere:
        failing |= set(everywhere["failingIDs"]) - own_pass
        passing |= set(everywhere["passingIDs"]) - own_fail
    rules = []
    if failing:
        rules.append(
            _fixed_rule(
                "failing:id_override",
                "Forced to fail",
                _unit_id_any(sorted(failing), id_type),
                id_type,
                passes=False,
            )
        )
    if passing:
        rules.append(
            _fixed_rule(
                "passing:id_override",
                "Forced to pass",
                _unit_id_any(sorted(passing), id_type),
                id_type,
                passes=True,
            )
        )
    return rules


def gate_spec(gate: dict[str, Any], environment_id: int) -> dict[str, Any]:
    """The spec of one gate row (as `.values()` of FeatureGate) in one environment."""
    id_type = gate["id_type"]
    enabled = gate["is_enabled"] and gate["status"] != GateStatus.DISABLED
    rules: list[dict[str, Any]] = []
    if enabled and gate["status"] == GateStatus.LAUNCHED:
        rules = [_fixed_rule("launched", "Launched", _public(id_type), id_type, passes=True)]
    elif enabled:
        rules = _override_rules(gate["overrides"], environment_id, id_type) + [
            _rule(r, id_type, True) for r in gate["rules"] if _applies(r, environment_id)
        ]
    return {
        "name": gate["name"],
        "type": "feature_gate",
        "entity": "feature_gate",
        "salt": gate["salt"],
        "enabled": enabled,
        "defaultValue": False,
        "idType": id_type,
        "rules": rules,
        "version": gate["revision"],
    }


def segment_spec(
    segment: dict[str, Any], environment_id: int, inline_ids: list[str] | None
) -> dict[str, Any]:
    id_type = segment["id_type"]
    if segment["kind"] == SegmentKind.RULE_BASED:
        rules = [_rule(r, id_type, True) for r in segment["rules"] if _applies(r, environment_id)]
    elif segment["id_count"] == 0:
        rules = []
    elif inline_ids is not None:
        rules = [
            _fixed_rule(
                "id_list", "ID list", _unit_id_any(inline_ids, id_type), id_type, passes=True
            )
        ]
    else:
        condition = {
            "type": "unit_id",
            "operator": "in_segment_list",
            "targetValue": segment["name"],
            "field": None,
            "additionalValues": {},
            "idType": id_type,
        }
        rules = [_fixed_rule("id_list", "ID list", condition, id_type, passes=True)]
    return {
        "name": SEGMENT_PREFIX + segment["name"],
        "type": "feature_gate",
        "entity": "segment",
        "salt": segment["salt"],
        "enabled": True,
        "defaultValue": False,
        "idType": id_type,
        "rules": rules,
        "version": segment["revision"],
    }


def dynamic_config_spec(config: dict[str, Any], environment_id: int) -> dict[str, Any]:
    id_type = config["id_type"]
    enabled = config["is_enabled"]
    rules = (
        [
            _rule(r, id_type, r.get("returnValue", {}))
            for r in config["rules"]
            if _applies(r, environment_id)
        ]
        if enabled
        else []
    )
    return {
        "name": config["name"],
        "type": "dynamic_config",
        "entity": "dynamic_config",
        "salt": config["salt"],
        "enabled": enabled,
        "defaultValue": config["default_value"],
        "idType": id_type,
        "rules": rules,
        "version": config["revision"],
    }


_COMMON = ("pk", "name", "salt", "id_type", "rules", "revision")


def contribute(project, environment, draft) -> None:
    """Registered in GatesConfig.ready(): adds this project's live gates, segments and
    dynamic configs for `environment` to the draft."""
    env_id = environment.pk
    gates = FeatureGate.objects.active().filter(project=project)
    for gate in gates.values(*_COMMON, "is_enabled", "status", "overrides"):
        draft.feature_gates.append(gate_spec(gate, env_id))

    segments = list(
        Segment.objects.active().filter(project=project).values(*_COMMON, "kind", "id_count")
    )
    small = [
        s["pk"]
        for s in segments
        if s["kind"] == SegmentKind.ID_LIST and 0 < s["id_count"] <= INLINE_ID_LIMIT
    ]
    inline: dict[int, list[str]] = {pk: [] for pk in small}
    if small:
        rows = (
            SegmentID.objects.filter(segment_id__in=small)
            .order_by("segment_id", "unit_id")
            .values_list("segment_id", "unit_id")
        )
        for segment_id, unit_id in rows:
            inline[segment_id].append(unit_id)
    for segment in segments:
        ids = inline.get(segment["pk"])
        draft.feature_gates.append(segment_spec(segment, env_id, ids))
        if segment["kind"] == SegmentKind.ID_LIST and ids is None and segment["id_count"]:
            draft.id_lists[segment["name"]] = True

    configs = DynamicConfig.objects.active().filter(project=project)
    for config in configs.values(*_COMMON, "is_enabled", "default_value"):
        draft.dynamic_configs.append(dynamic_config_spec(config, env_id))


# ---------------------------------------------------------------- fragment form

# The columns each spec is built from. A row's digest of them (`spec_digest`) and whether its
# rules or overrides are environment-scoped (`spec_scoped`) are kept by a PostgreSQL trigger on
# every INSERT and UPDATE, whatever wrote the row (migration 0003; digest_trigger_sql).
_GATE_COLUMNS = (*_COMMON[1:], "is_enabled", "status", "overrides")
_SEGMENT_COLUMNS = (*_COMMON[1:], "kind", "id_count")
_CONFIG_COLUMNS = (*_COMMON[1:], "is_enabled", "default_value")
_RULES_SCOPED = "jsonb_path_exists({t}.rules, '$[*] ? (@.environmentIds != null)')"
_OVERRIDES_SCOPED = "jsonb_path_exists({t}.overrides, '$[*] ? (@.environmentId != null)')"
DIGESTED = {
    FeatureGate: (_GATE_COLUMNS, f"{_RULES_SCOPED} OR {_OVERRIDES_SCOPED}"),
    Segment: (_SEGMENT_COLUMNS, _RULES_SCOPED),
    DynamicConfig: (_CONFIG_COLUMNS, _RULES_SCOPED),
}


def _sha256_sql(text: str) -> str:
    return f"encode(sha256(convert_to({text}, 'UTF8')), 'hex')"


def digest_sql(columns: tuple[str, ...], table: str) -> str:
    """SQL for the hex SHA-256 of a row's `columns` (`table`: the row's name in the SQL)."""
    values = ", ".join(f"{table}.{column}" for column in columns)
    return _sha256_sql(f"jsonb_build_array({values})::text")


def digest_trigger_sql(table: str, columns: tuple[str, ...], scoped: str) -> str:
    """The function and trigger that keep `table`'s spec_digest and spec_scoped."""
    return (
        f"CREATE OR REPLACE FUNCTION {table}_spec_digest() RETURNS trigger"
        " LANGUAGE plpgsql AS $$ BEGIN"
        f" NEW.spec_digest := {digest_sql(columns, 'NEW')};"
        f" NEW.spec_scoped := {scoped.format(t='NEW')};"
        " RETURN NEW; END $$;"
        f" CREATE OR REPLACE TRIGGER {table}_spec_digest BEFORE INSERT OR UPDATE ON {table}"
        f" FOR EACH ROW EXECUTE FUNCTION {table}_spec_digest();"
    )


def _inline_ids_sql(table: str) -> str:
    # The IDs of a small ID-list segment, in the order `contribute` reads them.
    return (
        f"CASE WHEN {table}.kind = '{SegmentKind.ID_LIST}' AND {table}.id_count > 0"
        f" AND {table}.id_count <= {INLINE_ID_LIMIT} THEN (SELECT"
        " COALESCE(jsonb_agg(ids.unit_id ORDER BY ids.unit_id), '[]'::jsonb)"
        f" FROM {SegmentID._meta.db_table} ids WHERE ids.segment_id = {table}.id) END"
    )


def _keyed(queryset, extra: str = ""):
    """`queryset` with each row's content digest (its stored spec_digest, plus the digest
    of `extra`, SQL of what the spec reads beyond the row) and its spec_scoped."""
    table = f'"{queryset.model._meta.db_table}"'
    digest = f"{table}.spec_digest"
    if extra:
        digest += f" || COALESCE(':' || {_sha256_sql(f'({extra})::text')}, '')"
    return queryset.annotate(
        fragment_digest=RawSQL(digest, ()),
        fragment_scoped=RawSQL(f"{table}.spec_scoped", (), output_field=BooleanField()),
    )


def _key(kind: str, row: dict[str, Any], environment_id: int) -> str:
    key = f"{FRAGMENT_FORMAT}:{kind}:{row['fragment_digest']}"
    return f"{key}@{environment_id}" if row["fragment_scoped"] else key


def _reuse_or_build(draft, queryset, kind: str, fields: tuple[str, ...], build) -> None:
    """Reuse the cached fragment of every row whose key is cached; read the other rows
    (their keys again, from the same statement) and add `build(row)`. The keys are read
    once for all the environments of a build_all."""
    env_id = draft.environment.pk
    rows = draft.memo(
        f"gates.{kind}",
        lambda: [
            (pk, f"{FRAGMENT_FORMAT}:{kind}:{digest}", scoped)
            for pk, digest, scoped in queryset.values_list(
                "pk", "fragment_digest", "fragment_scoped"
            )
        ],
    )
    keys = {pk: f"{key}@{env_id}" if scoped else key for pk, key, scoped in rows}
    missing = draft.reuse(keys.values())
    pks = [pk for pk, key in keys.items() if key in missing]
    if pks:
        full = queryset.filter(pk__in=pks).values(*fields, "fragment_digest", "fragment_scoped")
        for row in full:
            draft.add(_key(kind, row, env_id), build(row))


def contribute_fragments(project, environment, draft) -> None:
    """The fragment form of `contribute` (console.specs.incremental): one fragment per
    gate, segment and dynamic config, keyed by a digest of the columns its spec is built
    from (and of a small ID-list segment's IDs), plus the environment when its rules or
    overrides are environment-scoped."""
    env_id = environment.pk
    gates = _keyed(FeatureGate.objects.active().filter(project=project))
    _reuse_or_build(
        draft,
        gates,
        "gate",
        (*_COMMON, "is_enabled", "status", "overrides"),
        lambda row: [("feature_gates", gate_spec(row, env_id))],
    )

    table = f'"{Segment._meta.db_table}"'
    segments = _keyed(
        Segment.objects.active().filter(project=project), _inline_ids_sql(table)
    ).annotate(inline_ids=RawSQL(_inline_ids_sql(table), (), output_field=JSONField()))
    files = draft.memo(
        "gates.id_lists",
        lambda: list(
            segments.filter(kind=SegmentKind.ID_LIST, id_count__gt=INLINE_ID_LIMIT).values_list(
                "name", flat=True
            )
        ),
    )
    draft.id_lists.update(dict.fromkeys(files, True))
    _reuse_or_build(
        draft,
        segments,
        "segment",
        (*_COMMON, "kind", "id_count", "inline_ids"),
        lambda row: [("feature_gates", segment_spec(row, env_id, row["inline_ids"]))],
    )

    configs = _keyed(DynamicConfig.objects.active().filter(project=project))
    _reuse_or_build(
        draft,
        configs,
        "config",
        (*_COMMON, "is_enabled", "default_value"),
        lambda row: [("dynamic_configs", dynamic_config_spec(row, env_id))],
    )
