"""Settings → API: the console API's reference renders from /console/v1/openapi.json with
the locally served Swagger UI, under the console's CSP, and "Try it out" calls the API."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from tests.e2e.signing import sign_in
from tests.e2e.test_csp import LISTEN

# Not committed (.gitignore): for a person to look at.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.mark.django_db(transaction=True)
def test_api_docs__signed_in__operations_rendered_no_csp_violation(
    page: Page, live_server, project
):
    page.set_default_timeout(10000)
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    page.add_init_script(LISTEN)
    page.set_viewport_size({"width": 1400, "height": 1000})

    # Given a signed-in project admin on the keys page
    sign_in(page, live_server, "root@corp.example")
    page.goto(live_server.url + reverse("project-keys", args=[project.slug]))

    # When they follow the link to the API reference
    page.get_by_role("link", name="API reference").click()

    # Then the operations are there, named by their operation IDs
    expect(page).to_have_url(live_server.url + reverse("project-api-docs", args=[project.slug]))
    gates_list = page.locator("#operations-gates-gates_list")
    expect(gates_list).to_be_visible()
    # (Swagger UI renders the operations near the viewport only: a later section is found
    # through the filter box, as a person would)
    page.locator("input.operation-filter-input").fill("experiments")
    expect(page.locator("#operations-experiments-experiments_start")).to_be_visible()
    page.locator("input.operation-filter-input").fill("")
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "api_docs.png"), full_page=False)

    # And "Try it out" lists the project's gates as the signed-in admin
    gates_list.locator(".opblock-summary").click()
    gates_list.get_by_role("button", name="Try it out").click()
    gates_list.get_by_role("button", name="Execute").click()
    live = gates_list.locator(".live-responses-table tbody .response-col_status")
    expect(live).to_have_text("200")
    page.screenshot(path=str(SCREENSHOTS / "api_docs_try.png"), full_page=False)
    assert page.evaluate("window.__violations") == []
    assert [m for m in messages if m.startswith("error")] == []
