"""The impact preview reports what SDK answers change, on one fixed sample: a draft
experiment changes nothing, archiving what users receive changes their answers, the count
is the same open and applied, and examples are coloured by value."""

from __future__ import annotations

import pytest
from django.urls import reverse

from experiments.models import Experiment
from gates.documents import gate_to_document
from reviews.impact import DEFAULTS, SAMPLE_SIZE, impact_preview
from reviews.models import ChangeSetState
from reviews.services import ChangeInput, changeset_approve
from tests.experiments.factories import experiment_document
from tests.gates.factories import rule
from tests.reviews.conftest import create_gate, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def shipped_experiment(project, project_admin, second_admin):
    """checkout_button, created, started and shipped with Test (each change set approved):
    everyone receives Test's values."""
    for change in (
        ChangeInput("experiment", "create", "checkout_button", experiment_document()),
        ChangeInput("experiment", "start", "checkout_button", {}),
        ChangeInput("experiment", "ship", "checkout_button", {"group": "Test"}),
    ):
        change_set = submit(project_admin, project, change)
        if change_set.state != ChangeSetState.APPLIED:
            changeset_approve(actor=second_admin, change_set=change_set)
    return Experiment.objects.get(project=project, name="checkout_button")


def test_impact__draft_experiment_created__no_user_changes(project, project_member):
    # Given a change set creating a draft experiment (nobody receives a draft)
    change_set = submit(
        project_member,
        project,
        ChangeInput("experiment", "create", "checkout_button", experiment_document()),
    )

    # When the impact is previewed
    impact = impact_preview(change_set)

    # Then no sampled user gets another answer, in any environment: the draft answers as if
    # it were absent, so the preview lists nothing (and the change set applied at once)
    assert impact.error is None
    assert all(item.changed == 0 for item in impact.entities)
    assert change_set.state == ChangeSetState.APPLIED


def test_impact__draft_experiment_with_an_override__only_the_overridden_id_changes(
    project, project_member
):
    # Given a draft whose override puts one user in Test (that user does get Test's values)
    document = experiment_document()
    document["overrides"] = [{"group": "Test", "unitIDs": ["u-vip"], "segments": []}]
    change_set = submit(
        project_member, project, ChangeInput("experiment", "create", "checkout_button", document)
    )

    # When previewed
    impact = impact_preview(change_set)

    # Then exactly the overridden user changes, from the defaults to the group
    for item in impact.entities:
        assert item.changed >= 1
        for example in item.examples:
            assert example["user"]["userID"] == "u-vip"
            assert example["before"] == DEFAULTS
            assert example["after"]["group"] == "Test"


def test_impact__archive_shipped_experiment__everyone_falls_back_to_defaults(
    project, project_member, shipped_experiment
):
    # Given a change set archiving a shipped experiment (everyone gets the shipped group)
    change_set = submit(
        project_member, project, ChangeInput("experiment", "archive", "checkout_button", {})
    )

    # When previewed
    impact = impact_preview(change_set)

    # Then every sampled user changes, from a group to the defaults
    [item] = impact.entities
    assert item.changed == SAMPLE_SIZE
    assert all(e["after"] == DEFAULTS and e["before"]["group"] for e in item.examples)


def test_impact__archive_gate_users_pass__they_fail_afterwards(project, project_member, live_gate):
    # Given a live gate passing 10% of users, and a change set archiving it
    change_set = submit(project_member, project, ChangeInput("gate", "archive", live_gate.name, {}))

    # When previewed
    impact = impact_preview(change_set)

    # Then the 10% who passed now fail (the SDKs answer false for a missing gate)
    [item] = impact.entities
    assert 0.07 < item.changed / item.sample < 0.13
    assert all(e["before"] is True and e["after"] is False for e in item.examples)


def test_impact__open_then_applied__same_sample_and_same_count(
    project, project_member, second_admin, live_gate
):
    # Given a rollout raised from 10% to 60%
    document = gate_to_document(live_gate)
    document["rules"][0]["passPercentage"] = 60
    change_set = submit(
        project_member, project, ChangeInput("gate", "update", live_gate.name, document)
    )
    open_view = impact_preview(change_set)

    # When it is applied and previewed again
    changeset_approve(actor=second_admin, change_set=change_set)
    change_set.refresh_from_db()
    applied_view = impact_preview(change_set)

    # Then both views sample the same users and count the same changes
    assert [(i.environments, i.changed, i.sample) for i in open_view.entities] == [
        (i.environments, i.changed, i.sample) for i in applied_view.entities
    ]
    assert open_view.entities[0].sample == SAMPLE_SIZE
    assert open_view.entities[0].examples == applied_view.entities[0].examples


def test_impact__two_entities__one_sample_for_both(project, project_member):
    # Given two new gates passing everyone
    change_set = submit(
        project_member,
        project,
        create_gate("one", rules=[rule(pass_percentage=100)]),
        create_gate("two", rules=[rule(pass_percentage=100)]),
    )

    # When previewed
    impact = impact_preview(change_set)

    # Then both count the same users, all of whom change from fail to pass
    assert [(i.name, i.changed, i.sample) for i in impact.entities] == [
        ("one", SAMPLE_SIZE, SAMPLE_SIZE),
        ("two", SAMPLE_SIZE, SAMPLE_SIZE),
    ]
    assert impact.entities[0].examples == impact.entities[1].examples


def test_impact_panel__examples__coloured_by_value_not_column(client, project, project_member):
    # Given a change set making a gate pass everyone (fail → pass) and one archiving
    change_set = submit(project_member, project, create_gate(rules=[rule(pass_percentage=100)]))
    client.force_login(project_member)

    # When the panel is rendered
    html = client.get(
        reverse("changeset-impact", args=[project.slug, change_set.number]),
        HTTP_HX_REQUEST="true",
    ).content.decode()

    # Then "fail" is in the fail colour and "pass" in the pass colour
    assert 'impact-value--fail" title="fail">fail<' in html
    assert 'impact-value--pass" title="pass">pass<' in html
    assert "impact-before" not in html


def test_change_card__archive__says_what_users_get_not_no_difference(
    client, project, project_member, live_gate
):
    # Given a change set archiving a live gate
    change_set = submit(project_member, project, ChangeInput("gate", "archive", live_gate.name, {}))
    client.force_login(project_member)

    # When its page is shown
    html = client.get(
        reverse("changeset-detail", args=[project.slug, change_set.number])
    ).content.decode()

    # Then the card says the SDKs stop receiving it, never "no visible difference"
    assert "no visible difference" not in html
    assert "the SDKs stop receiving it" in html
