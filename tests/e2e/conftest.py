"""What the browser tests share: the event table emptied after them (it is not Django's),
and the customer's warehouse (a PostgreSQL database of its own)."""

from tests.metrics.conftest import empty_event_table  # noqa: F401 (a fixture)
from tests.metrics.warehouse_db import warehouse, warehouse_allowed  # noqa: F401 (fixtures)
