"""Assignment over 100,000 users with our evaluator on the published spec: group shares,
allocation, mutual exclusion in a layer, and raising the allocation without moving anyone."""

from collections import Counter

import pytest

from console.models import Environment
from console.specs.builder import build_spec, to_v2
from console.specs.evaluator import Evaluator
from experiments import services
from experiments.documents import experiment_to_document
from tests.experiments.factories import experiment_document, group, layer_document

USERS = [{"userID": f"user-{n}"} for n in range(100_000)]
_time = iter(range(1, 1_000))


@pytest.fixture
def production(project):
    return Environment.objects.get(project=project, name="production")


def _assignments(project, production, name: str) -> dict[str, str]:
    """user ID → group name, for the users in a group of the experiment."""
    evaluator = Evaluator(to_v2(build_spec(project, production, time_ms=next(_time))))
    out = {}
    for user in USERS:
        result = evaluator.get_experiment(user, name)
        if result.is_experiment_group:
            out[user["userID"]] = result.group_name
    return out


def _start(actor, project, document):
    experiment = services.experiment_create(actor=actor, project=project, document=document)
    return services.experiment_start(actor=actor, experiment=experiment)


def _layered(name, allocation):
    return experiment_document(
        name,
        layerID="checkout_layer",
        allocation=allocation,
        parameters=[{"name": "color", "type": "string"}],
    )


def test_split__three_groups_of_100k_users__each_its_share_within_one_point(
    project, project_admin, production
):
    # Given
    _start(
        project_admin,
        project,
        experiment_document(
            groups=[
                group("Control", 20, {"color": "grey"}),
                group("Blue", 30, {"color": "blue"}),
                group("Green", 50, {"color": "green"}),
            ]
        ),
    )
    # When
    counts = Counter(_assignments(project, production, "checkout_button").values())
    # Then
    shares = {name: n / len(USERS) for name, n in counts.items()}
    assert shares.keys() == {"Control", "Blue", "Green"}
    assert abs(shares["Control"] - 0.20) <= 0.01
    assert abs(shares["Blue"] - 0.30) <= 0.01
    assert abs(shares["Green"] - 0.50) <= 0.01


@pytest.mark.parametrize("in_layer", [False, True])
def test_allocation__40_percent__assigns_40_percent_within_one_point_split_evenly(
    project, project_admin, production, in_layer
):
    # Given
    services.layer_create(actor=project_admin, project=project, document=layer_document())
    document = _layered("checkout_button", 40) if in_layer else experiment_document(allocation=40)
    _start(project_admin, project, document)
    # When
    assigned = _assignments(project, production, "checkout_button")
    # Then
    assert abs(len(assigned) / len(USERS) - 0.40) <= 0.01
    counts = Counter(assigned.values())
    assert abs(counts["Control"] / len(assigned) - 0.5) <= 0.01


def test_layer__running_experiments__no_user_in_two_and_a_third_moves_nobody(
    project, project_admin, production
):
    # Given
    services.layer_create(actor=project_admin, project=project, document=layer_document())
    _start(project_admin, project, _layered("first", 30))
    _start(project_admin, project, _layered("second", 40))
    first = _assignments(project, production, "first")
    second = _assignments(project, production, "second")
    # When
    _start(project_admin, project, _layered("third", 25))
    after = {name: _assignments(project, production, name) for name in ("first", "second", "third")}
    # Then
    assert not first.keys() & second.keys()
    assert abs(len(first) / len(USERS) - 0.30) <= 0.01
    assert abs(len(second) / len(USERS) - 0.40) <= 0.01
    assert after["first"] == first
    assert after["second"] == second
    assert abs(len(after["third"]) / len(USERS) - 0.25) <= 0.01
    assert not after["third"].keys() & (first.keys() | second.keys())
    # The layer hands each user to the experiment that owns their bucket.
    evaluator = Evaluator(build_spec(project, production, time_ms=next(_time)))
    for user in USERS[:5_000]:
        layer = evaluator.get_layer(user, "checkout_layer")
        owner = next((n for n in after if user["userID"] in after[n]), None)
        assert layer.allocated_experiment == owner
        if owner is not None:
            assert layer.group_name == after[owner][user["userID"]]


@pytest.mark.parametrize("in_layer", [False, True])
def test_allocation_raised__20_to_50_percent__every_assigned_user_keeps_their_group(
    project, project_admin, production, in_layer
):
    # Given
    services.layer_create(actor=project_admin, project=project, document=layer_document())
    document = _layered("checkout_button", 20) if in_layer else experiment_document(allocation=20)
    experiment = _start(project_admin, project, document)
    at_20 = _assignments(project, production, "checkout_button")
    # When
    services.experiment_update(
        actor=project_admin,
        experiment=experiment,
        document=experiment_to_document(experiment) | {"allocation": 50},
    )
    at_50 = _assignments(project, production, "checkout_button")
    # Then
    assert abs(len(at_20) / len(USERS) - 0.20) <= 0.01
    assert abs(len(at_50) / len(USERS) - 0.50) <= 0.01
    assert all(at_50.get(user) == name for user, name in at_20.items())


def test_reset__running_experiment__users_re_randomised(project, project_admin, production):
    # Given
    experiment = _start(project_admin, project, experiment_document(allocation=50))
    before = _assignments(project, production, "checkout_button")
    # When
    experiment = services.experiment_reset(actor=project_admin, experiment=experiment)
    services.experiment_start(actor=project_admin, experiment=experiment)
    after = _assignments(project, production, "checkout_button")
    # Then
    both = before.keys() & after.keys()
    # Independent draws: about half of each allocation overlaps, and half of those match.
    assert abs(len(both) / len(USERS) - 0.25) <= 0.01
    same = sum(before[u] == after[u] for u in both)
    assert abs(same / len(both) - 0.5) <= 0.02
