"""A large ID-list change, approved in the browser and through the console API, is applied
by a real Celery worker: the approving request returns at once, the change set's page
follows the worker until it is applied, and statsig-python-core then sees the new IDs."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from console.models import ConfigSpec, ConfigSpecState, Membership, Role
from gates import services as gate_services
from gates.models import SegmentID
from reviews.models import ChangeSet, ChangeSetState
from reviews.services import ChangeInput, changeset_submit
from tests.api_support import api_url_for, console_key, key_client
from tests.conftest import PASSWORD
from tests.console.factories import UserFactory
from tests.gates.factories import condition, gate_document, rule, segment_document
from tests.publishing.conftest import core_sdk, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
S = ChangeSetState
LIMIT = 1_000
IDS = [f"user-{n:06d}" for n in range(20_000)]
api_url = api_url_for("reviews-api")


@pytest.fixture
def heavy(settings, project, site_admin, start_celery_worker):
    """The web side and a real worker agree that more than LIMIT IDs go to the worker; a
    gate passes the users of segment vips; pam proposes adding IDS to it."""
    settings.GATEHOUSE_APPLY_IN_WORKER_WEIGHT = LIMIT
    start_celery_worker(GATEHOUSE_APPLY_IN_WORKER_WEIGHT=str(LIMIT))
    gate_services.segment_create(
        actor=site_admin, project=project, document=segment_document("vips", type="id_list")
    )
    gate_services.gate_create(
        actor=site_admin,
        project=project,
        document=gate_document(
            "vip_feature", rules=[rule("VIPs", [condition("passes_segment", None, "vips")])]
        ),
    )
    pam = UserFactory(username="pam", email="pam@corp.example")
    Membership.objects.create(project=project, user=pam, role=Role.MEMBER)
    ada = UserFactory(username="ada", email="ada@corp.example")
    Membership.objects.create(project=project, user=ada, role=Role.ADMIN)
    change_set = changeset_submit(
        actor=pam,
        project=project,
        changes=[ChangeInput("segment", "ids_add", "vips", {"ids": IDS})],
    )
    assert change_set.state == S.IN_REVIEW
    return change_set, ada


def _pushed(change_set: ChangeSet) -> bool:
    return not (
        ConfigSpec.objects.filter(ruleset_version=change_set.ruleset_version)
        .exclude(state=ConfigSpecState.PUSHED)
        .exists()
    )


def test_browser_approve__large_id_list__worker_applies_and_the_page_follows(
    page: Page, live_server, heavy, project, server_key
):
    change_set, ada = heavy
    # When an admin approves it in the browser
    page.set_default_timeout(15_000)
    page.goto(live_server.url + reverse("account_login"))
    page.get_by_label("Email").fill(ada.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/accounts/login" not in url)
    page.goto(live_server.url + reverse("changeset-detail", args=[project.slug, change_set.number]))
    page.get_by_role("button", name="Approve and apply").click()
    # Then the page says the worker applies it, and shows the outcome once it has
    expect(page.get_by_text("the worker is applying it")).to_be_visible()
    expect(page.get_by_test_id("state")).to_have_text("Applied", timeout=60_000)
    change_set.refresh_from_db()
    assert change_set.state == S.APPLIED
    assert change_set.applied_by == ada
    assert SegmentID.objects.filter(segment__name="vips").count() == len(IDS)
    wait_for(lambda: _pushed(change_set), timeout=30)

    # And the real SDK, through our endpoints, sees the IDs
    import statsig_python_core as core

    sdk = core_sdk(server_key.secret, live_server.url)
    try:
        assert sdk.initialize_with_details().result().is_config_spec_ready
        assert wait_for(
            lambda: sdk.check_gate(core.StatsigUser(user_id="user-019999"), "vip_feature"),
            timeout=15,
        )
        assert sdk.check_gate(core.StatsigUser(user_id="zed"), "vip_feature") is False
    finally:
        sdk.shutdown().wait()


def test_api_approve__large_id_list__202_then_applied_by_the_worker(heavy, project):
    change_set, ada = heavy
    client = key_client(console_key(ada, project, Role.ADMIN))
    # When
    response = client.post(api_url("api-review-approve", change_set.number, project=None))
    # Then
    assert response.status_code == 202, response.content
    body = response.json()
    assert "worker" in body["message"]
    assert body["data"]["state"] in (S.APPLYING, S.APPLIED)

    def applied():
        data = client.get(api_url("api-review-detail", change_set.number, project=None)).json()
        if data["data"]["state"] == S.APPLYING:
            assert set(data["data"]["applyProgress"]) == {"phase", "step", "done", "total"}
            return None
        return data["data"]

    done = wait_for(applied, timeout=60, interval=0.2)
    assert done["state"] == S.APPLIED
    assert done["rulesetVersion"] == 1
    assert SegmentID.objects.filter(segment__name="vips").count() == len(IDS)
