"""A PM's gate, in a real browser: three rules through the editor, a user tested against
it, a percentage edited, and the gate found again by its tag."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from console import services as console_services
from console.models import Membership, Role
from gates.models import FeatureGate
from tests.conftest import review_nowhere
from tests.console.factories import UserFactory
from tests.e2e.signing import sign_in


@pytest.mark.django_db(transaction=True)
def test_gates__pm_builds_tests_and_edits_a_gate__finds_it_by_tag(page: Page, live_server):
    # Given a project with a PM (member) who can sign in
    admin = UserFactory(username="root", email="root@corp.example", is_superuser=True)
    project = console_services.project_create(actor=admin, name="Shop", slug="shop")
    # Editing itself: no environment requires review, so each save applies at once.
    review_nowhere(project, admin)
    pm = UserFactory(username="pam", email="pam@corp.example")
    Membership.objects.create(project=project, user=pm, role=Role.MEMBER)
    page.set_default_timeout(5000)

    def url(name: str, *args) -> str:
        return live_server.url + reverse(name, args=args)

    def edit(action) -> None:
        """An editor control that re-renders the rules: wait until htmx has swapped and
        settled the new rows (a person is never faster than that)."""
        with page.expect_response(lambda r: r.request.method == "POST"):
            action()
        expect(page.locator(".htmx-request, .htmx-settling")).to_have_count(0)

    sign_in(page, live_server, "pam@corp.example")
    expect(page).to_have_url(url("project-home", "shop"))

    # When she opens Gates from the sidebar and starts her first gate
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Gates").click()
    page.get_by_role("link", name="Create your first gate").click()
    page.get_by_label("Name", exact=True).fill("new_checkout")
    page.get_by_label("Description").fill("The one-page checkout")
    page.locator("label.chip", has_text="growth").click()

    # And builds three rules with the editor
    editor = page.locator("#rules-editor")
    edit(editor.get_by_role("button", name="+ Add rule").click)
    page.locator("#rule-0-name").fill("Employees")
    edit(lambda: page.locator("#rule-0-cond-0-type").select_option("email"))
    page.locator("#rule-0-cond-0-operator").select_option("str_ends_with_any")
    page.locator("#rule-0-cond-0-value").fill("@corp.example")

    edit(editor.get_by_role("button", name="+ Add rule").click)
    page.locator("#rule-1-name").fill("Kiwis on the new app")
    page.locator("#rule-1-pass").fill("50")
    edit(lambda: page.locator("#rule-1-cond-0-type").select_option("country"))
    page.locator("#rule-1-cond-0-value").fill("NZ")
    edit(page.get_by_role("button", name="Add a condition to rule 2").click)
    edit(lambda: page.locator("#rule-1-cond-1-type").select_option("app_version"))
    page.locator("#rule-1-cond-1-operator").select_option("version_gte")
    page.locator("#rule-1-cond-1-value").fill("2.0")

    edit(editor.get_by_role("button", name="+ Add rule").click)
    page.locator("#rule-2-name").fill("Slow rollout")
    page.locator("#rule-2-pass").fill("10")
    page.get_by_role("button", name="Create gate").click()

    # Then the gate is saved with the three rules in order
    expect(page.get_by_text("Gate new_checkout created.")).to_be_visible()
    gate = FeatureGate.objects.get(project=project, name="new_checkout")
    assert [r["name"] for r in gate.rules] == ["Employees", "Kiwis on the new app", "Slow rollout"]
    assert gate.rules[1]["conditions"][1]["targetValue"] == "2.0"

    # When she tests a colleague in production
    panel = page.locator("#test-panel")
    panel.get_by_label("Email").fill("sam@corp.example")
    panel.get_by_label("User ID").fill("sam")
    panel.get_by_role("button", name="Test this user").click()

    # Then the panel says the user passes and that the first rule decided
    expect(panel.locator(".verdict")).to_contain_text("Passes")
    expect(panel.locator(".verdict")).to_contain_text("Decided by rule 1 “Employees”")
    expect(panel.locator(".trace-rule--decided")).to_contain_text("Employees")

    # When she lowers the Kiwi rollout to 25% and saves
    page.locator("#rule-1-pass").fill("25")
    page.get_by_role("button", name="Save changes").click()

    # Then the change is saved
    expect(page.get_by_text("Gate new_checkout saved.")).to_be_visible()
    expect(page.locator("#rule-1-pass")).to_have_value("25")
    gate.refresh_from_db()
    assert gate.rules[1]["passPercentage"] == 25

    # And she finds it again from the list by filtering on its tag
    page.get_by_role("link", name="Feature gates").first.click()
    page.get_by_label("Tag").select_option("growth")
    expect(page).to_have_url(url("gate-list", "shop") + "?q=&tag=growth&status=&stale=&usage=")
    results = page.locator("#gate-results")
    expect(results.get_by_role("link", name="new_checkout")).to_be_visible()
    page.get_by_label("Tag").select_option("mobile")
    expect(results).to_contain_text("No gates match these filters")
