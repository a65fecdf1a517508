"""A PM's experiment, in a real browser: a layer with a parameter, an experiment with two
groups in it, started, a user tested, the winning group shipped, and the spec following."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from console import services as console_services
from console.models import Membership, Role
from console.specs.builder import build_spec
from console.specs.evaluator import Evaluator
from experiments.models import Experiment, ExperimentStatus, Layer
from tests.conftest import review_nowhere
from tests.console.factories import UserFactory
from tests.e2e.signing import sign_in


@pytest.mark.django_db(transaction=True)
def test_experiments__pm_runs_and_ships_an_experiment__spec_follows(page: Page, live_server):
    # Given a project with a PM (member) who can sign in
    admin = UserFactory(username="root", email="root@corp.example", is_superuser=True)
    project = console_services.project_create(actor=admin, name="Shop", slug="shop")
    # Editing itself: no environment requires review, so each change set applies at once
    review_nowhere(project, admin)
    pm = UserFactory(username="pam", email="pam@corp.example")
    Membership.objects.create(project=project, user=pm, role=Role.MEMBER)
    page.set_default_timeout(5000)

    def url(name: str, *args) -> str:
        return live_server.url + reverse(name, args=args)

    def edit(action) -> None:
        """An editor control that re-renders the design: wait for htmx to settle."""
        with page.expect_response(lambda r: r.request.method == "POST"):
            action()
        expect(page.locator(".htmx-request, .htmx-settling")).to_have_count(0)

    sign_in(page, live_server, "pam@corp.example")
    expect(page).to_have_url(url("project-home", "shop"))

    # When she opens Experiments, then the Layers tab, and creates a layer with a parameter
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Experiments").click()
    expect(page.get_by_text("No experiments yet")).to_be_visible()
    page.get_by_role("link", name="Layers").click()
    page.get_by_role("link", name="Create a layer").click()
    page.get_by_label("Name", exact=True).fill("checkout_page")
    page.locator("#param-0-name").fill("button_color")
    page.locator("#param-0-default").fill("grey")
    page.get_by_role("button", name="Create layer").click()
    expect(page.get_by_text("Layer checkout_page created.")).to_be_visible()
    expect(page.locator(".alloc-bar")).to_contain_text("Free · 100%")

    # And, from the layer, creates an experiment in it: the layer's parameter comes along
    page.get_by_role("link", name="New experiment in this layer").click()
    page.get_by_label("Name", exact=True).fill("blue_button")
    page.get_by_label("Hypothesis").fill("A blue button sells more")
    expect(page.get_by_label("Layer")).to_have_value("checkout_page")
    expect(page.locator("#param-0-name")).to_have_value("button_color")
    expect(page.locator("#param-0-default")).to_have_text("grey")
    # (two groups to start with; a third added and removed again)
    edit(page.get_by_role("button", name="+ Add group").click)
    expect(page.locator("section.group")).to_have_count(3)
    edit(page.get_by_role("button", name="Remove group 3").click)
    expect(page.locator("section.group")).to_have_count(2)
    page.locator("#group-1-value-0").fill("blue")
    expect(page.locator(".groups-total")).to_have_text("Total 100%")
    page.get_by_role("button", name="Create experiment").click()
    expect(page.get_by_text("Experiment blue_button created.")).to_be_visible()
    experiment = Experiment.objects.get(project=project, name="blue_button")
    assert experiment.layer == Layer.objects.get(name="checkout_page")
    assert [g["parameterValues"] for g in experiment.groups] == [
        {"button_color": "grey"},
        {"button_color": "blue"},
    ]

    # When she starts it, after reading what users will see
    page.locator("summary", has_text="Start").click()
    expect(page.locator("details[open] .confirm-panel")).to_contain_text(
        "100% of eligible users will be split into Control (50%), Test (50%)"
    )
    page.get_by_role("button", name="Start experiment").click()
    expect(page.get_by_text("Experiment blue_button started")).to_be_visible()
    expect(page.locator(".state-strip")).to_contain_text("Running")

    # And tests a user: they land in a group of the experiment
    panel = page.locator("#test-panel")
    panel.get_by_label("User ID").fill("user-42")
    panel.get_by_role("button", name="Test this user").click()
    expect(panel.locator(".verdict")).to_contain_text("In group")
    expect(panel.locator(".test-props")).to_contain_text("In the experiment")

    # When she ships the winning group
    page.locator("summary", has_text="Ship a group").click()
    expect(page.locator(".ship-panel")).to_contain_text(
        'Everyone gets Test’s values: button_color = "blue"'
    )
    page.get_by_role("button", name="Ship Test").click()
    expect(page.get_by_text("Shipped Test: everyone now gets its values.")).to_be_visible()

    # Then the test panel and the built spec give everyone Test's value, rule launchedGroup
    panel = page.locator("#test-panel")
    panel.get_by_label("User ID").fill("user-42")
    panel.get_by_role("button", name="Test this user").click()
    expect(panel.locator(".verdict")).to_contain_text("Gets Test")
    expect(panel.locator(".test-props")).to_contain_text("launchedGroup")
    expect(panel.locator("pre.json").first).to_contain_text('"button_color": "blue"')
    experiment.refresh_from_db()
    assert experiment.status == ExperimentStatus.SHIPPED
    env = project.environments.get(name="production")
    spec = build_spec(project, env, time_ms=int(time.time() * 1000))
    result = Evaluator(spec).get_experiment({"userID": "anyone"}, "blue_button")
    assert (result.rule_id, result.value) == ("launchedGroup", {"button_color": "blue"})
