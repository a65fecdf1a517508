"""Right answers where a PM reads them, in a real browser: the test-a-user trace of a running
experiment (each step's mark agrees with its words), the impact panel of a draft experiment
(nobody changes) and of a new gate (values coloured by value), and a rollback previewed per
environment before it is proposed."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from console import services as console_services
from console.models import Membership, Role
from experiments import services as experiment_services
from gates.documents import gate_to_document
from gates.models import FeatureGate
from reviews.models import ChangeSet
from reviews.services import ChangeInput, changeset_approve, changeset_submit
from tests.console.factories import UserFactory
from tests.e2e.signing import sign_in
from tests.experiments.factories import experiment_document
from tests.gates.factories import gate_document, rule

SHOTS = Path("/tmp/wt4-shots")


@pytest.mark.django_db(transaction=True)
def test_review_answers__trace_impact_and_rollback__say_what_happens(page: Page, live_server):
    # Given a project with a running experiment, a live gate, and a PM (member)
    SHOTS.mkdir(exist_ok=True)
    admin = UserFactory(username="root", email="root@corp.example", is_superuser=True)
    project = console_services.project_create(actor=admin, name="Shop", slug="shop")
    pm = UserFactory(username="pam", email="pam@corp.example")
    Membership.objects.create(project=project, user=pm, role=Role.MEMBER)
    experiment = experiment_services.experiment_create(
        actor=admin, project=project, document=experiment_document("blue_button", allocation=100)
    )
    experiment = experiment_services.experiment_start(actor=admin, experiment=experiment)
    changeset_approve(
        actor=admin,
        change_set=changeset_submit(
            actor=pm,
            project=project,
            changes=[
                ChangeInput(
                    "gate",
                    "create",
                    "new_checkout",
                    gate_document("new_checkout", rules=[rule(pass_percentage=10)]),
                )
            ],
        ),
    )
    page.set_default_timeout(5000)

    def url(name: str, *args) -> str:
        return live_server.url + reverse(name, args=args)

    sign_in(page, live_server, "pam@corp.example")
    expect(page).to_have_url(url("project-home", "shop"))

    # When she tests a user on the running experiment
    page.goto(url("experiment-detail", "shop", experiment.pk))
    panel = page.locator("#test-panel")
    panel.get_by_label("User ID").fill("user-42")
    panel.get_by_role("button", name="Test this user").click()

    # Then the allocation step says "allocated" in green, with a check beside its words
    expect(panel.locator(".verdict")).to_contain_text("In group")
    allocation = panel.locator(".trace-rule", has_text="Allocation")
    expect(allocation.locator(".badge")).to_have_text("allocated")
    expect(allocation.locator(".badge")).to_have_class("badge badge--step-pass")
    expect(allocation.locator(".trace-cond.is-pass")).to_contain_text(": allocated.")
    expect(allocation.locator(".trace-cond.is-fail")).to_have_count(0)
    # and the deciding rule by its group's name, the raw ID only beside it
    expect(panel.locator(".test-props")).to_contain_text("Group ")
    panel.locator("#test-result").screenshot(path=str(SHOTS / "trace-experiment.png"))

    # When she proposes a draft experiment and opens its change set
    draft = changeset_submit(
        actor=pm,
        project=project,
        changes=[ChangeInput("experiment", "create", "next_up", experiment_document("next_up"))],
    )
    page.goto(url("changeset-detail", "shop", draft.number))

    # Then the impact panel says nobody's answers change
    impact = page.locator("#impact")
    expect(impact).to_contain_text("No evaluation changes for the sampled users")
    expect(impact).not_to_contain_text("users change (")

    # When she proposes a gate that passes everyone
    gate_cs = changeset_submit(
        actor=pm,
        project=project,
        changes=[
            ChangeInput("gate", "create", "everyone", gate_document("everyone", rules=[rule()]))
        ],
    )
    page.goto(url("changeset-detail", "shop", gate_cs.number))

    # Then every sampled user changes, "fail" shown in the fail colour, "pass" in the pass one
    impact = page.locator("#impact")
    expect(impact).to_contain_text("2,000 of 2,000 users change")
    expect(impact.locator(".impact-value--fail").first).to_have_text("fail")
    expect(impact.locator(".impact-value--pass").first).to_have_text("pass")
    impact.screenshot(path=str(SHOTS / "impact-gate.png"))

    # When the gate gets a development-only rule (version 3: the draft, which changed no SDK
    # answer, applied at once as version 2) and she opens the history
    gate = FeatureGate.objects.get(project=project, name="new_checkout")
    document = gate_to_document(gate)
    document["rules"].append(rule("Devs", environments=["development"]))
    changeset_submit(
        actor=pm,
        project=project,
        changes=[ChangeInput("gate", "update", "new_checkout", document)],
    )
    page.goto(url("publishing", "shop"))
    page.locator("#version-history details", has_text="development").get_by_role(
        "link", name="Roll back to v2…"
    ).click()

    # Then, before anything is proposed, the page says what each environment will get
    expect(page.get_by_role("heading", name="Roll the project back to version 2")).to_be_visible()
    development = page.locator('[data-environment="development"]')
    expect(development).to_contain_text("The gate new_checkout changes")
    expect(page.locator('[data-environment="production"]')).to_contain_text("no change")
    page.screenshot(path=str(SHOTS / "rollback-preview.png"), full_page=True)
    assert not ChangeSet.objects.filter(source="rollback").exists()

    # When she proposes it
    page.get_by_role("button", name="Propose rollback: changes development").click()

    # Then the change set is named for what it does, and applied (development needs no review)
    expect(page.get_by_role("heading", name="Roll the project back to version 2")).to_be_visible()
    rollback = ChangeSet.objects.get(source="rollback")
    assert rollback.environments == ["development"]
    gate.refresh_from_db()
    assert len(gate.rules) == 1
