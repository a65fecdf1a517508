import pytest

from experiments import selectors, services
from experiments.documents import experiment_to_document, holdout_to_document
from tests.experiments.factories import (
    ExperimentFactory,
    experiment_document,
    holdout_document,
    layer_document,
)


def _layered(name, allocation):
    return experiment_document(
        name,
        layerID="checkout_layer",
        allocation=allocation,
        parameters=[{"name": "color", "type": "string"}],
    )


@pytest.fixture
def layer(project, project_admin):
    return services.layer_create(actor=project_admin, project=project, document=layer_document())


def test_layer_allocation__running_and_draft__owner_shares_pending_and_free(
    project, project_admin, layer, django_assert_num_queries
):
    # Given
    for name, allocation in (("alpha", 30), ("beta", 12.5)):
        experiment = services.experiment_create(
            actor=project_admin, project=project, document=_layered(name, allocation)
        )
        services.experiment_start(actor=project_admin, experiment=experiment)
    services.experiment_create(actor=project_admin, project=project, document=_layered("gamma", 20))
    # When
    with django_assert_num_queries(2):
        allocation = selectors.layer_allocation(layer=layer)
    # Then
    assert [(s.experiment, s.status, s.buckets, s.percent) for s in allocation.shares] == [
        ("alpha", "running", 300, 30.0),
        ("beta", "running", 125, 12.5),
    ]
    assert [(s.experiment, s.buckets) for s in allocation.pending] == [("gamma", 200)]
    assert (allocation.free_buckets, allocation.free_percent) == (575, 57.5)
    assert allocation.used_buckets == 425


def test_layer_allocation__shipped_experiment__its_buckets_are_free_again(
    project, project_admin, layer
):
    # Given
    experiment = services.experiment_create(
        actor=project_admin, project=project, document=_layered("alpha", 60)
    )
    experiment = services.experiment_start(actor=project_admin, experiment=experiment)
    # When
    services.experiment_ship(actor=project_admin, experiment=experiment, group="Test")
    # Then
    allocation = selectors.layer_allocation(layer=layer)
    assert (allocation.shares, allocation.free_buckets) == ([], 1000)


def test_layer_list__annotated_counts(project, project_admin, layer):
    # Given
    experiment = services.experiment_create(
        actor=project_admin, project=project, document=_layered("alpha", 25)
    )
    services.experiment_start(actor=project_admin, experiment=experiment)
    services.experiment_create(actor=project_admin, project=project, document=_layered("b", 5))
    # When
    [row] = selectors.layer_list(project=project)
    # Then
    assert (row.name, row.experiment_count, row.used_buckets) == ("checkout_layer", 2, 250)


def test_experiment_list__3_or_30__same_queries_for_documents(
    project, django_assert_max_num_queries
):
    # Given
    ExperimentFactory.create_batch(3, project=project)

    def render():
        return [experiment_to_document(e) for e in selectors.experiment_list(project=project)]

    # When / Then
    with django_assert_max_num_queries(2):
        assert len(render()) == 3
    ExperimentFactory.create_batch(27, project=project)
    with django_assert_max_num_queries(2):
        assert len(render()) == 30


def test_experiment_list__filters(project, project_admin, layer):
    # Given
    services.experiment_create(actor=project_admin, project=project, document=_layered("a1", 5))
    running = services.experiment_create(
        actor=project_admin, project=project, document=experiment_document("b2", hypothesis="Big")
    )
    services.experiment_start(actor=project_admin, experiment=running)
    # When / Then
    assert [e.name for e in selectors.experiment_list(project=project)] == ["a1", "b2"]
    assert [e.name for e in selectors.experiment_list(project=project, status="running")] == ["b2"]
    assert [e.name for e in selectors.experiment_list(project=project, layer=layer)] == ["a1"]
    assert [e.name for e in selectors.experiment_list(project=project, search="big")] == ["b2"]
    assert selectors.experiment_get(project=project, name="B2") == running


def test_holdouts_for_experiment__global_and_chosen(project, project_admin):
    # Given
    experiment = services.experiment_create(
        actor=project_admin, project=project, document=experiment_document()
    )
    services.holdout_create(
        actor=project_admin, project=project, document=holdout_document("all", isGlobal=True)
    )
    services.holdout_create(
        actor=project_admin,
        project=project,
        document=holdout_document("chosen", experimentIDs=["checkout_button"]),
    )
    services.holdout_create(actor=project_admin, project=project, document=holdout_document("x"))
    # When
    names = [h.name for h in selectors.holdouts_for_experiment(experiment=experiment)]
    # Then
    assert names == ["all", "chosen"]
    [chosen] = [h for h in selectors.holdout_list(project=project) if h.name == "chosen"]
    assert holdout_to_document(chosen)["experimentIDs"] == ["checkout_button"]
