"""Progressive rollouts: a gate rule's pass percentage raised step by step by the worker.

The schedule is part of the gate's document (`rules[i].rolloutSchedule`), so it is
reviewed and approved with the change set that sets it, once, as a whole. Where it stands
is a GateRollout row per rule: `rollouts_sync` (called by gate_create and gate_update)
starts a new or changed schedule over and drops those that are gone; beat runs
`rollouts_advance_due` every GATEHOUSE_SCHEDULE_TICK_SECONDS, and each due step is applied
as its own gate revision, audit event and ruleset version, exactly once (the rollout row is
taken with FOR UPDATE SKIP LOCKED and must still be due). Members pause, resume or stop a
rollout from the gate's page.

A step due `afterSeconds` counts from when the step before it was applied (the first: from
when the schedule was applied), so a worker that was away never squeezes two steps into
one tick; a step due `at` a time is applied at the first tick after it. Raising the
percentage moves no unit that already passed: a unit passes when its hash, with the rule's
salt (kept across updates), falls under the threshold, and the threshold only rises.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from console.audit import audit_record
from console.exceptions import Conflict
from console.publishing.services import ruleset_version_create
from gates.documents import gate_to_document
from gates.models import FeatureGate, GateRollout, RolloutState
from gates.services._common import ensure_writer, lock_project_graph
from gates.types import RolloutStepDoc

logger = logging.getLogger(__name__)
R = RolloutState


def step_due(step: RolloutStepDoc, anchor: datetime) -> datetime:
    """When `step` is due, the step before it having been applied at `anchor`."""
    if "at" in step:
        when = parse_datetime(step["at"])
        if when is not None:
            return when
    return anchor + timedelta(seconds=step.get("afterSeconds", 0))


def rollouts_sync(*, gate: FeatureGate, actor, now: datetime | None = None) -> None:
    """Bring the gate's rollout rows in line with its stored rules, in the caller's
    transaction (gate_create, gate_update): a rule with a new or changed schedule starts
    it (step 1 next), an unchanged one keeps its place, a rule without one has no row."""
    now = now or timezone.now()
    schedules = {r["id"]: r["rolloutSchedule"] for r in gate.rules if r.get("rolloutSchedule")}
    existing = {r.rule_id: r for r in GateRollout.objects.select_for_update().filter(gate=gate)}
    GateRollout.objects.filter(gate=gate).exclude(rule_id__in=list(schedules)).delete()
    for rule_id, steps in schedules.items():
        row = existing.get(rule_id)
        if row is not None and row.steps == steps:
            continue
        if row is not None:
            row.delete()
        GateRollout.objects.create(
            gate=gate,
            rule_id=rule_id,
            steps=steps,
            state=R.ACTIVE,
            next_step=0,
            next_at=step_due(steps[0], now),
            applied=[],
            started_by=actor,
        )


def rollouts_advance_due(*, now: datetime | None = None) -> int:
    """Apply the next step of every active rollout whose step is due; returns how many
    steps were applied. One transaction per rollout, so one refusal holds up no other."""
    now = now or timezone.now()
    due = list(
        GateRollout.objects.filter(state=R.ACTIVE, next_at__lte=now)
        .order_by("next_at", "pk")
        .values_list("pk", flat=True)
    )
    applied = 0
    for rollout_id in due:
        try:
            applied += _advance(rollout_id, now)
        except Exception:
            logger.exception("gate.rollout_step_failed rollout=%s", rollout_id)
    return applied


@transaction.atomic
def _advance(rollout_id: int, now: datetime) -> int:
    rollout = (
        GateRollout.objects.select_for_update(of=("self",), skip_locked=True)
        .select_related("gate__project")
        .filter(pk=rollout_id, state=R.ACTIVE, next_at__lte=now)
        .first()
    )
    if rollout is None:  # another worker has it, or it was applied, paused or stopped
        return 0
    project = rollout.gate.project
    lock_project_graph(project)
    gate = FeatureGate.objects.select_for_update(of=("self",)).get(pk=rollout.gate_id)
    rules = [dict(r) for r in gate.rules]
    rule = next((r for r in rules if r["id"] == rollout.rule_id), None)
    if gate.archived_at is not None or rule is None:
        _set(rollout, state=R.STOPPED, next_at=None)
        return 0
    total = len(rollout.steps)
    step = rollout.steps[rollout.next_step]
    before = gate_to_document(gate)
    old_pct = rule["passPercentage"]
    rule["passPercentage"] = step["passPercentage"]
    gate.rules = rules
    gate.revision += 1
    gate.save(update_fields=["rules", "revision", "updated_at"])
    number = rollout.next_step + 1
    done = number >= total
    _set(
        rollout,
        next_step=number,
        applied=[*rollout.applied, now.isoformat()],
        state=R.DONE if done else R.ACTIVE,
        next_at=None if done else step_due(rollout.steps[number], now),
    )
    audit_record(
        actor=None,
        action="gate.rollout_step_applied",
        target=gate,
        project=project,
        before=before,
        after={
            **gate_to_document(gate),
            "rollout": {
                "rule": rule["name"],
                "step": number,
                "of": total,
                "passPercentage": [old_pct, step["passPercentage"]],
            },
        },
    )
    ruleset_version_create(
        actor=None,
        project=project,
        reason=(
            f"Rollout of gate {gate.name}, rule {rule['name']}: step {number} of {total}, "
            f"{old_pct:g}% → {step['passPercentage']:g}%"
        ),
    )
    return 1


def _set(rollout: GateRollout, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(rollout, name, value)
    rollout.save(update_fields=[*fields, "updated_at"])


def _locked(actor, rollout: GateRollout) -> GateRollout:
    ensure_writer(actor, rollout.gate.project)
    return (
        GateRollout.objects.select_for_update(of=("self",))
        .select_related("gate__project")
        .get(pk=rollout.pk)
    )


def _record(actor, rollout: GateRollout, action: str, **after: Any) -> None:
    audit_record(
        actor=actor,
        action=f"gate.rollout_{action}",
        target=rollout.gate,
        project=rollout.gate.project,
        after={"rule_id": rollout.rule_id, "state": rollout.state, **after},
    )


@transaction.atomic
def gate_rollout_pause(*, actor, rollout: GateRollout) -> GateRollout:
    """Hold an active rollout where it is (members and admins); Conflict otherwise."""
    rollout = _locked(actor, rollout)
    if rollout.state != R.ACTIVE:
        raise Conflict(f"The rollout is {rollout.state}: only an active one pauses.", code="state")
    _set(rollout, state=R.PAUSED)
    _record(actor, rollout, "paused", next_step=rollout.next_step + 1)
    return rollout


@transaction.atomic
def gate_rollout_resume(*, actor, rollout: GateRollout, now: datetime | None = None):
    """Carry on a paused rollout: a step due after a wait waits it again from now; a step
    due at a time already past is applied at the next tick."""
    now = now or timezone.now()
    rollout = _locked(actor, rollout)
    if rollout.state != R.PAUSED:
        raise Conflict(f"The rollout is {rollout.state}: only a paused one resumes.", code="state")
    next_at = step_due(rollout.steps[rollout.next_step], now)
    _set(rollout, state=R.ACTIVE, next_at=next_at)
    _record(actor, rollout, "resumed", next_at=next_at.isoformat())
    return rollout


@transaction.atomic
def gate_rollout_stop(*, actor, rollout: GateRollout) -> GateRollout:
    """End a rollout for good: the rule keeps its current percentage; no step follows."""
    rollout = _locked(actor, rollout)
    if rollout.state not in (R.ACTIVE, R.PAUSED):
        raise Conflict(f"The rollout is {rollout.state} already.", code="state")
    _set(rollout, state=R.STOPPED, next_at=None)
    _record(actor, rollout, "stopped", steps_applied=rollout.next_step)
    return rollout
