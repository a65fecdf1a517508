"""Everyday work in a real browser: a reviewer sees what waits for them (the sidebar's count,
the list's "pending review" badge) and reads a gate from code; an employee who opens a link
into a project they are not in is offered to join it, and lands on the page."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from console import services as console_services
from console.models import Membership, ProjectAccessMode, Role
from experiments import services as experiment_services
from experiments.documents import experiment_to_document
from reviews.services import ChangeInput, changeset_approve, changeset_submit
from tests.console.factories import UserFactory
from tests.e2e.signing import sign_in
from tests.experiments.factories import experiment_document
from tests.gates.factories import DynamicConfigFactory, FeatureGateFactory, gate_document, rule

SHOTS = Path("/tmp/wt5-shots")


def _sign_in(page: Page, live_server, email: str) -> None:
    sign_in(page, live_server, email)
    page.wait_for_url(lambda url: "/accounts/login" not in url)


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_reviewer__sees_the_waiting_change_set_in_the_sidebar_and_the_list(page: Page, live_server):
    # Given a live gate, and its update waiting for review (production needs one approval)
    admin = UserFactory(username="root", email="root@corp.example", is_superuser=True)
    ada = UserFactory(username="ada", email="ada@corp.example")
    rex = UserFactory(username="rex", email="rex@corp.example")
    project = console_services.project_create(actor=admin, name="Shop", slug="shop")
    Membership.objects.create(project=project, user=ada, role=Role.ADMIN)
    Membership.objects.create(project=project, user=rex, role=Role.MEMBER)

    def submit(change):
        return changeset_submit(actor=admin, project=project, changes=[change])

    doc = gate_document("new_checkout", rules=[rule(pass_percentage=10)])
    changeset_approve(actor=ada, change_set=submit(ChangeInput("gate", "create", doc["name"], doc)))
    doc = gate_document("new_checkout", rules=[rule(pass_percentage=50)])
    waiting = submit(ChangeInput("gate", "update", "new_checkout", doc))
    page.set_default_timeout(5000)

    # When the reviewer signs in and opens the gates
    _sign_in(page, live_server, rex.email)
    page.goto(live_server.url + reverse("gate-list", args=[project.slug]))

    # Then the sidebar counts one change set waiting for them, and the gate's row links to it
    nav = page.get_by_role("navigation", name="Project")
    expect(nav.get_by_role("link", name="Reviews")).to_contain_text("1")
    badge = page.get_by_role("link", name=f"pending review · #{waiting.number}")
    expect(badge).to_be_visible()
    _shot(page, "gate-list-pending")
    badge.click()
    expect(page).to_have_url(
        live_server.url + reverse("changeset-detail", args=[project.slug, waiting.number])
    )

    # And the gate's page shows how to read it from code, ready to copy
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(live_server.url + reverse("gate-list", args=[project.slug]))
    page.get_by_role("link", name="new_checkout", exact=True).click()
    snippets = page.get_by_role("region", name="Use it in code")
    expect(snippets).to_contain_text('statsig.check_gate(user, "new_checkout")')
    snippets.get_by_role("button", name="Copy the Python snippet").click()
    expect(snippets.get_by_role("button", name="Copy the Python snippet")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert 'statsig.check_gate(user, "new_checkout")' in copied
    _shot(page, "gate-detail-snippets")

    # And the reviewer can test a user against the proposed version before approving
    panel = page.locator("#test-panel")
    panel.get_by_label("Environment").select_option(label="production")
    panel.get_by_label("Version to test").select_option(
        label=f"Proposed in #{waiting.number} {waiting.title}"
    )
    panel.get_by_label("User ID").fill("u-7")
    panel.get_by_role("button", name="Test this user").click()
    expect(panel.get_by_text(f"change set #{waiting.number}")).to_be_visible()
    _shot(page, "gate-test-proposed")


@pytest.mark.django_db(transaction=True)
def test_employee__link_into_an_open_project__joins_and_lands_on_the_page(page: Page, live_server):
    # Given an open project and a closed one, and an employee in neither
    admin = UserFactory(username="root", email="root@corp.example", is_superuser=True)
    shop = console_services.project_create(
        actor=admin, name="Shop", slug="shop", access_mode=ProjectAccessMode.OPEN
    )
    vault = console_services.project_create(actor=admin, name="Vault", slug="vault")
    otto = UserFactory(username="otto", email="otto@corp.example")
    page.set_default_timeout(5000)
    _sign_in(page, live_server, otto.email)

    # When they open a link to the open project's experiments
    target = live_server.url + reverse("experiment-list", args=[shop.slug])
    page.goto(target)

    # Then they are offered to join, and land on the page of the link
    expect(page.get_by_role("heading", name="Join Shop to see this page")).to_be_visible()
    _shot(page, "join-prompt-open")
    page.get_by_role("button", name="Join Shop").click()
    expect(page).to_have_url(target)
    expect(page.get_by_text("You joined Shop.")).to_be_visible()
    assert Membership.objects.filter(project=shop, user=otto).exists()

    # When they open a link into the closed one, they may ask for access
    page.goto(live_server.url + reverse("gate-list", args=[vault.slug]))
    expect(page.get_by_role("heading", name="Vault is a closed project")).to_be_visible()
    page.get_by_label("Message").fill("I run the checkout experiments.")
    _shot(page, "join-prompt-closed")
    page.get_by_role("button", name="Request access").click()
    expect(page.get_by_text("Access requested.")).to_be_visible()
    assert not Membership.objects.filter(project=vault, user=otto).exists()


@pytest.mark.django_db(transaction=True)
def test_search__typed_in_the_top_bar__keyboard_to_the_gate(page: Page, live_server):
    # Given a project with a gate tagged growth and a config
    admin = UserFactory(username="root", email="root@corp.example", is_superuser=True)
    project = console_services.project_create(actor=admin, name="Shop", slug="shop")
    gate = FeatureGateFactory(project=project, name="new_checkout", owner=admin)
    gate.tags.set(project.tags.filter(name="growth"))
    DynamicConfigFactory(project=project, name="checkout_settings")
    page.set_default_timeout(5000)
    _sign_in(page, live_server, admin.email)
    page.goto(live_server.url + reverse("project-home", args=[project.slug]))

    # When "/" jumps to the search box and "checkout" is typed
    page.keyboard.press("/")
    expect(page.get_by_label("Search Shop")).to_be_focused()
    page.keyboard.type("checkout")

    # Then both kinds are listed under the box
    results = page.locator("#search-popover")
    expect(results.get_by_role("link", name="new_checkout")).to_be_visible()
    expect(results.get_by_role("link", name="checkout_settings")).to_be_visible()
    _shot(page, "search-popover")

    # When the arrow keys pick the gate and Enter opens it
    page.keyboard.press("ArrowDown")
    expect(results.get_by_role("link", name="new_checkout")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(live_server.url + reverse("gate-detail", args=[project.slug, gate.pk]))
    # (the URL changes before the new page's scripts run: typing earlier is typing into a box
    # htmx does not listen to yet)
    page.wait_for_load_state("load")

    # And a tag finds what carries it; Escape closes the results
    page.get_by_label("Search Shop").fill("growth")
    expect(results.get_by_text("tag growth")).to_be_visible()
    page.keyboard.press("Escape")
    expect(results.get_by_role("link")).to_have_count(0)


@pytest.mark.django_db(transaction=True)
def test_reviewer__tests_a_user_against_an_experiment_as_proposed(page: Page, live_server):
    # Given a running experiment taking 1% of users, and a raise to 100% waiting for review
    admin = UserFactory(username="root", email="root@corp.example", is_superuser=True)
    rex = UserFactory(username="rex", email="rex@corp.example")
    project = console_services.project_create(actor=admin, name="Shop", slug="shop")
    Membership.objects.create(project=project, user=rex, role=Role.VIEWER)
    experiment = experiment_services.experiment_start(
        actor=admin,
        experiment=experiment_services.experiment_create(
            actor=admin,
            project=project,
            document=experiment_document("checkout_copy", allocation=1),
        ),
    )
    doc = {**experiment_to_document(experiment), "allocation": 100}
    waiting = changeset_submit(
        actor=admin,
        project=project,
        changes=[ChangeInput("experiment", "update", doc["name"], doc)],
    )
    page.set_default_timeout(5000)

    # When the reviewer tests a user on the experiment's page, first as saved
    _sign_in(page, live_server, rex.email)
    page.goto(live_server.url + reverse("experiment-detail", args=[project.slug, experiment.pk]))
    panel = page.locator("#test-panel")
    panel.get_by_label("Environment").select_option(label="production")
    panel.get_by_label("User ID").fill("u-1")
    panel.get_by_role("button", name="Test this user").click()
    expect(panel).to_contain_text("outside the 1% allocation")

    # Then as the change set proposes it: in a group, and said to be the proposal's result
    panel.get_by_label("Version to test").select_option(
        label=f"Proposed in #{waiting.number} {waiting.title}"
    )
    panel.get_by_role("button", name="Test this user").click()
    expect(panel.get_by_text(f"change set #{waiting.number}")).to_be_visible()
    expect(panel).to_contain_text("Allocation: only 100% of units enter")
    expect(panel).not_to_contain_text("Not allocated")
    Path("/tmp/wt7-shots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path="/tmp/wt7-shots/experiment-test-proposed.png", full_page=True)
