"""The publishing fixtures (SDK keys, a published gate) for the hardening tests."""

from tests.publishing.conftest import client_key, make_gate, production, server_key
from tests.publishing.test_client_init import published_v1

__all__ = ["client_key", "make_gate", "production", "published_v1", "server_key"]
