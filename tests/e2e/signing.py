"""Signing in through the login page, as a person does."""

from __future__ import annotations

from django.urls import reverse
from playwright.sync_api import Page

from tests.conftest import PASSWORD


def sign_in(page: Page, live_server, email: str) -> None:
    page.goto(live_server.url + reverse("account_login"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
