"""A new employee's first day with single sign-on, in a real browser against a real provider."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect

from console import services
from console.models import ProjectAccessMode, SsoIdentity, User
from tests.conftest import PASSWORD
from tests.console.factories import UserFactory


@pytest.mark.django_db(transaction=True)
def test_sso__new_employee_signs_in_and_asks_for_access__admin_approves(
    page: Page, browser: Browser, live_server, sso
):
    # Given an admin, an open project and a closed one, and an employee known only to the
    # company's identity provider
    admin = UserFactory(username="root", email="root@corp.example", is_superuser=True)
    services.project_create(
        actor=admin, name="Checkout", slug="checkout", access_mode=ProjectAccessMode.OPEN
    )
    services.project_create(actor=admin, name="Payments", slug="payments")
    login = sso.account("nina.new@corp.example", given_name="Nina", family_name="New")
    page.set_default_timeout(8000)

    def url(name: str, *args) -> str:
        return live_server.url + reverse(name, args=args)

    # When she clicks "Sign in with Acme ID" and signs in at the provider
    page.goto(url("account_login"))
    page.get_by_role("link", name="Sign in with Acme ID").click()
    expect(page).to_have_url(re.compile("^" + re.escape(sso.issuer) + "/interaction/"))
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("her-idp-password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()

    # Then she lands in the console, with an account made from the provider's claims
    expect(page).to_have_url(url("project-list"))
    expect(page.get_by_text(login).first).to_be_visible()
    user = User.objects.get(email=login)
    assert (user.first_name, user.last_name) == ("Nina", "New")
    assert SsoIdentity.objects.filter(user=user, subject=login).exists()

    # And she sees the open project, and joins it
    expect(page.get_by_role("heading", name="You are not in any project yet")).to_be_visible()
    page.get_by_role("button", name="Join Checkout").click()
    expect(page.get_by_text("You joined Checkout.")).to_be_visible()

    # When she asks for access to the closed one
    page.goto(url("project-list"))
    page.get_by_role("link", name="Request access to Payments").click()
    page.get_by_label("Message").fill("I am on the payments team from today.")
    page.get_by_role("button", name="Send request").click()
    expect(page.get_by_text("Access requested.")).to_be_visible()

    # And the admin approves it, in their own browser
    admin_context = browser.new_context()
    admin_page = admin_context.new_page()
    admin_page.set_default_timeout(8000)
    admin_page.goto(url("account_login"))
    admin_page.get_by_label("Email").fill("root@corp.example")
    admin_page.get_by_label("Password").fill(PASSWORD)
    admin_page.get_by_role("button", name="Sign in", exact=True).click()
    admin_page.goto(url("project-members", "payments"))
    requests_card = admin_page.locator("section").filter(has_text="Access requests")
    expect(requests_card.get_by_text(login, exact=True)).to_be_visible()
    requests_card.get_by_role("button", name="Approve").click()
    expect(admin_page.get_by_role("cell", name=login, exact=True)).to_be_visible()
    admin_context.close()

    # Then she sees Payments among her projects
    page.goto(url("project-list"))
    mine = page.locator("section").filter(has_text="Your projects")
    expect(mine.get_by_role("link", name="Payments")).to_be_visible()
    expect(mine.get_by_role("link", name="Checkout")).to_be_visible()
