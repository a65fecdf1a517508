"""Issue 10: the console degrades without Redis, logs no keys, and sends a strict CSP."""

from __future__ import annotations

import io
import logging
import socket

import pytest
from django.urls import reverse

from console import redaction
from console.models import KEY_PREFIXES
from tests.conftest import PASSWORD
from tests.console.factories import UserFactory

SERVER_KEY = "secret-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcde"
CLIENT_KEY = "client-ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210_-zyxwv"


def _closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
        }
    }


def _signed_in(client) -> bool:
    return client.get(reverse("project-list")).status_code == 200


def _sign_in(client, email: str, password: str = PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def test_login__redis_down__signs_in(client, db, redis_down):
    # Given an account, and the cache's Redis unreachable
    UserFactory(email="pat@corp.example")
    # When they sign in
    response = _sign_in(client, "pat@corp.example")
    # Then they are in (the session is in PostgreSQL)
    assert response.status_code == 302
    assert _signed_in(client)


def test_login__redis_down__failed_attempts_still_throttled_per_process(client, db, redis_down):
    # Given an account, and the cache's Redis unreachable
    UserFactory(email="pat@corp.example")
    # When someone guesses five wrong passwords
    for _ in range(5):
        assert "not correct" in _sign_in(client, "pat@corp.example", "wrong").content.decode()
    # Then even the right one is refused for a while
    response = _sign_in(client, "pat@corp.example")
    assert "Too many failed login attempts" in response.content.decode()
    assert not _signed_in(client)
    # While another account still signs in
    UserFactory(email="sam@corp.example")
    assert _sign_in(client, "sam@corp.example").status_code == 302


def test_redaction__prefixes__match_the_keys_the_console_makes():
    assert set(redaction.KEY_PREFIXES) == set(KEY_PREFIXES.values())


def test_redaction__keys__prefix_and_hint_kept_rest_dropped():
    line = f"GET /v1/download_config_specs/{SERVER_KEY}.json?k={CLIENT_KEY} client-side"
    assert redaction.redact_keys(line) == (
        "GET /v1/download_config_specs/secret-AbCdEf….json?k=client-ZyXwVu… client-side"
    )


@pytest.fixture
def log_output():
    """What the console's log handler (the root's, also Django's loggers') writes."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def test_logs__404_on_sdk_url_with_key__key_not_logged(client, db, log_output):
    # When an SDK calls a URL that does not exist, its key in the path and the query
    response = client.get(f"/v1/download_config_specs/{SERVER_KEY}.json/more?k={CLIENT_KEY}")
    # Then the "Not Found" line is written without the keys
    assert response.status_code == 404
    written = log_output.getvalue()
    assert "Not Found: /v1/download_config_specs/secret-AbCdEf….json/more" in written
    assert SERVER_KEY not in written
    assert CLIENT_KEY[:20] not in written


def test_logs__error_with_key_in_message_and_traceback__redacted(log_output):
    try:
        raise ValueError(f"bad key {SERVER_KEY}")
    except ValueError:
        logging.getLogger("console.anything").exception("failed for %s", CLIENT_KEY)
    written = log_output.getvalue()
    assert "failed for client-ZyXwVu…" in written
    assert "ValueError: bad key secret-AbCdEf…" in written
    assert SERVER_KEY not in written
    assert CLIENT_KEY not in written


def test_security_headers__html_page__csp_and_permissions_policy(client, db):
    response = client.get(reverse("account_login"))
    csp = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe" not in csp
    policy = response.headers["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation"):
        assert f"{feature}=()" in policy
