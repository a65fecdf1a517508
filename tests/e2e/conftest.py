"""What the browser tests share: the event table emptied after them (it is not Django's)."""

from tests.metrics.conftest import empty_event_table  # noqa: F401 (a fixture)
