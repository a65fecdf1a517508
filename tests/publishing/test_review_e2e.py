"""The mission's backbone end to end: a member edits a production gate in a browser, an
admin approves it in another browser session, a real Celery worker pushes the new spec to
real Redis, and the SDKs see it — the legacy `statsig` SDK through its Redis data store
within 5 seconds, statsig-python-core through our /v2/ endpoint."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect

from console.models import ConfigSpec, ConfigSpecState, Membership, Role
from gates.models import FeatureGate
from reviews.models import ChangeSet, ChangeSetState
from reviews.services import ChangeInput, changeset_approve, changeset_submit
from tests.conftest import PASSWORD
from tests.console.factories import UserFactory
from tests.gates.factories import condition, gate_document, rule
from tests.publishing.conftest import CLOSED, legacy_sdk_on_redis, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _sign_in(page: Page, live_server, email: str) -> None:
    page.goto(live_server.url + reverse("account_login"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/accounts/login" not in url)


def _pushed(change_set: ChangeSet) -> bool:
    return not (
        ConfigSpec.objects.filter(ruleset_version=change_set.ruleset_version)
        .exclude(state=ConfigSpecState.PUSHED)
        .exists()
    )


def test_member_edits_admin_approves_sdks_see_it(
    page: Page,
    browser: Browser,
    live_server,
    celery_worker_process,
    project,
    site_admin,
    server_key,
):
    from statsig.statsig_user import StatsigUser

    # Given a live gate for staff emails, reviewed and pushed by the worker
    pam = UserFactory(username="pam", email="pam@corp.example")
    Membership.objects.create(project=project, user=pam, role=Role.MEMBER)
    ada = UserFactory(username="ada", email="ada@corp.example")
    Membership.objects.create(project=project, user=ada, role=Role.ADMIN)
    staff = [condition("email", "any", ["alice@corp.example"])]
    first = changeset_submit(
        actor=site_admin,
        project=project,
        changes=[
            ChangeInput("gate", "create", payload=gate_document(rules=[rule("Staff", staff, 100)]))
        ],
    )
    first = changeset_approve(actor=ada, change_set=first)
    wait_for(lambda: _pushed(first), timeout=20)

    bob = StatsigUser(user_id="bob", email="bob@corp.example")
    with legacy_sdk_on_redis(server_key) as legacy:
        assert legacy.check_gate(bob, "new_checkout") is False

        # When the member adds bob in the gate's editor and saves
        gate = FeatureGate.objects.get(project=project, name="new_checkout")
        page.set_default_timeout(10_000)
        _sign_in(page, live_server, pam.email)
        page.goto(live_server.url + reverse("gate-detail", args=[project.slug, gate.pk]))
        page.locator("#rule-0-cond-0-value").fill("alice@corp.example, bob@corp.example")
        page.get_by_role("button", name="Save changes").click()

        # Then the page shows the change set waiting for review, and nothing changed
        expect(page.get_by_text("waiting for review").first).to_be_visible()
        change_set = ChangeSet.objects.get(project=project, state=ChangeSetState.IN_REVIEW)
        assert change_set.author == pam
        gate.refresh_from_db()
        assert gate.rules[0]["conditions"][0]["targetValue"] == ["alice@corp.example"]

        # When an admin, in another browser session, approves it from the review queue
        admin_context = browser.new_context()
        admin_page = admin_context.new_page()
        admin_page.set_default_timeout(10_000)
        _sign_in(admin_page, live_server, ada.email)
        admin_page.goto(live_server.url + reverse("changeset-list", args=[project.slug]))
        admin_page.get_by_role("link", name=change_set.title).first.click()
        expect(admin_page.get_by_text("bob@corp.example").first).to_be_visible()
        admin_page.get_by_role("button", name="Approve").click()
        started = time.monotonic()
        expect(admin_page.get_by_text("Applied").first).to_be_visible()

        # Then the legacy SDK, reading Redis, sees bob pass within 5 seconds
        wait_for(lambda: legacy.check_gate(bob, "new_checkout"), timeout=5, interval=0.05)
        assert time.monotonic() - started < 5
        admin_context.close()

    change_set.refresh_from_db()
    assert change_set.state == ChangeSetState.APPLIED
    wait_for(lambda: _pushed(change_set), timeout=10)

    # And statsig-python-core sees it through our /v2/ endpoint
    import statsig_python_core as core

    client = core.Statsig(
        server_key.secret,
        core.StatsigOptions(
            specs_url=f"{live_server.url}/v2/download_config_specs",
            log_event_url=f"{CLOSED}/v1/log_event",
            id_lists_url=f"{CLOSED}/v1/get_id_lists",
            fallback_to_statsig_api=False,
            disable_all_logging=True,
            disable_country_lookup=True,
            output_log_level="none",
            init_timeout_ms=5000,
        ),
    )
    try:
        details = client.initialize_with_details().result()
        assert details.is_config_spec_ready, details.source
        result = client.get_feature_gate(
            core.StatsigUser(user_id="bob", email="bob@corp.example"), "new_checkout"
        )
        assert result.value is True
        production = change_set.ruleset_version.config_specs.get(environment__name="production")
        assert result.details.lcut == production.time_ms
    finally:
        client.shutdown().wait()
