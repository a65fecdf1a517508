from io import StringIO

from django.core.management import call_command

from console.models import ApiKey, KeyKind, Membership, Project, Role, User
from console.specs.builder import build_spec
from console.specs.evaluator import Evaluator
from gates.models import FeatureGate
from reviews.models import ChangeSet, ChangeSetSource, ChangeSetState


def test_demo_load__checkout_project__demo_gate_passes_employees(db):
    # Given
    call_command("demo_load", stdout=StringIO())
    project = Project.objects.get(slug="checkout")
    # When
    spec = build_spec(project, project.environments.get(name="production"), time_ms=1)
    evaluator = Evaluator(spec)
    # Then
    assert evaluator.check_gate({"userID": "u1", "email": "maya@gatehouse.local"}, "new_checkout")
    config = evaluator.get_config(
        {"userID": "u1", "email": "maya@gatehouse.local"}, "checkout_settings"
    )
    assert config.value["express_pay"] is True
    assert not evaluator.get_config({"userID": "u2"}, "checkout_settings").value["express_pay"]


def test_demo_load__checkout__gates_entities_applied_by_an_approved_change_set(db):
    # When
    call_command("demo_load", stdout=StringIO())

    # Then: proposed by the demo user, approved by a second admin, applied and published
    project = Project.objects.get(slug="checkout")
    change_set = ChangeSet.objects.get(project=project, changes__kind="gate")
    changes = list(change_set.changes.values_list("kind", "action", "entity_name"))
    assert changes == [
        ("segment", "create", "employees"),
        ("gate", "create", "new_checkout"),
        ("dynamic_config", "create", "checkout_settings"),
    ]
    assert change_set.state == ChangeSetState.APPLIED
    assert change_set.source == ChangeSetSource.COMMAND
    assert change_set.author.email == "demo@gatehouse.local"
    approver = change_set.approvals.get().user
    assert approver != change_set.author
    assert Membership.objects.get(project=project, user=approver).role == Role.ADMIN
    assert change_set.ruleset_version is not None
    assert change_set.changes.get(kind="gate").entity_id == (
        FeatureGate.objects.get(project=project, name="new_checkout").pk
    )


def test_demo_load__twice__no_new_change_sets_or_users(db):
    # Given
    call_command("demo_load", stdout=StringIO())
    counts = (ChangeSet.objects.count(), User.objects.count(), FeatureGate.objects.count())

    # When
    call_command("demo_load", stdout=StringIO())

    # Then
    assert (ChangeSet.objects.count(), User.objects.count(), FeatureGate.objects.count()) == counts


def test_demo_load__every_environment__a_usable_server_and_client_key(db):
    # When
    call_command("demo_load", stdout=StringIO())

    # Then each environment of each demo project has both kinds of key
    for project in Project.objects.filter(slug__in=["checkout", "growth-sandbox"]):
        for environment in project.environments.all():
            kinds = set(
                ApiKey.objects.usable()
                .filter(project=project, environment=environment)
                .values_list("kind", flat=True)
            )
            assert kinds == {KeyKind.SERVER, KeyKind.CLIENT}, (project.slug, environment.name)
