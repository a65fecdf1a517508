"""Lifecycle and archive buttons say what pressing them will do, in a real browser: a
draft experiment's Start waits for production's review and its Archive applies at once,
pressing each does just that, and a served gate's Archive waits for review."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from console import services as console_services
from console.models import Membership, Role
from console.publishing.services import spec_publish
from experiments import services as experiment_services
from experiments.models import Experiment, ExperimentStatus
from gates import services as gate_services
from reviews.models import ChangeSet, ChangeSetState
from tests.console.factories import UserFactory
from tests.e2e.signing import sign_in
from tests.experiments.factories import experiment_document
from tests.gates.factories import gate_document, rule

SHOTS = Path("/tmp/wt8-shots")


@pytest.mark.django_db(transaction=True)
def test_lifecycle_buttons__say_review_or_at_once__and_do_it(page: Page, live_server):
    # Given a project with the default policy (production needs one approval), a PM, and
    # a draft experiment nobody is in yet
    admin = UserFactory(username="root", email="root@corp.example", is_superuser=True)
    project = console_services.project_create(actor=admin, name="Shop", slug="shop")
    pm = UserFactory(username="pam", email="pam@corp.example")
    Membership.objects.create(project=project, user=pm, role=Role.MEMBER)
    draft = experiment_services.experiment_create(
        actor=admin, project=project, document=experiment_document("blue_button")
    )
    page.set_default_timeout(5000)
    SHOTS.mkdir(parents=True, exist_ok=True)

    def url(name: str, *args) -> str:
        return live_server.url + reverse(name, args=args)

    sign_in(page, live_server, "pam@corp.example")
    expect(page).to_have_url(url("project-home", "shop"))

    # When she opens the draft's page
    page.goto(url("experiment-detail", "shop", draft.pk))

    # Then Start says it waits for production's review, Archive that it applies at once
    start = page.locator("summary", has_text="Start")
    expect(start).to_have_text("Start · submit for review (production)")
    expect(page.locator("summary", has_text="Archive")).to_have_text("Archive · applies at once")

    # And opening Start says why, on a button that submits for review
    start.click()
    panel = page.locator("details[open] .confirm-panel")
    expect(panel).to_contain_text("which requires review")
    page.screenshot(path=str(SHOTS / "experiment-start-review.png"), full_page=True)
    panel.get_by_role("button", name="Submit for review").click()

    # Then the start waits for review, and the experiment is still a draft
    expect(page.get_by_text("is waiting for review")).to_be_visible()
    change_set = ChangeSet.objects.get(project=project)
    assert change_set.state == ChangeSetState.IN_REVIEW
    assert Experiment.objects.get(pk=draft.pk).status == ExperimentStatus.DRAFT
    change_set.delete()  # withdrawn, so the archive is no conflict

    # When she archives it instead: it applies at once, as the button said
    page.goto(url("experiment-detail", "shop", draft.pk))
    page.locator("summary", has_text="Archive").click()
    panel = page.locator("details[open] .confirm-panel")
    expect(panel).to_contain_text("Applies at once")
    page.screenshot(path=str(SHOTS / "experiment-archive-at-once.png"), full_page=True)
    panel.get_by_role("button", name="Archive experiment").click()
    expect(page.get_by_text("Experiment blue_button archived.")).to_be_visible()
    assert Experiment.objects.get(pk=draft.pk).status == ExperimentStatus.ARCHIVED
    assert ChangeSet.objects.get(project=project).state == ChangeSetState.APPLIED

    # And a gate everyone passes, published, says its Archive waits for production's review
    gate = gate_services.gate_create(
        actor=admin, project=project, document=gate_document("new_checkout", rules=[rule()])
    )
    spec_publish(actor=None, project=project)
    page.goto(url("gate-detail", "shop", gate.pk))
    archive = page.locator("summary", has_text="Archive")
    expect(archive).to_have_text("Archive · submit for review (production)")
    archive.click()
    expect(page.locator("details[open] .confirm-panel")).to_contain_text("which requires review")
    page.screenshot(path=str(SHOTS / "gate-archive-review.png"))
