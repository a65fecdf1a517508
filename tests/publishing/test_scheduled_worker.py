"""Scheduled change sets and rollout steps applied by real Celery worker processes running
beat (every GATEHOUSE_SCHEDULE_TICK_SECONDS, here 1 s): on time within the tick, exactly
once with two workers (two beats), and across a worker restart between steps. Slow: about
30 s each, most of it starting worker processes on a shared machine."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from console.models import AuditEvent, RulesetVersion
from gates.models import FeatureGate, GateRollout, RolloutState
from reviews.models import ChangeSet, ChangeSetState
from reviews.services import changeset_approve, changeset_schedule
from tests.gates.factories import rule
from tests.publishing.conftest import _stop, wait_for
from tests.reviews.conftest import create_gate, reviewer, submit  # noqa: F401 (a fixture)

TICK = 1.0
# A process's own latency on a shared machine (a transaction, a version, a push) on top.
SLACK = 3.0
WORKER = {"GATEHOUSE_SCHEDULE_TICK_SECONDS": str(TICK), "CONN_MAX_AGE": "0"}


def _late(applied: datetime, due: datetime) -> float:
    return (applied - due).total_seconds()


def _steps(*pcts: int, every: int) -> list[dict]:
    return [{"passPercentage": p, "afterSeconds": every} for p in pcts]


def _scheduled_gate(project, author, approver, steps, name="new_checkout"):
    change_set = submit(
        author, project, create_gate(name, rules=[rule(pass_percentage=1, rolloutSchedule=steps)])
    )
    changeset_approve(actor=approver, change_set=change_set)
    gate = FeatureGate.objects.get(project=project, name=name)
    return gate, GateRollout.objects.get(gate=gate)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_workers__scheduled_change_set_and_rollout__each_applied_once_and_on_time(
    start_celery_worker,
    project,
    project_member,
    reviewer,  # noqa: F811
):
    # Given two workers, each running beat
    start_celery_worker(beat=True, **WORKER)
    start_celery_worker(beat=True, **WORKER)
    versions_before = RulesetVersion.objects.filter(project=project).count()

    # and a change set approved now, scheduled a few seconds ahead
    change_set = submit(project_member, project, create_gate("later_gate"))
    due = timezone.now() + timedelta(seconds=3)
    changeset_schedule(actor=project_member, change_set=change_set, at=due)
    changeset_approve(actor=reviewer, change_set=change_set)
    # and a gate whose rule rolls out 1% → 10% → 50% → 100%, two seconds apart
    gate, rollout = _scheduled_gate(project, project_member, reviewer, _steps(10, 50, 100, every=2))
    started = rollout.next_at - timedelta(seconds=2)

    # When the workers' beats run
    wait_for(
        lambda: GateRollout.objects.filter(pk=rollout.pk, state=RolloutState.DONE).exists(),
        timeout=30,
        interval=0.2,
    )
    wait_for(
        lambda: ChangeSet.objects.filter(pk=change_set.pk, state=ChangeSetState.APPLIED).exists(),
        timeout=15,
        interval=0.2,
    )

    # Then the change set was applied once, within a tick of its time
    change_set.refresh_from_db()
    assert 0 <= _late(change_set.applied_at, due) <= TICK + SLACK
    assert (
        AuditEvent.objects.filter(action="changeset.applied", target_id=str(change_set.pk)).count()
        == 1
    )
    assert FeatureGate.objects.filter(project=project, name="later_gate").count() == 1

    # and each rollout step once, each within a tick of its time, as its own version
    rollout.refresh_from_db()
    applied = [datetime.fromisoformat(a) for a in rollout.applied]
    assert len(applied) == 3
    anchor = started
    for at in applied:
        assert 0 <= _late(at, anchor + timedelta(seconds=2)) <= TICK + SLACK
        anchor = at
    gate.refresh_from_db()
    assert gate.rules[0]["passPercentage"] == 100
    assert (
        AuditEvent.objects.filter(
            action="gate.rollout_step_applied", target_id=str(gate.pk)
        ).count()
        == 3
    )
    # two applied change sets (the rollout's gate, the scheduled one) and three steps
    assert RulesetVersion.objects.filter(project=project).count() == versions_before + 5


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_restart_between_steps__the_next_step_applies_once_when_it_is_back(
    start_celery_worker,
    project,
    project_member,
    reviewer,  # noqa: F811
):
    # Given a worker with beat, and a rollout of two steps three seconds apart
    process, _log = start_celery_worker(beat=True, **WORKER)
    gate, rollout = _scheduled_gate(project, project_member, reviewer, _steps(20, 100, every=3))

    # When the first step is applied, the worker goes away past the second step's time
    wait_for(lambda: len(GateRollout.objects.get(pk=rollout.pk).applied) == 1, timeout=20)
    _stop(process)
    rollout.refresh_from_db()
    second_due = rollout.next_at
    time.sleep(max(0.0, (second_due - timezone.now()).total_seconds()) + 1.0)
    assert GateRollout.objects.get(pk=rollout.pk).next_step == 1  # nobody applied it
    back = timezone.now()
    start_celery_worker(beat=True, **WORKER)

    # Then the second step is applied once, soon after the worker is back
    wait_for(
        lambda: GateRollout.objects.filter(pk=rollout.pk, state=RolloutState.DONE).exists(),
        timeout=30,
        interval=0.2,
    )
    rollout.refresh_from_db()
    assert len(rollout.applied) == 2
    assert datetime.fromisoformat(rollout.applied[1]) >= back
    gate.refresh_from_db()
    assert gate.rules[0]["passPercentage"] == 100
    assert (
        AuditEvent.objects.filter(
            action="gate.rollout_step_applied", target_id=str(gate.pk)
        ).count()
        == 2
    )
