"""An admin's first day, in a real browser: sign in, set up a project, read the log."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD
from tests.console.factories import UserFactory


@pytest.mark.django_db(transaction=True)
def test_foundation__site_admin_sets_up_a_project__audit_log_shows_each_step(
    page: Page, live_server
):
    # Given a site admin with a password, on the sign-in page
    UserFactory(username="root", email="root@corp.example", is_staff=True, is_superuser=True)
    page.set_default_timeout(5000)

    def url(name: str, *args) -> str:
        return live_server.url + reverse(name, args=args)

    page.goto(url("account_login"))

    # When they sign in through the form
    page.get_by_label("Email").fill("root@corp.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # Then, being in no project yet, they land on the directory
    expect(page).to_have_url(url("project-list"))
    expect(page.get_by_role("heading", name="You are not in any project yet")).to_be_visible()

    # When they create a project
    page.get_by_role("link", name="New project").first.click()
    page.get_by_label("Name").fill("Checkout")
    page.get_by_label("Open: any signed-in employee may join").check()
    page.get_by_role("button", name="Create project").click()

    # Then they are on its overview
    expect(page).to_have_url(url("project-home", "checkout"))
    expect(page.get_by_role("heading", name="Checkout", exact=True)).to_be_visible()

    # When they add an environment
    page.goto(url("project-environments", "checkout"))
    add_form = page.locator("form").filter(has=page.get_by_role("button", name="Add environment"))
    add_form.get_by_label("Name").fill("qa")
    add_form.get_by_label("Tier").select_option("staging")
    add_form.get_by_role("button", name="Add environment").click()
    expect(page.get_by_text("Environment qa added.")).to_be_visible()
    expect(page.get_by_role("cell", name="qa", exact=True)).to_be_visible()

    # And invite a member
    page.get_by_role("link", name="Members").click()
    page.get_by_label("Email").fill("mia@corp.example")
    page.get_by_label("Role", exact=True).select_option("member")
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_text("mia@corp.example added as member")).to_be_visible()
    expect(page.get_by_role("cell", name="mia@corp.example", exact=True)).to_be_visible()

    # And create a server key for production: its secret is shown once
    page.get_by_role("link", name="Keys").click()
    page.get_by_label("Kind").select_option("server")
    page.get_by_label("Environment").select_option(label="production")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_text("you won’t see it again")).to_be_visible()
    secret = page.get_by_label("New secret key").input_value()
    assert re.fullmatch(r"secret-[A-Za-z0-9_-]{40,}", secret)

    # And rotate it, keeping the old key for one hour
    row = page.get_by_role("row").filter(has_text=secret[:13])
    row.locator("summary", has_text="Rotate").click()
    row.get_by_label("Old key keeps working for (hours)").fill("1")
    row.get_by_role("button", name="Rotate key").click()
    successor = page.get_by_label("New secret key").input_value()
    assert successor.startswith("secret-")
    assert successor != secret
    expect(page.get_by_role("row").filter(has_text=secret[:13])).to_contain_text("expiring")

    # Then the audit log lists every step
    page.get_by_role("link", name="Audit log").click()
    table = page.locator("#audit-results")
    for action in [
        "project.created",
        "environment.created",
        "member.added",
        "key.created",
        "key.rotated",
    ]:
        expect(table.get_by_text(action, exact=True).first).to_be_visible()
    # And neither secret was written down anywhere on the page
    assert secret not in page.content()
    assert successor not in page.content()
