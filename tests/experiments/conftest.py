"""Fixtures the experiments tests share."""

from __future__ import annotations

import pytest

from tests.metrics.test_sdks import App


@pytest.fixture
def web():
    """The product's web app on a loopback origin of its own (tests/metrics/test_sdks.py),
    serving the page whose @statsig/js-client the browser tests drive."""
    server = App()
    yield server
    server.close()
