"""The proof that the plan does not depend on the engine (issue #16): the same stored rows
in PostgreSQL and in ClickHouse (chdb, for real) give the same sufficient statistics, field
by field to a relative 1e-9 (counts exactly), for every metric type with CUPED on."""

from __future__ import annotations

import pytest

from metrics.plan import group_statistics
from tests.metrics.plan import test_group_statistics as base
from tests.metrics.plan.engines import assert_same, copy_to_clickhouse

pytestmark = pytest.mark.django_db

METRICS, scope = base.METRICS, base.scope
world = base.world  # the seeded world: 120 units, crossovers, bots, every kind of event


@pytest.mark.parametrize("name", list(METRICS))
def test_every_metric_type__same_rows__clickhouse_equals_postgresql(world, ch, settings, name):
    # Given the world's rows stored in PostgreSQL through the intake, copied into ClickHouse
    events, exposures = copy_to_clickhouse(ch, world.environment.pk)
    assert events > 500
    assert exposures > 100
    metric = METRICS[name]
    s = scope(world)
    # When each engine computes the metric with CUPED
    on_postgres = group_statistics(world.environment.pk, s, metric, cuped_days=7, full=True)
    settings.GATEHOUSE_EVENTS_ENGINE = "clickhouse"
    on_clickhouse = group_statistics(world.environment.pk, s, metric, cuped_days=7)
    # Then every field agrees
    assert_same(on_postgres, on_clickhouse)
    assert sum(g.units for g in on_postgres.groups) > 100
