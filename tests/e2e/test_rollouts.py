"""A PM rolls a gate out step by step, in a real browser: the schedule typed on a rule
(a bad line refused where it was typed), the change set scheduled for a time, approved by a
colleague, applied by the worker's service at that time, the timeline on the gate's page
and the rollout paused from there."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from console import services as console_services
from console.models import Membership, Role
from gates import services as gate_services
from gates.models import FeatureGate, GateRollout, RolloutState
from reviews.models import ChangeSet, ChangeSetState
from reviews.services import changeset_apply_due
from tests.console.factories import UserFactory
from tests.e2e.signing import sign_in
from tests.gates.factories import gate_document, rule

SHOTS = "/tmp/wt6-shots"


@pytest.mark.django_db(transaction=True)
def test_rollout__scheduled_reviewed_applied_then_paused_from_the_gate(
    page: Page, live_server, browser
):
    # Given a project whose production needs a review, a PM, a reviewer and a gate at 1%
    admin = UserFactory(username="root", email="root@corp.example", is_superuser=True)
    project = console_services.project_create(actor=admin, name="Shop", slug="shop")
    pm = UserFactory(username="pam", email="pam@corp.example")
    rex = UserFactory(username="rex", email="rex@corp.example")
    Membership.objects.create(project=project, user=pm, role=Role.MEMBER)
    Membership.objects.create(project=project, user=rex, role=Role.MEMBER)
    gate = gate_services.gate_create(
        actor=pm,
        project=project,
        document=gate_document(rules=[rule("Everyone", pass_percentage=1)]),
    )
    page.set_default_timeout(8000)
    page.set_viewport_size({"width": 1360, "height": 1000})
    gate_url = live_server.url + reverse("gate-detail", args=["shop", gate.pk])

    # When the PM types a schedule with a line it cannot read
    sign_in(page, live_server, "pam@corp.example")
    page.goto(gate_url)
    page.locator("#rule-0 .rule-rollout > summary").click()
    page.locator("#rule-0-rollout").fill("5% after 1h\n25% soon")
    page.get_by_role("button", name="Save changes").click()

    # Then nothing is proposed, and the line is named under the field
    expect(page.locator("#rule-0 .rule-rollout .field-error")).to_contain_text(
        "Rollout line 2 reads"
    )
    assert not ChangeSet.objects.exists()

    # When she fixes it and saves
    later = (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%d 09:00")
    page.locator("#rule-0-rollout").fill(
        f"5% after 1h\n25% after 1d\n50% after 1d\n100% at {later}"
    )
    page.locator("#rule-0-rollout").scroll_into_view_if_needed()
    page.screenshot(path=f"{SHOTS}/rollout-editor.png", full_page=True)
    page.get_by_role("button", name="Save changes").click()

    # Then a change set waits for review; she schedules it for tomorrow
    expect(page.get_by_test_id("state")).to_have_text("In review")
    change_set = ChangeSet.objects.get()
    at = (timezone.now() + timedelta(days=1)).replace(hour=8, minute=30, second=0, microsecond=0)
    page.get_by_text("Schedule…").click()
    page.get_by_label("Apply at (UTC)").fill(at.strftime("%Y-%m-%dT%H:%M"))
    page.screenshot(path=f"{SHOTS}/changeset-schedule-control.png", full_page=True)
    page.get_by_role("button", name="Schedule apply").click()
    expect(page.get_by_test_id("schedule-note")).to_contain_text(at.strftime("%Y-%m-%d %H:%M"))

    # When her colleague approves it
    other = browser.new_context(viewport={"width": 1360, "height": 1000})
    rex_page = other.new_page()
    rex_page.set_default_timeout(8000)
    sign_in(rex_page, live_server, "rex@corp.example")
    rex_page.goto(live_server.url + reverse("changeset-detail", args=["shop", change_set.number]))
    expect(rex_page.get_by_role("button", name="Approve", exact=True)).to_be_visible()
    rex_page.get_by_role("button", name="Approve", exact=True).click()

    # Then it is approved and scheduled, not applied
    expect(rex_page.get_by_text("It is scheduled: the worker applies it at")).to_be_visible()
    rex_page.screenshot(path=f"{SHOTS}/changeset-approved-scheduled.png", full_page=True)
    other.close()
    change_set.refresh_from_db()
    assert change_set.state == ChangeSetState.APPROVED
    assert not GateRollout.objects.exists()

    # and the review queue shows it scheduled
    page.goto(live_server.url + reverse("changeset-list", args=["shop"]))
    expect(page.locator(".badge--scheduled").first).to_be_visible()
    page.screenshot(path=f"{SHOTS}/review-queue-scheduled.png", full_page=True)

    # When its time comes (the service beat runs) and the first step is due
    assert changeset_apply_due(now=at) == 1
    rollout = GateRollout.objects.get()
    assert gate_services.rollouts_advance_due(now=rollout.next_at) == 1

    # Then the gate's page shows the timeline: one step done, the next, the later ones
    page.goto(gate_url)
    card = page.get_by_test_id("rollout")
    expect(card.get_by_test_id("rollout-state")).to_have_text("Active")
    expect(card.locator(".rollout-step.is-done")).to_have_count(1)
    expect(card.locator(".rollout-step.is-next")).to_have_count(1)
    expect(card.locator(".rollout-step.is-later")).to_have_count(2)
    page.screenshot(path=f"{SHOTS}/gate-rollout-timeline.png", full_page=True)

    # When she pauses it
    card.get_by_role("button", name="Pause").click()

    # Then it is paused, and says so
    expect(page.get_by_test_id("rollout-state")).to_have_text("Paused")
    assert GateRollout.objects.get().state == RolloutState.PAUSED
    assert FeatureGate.objects.get(pk=gate.pk).rules[0]["passPercentage"] == 5
    page.get_by_test_id("rollout").screenshot(path=f"{SHOTS}/gate-rollout-paused.png")
