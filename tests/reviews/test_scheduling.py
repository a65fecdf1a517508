"""Scheduled change sets: approved now, applied by the worker at the chosen time; a stale
one does not apply and says why; the schedule can be cancelled; exactly once.

The due-work service runs in-process here; the real worker and beat processes are in
tests/publishing/test_scheduled_worker.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from console.exceptions import Conflict, DomainError, NotAllowed
from console.models import AuditEvent
from gates.models import FeatureGate
from reviews.models import ChangeSetState
from reviews.services import (
    changeset_apply_due,
    changeset_approve,
    changeset_schedule,
)
from reviews.tasks import changeset_apply_scheduled_task
from tests.gates.factories import rule
from tests.reviews.conftest import create_gate, submit, update_gate

pytestmark = pytest.mark.django_db
S = ChangeSetState


def _in(minutes: float):
    return timezone.now() + timedelta(minutes=minutes)


def test_schedule__approved_before_its_time__not_applied_until_due_then_applied_once(
    project, project_member, reviewer
):
    # Given a change set scheduled in an hour
    change_set = submit(project_member, project, create_gate())
    at = _in(60)
    changeset_schedule(actor=project_member, change_set=change_set, at=at)

    # When a reviewer approves it
    change_set = changeset_approve(actor=reviewer, change_set=change_set)

    # Then it waits, approved and scheduled, with nothing applied
    assert change_set.state == S.APPROVED
    assert change_set.is_scheduled
    assert not FeatureGate.objects.filter(name="new_checkout").exists()
    assert changeset_apply_due(now=at - timedelta(seconds=1)) == 0

    # When its time comes (twice: beat may run on two workers)
    assert changeset_apply_due(now=at) == 1
    assert changeset_apply_due(now=at) == 0

    # Then it is applied once, by the worker, as the scheduler
    change_set.refresh_from_db()
    assert change_set.state == S.APPLIED
    assert change_set.applied_by == project_member
    assert change_set.ruleset_version is not None
    assert FeatureGate.objects.filter(name="new_checkout").count() == 1
    actions = list(
        AuditEvent.objects.filter(target_id=str(change_set.pk))
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert "changeset.scheduled" in actions
    assert actions.count("changeset.applied") == 1
    assert actions[-1] == "changeset.scheduled_applied"


def test_schedule__approved_after_its_time__applied_by_the_approval(
    project, project_member, reviewer
):
    # Given a change set whose scheduled time passed while it was in review
    change_set = submit(project_member, project, create_gate())
    changeset_schedule(actor=project_member, change_set=change_set, at=_in(1))
    change_set.refresh_from_db()
    change_set.scheduled_for = timezone.now() - timedelta(minutes=1)
    change_set.save(update_fields=["scheduled_for"])

    # When it is approved
    change_set = changeset_approve(actor=reviewer, change_set=change_set)

    # Then it applies at once, as any other approval that meets the policy
    assert change_set.state == S.APPLIED


def test_schedule__went_stale_before_its_time__not_applied_and_says_why(
    project, project_admin, project_member, reviewer, live_gate, second_admin
):
    # Given an approved change set to the gate, scheduled for later
    at = _in(30)
    change_set = submit(project_member, project, update_gate(live_gate.name, description="one"))
    changeset_schedule(actor=project_member, change_set=change_set, at=at)
    changeset_approve(actor=reviewer, change_set=change_set)
    # and another change to the same gate applied meanwhile
    other = submit(project_admin, project, update_gate(live_gate.name, description="two"))
    changeset_approve(actor=second_admin, change_set=other)

    # When its time comes
    assert changeset_apply_due(now=at) == 0

    # Then it did not apply; it is stale, its schedule is spent and the page says why
    change_set.refresh_from_db()
    live_gate.refresh_from_db()
    assert change_set.state == S.STALE
    assert change_set.scheduled_for is None
    assert "not applied at its scheduled time" in change_set.apply_error_message
    assert "stale" in change_set.apply_error_message
    assert live_gate.description == "two"
    assert changeset_apply_due(now=at + timedelta(minutes=1)) == 0


def test_schedule__cancelled__stays_approved_and_beat_leaves_it(project, project_member, reviewer):
    # Given an approved, scheduled change set
    at = _in(10)
    change_set = submit(project_member, project, create_gate())
    changeset_schedule(actor=project_member, change_set=change_set, at=at)
    changeset_approve(actor=reviewer, change_set=change_set)

    # When its author cancels the schedule
    change_set = changeset_schedule(actor=project_member, change_set=change_set, at=None)

    # Then beat leaves it approved; it is applied when someone applies it
    assert changeset_apply_due(now=at) == 0
    change_set.refresh_from_db()
    assert change_set.state == S.APPROVED
    assert change_set.scheduled_for is None
    assert AuditEvent.objects.filter(
        action="changeset.unscheduled", target_id=str(change_set.pk)
    ).exists()


@pytest.mark.parametrize(
    ("delta", "code"), [(-1, "in_the_past"), (60 * 24 * 91, "too_far")], ids=["past", "far"]
)
def test_schedule__bad_time__refused_and_nothing_changes(project, project_member, delta, code):
    change_set = submit(project_member, project, create_gate())
    with pytest.raises(DomainError) as caught:
        changeset_schedule(actor=project_member, change_set=change_set, at=_in(delta))
    assert caught.value.code == code
    change_set.refresh_from_db()
    assert change_set.scheduled_for is None


def test_schedule__not_author_nor_admin__refused(project, project_member, reviewer):
    change_set = submit(project_member, project, create_gate())
    with pytest.raises(NotAllowed):
        changeset_schedule(actor=reviewer, change_set=change_set, at=_in(5))


def test_schedule__applied_change_set__refused(project, project_member, reviewer):
    change_set = submit(project_member, project, create_gate())
    changeset_approve(actor=reviewer, change_set=change_set)
    with pytest.raises(Conflict):
        changeset_schedule(actor=project_member, change_set=change_set, at=_in(5))


def test_schedule__admin_may_schedule_anothers(project, project_member, project_admin):
    change_set = submit(project_member, project, create_gate(rules=[rule()]))
    change_set = changeset_schedule(actor=project_admin, change_set=change_set, at=_in(5))
    assert change_set.scheduled_by == project_admin


def test_task__registered_with_beat_and_applies_due():
    from console.celery import app

    entry = app.conf.beat_schedule["changeset-apply-scheduled"]
    assert entry["task"] == "reviews.tasks.changeset_apply_scheduled_task"
    assert changeset_apply_scheduled_task() == 0


def test_page__schedule_form__scheduled_shown_on_the_page_and_in_the_queue(
    client, project, project_member, reviewer
):
    # Given a change set in review
    change_set = submit(project_member, project, create_gate())
    client.force_login(project_member)
    url = reverse("changeset-schedule", args=[project.slug, change_set.number])

    # When its author schedules it from the page
    at = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    response = client.post(url, {"at": at.strftime("%Y-%m-%dT%H:%M")})

    # Then it is scheduled at that UTC time, and the page and the queue say so
    assert response.status_code == 302
    change_set.refresh_from_db()
    assert change_set.scheduled_for == at
    page = client.get(reverse("changeset-detail", args=[project.slug, change_set.number]))
    assert b'data-testid="schedule-note"' in page.content
    assert at.strftime("%Y-%m-%d %H:%M").encode() in page.content
    queue = client.get(reverse("changeset-list", args=[project.slug]))
    assert b"badge--scheduled" in queue.content

    # When the time is garbage, nothing changes and the page says why
    response = client.post(url, {"at": "tomorrow-ish"}, follow=True)
    assert b"Give a date and time" in response.content
    change_set.refresh_from_db()
    assert change_set.scheduled_for == at

    # When the schedule is cancelled
    client.post(reverse("changeset-unschedule", args=[project.slug, change_set.number]))
    change_set.refresh_from_db()
    assert change_set.scheduled_for is None


def test_api__schedule_and_cancel__shown_in_the_document_and_bad_time_refused(
    project, project_member, reviewer
):
    from tests.api_support import api_url_for, assert_error, session_client

    api_url = api_url_for("reviews-api")
    change_set = submit(project_member, project, create_gate())
    client = session_client(project_member)
    url = api_url("api-review-schedule", change_set.number)

    # Scheduled in an hour: the document says when
    at = (timezone.now() + timedelta(hours=1)).replace(microsecond=0)
    response = client.post(url, {"at": at.isoformat()}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["data"]["scheduledTime"] == int(at.timestamp() * 1000)

    # A time in the past is refused, and the schedule stays
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    assert_error(client.post(url, {"at": past}, format="json"), 400, "in_the_past", "at")
    change_set.refresh_from_db()
    assert change_set.scheduled_for == at

    # A reviewer may not schedule it
    assert_error(session_client(reviewer).post(url, {"at": at.isoformat()}, format="json"), 403)

    # null cancels
    response = client.post(url, {"at": None}, format="json")
    assert response.json()["data"]["scheduledTime"] is None


def test_send__draft_needs_no_review_but_is_scheduled__approved_and_left_to_the_worker(
    project, project_member, no_review
):
    # Given a draft scheduled for later, in a project where nothing needs review
    from reviews.services import changeset_send

    change_set = submit(project_member, project, create_gate(), draft=True)
    at = _in(30)
    changeset_schedule(actor=project_member, change_set=change_set, at=at)

    # When it is sent
    change_set = changeset_send(actor=project_member, change_set=change_set)

    # Then it waits for its time, and the worker applies it then
    assert change_set.state == S.APPROVED
    assert not FeatureGate.objects.filter(name="new_checkout").exists()
    assert changeset_apply_due(now=at) == 1
    change_set.refresh_from_db()
    assert change_set.state == S.APPLIED
