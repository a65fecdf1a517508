"""Test a user: evaluate a saved experiment or layer (or the version an open change set
proposes) for one user in one environment as the SDKs would, and explain which group (or
layer default) they get and why: targeting, holdouts, layer allocation, group buckets.
Reads only; built on gates.explain."""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field, replace
from typing import Any

from console.targeting.text import pretty_json
from experiments.forms import percent_text
from experiments.models import Experiment, ExperimentStatus, Layer, status_from_document
from gates.explain import evaluator_for


@dataclass(frozen=True)
class Design:
    """What the explanation's words need of an experiment: saved or proposed."""

    allocation: Any
    status: str
    targeting_gate: str | None  # its name

    @classmethod
    def of(cls, experiment: Experiment) -> Design:
        gate = experiment.targeting_gate
        return cls(experiment.allocation, experiment.status, gate.name if gate else None)

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Design:
        status = status_from_document(document["status"]) or document["status"]
        return cls(document["allocation"], status, document.get("targetingGateID"))


@dataclass
class CondLine:
    reason: str
    passed: bool
    error: str | None = None


@dataclass
class RuleLine:
    label: str
    kind: str  # override, holdout, targeting, allocation, group, prestart, launched, layer
    state: str  # decided, missed, skipped
    conditions: list[CondLine]
    matched: bool = False
    badge: str = ""  # what the step did for this user, in words
    tone: str = "muted"  # pass, fail, muted: the badge's colour, agreeing with its words
    rule_id: str = ""  # the raw spec rule ID: secondary detail only


@dataclass
class Outcome:
    environment: Any
    user: dict[str, Any]
    why: str = ""  # in_experiment, held_out, not_targeted, not_allocated, override, ...
    why_label: str = ""
    headline: str = ""
    detail: str = ""
    group: str | None = None
    value: str = ""
    rule_id: str = ""
    rule_label: str = ""  # the deciding rule by name (the raw rule_id is secondary)
    experiment: str | None = None  # layers: the experiment that decided
    rules: list[RuleLine] = field(default_factory=list)
    notice: str = ""
    user_json: str = ""


WHY_LABELS = {
    "in_experiment": "In the experiment",
    "held_out": "Held out",
    "not_targeted": "Not targeted",
    "not_allocated": "Not allocated",
    "override": "Override",
    "prestart": "Not started",
    "shipped": "Shipped",
    "abandoned": "Decided: defaults",
    "missing": "Not in the spec",
}


def _rule_kind(rule_id: str, group_ids: Container[str]) -> str:
    if rule_id.endswith(":id_override") or rule_id.endswith(":segment_override"):
        return "override"
    if rule_id.startswith("holdout:"):
        return "holdout"
    if rule_id in ("targetingGate", "inlineTargetingRules"):
        return "targeting"
    if rule_id == "layerAssignment":
        return "allocation"
    if rule_id == "experimentAssignment":
        return "layer"
    if rule_id in ("prestart", "launchedGroup"):
        return {"prestart": "prestart", "launchedGroup": "launched"}[rule_id]
    return "group" if rule_id in group_ids else "other"


def _rule_label(
    entry: dict[str, Any], kind: str, groups: dict[str, dict], exp: Design | None
) -> str:
    rule_id = entry.get("id") or ""
    delegate = entry.get("delegate")
    if kind == "override":
        group_id = rule_id.split(" ")[-1].split(":")[0]
        name = entry.get("group_name") or groups.get(group_id, {}).get("name") or ""
        how = (
            "these IDs" if rule_id.endswith(":id_override") else "segment " + rule_id.split(":")[1]
        )
        target = f" of {delegate}" if delegate else ""
        return f"Override{target}: {how} → {name}".rstrip(" →")
    if kind == "holdout":
        return f"Holdout {rule_id.removeprefix('holdout:')}"
    if kind == "targeting":
        if rule_id == "targetingGate" and exp is not None and exp.targeting_gate:
            return f"Targeting: users failing {exp.targeting_gate} are not in"
        return "Targeting: users outside the conditions are not in"
    if kind == "allocation":
        return (
            f"Allocation: only {percent_text(exp.allocation)}% of units enter"
            if exp
            else "Allocation"
        )
    if kind == "layer":
        return f"Experiment {delegate}"
    if kind == "group":
        group = groups[rule_id]
        return f"Group {group['name']} ({percent_text(group['size'])}%)"
    if kind == "prestart":
        return "Not started: everyone gets the defaults"
    if kind == "launched":
        return f"Shipped group {entry.get('group_name') or ''}"
    return entry.get("name") or rule_id


# Steps that keep a user out when they match: their words and marks say what happened to
# the user (held out, not targeted, not allocated), not whether the spec's condition held.
KEEPERS = {
    # kind: (badge when the step decided, badge when the user went through)
    "holdout": ("held out", "not held out"),
    "targeting": ("not targeted", "targeted"),
    "allocation": ("not allocated", "allocated"),
}
# Steps whose deciding gives the user a group or the experiment's values.
GIVERS = {"group", "launched", "override", "layer"}


def _condition_line(
    kind: str, c: dict[str, Any], delegate: str | None, exp: Design | None
) -> CondLine:
    """One condition in words, its mark agreeing with the words: for keepers the mark says
    whether the user went through, elsewhere whether the condition held."""
    if c.get("error"):
        return CondLine(c.get("reason") or "", False, c.get("error"))
    held = bool(c.get("passed"))
    bucket, target = c.get("user_value"), c.get("target")
    count = len(target) if isinstance(target, list) else 0
    if kind == "allocation" and c.get("type") == "user_bucket":
        if held:
            return CondLine(
                f"Layer bucket {bucket} is not one of the experiment’s {count}: not allocated.",
                False,
            )
        return CondLine(
            f"Layer bucket {bucket} is one of the experiment’s {count}: allocated.", True
        )
    if kind == "holdout":
        name = str(target or "").removeprefix("holdout:")
        if held:
            return CondLine(f"In the holdout {name}: held out.", False)
        return CondLine(f"Outside the holdout {name}: not held out.", True)
    if kind == "targeting":
        what = (
            f"the targeting gate {exp.targeting_gate}"
            if exp is not None and exp.targeting_gate
            else "the targeting conditions"
        )
        if held:
            return CondLine(f"Fails {what}: not targeted.", False)
        return CondLine(f"Passes {what}: targeted.", True)
    if kind == "layer" and c.get("type") == "user_bucket":
        if held:
            return CondLine(
                f"Layer bucket {bucket} is one of the {count} that {delegate} owns.", True
            )
        return CondLine(
            f"Layer bucket {bucket} is not one of the {count} that {delegate} owns.", False
        )
    if kind == "group" and c.get("type") == "user_bucket":
        if held:
            return CondLine(
                f"Experiment bucket {bucket} is below {target} of 1000: this group.", True
            )
        return CondLine(f"Experiment bucket {bucket} is not below {target} of 1000.", False)
    return CondLine(c.get("reason") or "", held)


def _badge(kind: str, state: str) -> tuple[str, str]:
    """(words, tone) of a step's badge."""
    if state == "skipped":
        return "not reached", "muted"
    if kind in KEEPERS:
        stopped, through = KEEPERS[kind]
        return (stopped, "fail") if state == "decided" else (through, "pass")
    if state == "decided":
        return "decided", "pass" if kind in GIVERS else "fail"
    return "no match", "muted"


def _rules(report: dict[str, Any], groups: dict[str, dict], exp: Design | None) -> list[RuleLine]:
    lines = []
    for entry in report["rules"]:
        rule_id = entry.get("id") or ""
        kind = _rule_kind(rule_id, groups)
        state = "decided" if entry["decided"] else ("missed" if entry["evaluated"] else "skipped")
        badge, tone = _badge(kind, state)
        lines.append(
            RuleLine(
                label=_rule_label(entry, kind, groups, exp),
                kind=kind,
                state=state,
                matched=bool(entry["matched"]),
                conditions=[
                    _condition_line(kind, c, entry.get("delegate"), exp)
                    for c in entry["conditions"]
                ],
                badge=badge,
                tone=tone,
                rule_id=rule_id,
            )
        )
    return lines


def _why(report: dict[str, Any], exp: Design | None, groups: dict[str, dict]):
    """(why, headline, detail) from the deciding rule of an experiment's explanation."""
    result = report["result"]
    if not report["found"]:
        return "missing", "Not in the spec", f"Nothing to evaluate: {report['summary']}."
    decided = next((r for r in report["rules"] if r["decided"]), None)
    rule_id = (decided or {}).get("id") or ""
    kind = _rule_kind(rule_id, groups) if decided else ""
    group = result.get("group_name")
    if kind == "override":
        return "override", f"Forced into {group}", "An override puts this user in the group."
    if kind == "holdout":
        name = rule_id.removeprefix("holdout:")
        return "held_out", "Held out", f"The holdout {name} keeps this user out: defaults."
    if kind == "targeting":
        return (
            "not_targeted",
            "Not targeted",
            "The user is outside the experiment's targeting, so gets the defaults.",
        )
    if kind == "allocation":
        pct = percent_text(exp.allocation) if exp else "?"
        return (
            "not_allocated",
            "Not allocated",
            f"Targeted, but outside the {pct}% allocation: the user gets the defaults.",
        )
    if kind == "group":
        return (
            "in_experiment",
            f"In group {group}",
            f"The user is in the experiment and was assigned to {group}.",
        )
    if kind == "prestart":
        return "prestart", "Not started", "The experiment is a draft: everyone gets the defaults."
    if kind == "launched":
        return "shipped", f"Gets {group}", f"{group} was shipped: everyone gets its values."
    if exp is not None and exp.status == ExperimentStatus.ABANDONED:
        return "abandoned", "Gets the defaults", "The experiment was abandoned."
    return "abandoned", "Gets the defaults", "No rule decided: the defaults apply."


def _build(project, environment, user, outcome: Outcome, spec: dict[str, Any] | None = None):
    evaluator, notice = evaluator_for(project, environment, user, spec=spec)
    if evaluator is None:
        outcome.headline = "Cannot evaluate"
        outcome.notice = notice
    return evaluator


def _groups(report: dict[str, Any], groups: list[dict[str, Any]]) -> dict[str, dict]:
    """The experiment's groups by the ID of their spec rule. A proposed group may have no ID
    yet (a dry run gives it one): it is the group of the same name."""
    by_id = {g["id"]: g for g in groups if g.get("id")}
    by_name = {g["name"]: g for g in groups}
    for entry in report["rules"]:
        rule_id = entry.get("id") or ""
        name = entry.get("group_name")
        if _rule_kind(rule_id, by_id) == "other" and name in by_name:
            by_id[rule_id] = by_name[name]
    return by_id


def explain_experiment(
    experiment: Experiment,
    environment,
    user: dict[str, Any],
    *,
    spec: dict[str, Any] | None = None,
    document: dict[str, Any] | None = None,
) -> Outcome:
    """Evaluate the saved experiment for `user` in `environment`, and say why; or its
    proposed version: `spec` the environment's spec with a change set applied, `document`
    the experiment as proposed."""
    outcome = Outcome(environment=environment, user=user, user_json=pretty_json(user))
    evaluator = _build(experiment.project, environment, user, outcome, spec)
    if evaluator is None:
        return outcome
    report = evaluator.explain(user, experiment.name, "config")
    design = Design.from_document(document) if document else Design.of(experiment)
    groups = _groups(report, document["groups"] if document else experiment.groups)
    result = report["result"]
    outcome.why, outcome.headline, outcome.detail = _why(report, design, groups)
    outcome.why_label = WHY_LABELS[outcome.why]
    outcome.group = result.get("group_name")
    outcome.rule_id = result.get("rule_id") or ""
    outcome.value = pretty_json(result.get("value"))
    outcome.rules = _rules(report, groups, design)
    outcome.rule_label = _deciding_label(outcome.rules)
    return outcome


def _deciding_label(rules: list[RuleLine]) -> str:
    """The name of the step that decided (the last one: a layer's delegate decides after
    the layer's own assignment rule), or "" when no rule did (the default)."""
    decided = [rule for rule in rules if rule.state == "decided"]
    return decided[-1].label if decided else ""


def explain_layer(
    layer: Layer,
    environment,
    user: dict[str, Any],
    *,
    spec: dict[str, Any] | None = None,
) -> Outcome:
    """Evaluate the layer for `user`: which experiment (if any) and which group decide; or
    its proposed version, `spec` the environment's spec with a change set applied."""
    outcome = Outcome(environment=environment, user=user, user_json=pretty_json(user))
    evaluator = _build(layer.project, environment, user, outcome, spec)
    if evaluator is None:
        return outcome
    report = evaluator.explain(user, layer.name, "layer")
    result = report["result"]
    outcome.value = pretty_json(result.get("value"))
    outcome.rule_id = result.get("rule_id") or ""
    outcome.rules = _rules(report, {}, None)
    delegate = report.get("delegate")
    decided = next((r for r in report["rules"] if r["decided"]), None)
    if delegate is not None:
        exp = (
            Experiment.objects.active()
            .filter(project=layer.project, name=delegate["name"])
            .select_related("targeting_gate")
            .first()
        )
        groups = _groups(delegate, exp.groups) if exp else {}
        design = Design.of(exp) if exp else None
        outcome.experiment = delegate["name"]
        outcome.why, outcome.headline, outcome.detail = _why(delegate, design, groups)
        outcome.detail = f"Allocated to {delegate['name']}. {outcome.detail}"
        outcome.group = delegate["result"].get("group_name")
        outcome.rules += [
            replace(rule, label=f"{delegate['name']} · {rule.label}")
            for rule in _rules(delegate, groups, design)
        ]
    elif decided is not None and (decided.get("id") or "").startswith("holdout:"):
        outcome.why, outcome.headline = "held_out", "Held out"
        outcome.detail = "A global holdout keeps this user out: the layer's defaults."
    elif report["found"]:
        outcome.why, outcome.headline = "not_allocated", "Not allocated"
        outcome.detail = "No running experiment of the layer holds this user: the defaults."
    else:
        outcome.why, outcome.headline = "missing", "Not in the spec"
        outcome.detail = report["summary"]
    outcome.why_label = WHY_LABELS[outcome.why]
    outcome.rule_label = _deciding_label(outcome.rules)
    return outcome
