"""Bad keys are throttled per source address: after GATEHOUSE_BAD_KEY_LIMIT unknown keys in a
minute, that address's keyed requests get 429 with Retry-After (in the documented error
shape) until the minute is over; other addresses are untouched; a cache failure lets
requests through."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from console import services
from console.models import Role
from console.publishing.services import ruleset_version_create
from tests.api_support import console_key

pytestmark = pytest.mark.django_db

LIMIT = 3
BAD = "secret-AbCdEfGhIjKlMnOpQrStUvWx"


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.GATEHOUSE_BAD_KEY_LIMIT = LIMIT


@pytest.fixture
def server_key(project, site_admin):
    """A server key of production, whose spec is published."""
    production = project.environments.get(name="production")
    ruleset_version_create(actor=site_admin, project=project, reason="first", force=True)
    return services.key_create(
        actor=site_admin, project=project, kind="server", environment=production, name="api"
    ).secret


def _dcs(secret: str, address: str = "203.0.113.7"):
    return Client(REMOTE_ADDR=address).get(f"/v1/download_config_specs/{secret}.json")


def _console(secret: str, address: str = "203.0.113.7"):
    return Client(REMOTE_ADDR=address).get(
        "/console/v1/gates?project=payments", HTTP_STATSIG_API_KEY=secret
    )


def _assert_throttled(response) -> None:
    assert response.status_code == 429, response.content
    assert 1 <= int(response["Retry-After"]) <= 60
    body = response.json()
    assert body["code"] == "too_many_bad_keys"
    assert "try again" in body["message"]


def test_sdk__bad_keys_past_the_limit__429_for_that_address_only(server_key):
    # Given LIMIT bad keys from one address, each refused as usual
    assert [_dcs(BAD).status_code for _ in range(LIMIT)] == [401] * LIMIT
    # When that address tries again, even with a good key
    # Then it waits; another address is served
    _assert_throttled(_dcs(BAD))
    _assert_throttled(_dcs(server_key))
    assert _dcs(server_key, address="198.51.100.9").status_code == 200
    assert _dcs(BAD, address="198.51.100.9").status_code == 401


def test_sdk__good_keys__never_counted(server_key):
    assert {_dcs(server_key).status_code for _ in range(LIMIT * 3)} == {200}


def test_sdk__wrong_kind_of_valid_key__not_a_bad_key(project, site_admin):
    production = project.environments.get(name="production")
    client_key = services.key_create(
        actor=site_admin, project=project, kind="client", environment=production, name="web"
    ).secret
    assert {_dcs(client_key).status_code for _ in range(LIMIT * 2)} == {403}


def test_console_api__bad_keys_past_the_limit__429(project, site_admin):
    good = console_key(site_admin, project, Role.ADMIN)
    assert [_console(BAD).status_code for _ in range(LIMIT)] == [401] * LIMIT
    _assert_throttled(_console(BAD))
    _assert_throttled(_console(good))
    assert _console(good, address="198.51.100.9").status_code == 200


def test_limit_zero__never_throttled(settings):
    settings.GATEHOUSE_BAD_KEY_LIMIT = 0
    assert {_dcs(BAD).status_code for _ in range(LIMIT * 3)} == {401}


def test_cache_failing__requests_go_through(monkeypatch):
    def broken(*_args, **_kwargs):
        raise ConnectionError("cache down")

    for name in ("get", "add", "incr"):
        monkeypatch.setattr(cache, name, broken)
    assert {_dcs(BAD).status_code for _ in range(LIMIT * 2)} == {401}
