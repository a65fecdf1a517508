import pytest

from console.models import Membership, Role
from reviews.services import ChangeInput, changeset_submit
from tests.console.factories import UserFactory
from tests.gates.factories import gate_document, rule


@pytest.fixture
def second_admin(project):
    user = UserFactory(username="ada.admin", email="ada.admin@corp.example")
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    return user


@pytest.fixture
def reviewer(project):
    user = UserFactory(username="rex.reviewer", email="rex.reviewer@corp.example")
    Membership.objects.create(project=project, user=user, role=Role.MEMBER)
    return user


def submit(actor, project, *changes, **kwargs):
    return changeset_submit(actor=actor, project=project, changes=list(changes), **kwargs)


def create_gate(name="new_checkout", **fields):
    """A gate with a rule that passes everyone unless told otherwise: creating it changes
    SDK answers, so production needs review (a gate nobody passes would not)."""
    fields.setdefault("rules", [rule()])
    return ChangeInput("gate", "create", name, gate_document(name, **fields))


def update_gate(gate_name, **fields):
    return ChangeInput("gate", "update", gate_name, gate_document(gate_name, **fields))


@pytest.fixture
def live_gate(project, project_admin, second_admin):
    """A gate applied to production (created, then approved by a second admin)."""
    from reviews.services import changeset_approve

    change_set = submit(project_admin, project, create_gate(rules=[rule(pass_percentage=10)]))
    changeset_approve(actor=second_admin, change_set=change_set)
    from gates.models import FeatureGate

    return FeatureGate.objects.get(project=project, name="new_checkout")
