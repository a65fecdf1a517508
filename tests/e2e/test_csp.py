"""The Content-Security-Policy breaks nothing: no violations on the main pages, htmx works."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD

LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@pytest.mark.django_db(transaction=True)
def test_csp__main_pages_and_htmx__no_violations(page: Page, live_server, project):
    page.set_default_timeout(5000)
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    page.add_init_script(LISTEN)

    def url(name: str, *args) -> str:
        return live_server.url + reverse(name, args=args)

    violations: list[str] = []

    def visit(address: str) -> None:
        page.goto(address)
        page.wait_for_load_state("load")
        violations.extend(page.evaluate("window.__violations"))

    # Given a signed-in project admin
    visit(url("account_login"))
    page.get_by_label("Email").fill("root@corp.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(url("project-home", project.slug))
    violations.extend(page.evaluate("window.__violations"))

    # When they open the main pages
    for name in ("project-list", "project-home", "project-environments", "project-keys"):
        visit(url(name, project.slug) if name != "project-list" else url(name))

    # And move an environment with htmx
    visit(url("project-environments", project.slug))
    first = page.locator("#environments tbody tr").first
    name = first.locator("td").nth(1).inner_text().strip()
    page.get_by_role("button", name=f"Move {name} down").click()
    expect(page.locator("#environments tbody tr").nth(1)).to_contain_text(name)
    violations.extend(page.evaluate("window.__violations"))

    # Then it worked and nothing was blocked or complained about
    assert violations == []
    assert [m for m in messages if m.startswith(("error", "warning"))] == []
