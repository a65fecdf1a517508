"""Progressive rollouts: a gate rule's schedule is approved with its change set, and each
step is applied as its own ruleset version with an audit event; pausing, resuming and
stopping; every unit that passed at a step passes at the next one (the published spec,
evaluated by our evaluator).

Steps run in-process here (the service beat calls); the real worker and beat processes are
in tests/publishing/test_scheduled_worker.py."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from console.exceptions import Conflict, DomainError, NotAllowed
from console.models import AuditEvent, ConfigSpec, RulesetVersion
from console.specs.evaluator import Evaluator
from gates import services
from gates.documents import gate_to_document
from gates.models import FeatureGate, GateRollout, RolloutState
from reviews.services import ChangeInput, changeset_approve
from tests.gates.factories import gate_document, rule
from tests.reviews.conftest import create_gate, reviewer, submit  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db
R = RolloutState
STEPS = [
    {"passPercentage": 5, "afterSeconds": 60},
    {"passPercentage": 25, "afterSeconds": 60},
    {"passPercentage": 50, "afterSeconds": 60},
    {"passPercentage": 100, "afterSeconds": 60},
]
USERS = [{"userID": f"user-{n}"} for n in range(20_000)]


def _published_passing(project) -> set[str]:
    """Who passes in what production's SDKs receive now (the latest published spec)."""
    spec = (
        ConfigSpec.objects.filter(environment__project=project, environment__name="production")
        .order_by("-time_ms")
        .first()
    )
    evaluator = Evaluator(json.loads(spec.v1_json))
    return {u["userID"] for u in USERS if evaluator.check_gate(u, "new_checkout")}


def _rule_pct(gate) -> float:
    gate.refresh_from_db()
    return gate.rules[0]["passPercentage"]


@pytest.fixture
def scheduled(project, project_member, reviewer):  # noqa: F811
    """A gate at 1% with a four-step schedule, approved once as a whole."""
    change_set = submit(
        project_member,
        project,
        create_gate(rules=[rule(pass_percentage=1, rolloutSchedule=STEPS)]),
    )
    changeset_approve(actor=reviewer, change_set=change_set)
    gate = FeatureGate.objects.get(project=project, name="new_checkout")
    return gate, GateRollout.objects.get(gate=gate)


def test_schedule__approved_once__each_step_its_own_version_and_audit_and_no_unit_moves_out(
    project, scheduled
):
    gate, rollout = scheduled
    started = rollout.next_at
    assert rollout.state == R.ACTIVE
    assert _rule_pct(gate) == 1
    passing = [_published_passing(project)]
    versions = [RulesetVersion.objects.filter(project=project).count()]

    # Not before its time
    assert services.rollouts_advance_due(now=started - timedelta(seconds=1)) == 0

    now = started
    for step in STEPS:
        # When the step is due (beat on two workers: run twice)
        assert services.rollouts_advance_due(now=now) == 1
        assert services.rollouts_advance_due(now=now) == 0
        # Then the rule is at the step's percentage, as a new version, and every unit
        # that passed before still passes
        assert _rule_pct(gate) == step["passPercentage"]
        versions.append(RulesetVersion.objects.filter(project=project).count())
        passing.append(_published_passing(project))
        assert passing[-2] <= passing[-1]
        now += timedelta(seconds=step["afterSeconds"])

    assert versions == list(range(versions[0], versions[0] + len(STEPS) + 1))
    assert len(passing[1]) < len(passing[2]) < len(passing[3]) < len(passing[4])
    assert len(passing[-1]) == len(USERS)
    rollout.refresh_from_db()
    assert rollout.state == R.DONE
    assert rollout.next_at is None
    assert len(rollout.applied) == len(STEPS)
    events = AuditEvent.objects.filter(action="gate.rollout_step_applied", target_id=str(gate.pk))
    assert events.count() == len(STEPS)
    assert services.rollouts_advance_due(now=now + timedelta(days=1)) == 0


def test_schedule__interval_counts_from_the_step_before(project, scheduled):
    gate, rollout = scheduled
    late = rollout.next_at + timedelta(minutes=10)  # the worker was away
    assert services.rollouts_advance_due(now=late) == 1
    # The next step waits its full interval from when this one was applied
    assert services.rollouts_advance_due(now=late + timedelta(seconds=59)) == 0
    assert services.rollouts_advance_due(now=late + timedelta(seconds=60)) == 1
    assert _rule_pct(gate) == 25


def test_pause_resume_stop(project, project_member, project_viewer, scheduled):
    gate, rollout = scheduled
    due = rollout.next_at

    # A paused rollout does not advance
    services.gate_rollout_pause(actor=project_member, rollout=rollout)
    assert services.rollouts_advance_due(now=due + timedelta(hours=1)) == 0
    assert _rule_pct(gate) == 1

    # Viewers may not touch it
    with pytest.raises(NotAllowed):
        services.gate_rollout_resume(actor=project_viewer, rollout=rollout)

    # Resumed, its next step waits its interval again from now
    now = timezone.now()
    rollout = services.gate_rollout_resume(actor=project_member, rollout=rollout, now=now)
    assert rollout.next_at == now + timedelta(seconds=60)
    assert services.rollouts_advance_due(now=rollout.next_at) == 1
    assert _rule_pct(gate) == 5

    # Stopped, it keeps its percentage for good
    services.gate_rollout_stop(actor=project_member, rollout=rollout)
    assert services.rollouts_advance_due(now=now + timedelta(days=1)) == 0
    assert _rule_pct(gate) == 5
    with pytest.raises(Conflict):
        services.gate_rollout_resume(actor=project_member, rollout=rollout)
    actions = set(
        AuditEvent.objects.filter(target_id=str(gate.pk)).values_list("action", flat=True)
    )
    assert {"gate.rollout_paused", "gate.rollout_resumed", "gate.rollout_stopped"} <= actions


def test_edit__schedule_unchanged__keeps_its_place_changed__starts_over(
    project, project_admin, scheduled
):
    gate, rollout = scheduled
    services.rollouts_advance_due(now=rollout.next_at)
    document = gate_to_document(FeatureGate.objects.get(pk=gate.pk))
    document["description"] = "edited"
    services.gate_update(actor=project_admin, gate=gate, document=document)
    rollout.refresh_from_db()
    assert rollout.next_step == 1

    document["rules"][0]["rolloutSchedule"] = STEPS[1:]
    services.gate_update(actor=project_admin, gate=gate, document=document)
    rollout = GateRollout.objects.get(gate=gate)
    assert (rollout.next_step, rollout.steps) == (0, STEPS[1:])

    document["rules"][0].pop("rolloutSchedule")
    services.gate_update(actor=project_admin, gate=gate, document=document)
    assert not GateRollout.objects.filter(gate=gate).exists()


@pytest.mark.parametrize(
    ("steps", "field"),
    [
        (
            [{"passPercentage": 5, "afterSeconds": 60}, {"passPercentage": 5, "afterSeconds": 1}],
            "rules[0].rolloutSchedule[1].passPercentage",
        ),
        ([{"passPercentage": 5}], "rules[0].rolloutSchedule[0]"),
        ([{"passPercentage": 5, "at": "2026-12-24 09:00"}], "rules[0].rolloutSchedule[0].at"),
        ([{"passPercentage": 5, "afterSeconds": 0}], "rules[0].rolloutSchedule[0].afterSeconds"),
        (
            [{"passPercentage": 101, "afterSeconds": 5}],
            "rules[0].rolloutSchedule[0].passPercentage",
        ),
        (
            [
                {"passPercentage": 5, "at": "2026-12-24T09:00:00Z"},
                {"passPercentage": 10, "at": "2026-12-24T08:00:00Z"},
            ],
            "rules[0].rolloutSchedule[1].at",
        ),
    ],
    ids=["not_rising", "no_time", "naive_time", "zero_wait", "over_100", "time_goes_back"],
)
def test_validation__bad_schedule__refused_with_its_path(project, project_admin, steps, field):
    document = gate_document(rules=[rule(pass_percentage=1, rolloutSchedule=steps)])
    with pytest.raises(DomainError) as caught:
        services.gate_create(actor=project_admin, project=project, document=document)
    assert caught.value.field == field
    assert not FeatureGate.objects.filter(name="new_checkout").exists()


def test_document__schedule_round_trips_with_times_in_utc(project, project_admin):
    steps = [
        {"passPercentage": 10, "at": "2026-12-24T10:00:00+01:00"},
        {"passPercentage": 50, "afterSeconds": 3600},
    ]
    gate = services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document(rules=[rule(pass_percentage=1, rolloutSchedule=steps)]),
    )
    assert gate_to_document(gate)["rules"][0]["rolloutSchedule"] == [
        {"passPercentage": 10, "at": "2026-12-24T09:00:00Z"},
        {"passPercentage": 50, "afterSeconds": 3600},
    ]
    rollout = GateRollout.objects.get(gate=gate)
    assert rollout.next_at.isoformat() == "2026-12-24T09:00:00+00:00"


def test_submit__only_a_schedule_added__needs_the_review_its_environments_need(
    project, project_member
):
    # Given a live gate at 1% (created directly: no review involved)
    gate = services.gate_create(
        actor=project_member,
        project=project,
        document=gate_document(rules=[rule(pass_percentage=1)]),
    )
    document = gate_to_document(gate)
    document["rules"][0]["rolloutSchedule"] = STEPS

    # When a member proposes only a schedule (nothing SDKs receive changes today)
    change_set = submit(project_member, project, ChangeInput("gate", "update", gate.name, document))

    # Then it waits for the review production needs, and nothing runs yet
    assert change_set.state == "in_review"
    assert "production" in change_set.environments
    assert not GateRollout.objects.filter(gate=gate).exists()
