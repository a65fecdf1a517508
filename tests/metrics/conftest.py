from tests.publishing.conftest import (  # noqa: F401  (fixtures shared with publishing)
    client_key,
    make_gate,
    production,
    server_key,
    spec_redis,
)
