from io import StringIO

from django.core.management import call_command

from console.models import Membership, Project, Role
from console.specs.builder import build_spec
from console.specs.evaluator import Evaluator
from experiments.models import Experiment, Layer
from reviews.demo import REVIEWER_EMAIL
from reviews.models import ChangeSet, ChangeSetState


def test_demo_load__checkout__running_experiment_in_its_layer(db):
    # Given
    call_command("demo_load", stdout=StringIO())
    project = Project.objects.get(slug="checkout")
    # When
    spec = build_spec(project, project.environments.get(name="production"), time_ms=1)
    result = Evaluator(spec).get_layer({"userID": "user-7"}, "checkout_page")
    # Then
    assert Experiment.objects.get(name="checkout_button_color").status == "running"
    assert result.value["button_color"] in ("grey", "blue")
    assert set(result.value) == {"button_color", "show_trust_badges"}


def test_demo_load__experiments__applied_change_sets_approved_by_a_second_admin(db):
    # When
    call_command("demo_load", stdout=StringIO())

    # Then the experiments' change sets were approved by the second demo admin and applied,
    # except starting trust_badges, left in review for the queue
    project = Project.objects.get(slug="checkout")
    reviewer = Membership.objects.get(project=project, user__email=REVIEWER_EMAIL)
    assert reviewer.role == Role.ADMIN
    experiment_sets = ChangeSet.objects.filter(
        project=project, changes__kind__in=["experiment", "layer"]
    ).distinct()
    applied = experiment_sets.filter(state=ChangeSetState.APPLIED)
    assert applied.count() == 2
    for change_set in applied:
        assert change_set.author.email == "demo@gatehouse.local"
        assert change_set.ruleset_version is not None
        assert [a.user.email for a in change_set.approvals.all()] == [REVIEWER_EMAIL]
    waiting = experiment_sets.get(state=ChangeSetState.IN_REVIEW)
    assert waiting.author.email == "maya@gatehouse.local"  # for the demo admin to review
    change = waiting.changes.get()
    assert (change.kind, change.action, change.entity_name) == (
        "experiment",
        "start",
        "trust_badges",
    )
    assert Experiment.objects.get(name="trust_badges").status == "draft"
    assert Layer.objects.filter(project=project, name="checkout_page").exists()


def test_demo_load__run_twice__nothing_changes(db):
    # Given
    call_command("demo_load", stdout=StringIO())
    counts = (ChangeSet.objects.count(), Experiment.objects.count(), Layer.objects.count())
    out = StringIO()

    # When
    call_command("demo_load", stdout=out)

    # Then
    assert (ChangeSet.objects.count(), Experiment.objects.count(), Layer.objects.count()) == counts
    assert "already loaded" in out.getvalue()
