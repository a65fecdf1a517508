import pytest

from console.specs.evaluator import Evaluator
from tests.specs import helpers


@pytest.fixture(autouse=True)
def _flush_redis():
    """These tests touch neither Redis nor the database: skip the suite-wide Redis flush."""
    return


@pytest.fixture
def evaluate():
    """Build an evaluator from gate/config/layer dicts: ``evaluate(gates=[...], ...)``."""

    def build(gates=(), configs=(), layers=(), id_lists=None, **extra) -> Evaluator:
        return Evaluator(helpers.payload(gates, configs, layers, **extra), id_lists)

    return build
