"""The short path, in a real browser: a gate nobody passes yet lands at once, an unchanged
form offers no save and saving it does nothing, and a rule that passes users asks for review
and says so on its button."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from console import services as console_services
from console.models import AuditEvent, Membership, Role, RulesetVersion
from gates.models import FeatureGate
from reviews.models import ChangeSet, ChangeSetState
from tests.console.factories import UserFactory
from tests.e2e.signing import sign_in

SHOTS = Path("/tmp/wt3-shots")


@pytest.mark.django_db(transaction=True)
def test_short_path__draft_gate_lands_unchanged_form_saves_nothing_rule_asks_review(
    page: Page, live_server
):
    # Given a project with the default policy (production needs one approval) and a PM
    admin = UserFactory(username="root", email="root@corp.example", is_superuser=True)
    project = console_services.project_create(actor=admin, name="Shop", slug="shop")
    pm = UserFactory(username="pam", email="pam@corp.example")
    Membership.objects.create(project=project, user=pm, role=Role.MEMBER)
    page.set_default_timeout(5000)
    SHOTS.mkdir(parents=True, exist_ok=True)

    def url(name: str, *args) -> str:
        return live_server.url + reverse(name, args=args)

    def settled(action) -> None:
        """Do something that posts (an editor control, the save bar's check) and wait
        until htmx has swapped and settled the answer."""
        with page.expect_response(lambda r: r.request.method == "POST"):
            action()
        expect(page.locator(".htmx-request, .htmx-settling")).to_have_count(0)

    sign_in(page, live_server, "pam@corp.example")
    expect(page).to_have_url(url("project-home", "shop"))

    # When she starts a gate with no rule yet
    page.goto(url("gate-create", "shop"))
    settled(lambda: page.get_by_label("Name", exact=True).fill("quiet_launch"))
    page.get_by_label("Name", exact=True).blur()
    expect(page.locator(".htmx-request, .htmx-settling")).to_have_count(0)

    # Then the save bar says it applies at once, and it does: no review for a gate nobody passes
    savebar = page.locator(".savebar")
    expect(savebar).to_contain_text("Applies at once")
    page.screenshot(path=str(SHOTS / "create-draft-gate.png"), full_page=True)
    page.get_by_role("button", name="Create gate").click()
    expect(page.get_by_text("created.")).to_be_visible()
    gate = FeatureGate.objects.get(project=project, name="quiet_launch")
    assert not ChangeSet.objects.filter(project=project, state=ChangeSetState.IN_REVIEW).exists()

    # When she looks at the saved gate, unchanged
    # Then there is no save bar, and Enter in a text box saves nothing
    expect(savebar).to_be_hidden()
    page.screenshot(path=str(SHOTS / "edit-unchanged.png"), full_page=True)
    counts = (ChangeSet.objects.count(), RulesetVersion.objects.count(), AuditEvent.objects.count())
    page.get_by_label("Description").press("Enter")
    page.wait_for_timeout(500)
    expect(page).to_have_url(url("gate-detail", "shop", gate.pk))
    assert (
        ChangeSet.objects.count(),
        RulesetVersion.objects.count(),
        AuditEvent.objects.count(),
    ) == counts
    gate.refresh_from_db()
    assert gate.revision == 1

    # When she types and takes it back, the bar comes and goes
    page.get_by_label("Description").fill("Soon")
    expect(savebar).to_be_visible()
    page.get_by_label("Description").fill("")
    expect(savebar).to_be_hidden()

    # When she adds a rule passing 20% of users
    settled(page.locator("#rules-editor").get_by_role("button", name="+ Add rule").click)
    page.locator("#rule-0-name").fill("Early adopters")
    settled(lambda: page.locator("#rule-0-pass").fill("20"))
    page.locator("#rule-0-pass").blur()
    expect(page.locator(".htmx-request, .htmx-settling")).to_have_count(0)

    # Then the button says review is needed, and why
    expect(savebar).to_be_visible()
    expect(savebar.get_by_role("button", name="Submit for review")).to_be_visible()
    expect(savebar).to_contain_text("production")
    page.screenshot(path=str(SHOTS / "edit-needs-review.png"), full_page=True)

    # When she submits it, it waits for review and the live gate is as it was
    savebar.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_text("is waiting for review")).to_be_visible()
    page.screenshot(path=str(SHOTS / "submitted.png"), full_page=True)
    change_set = ChangeSet.objects.get(project=project, state=ChangeSetState.IN_REVIEW)
    assert "production" in change_set.environments
    gate.refresh_from_db()
    assert gate.rules == []
