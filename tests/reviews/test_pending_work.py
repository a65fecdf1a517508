"""Pending work in sight: the lists' "pending review" badges and proposed new entities, the
sidebar's count of change sets waiting for me and of access requests waiting for an admin."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from console import services as console_services
from console.models import Project, ProjectAccessMode
from reviews.services import ChangeInput, changeset_approve
from tests.console.factories import UserFactory
from tests.gates.factories import config_document, rule
from tests.reviews.conftest import create_gate, submit, update_gate

pytestmark = pytest.mark.django_db


def _html(client, user, name, project) -> str:
    client.force_login(user)
    response = client.get(reverse(name, args=[project.slug]))
    assert response.status_code == 200
    return response.content.decode()


def _nav_count(html: str, label: str) -> str | None:
    found = re.search(rf"{label}<span class=\"nav-count\"[^>]*>(\d+)<", html)
    return found.group(1) if found else None


def test_gate_list__update_in_review__row_has_pending_badge_linking_the_change_set(
    client, project, project_admin, live_gate, reviewer
):
    # Given an update of the live gate waiting for review
    change_set = submit(
        project_admin, project, update_gate(live_gate.name, rules=[rule(pass_percentage=50)])
    )

    # When a member opens the gates list
    html = _html(client, reviewer, "gate-list", project)

    # Then the gate's row says so and links to the change set
    detail = reverse("changeset-detail", args=[project.slug, change_set.number])
    assert f'href="{detail}"' in html
    assert f"pending review · #{change_set.number}" in html


def test_gate_list__new_gate_in_review__listed_as_proposed_not_created(
    client, project, project_admin, reviewer
):
    # Given a new gate that passes 10% in production, waiting for review
    change_set = submit(
        project_admin, project, create_gate("fresh_gate", rules=[rule(pass_percentage=10)])
    )

    # When the list is opened
    html = _html(client, reviewer, "gate-list", project)

    # Then it is shown as proposed, with its change set
    assert "Proposed, not created yet" in html
    assert "fresh_gate" in html
    assert f"#{change_set.number}" in html


def test_config_list__applied_change__no_badge(client, no_review, project_admin, reviewer):
    # Given a config created with no review needed (applied at once)
    submit(
        project_admin,
        no_review,
        ChangeInput("dynamic_config", "create", "c1", config_document("c1")),
    )

    # Then nothing is pending
    html = _html(client, reviewer, "config-list", no_review)
    assert "pending review" not in html
    assert "Proposed, not created yet" not in html


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx)


def test_gate_list__many_pending_change_sets__constant_queries(
    client, project, project_admin, reviewer, django_assert_max_num_queries
):
    # Given 3 gates proposed in 3 change sets waiting for review
    def add(start, n):
        for i in range(start, start + n):
            submit(project_admin, project, create_gate(f"g{i}", rules=[rule(pass_percentage=10)]))

    add(0, 3)
    client.force_login(reviewer)
    url = reverse("gate-list", args=[project.slug])
    few = _queries(client, url)

    # When 7 more are waiting
    add(3, 7)

    # Then the list needs no more queries
    with django_assert_max_num_queries(few):
        html = client.get(url).content.decode()
    assert html.count("badge--pending") == 10


def test_sidebar__change_set_in_review__counted_for_the_reviewer_not_the_author(
    client, project, project_admin, live_gate, reviewer, project_viewer, second_admin
):
    # Given a change set in review by the admin
    change_set = submit(
        project_admin, project, update_gate(live_gate.name, rules=[rule(pass_percentage=50)])
    )

    # Then the reviewer sees 1 waiting, the author and a viewer see no count
    assert _nav_count(_html(client, reviewer, "gate-list", project), "Reviews") == "1"
    assert _nav_count(_html(client, project_admin, "gate-list", project), "Reviews") is None
    assert _nav_count(_html(client, project_viewer, "gate-list", project), "Reviews") is None

    # When the second admin approves it (and it applies), nobody has it waiting
    changeset_approve(actor=second_admin, change_set=change_set)
    assert _nav_count(_html(client, reviewer, "gate-list", project), "Reviews") is None


def test_sidebar__access_request__counted_for_admins_only(client, site_admin, project_member):
    # Given a closed project with one pending access request
    project = Project.objects.get(slug="payments")
    assert project.access_mode == ProjectAccessMode.CLOSED
    outsider = UserFactory(username="otto", email="otto@corp.example")
    console_services.access_request_create(actor=outsider, project=project, message="please")

    # Then the admin sees it counted on Settings, the member does not
    assert _nav_count(_html(client, site_admin, "project-home", project), "Settings") == "1"
    assert _nav_count(_html(client, project_member, "project-home", project), "Settings") is None


def test_settings_tabs__access_request__members_tab_counts_it(client, site_admin, project):
    outsider = UserFactory(username="otto", email="otto@corp.example")
    console_services.access_request_create(actor=outsider, project=project, message="")
    html = _html(client, site_admin, "project-settings", project)
    members = re.search(r'href="[^"]*/settings/members/"[^>]*>Members(.*?)</a>', html).group(1)
    assert ">1</span>" in members
