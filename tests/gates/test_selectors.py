from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console.models import Tag
from gates import selectors
from gates.models import FeatureGate, GateStatus
from gates.selectors import GateFilters
from tests.gates.factories import DynamicConfigFactory, FeatureGateFactory, SegmentFactory

NOW = timezone.now()


def _gate(project, name, *, status=GateStatus.IN_PROGRESS, permanent=False, decided=0, edited=0):
    gate = FeatureGateFactory(project=project, name=name, status=status, is_permanent=permanent)
    FeatureGate.objects.filter(pk=gate.pk).update(
        status_changed_at=NOW - timedelta(days=decided), updated_at=NOW - timedelta(days=edited)
    )
    return gate


@pytest.fixture
def gates(project):
    return {
        g.name: g
        for g in [
            _gate(project, "launched_long_ago", status=GateStatus.LAUNCHED, decided=31),
            _gate(project, "launched_recently", status=GateStatus.LAUNCHED, decided=29),
            _gate(project, "disabled_long_ago", status=GateStatus.DISABLED, decided=45),
            _gate(project, "temporary_forgotten", edited=91),
            _gate(project, "temporary_fresh", edited=89),
            _gate(project, "permanent_old", permanent=True, edited=400),
        ]
    }


def test_gate_list__stale_filter__decided_30_days_or_temporary_untouched_90_days(project, gates):
    # When
    stale = selectors.gate_list(project=project, filters=GateFilters(stale=True), now=NOW)
    fresh = selectors.gate_list(project=project, filters=GateFilters(stale=False), now=NOW)
    # Then
    expected = {"launched_long_ago", "disabled_long_ago", "temporary_forgotten"}
    assert {g.name for g in stale} == expected
    assert {g.name for g in fresh} == set(gates) - expected
    assert all(g.stale for g in stale)
    for gate in FeatureGate.objects.filter(project=project):
        assert gate.is_stale(NOW) == (gate.name in expected)


def test_gate_list__filters__status_search_tag_owner_and_archived(project, project_admin):
    # Given
    core = Tag.objects.get(project=project, name="core")
    FeatureGateFactory(project=project, name="checkout_v2", tags=[core], owner=project_admin)
    FeatureGateFactory(project=project, name="search", status=GateStatus.LAUNCHED)
    FeatureGateFactory(
        project=project, name="old", status=GateStatus.ARCHIVED, archived_at=timezone.now()
    )

    def names(**filters):
        return [
            g.name for g in selectors.gate_list(project=project, filters=GateFilters(**filters))
        ]

    # When / Then
    assert names() == ["checkout_v2", "search"]
    assert names(status="launched") == ["search"]
    assert names(search="CHECK") == ["checkout_v2"]
    assert names(tag="Core") == ["checkout_v2"]
    assert names(owner=project_admin.email.upper()) == ["checkout_v2"]
    assert names(include_archived=True) == ["checkout_v2", "old", "search"]
    assert names(status="archived") == ["old"]


@pytest.mark.parametrize(
    ("factory", "selector"),
    [
        (FeatureGateFactory, lambda p: selectors.gate_list(project=p)),
        (SegmentFactory, lambda p: selectors.segment_list(project=p)),
        (DynamicConfigFactory, lambda p: selectors.dynamic_config_list(project=p)),
    ],
    ids=["gates", "segments", "configs"],
)
def test_list_selectors__3_or_30_rows_with_owner_and_tags__same_number_of_queries(
    project, project_admin, factory, selector
):
    # Given
    tags = list(Tag.objects.filter(project=project)[:2])

    def render():
        with CaptureQueriesContext(connection) as ctx:
            rows = [
                (row.name, row.owner.email, [t.name for t in row.tags.all()])
                for row in selector(project)
            ]
        return len(rows), len(ctx.captured_queries)

    factory.create_batch(3, project=project, owner=project_admin, tags=tags)
    few_rows, few = render()
    # When
    factory.create_batch(27, project=project, owner=project_admin, tags=tags)
    many_rows, many = render()
    # Then
    assert (few_rows, many_rows) == (3, 30)
    assert few == many == 2


def test_unit_type_names__custom_type__after_the_builtins(project, project_admin):
    # Given
    from gates import services

    services.unit_type_create(actor=project_admin, project=project, name="companyID")
    # When / Then
    assert selectors.unit_type_names(project=project) == ["userID", "stableID", "companyID"]


def test_gate_get__any_case__live_gate(project):
    # Given
    gate = FeatureGateFactory(project=project, name="Checkout")
    # When / Then
    assert selectors.gate_get(project=project, name="checkout") == gate
    assert selectors.gate_get(project=project, name="nope") is None
