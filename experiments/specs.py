"""The experiments app's spec contributor: experiments into `dynamic_configs`, layers into
`layer_configs`, holdouts (and experiments' inline targeting segments) into `feature_gates`,
plus `layers` and `experiment_to_layer`.

Constant query count whatever the number of entities: experiments (with their targeting
gate), layers, layer buckets, holdouts, holdout links, and (only when some experiment
names segments or gates in its overrides or conditions) the live ones of those.

Shapes (docs/statsig-spec.md §6, §12):
* experiment (`entity: experiment`), rules by status:
  - draft: overrides → holdouts → `prestart` (public, defaults); `isActive: false`;
  - running: overrides → holdouts → targeting (`targetingGate`: fail_gate <gate>, or
    `inlineTargetingRules`: fail_gate on the segment `segment:inline_targeting:<name>`) →
    `layerAssignment` (user_bucket none [owned buckets] on the LAYER salt) → one rule per
    group (user_bucket lt <cumulative size × 10> on the EXPERIMENT salt,
    isExperimentGroup, rule id and salt = group id); `isActive: true`;
  - shipped: holdouts → `launchedGroup` (public, the group's values);
  - abandoned: no rules (defaults, rule id "default").
  Every returnValue and the defaultValue hold every parameter: group values over the
  experiment's defaults, which for a layered experiment are the layer's (hasSharedParams,
  explicitParameters = the experiment's parameters). An unlayered parameter without a
  default (Statsig's create body: values only in the groups) is absent where no group sets it.
* override rules: `<groupId>:id_override` (unit_id any [ids]) first, then
  `<groupId>:<segment>:segment_override` (pass_gate segment:<segment>), with groupName and
  the group's values, no isExperimentGroup.
* holdout rule on experiments and layers: `holdout:<name>` (pass_gate <holdout>, 100%,
  the defaults). A holdout is a gate with entity `holdout`, `defaultValue: false` and one
  public rule `returnValue: true` with `passPercentage` = its percentage (its rule salt is
  stable, so raising the percentage keeps everyone already held out).
* layer (`entity: layer`): per draft or running experiment, delegating override rules;
  then the global holdouts; then one `experimentAssignment` rule per running experiment
  (user_bucket any [its buckets] on the layer salt, configDelegate). `defaultValue` is every
  layer parameter.
A targeting gate or segment archived since the experiment was saved targets nobody (a
spec never names a missing gate: node and Rust would drop the experiment).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import JSONField
from django.db.models.expressions import RawSQL

from console.targeting.conditions import CONDITION_TYPES, ValueKind, condition_to_spec
from experiments.models import (
    LAYER_BUCKETS,
    Experiment,
    ExperimentStatus,
    Holdout,
    Layer,
    LayerBucket,
)
from gates.models import FeatureGate, Segment

SEGMENT_PREFIX = "segment:"
INLINE_TARGETING_PREFIX = "segment:inline_targeting:"
# Part of every fragment key: bump it when a spec function gives other specs for the same rows.
FRAGMENT_FORMAT = "experiments/1"


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _condition(
    ctype: str, id_type: str, operator: str | None = None, target: Any = None, **additional
) -> dict[str, Any]:
    return {
        "type": ctype,
        "operator": operator,
        "targetValue": target,
        "field": None,
        "additionalValues": additional,
        "idType": id_type,
    }


def _rule(
    rule_id: str,
    conditions: list[dict[str, Any]],
    return_value: Any,
    id_type: str,
    *,
    salt: str = "",
    group: str | None = None,
    experiment_group: bool = False,
    delegate: str | None = None,
    pass_percentage: int | float = 100,
) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "name": rule_id,
        "id": rule_id,
        "salt": salt,
        "passPercentage": pass_percentage,
        "conditions": conditions,
        "returnValue": return_value,
        "idType": id_type,
    }
    if group is not None:
        rule["groupName"] = group
    if experiment_group:
        rule["isExperimentGroup"] = True
    if delegate is not None:
        rule["configDelegate"] = delegate
    return rule


def _holdout_rules(holdouts: list[dict], defaults: dict, id_type: str) -> list[dict[str, Any]]:
    return [
        _rule(
            f"holdout:{h['name']}",
            [_condition("pass_gate", id_type, target=h["name"])],
            defaults,
            id_type,
        )
        for h in holdouts
    ]


def holdout_spec(holdout: dict[str, Any]) -> dict[str, Any]:
    """The gate of one holdout row (as `.values()` of Holdout)."""
    id_type = holdout["id_type"]
    percentage = Decimal(holdout["percentage"])
    rule = _rule(
        f"holdout:{percentage:.2f}",
        [_condition("public", id_type)],
        True,
        id_type,
        salt=holdout["rule_salt"],
        pass_percentage=_number(percentage),
    )
    return {
        "name": holdout["name"],
        "type": "feature_gate",
        "entity": "holdout",
        "salt": holdout["salt"],
        "enabled": True,
        "defaultValue": False,
        "idType": id_type,
        "rules": [rule],
        "version": holdout["revision"],
    }


class LiveNames:
    """Names of the live gates and segments that experiments refer to."""

    def __init__(self, gates: set[str], segments: set[str]):
        self.gates = gates
        self.segments = segments

    def condition_ok(self, condition: dict[str, Any]) -> bool:
        target = CONDITION_TYPES[condition["type"]].target
        if target == ValueKind.GATE:
            return condition["targetValue"] in self.gates
        if target == ValueKind.SEGMENT:
            return condition["targetValue"] in self.segments
        return True


def _override_rules(
    exp: dict, groups: dict[str, dict], value_of, live: LiveNames, *, delegate=None
):
    """ID overrides of every group first (the most specific), then segment overrides."""
    id_type = exp["id_type"]
    prefix = f"{exp['name']} " if delegate else ""
    by_ids, by_segments = [], []
    for override in exp["overrides"]:
        group = groups.get(override["groupId"])
        if group is None:
            continue
        value, name = value_of(group), group["name"]
        if override["unitIDs"]:
            by_ids.append(
                _rule(
                    f"{prefix}{group['id']}:id_override",
                    [_condition("unit_id", id_type, "any", list(override["unitIDs"]))],
                    value,
                    id_type,
                    group=None if delegate else name,
                    delegate=delegate,
                )
            )
        for segment in override["segments"]:
            if segment not in live.segments:
                continue
            by_segments.append(
                _rule(
                    f"{prefix}{group['id']}:{segment}:segment_override",
                    [_condition("pass_gate", id_type, target=SEGMENT_PREFIX + segment)],
                    value,
                    id_type,
                    group=None if delegate else name,
                    delegate=delegate,
                )
            )
    return by_ids + by_segments


def _targeting(exp: dict, defaults: dict, live: LiveNames, draft) -> list[dict[str, Any]]:
    id_type = exp["id_type"]
    nobody = [_condition("public", id_type)]
    if exp["targeting_gate__name"] is not None:
        gate = exp["targeting_gate__name"]
        conditions = (
            [_condition("fail_gate", id_type, target=gate)]
            if exp["targeting_gate__archived_at"] is None
            else nobody
        )
        return [_rule("targetingGate", conditions, defaults, id_type)]
    if not exp["targeting_conditions"]:
        return []
    if not all(live.condition_ok(c) for c in exp["targeting_conditions"]):
        return [_rule("inlineTargetingRules", nobody, defaults, id_type)]
    segment_name = INLINE_TARGETING_PREFIX + exp["name"]
    draft.feature_gates.append(
        {
            "name": segment_name,
            "type": "feature_gate",
            "entity": "segment",
            "salt": exp["salt"],
            "enabled": True,
            "defaultValue": False,
            "idType": id_type,
            "rules": [
                _rule(
                    "inlineTargetingRules",
                    [condition_to_spec(c, id_type=id_type) for c in exp["targeting_conditions"]],
                    True,
                    id_type,
                )
            ],
            "version": exp["revision"],
        }
    )
    return [
        _rule(
            "inlineTargetingRules",
            [_condition("fail_gate", id_type, target=segment_name)],
            defaults,
            id_type,
        )
    ]


def _group_rules(exp: dict, value_of) -> list[dict[str, Any]]:
    id_type, rules, cumulative = exp["id_type"], [], Decimal(0)
    for group in exp["groups"]:
        cumulative += Decimal(str(group["size"]))
        bound = _number(cumulative * LAYER_BUCKETS / 100)
        rules.append(
            _rule(
                group["id"],
                [_condition("user_bucket", id_type, "lt", bound, salt=exp["salt"])],
                value_of(group),
                id_type,
                salt=group["id"],
                group=group["name"],
                experiment_group=True,
            )
        )
    return rules


def experiment_spec(
    exp: dict[str, Any],
    *,
    layer: dict[str, Any] | None,
    buckets: list[int],
    holdouts: list[dict[str, Any]],
    live: LiveNames,
    draft,
) -> dict[str, Any]:
    """The spec of one experiment row (as `.values()`); may add its inline targeting
    segment to `draft.feature_gates`."""
    id_type, status = exp["id_type"], exp["status"]
    if layer is not None:
        defaults = {p["name"]: p["defaultValue"] for p in layer["parameters"]}
    else:
        # A parameter without a default (None) is absent outside the groups.
        defaults = {
            p["name"]: p["defaultValue"] for p in exp["parameters"] if p["defaultValue"] is not None
        }
    groups = {g["id"]: g for g in exp["groups"]}

    def value_of(group: dict) -> dict[str, Any]:
        return {**defaults, **group["parameterValues"]}

    rules: list[dict[str, Any]] = []
    if status == ExperimentStatus.DRAFT:
        rules = _override_rules(exp, groups, value_of, live)
        rules += _holdout_rules(holdouts, defaults, id_type)
        rules.append(_rule("prestart", [_condition("public", id_type)], defaults, id_type))
    elif status == ExperimentStatus.RUNNING:
        layer_salt = layer["salt"] if layer is not None else exp["layer_salt"]
        rules = _override_rules(exp, groups, value_of, live)
        rules += _holdout_rules(holdouts, defaults, id_type)
        rules += _targeting(exp, defaults, live, draft)
        assignment = _condition("user_bucket", id_type, "none", buckets, salt=layer_salt)
        rules.append(_rule("layerAssignment", [assignment], defaults, id_type))
        rules += _group_rules(exp, value_of)
    elif status == ExperimentStatus.SHIPPED:
        winner = groups[exp["launched_group_id"]]
        rules = _holdout_rules(holdouts, defaults, id_type)
        rules.append(
            _rule(
                "launchedGroup",
                [_condition("public", id_type)],
                value_of(winner),
                id_type,
                group=winner["name"],
            )
        )
    spec: dict[str, Any] = {
        "name": exp["name"],
        "type": "dynamic_config",
        "entity": "experiment",
        "salt": exp["salt"],
        "enabled": True,
        "defaultValue": defaults,
        "idType": id_type,
        "rules": rules,
        "isActive": status == ExperimentStatus.RUNNING,
        "hasSharedParams": layer is not None,
        "version": exp["revision"],
    }
    if layer is not None:
        spec["explicitParameters"] = [p["name"] for p in exp["parameters"]]
    return spec


def layer_spec(
    layer: dict[str, Any],
    experiments: list[dict[str, Any]],
    buckets: dict[int, list[int]],
    global_holdouts: list[dict[str, Any]],
    live: LiveNames,
) -> dict[str, Any]:
    id_type = layer["id_type"]
    defaults = {p["name"]: p["defaultValue"] for p in layer["parameters"]}
    rules: list[dict[str, Any]] = []
    for exp in experiments:
        if exp["status"] in (ExperimentStatus.DRAFT, ExperimentStatus.RUNNING):
            groups = {g["id"]: g for g in exp["groups"]}
            rules += _override_rules(exp, groups, lambda g: defaults, live, delegate=exp["name"])
    rules += _holdout_rules(global_holdouts, defaults, id_type)
    for exp in experiments:
        if exp["status"] == ExperimentStatus.RUNNING:
            condition = _condition(
                "user_bucket", id_type, "any", buckets.get(exp["pk"], []), salt=layer["salt"]
            )
            rules.append(
                _rule("experimentAssignment", [condition], defaults, id_type, delegate=exp["name"])
            )
    return {
        "name": layer["name"],
        "type": "dynamic_config",
        "entity": "layer",
        "salt": layer["salt"],
        "enabled": True,
        "defaultValue": defaults,
        "idType": id_type,
        "rules": rules,
        "version": layer["revision"],
    }


def _referenced(experiments: list[dict]) -> tuple[set[str], set[str]]:
    gates: set[str] = set()
    segments: set[str] = set()
    for exp in experiments:
        for override in exp["overrides"]:
            segments.update(override["segments"])
        for condition in exp["targeting_conditions"]:
            target = CONDITION_TYPES[condition["type"]].target
            if target == ValueKind.GATE:
                gates.add(condition["targetValue"])
            elif target == ValueKind.SEGMENT:
                segments.add(condition["targetValue"])
    return gates, segments


_EXPERIMENT_FIELDS = (
    "pk",
    "name",
    "salt",
    "layer_salt",
    "id_type",
    "status",
    "allocation",
    "layer_id",
    "targeting_gate__name",
    "targeting_gate__archived_at",
    "targeting_conditions",
    "parameters",
    "groups",
    "overrides",
    "launched_group_id",
    "revision",
)


@dataclass
class _Inputs:
    """What the experiments contributor reads for one project (the same in every
    environment)."""

    experiments: list[dict[str, Any]]
    layers: dict[int, dict[str, Any]]
    buckets: dict[int, list[int]]
    holdouts: list[dict[str, Any]]
    links: dict[int, set[int]]
    live: LiveNames

    def layer_of(self, exp: dict[str, Any]) -> dict[str, Any] | None:
        return self.layers.get(exp["layer_id"]) if exp["layer_id"] else None

    def owned(self, exp: dict[str, Any]) -> list[int]:
        if self.layer_of(exp) is not None:
            return self.buckets.get(exp["pk"], [])
        return list(range(int(exp["allocation"] * LAYER_BUCKETS / 100)))

    def applying(self, exp: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            h for h in self.holdouts if h["is_global"] or h["pk"] in self.links.get(exp["pk"], ())
        ]

    def experiment_spec(self, exp: dict[str, Any], draft) -> dict[str, Any]:
        """The spec of `exp` from these inputs (its inline targeting segment, if any, goes
        to `draft.feature_gates`)."""
        return experiment_spec(
            exp,
            layer=self.layer_of(exp),
            buckets=self.owned(exp),
            holdouts=self.applying(exp),
            live=self.live,
            draft=draft,
        )

    def members(self) -> dict[int, list[dict[str, Any]]]:
        in_layer: dict[int, list[dict]] = {}
        for exp in self.experiments:
            layer = self.layer_of(exp)
            if layer is not None:
                in_layer.setdefault(layer["pk"], []).append(exp)
        return in_layer


def _load(
    project,
    experiments: list[dict[str, Any]] | None = None,
    referenced: tuple[set[str], set[str]] | None = None,
) -> _Inputs:
    """Everything `contribute` reads. The fragment form reads the experiments itself (only
    what keys them) and gives the names they refer to; it reads no buckets here (each
    experiment's are in its digest, and read with it when it is rebuilt)."""
    if experiments is None:
        experiments = list(
            Experiment.objects.active()
            .filter(project=project)
            .order_by("name")
            .values(*_EXPERIMENT_FIELDS)
        )
    layers = {
        row["pk"]: row
        for row in Layer.objects.active()
        .filter(project=project)
        .values("pk", "name", "salt", "id_type", "parameters", "revision")
    }
    buckets: dict[int, list[int]] = {}
    if referenced is None:
        rows = (
            LayerBucket.objects.filter(layer__project=project)
            .order_by("experiment_id", "bucket")
            .values_list("experiment_id", "bucket")
        )
        for experiment_id, bucket in rows:
            buckets.setdefault(experiment_id, []).append(bucket)
    holdouts = list(
        Holdout.objects.active()
        .filter(project=project)
        .order_by("name")
        .values("pk", "name", "salt", "rule_salt", "id_type", "percentage", "is_global", "revision")
    )
    links: dict[int, set[int]] = {}
    if holdouts:
        through = Holdout.experiments.through.objects.filter(
            holdout_id__in=[h["pk"] for h in holdouts]
        ).values_list("experiment_id", "holdout_id")
        for experiment_id, holdout_id in through:
            links.setdefault(experiment_id, set()).add(holdout_id)
    gate_names, segment_names = referenced or _referenced(experiments)
    live = LiveNames(set(), set())
    if gate_names:
        live.gates = set(
            FeatureGate.objects.active()
            .filter(project=project, name__in=gate_names)
            .values_list("name", flat=True)
        )
    if segment_names:
        live.segments = set(
            Segment.objects.active()
            .filter(project=project, name__in=segment_names)
            .values_list("name", flat=True)
        )
    return _Inputs(experiments, layers, buckets, holdouts, links, live)


def contribute(project, environment, draft) -> None:
    """Registered in ExperimentsConfig.ready(): adds this project's live experiments,
    layers and holdouts to the draft (the same in every environment)."""
    data = _load(project)
    for holdout in data.holdouts:
        draft.feature_gates.append(holdout_spec(holdout))
    global_holdouts = [h for h in data.holdouts if h["is_global"]]
    for exp in data.experiments:
        draft.dynamic_configs.append(data.experiment_spec(exp, draft))
    in_layer = data.members()
    for layer in data.layers.values():
        members = in_layer.get(layer["pk"], [])
        draft.layer_configs.append(
            layer_spec(layer, members, data.buckets, global_holdouts, data.live)
        )
        draft.layers[layer["name"]] = [exp["name"] for exp in members]
        for exp in members:
            draft.experiment_to_layer[exp["name"]] = layer["name"]


# ---------------------------------------------------------------- fragment form

# The experiment's own columns its spec reads (the targeting gate's state is digested
# apart, from its join).
_DIGEST_COLUMNS = tuple(
    f for f in _EXPERIMENT_FIELDS if f != "pk" and not f.startswith("targeting_gate__")
)


def _types(kind: str) -> list[str]:
    return sorted(name for name, ctype in CONDITION_TYPES.items() if ctype.target == kind)


def _names(select: str) -> str:
    return f"(SELECT COALESCE(jsonb_agg(q.name), '[]'::jsonb) FROM ({select}) q(name))"


def _annotated(queryset):
    """Experiments with, from the statement that reads them: a digest of everything their
    own spec is built from (columns, targeting gate's name and archival, layer buckets),
    their layer buckets, and the gate and segment names they refer to."""
    t = f'"{Experiment._meta.db_table}"'
    buckets = (
        f"(SELECT COALESCE(jsonb_agg(b.bucket ORDER BY b.bucket), '[]'::jsonb)"
        f" FROM {LayerBucket._meta.db_table} b WHERE b.experiment_id = {t}.id)"
    )
    gate = (
        f"(SELECT jsonb_build_array(g.name, g.archived_at) FROM {FeatureGate._meta.db_table} g"
        f" WHERE g.id = {t}.targeting_gate_id)"
    )
    columns = ", ".join(f"{t}.{c}" for c in _DIGEST_COLUMNS)
    digest = (
        f"encode(sha256(convert_to(jsonb_build_array({columns}, {gate}, {buckets})::text,"
        " 'UTF8')), 'hex')"
    )
    targets = (
        f"SELECT c->>'targetValue' FROM jsonb_array_elements({t}.targeting_conditions) c"
        " WHERE c->>'type' = ANY(%s)"
    )
    segments = (
        f"SELECT s FROM jsonb_array_elements({t}.overrides) o,"
        " jsonb_array_elements_text(o->'segments') s"
    )
    return queryset.annotate(
        fragment_digest=RawSQL(digest, ()),
        bucket_list=RawSQL(buckets, (), output_field=JSONField()),
        gate_refs=RawSQL(_names(targets), (_types(ValueKind.GATE),), output_field=JSONField()),
        segment_refs=RawSQL(
            _names(f"{targets} UNION ALL {segments}"),
            (_types(ValueKind.SEGMENT),),
            output_field=JSONField(),
        ),
    )


def _key(kind: str, inputs: Any) -> str:
    # Everything the unit's specs are built from (digests of rows as read, not revisions).
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
    return f"{FRAGMENT_FORMAT}:{kind}:{hashlib.sha256(text.encode()).hexdigest()}"


def _liveness(gates: set[str], segments: set[str], live: LiveNames) -> list[Any]:
    return [
        sorted((name, name in live.gates) for name in gates),
        sorted((name, name in live.segments) for name in segments),
    ]


class _Sink:
    """Where experiment_spec puts an experiment's inline targeting segment."""

    def __init__(self) -> None:
        self.feature_gates: list[dict[str, Any]] = []


class _Keys:
    """The keys of the experiment and layer units, from phase-one rows (digest, names
    referred to) or from full rows: the same key for the same content."""

    def __init__(self, data: _Inputs, refs: dict[int, tuple[set[str], set[str]]]):
        self.data = data
        self.refs = refs

    def experiment(self, exp: dict[str, Any]) -> str:
        data = self.data
        inputs = [
            exp["fragment_digest"],
            data.layer_of(exp),
            [h["name"] for h in data.applying(exp)],
            _liveness(*self.refs[exp["pk"]], data.live),
        ]
        return _key("experiment", inputs)

    def layer(self, layer: dict[str, Any], members: list[dict[str, Any]]) -> str:
        gates: set[str] = set()
        segments: set[str] = set()
        for exp in members:
            gates |= self.refs[exp["pk"]][0]
            segments |= self.refs[exp["pk"]][1]
        inputs = [
            layer,
            [(exp["name"], exp["fragment_digest"]) for exp in members],
            [h["name"] for h in self.data.holdouts if h["is_global"]],
            _liveness(gates, segments, self.data.live),
        ]
        return _key("layer", inputs)


@dataclass
class _PhaseOne:
    """What keys the experiments contributor's units (the same in every environment)."""

    data: _Inputs
    in_layer: dict[int, list[dict[str, Any]]]
    holdout_keys: list[str]
    experiment_keys: dict[int, str]
    layer_keys: dict[int, str]


def _phase_one(project) -> _PhaseOne:
    light = list(
        _annotated(Experiment.objects.active().filter(project=project))
        .order_by("name")
        .values("pk", "name", "layer_id", "fragment_digest", "gate_refs", "segment_refs")
    )
    refs = {exp["pk"]: (set(exp["gate_refs"]), set(exp["segment_refs"])) for exp in light}
    referenced: tuple[set[str], set[str]] = (set(), set())
    for gates, segments in refs.values():
        referenced[0].update(gates)
        referenced[1].update(segments)
    data = _load(project, light, referenced)
    keys = _Keys(data, refs)
    in_layer = data.members()
    return _PhaseOne(
        data=data,
        in_layer=in_layer,
        holdout_keys=[_key("holdout", holdout) for holdout in data.holdouts],
        experiment_keys={exp["pk"]: keys.experiment(exp) for exp in light},
        layer_keys={
            pk: keys.layer(layer, in_layer.get(pk, [])) for pk, layer in data.layers.items()
        },
    )


def contribute_fragments(project, environment, draft) -> None:
    """The fragment form of `contribute` (console.specs.incremental): one unit per
    holdout, per experiment (with its inline targeting segment) and per layer, keyed by
    digests of the rows and references its specs are built from (the environment plays
    no part). Experiments are read in full only for the units not cached."""
    phase_one = draft.memo("experiments", lambda: _phase_one(project))
    data, in_layer = phase_one.data, phase_one.in_layer
    # One reuse call for every key: the units a process lacks come from the shared tier
    # in one batch.
    missing = draft.reuse(
        [
            *phase_one.holdout_keys,
            *phase_one.experiment_keys.values(),
            *phase_one.layer_keys.values(),
        ]
    )
    for holdout, key in zip(data.holdouts, phase_one.holdout_keys, strict=True):
        if key in missing:
            draft.add(key, [("feature_gates", holdout_spec(holdout))])
    missing_experiments = [pk for pk, key in phase_one.experiment_keys.items() if key in missing]
    missing_layers = [data.layers[pk] for pk, key in phase_one.layer_keys.items() if key in missing]
    for layer in data.layers.values():
        members = in_layer.get(layer["pk"], [])
        draft.layers[layer["name"]] = [exp["name"] for exp in members]
        for exp in members:
            draft.experiment_to_layer[exp["name"]] = layer["name"]
    wanted = set(missing_experiments)
    for layer in missing_layers:
        wanted.update(exp["pk"] for exp in in_layer.get(layer["pk"], []))
    if not wanted and not missing_layers:
        return

    # Phase two: the full rows of what is not cached, keyed again from those very rows (a
    # layer without experiments needs none).
    rows = (
        list(
            _annotated(Experiment.objects.active().filter(project=project, pk__in=wanted))
            .order_by("name")
            .values(*_EXPERIMENT_FIELDS, "fragment_digest", "bucket_list")
        )
        if wanted
        else []
    )
    full = _Inputs(
        experiments=rows,
        layers=data.layers,
        buckets={row["pk"]: row["bucket_list"] for row in rows},
        holdouts=data.holdouts,
        links=data.links,
        live=data.live,
    )
    full_keys = _Keys(full, {row["pk"]: _referenced([row]) for row in rows})
    missing = set(missing_experiments)
    for exp in rows:
        if exp["pk"] in missing:
            sink = _Sink()
            spec = full.experiment_spec(exp, sink)
            draft.add(
                full_keys.experiment(exp),
                [("feature_gates", s) for s in sink.feature_gates] + [("dynamic_configs", spec)],
            )
    full_members = full.members()
    global_holdouts = [h for h in full.holdouts if h["is_global"]]
    for layer in missing_layers:
        members = full_members.get(layer["pk"], [])
        spec = layer_spec(layer, members, full.buckets, global_holdouts, full.live)
        draft.add(full_keys.layer(layer, members), [("layer_configs", spec)])
