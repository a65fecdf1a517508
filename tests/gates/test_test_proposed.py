"""Test a user against the version an open change set proposes, before it is approved: the
panel runs that change set's dry run; nothing is kept."""

from __future__ import annotations

import pytest
from django.urls import reverse

from console.models import Membership, Role
from gates.documents import gate_to_document
from gates.models import FeatureGate
from reviews.models import ChangeSetState
from tests.console.factories import UserFactory
from tests.gates.factories import condition, rule
from tests.reviews.conftest import create_gate, submit, update_gate

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_admin(project):
    user = UserFactory(username="ada.admin", email="ada.admin@corp.example")
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    return user


@pytest.fixture
def proposed(project, project_admin, second_admin):
    """A live gate nobody passes, and an update waiting for review that lets staff pass."""
    from reviews.services import changeset_approve

    # Nobody passes it: it changes no SDK answer, so it applies at once (the short path)
    created = submit(project_admin, project, create_gate(rules=[rule(pass_percentage=0)]))
    if created.state != ChangeSetState.APPLIED:
        changeset_approve(actor=second_admin, change_set=created)
    staff = rule("Staff", [condition("email", "str_ends_with_any", ["@corp.example"])])
    waiting = submit(project_admin, project, update_gate("new_checkout", rules=[staff]))
    assert waiting.state == ChangeSetState.IN_REVIEW
    return FeatureGate.objects.get(project=project, name="new_checkout"), waiting


def _test(client, project, gate, **data):
    production = project.environments.get(name="production")
    return client.post(
        reverse("gate-test", args=[project.slug, gate.pk]),
        {"environment": str(production.pk), "user_id": "u-1", "email": "pat@corp.example", **data},
        headers={"HX-Request": "true"},
    )


def test_gate_test__proposed_version__runs_the_change_set_not_the_saved_gate(
    client, project, project_viewer, proposed
):
    gate, waiting = proposed
    before = gate_to_document(gate)
    client.force_login(project_viewer)

    # The page offers the change set's version
    page = client.get(reverse("gate-detail", args=[project.slug, gate.pk])).content.decode()
    assert f"Proposed in #{waiting.number}" in page

    # Saved: nobody passes
    saved = _test(client, project, gate)
    assert saved.status_code == 200
    assert "verdict--fail" in saved.content.decode()

    # Proposed: staff pass, by the proposed rule, and the panel says which version it ran
    response = _test(client, project, gate, version=str(waiting.number))
    html = response.content.decode()
    assert response.status_code == 200
    assert "verdict--pass" in html
    assert "Decided by rule 1 “Staff”" in html
    assert "Skipped in production" not in html
    detail = reverse("changeset-detail", args=[project.slug, waiting.number])
    assert f'proposed in <a href="{detail}"' in html

    # And nothing changed: the gate is as saved, the change set still waits
    gate.refresh_from_db()
    assert gate_to_document(gate) == before
    waiting.refresh_from_db()
    assert waiting.state == ChangeSetState.IN_REVIEW


def test_gate_test__unknown_change_set__form_error(client, project, project_viewer, proposed):
    gate, _ = proposed
    client.force_login(project_viewer)
    response = _test(client, project, gate, version="999")
    assert response.status_code == 400
    assert "still open" in response.content.decode()
