import pytest
import redis
from django.conf import settings

from console.specs.evaluator import Evaluator
from tests.specs import helpers


@pytest.fixture(autouse=True)
def _flush_redis():
    """The evaluator's tests touch neither Redis nor the database: skip the suite-wide Redis
    flush (the incremental builds' tests, which do, ask for `redis_flushed`)."""
    return


@pytest.fixture
def redis_flushed():
    """This worker's Redis DB emptied after the test (builds store units in the shared
    tier there; a test must not find another's)."""
    yield
    redis.Redis.from_url(settings.TEST_REDIS_URL).flushdb()


@pytest.fixture
def evaluate():
    """Build an evaluator from gate/config/layer dicts: ``evaluate(gates=[...], ...)``."""

    def build(gates=(), configs=(), layers=(), id_lists=None, **extra) -> Evaluator:
        return Evaluator(helpers.payload(gates, configs, layers, **extra), id_lists)

    return build
