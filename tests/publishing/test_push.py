"""The push to Redis (called directly, as the task body does): keys, idempotence, ordering,
Redis outages and healing."""

from __future__ import annotations

import json

import pytest
import redis

from console import services as core_services
from console.models import ConfigSpec, ConfigSpecState
from console.publishing import store
from console.publishing.services import config_spec_push, config_spec_repush, spec_publish
from tests.publishing.conftest import free_port, set_gate_emails


def _snapshot(conn) -> dict:
    """What the publisher wrote (not the fragment cache's shared tier, which builds store
    in the same test Redis DB)."""
    out = {}
    for key in sorted(k for k in conn.keys("*") if not k.startswith(b"gh:frag:")):
        kind = conn.type(key)
        out[key] = conn.hgetall(key) if kind == b"hash" else conn.get(key)
    return out


def _production_spec(version) -> ConfigSpec:
    return version.config_specs.get(environment__name="production")


def test_push__server_key__sdk_keys_pointer_copy_and_notice(
    project, server_key, make_gate, spec_redis
):
    # Given
    make_gate()
    spec = _production_spec(spec_publish(actor=None, project=project))
    pubsub = spec_redis.pubsub()
    pubsub.subscribe(store.channel(store.CHANNEL, spec_redis))
    pubsub.get_message(timeout=1)
    # When
    config_spec_push(spec_id=spec.pk)
    # Then
    b64 = store.sdk_key_b64(server_key.key.key_hash)
    v1 = spec_redis.get(f"statsig|/v1/download_config_specs|plain_text|{b64}")
    v2 = spec_redis.get(f"statsig|/v2/download_config_specs|plain_text|{b64}")
    assert v1.decode() == spec.v1_json
    assert v2.decode() == spec.v2_json
    assert int(spec_redis.get(store.pointer_key(spec.environment_id))) == spec.time_ms
    copy = spec_redis.hgetall(store.versioned_key(spec.environment_id, spec.time_ms))
    assert copy[b"checksum"].decode() == spec.checksum
    notice = pubsub.get_message(timeout=2)
    assert json.loads(notice["data"]) == {
        "environment": spec.environment_id,
        "time": spec.time_ms,
        "checksum": spec.checksum,
    }
    spec.refresh_from_db()
    assert spec.state == ConfigSpecState.PUSHED
    assert spec.pushed_at
    assert spec.attempts == 1
    pubsub.close()


def test_push__twice__same_redis_state(project, server_key, make_gate, spec_redis):
    make_gate()
    spec = _production_spec(spec_publish(actor=None, project=project))
    config_spec_push(spec_id=spec.pk)
    before = _snapshot(spec_redis)
    config_spec_push(spec_id=spec.pk)
    assert _snapshot(spec_redis) == before


def test_push__older_after_newer__never_overwrites(
    project, site_admin, server_key, make_gate, spec_redis
):
    # Given: two versions, the newer pushed first
    gate = make_gate()
    old = _production_spec(spec_publish(actor=None, project=project))
    set_gate_emails(gate, site_admin, ["bob@corp.example"])
    new = _production_spec(spec_publish(actor=None, project=project))
    config_spec_push(spec_id=new.pk)
    # When
    config_spec_push(spec_id=old.pk)
    # Then
    key = store.dcs_key("v1", server_key.key.key_hash)
    assert spec_redis.get(key).decode() == new.v1_json
    assert int(spec_redis.get(store.pointer_key(new.environment_id))) == new.time_ms
    old.refresh_from_db()
    assert old.state == ConfigSpecState.SUPERSEDED


def test_push__redis_down__pending_then_repushed_when_back(
    project, server_key, make_gate, spec_redis, settings
):
    # Given: the spec store points at a closed port
    make_gate()
    spec = _production_spec(spec_publish(actor=None, project=project))
    good = settings.GATEHOUSE_SPEC_REDIS_URL
    settings.GATEHOUSE_SPEC_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    # When
    with pytest.raises(redis.ConnectionError):
        config_spec_push(spec_id=spec.pk)
    report = config_spec_repush()
    # Then: nothing lost, still to do
    spec.refresh_from_db()
    assert spec.state == ConfigSpecState.PENDING
    assert spec.attempts >= 1
    assert "ConnectionError" in spec.last_error
    assert report.failed
    # When Redis is back (and the backoff has passed)
    settings.GATEHOUSE_SPEC_REDIS_URL = good
    from datetime import timedelta

    from django.utils import timezone

    report = config_spec_repush(now=timezone.now() + timedelta(minutes=10))
    # Then
    assert spec.pk in report.pushed
    spec.refresh_from_db()
    assert spec.state == ConfigSpecState.PUSHED
    assert spec.last_error == ""
    assert spec_redis.get(store.dcs_key("v2", server_key.key.key_hash)).decode() == spec.v2_json


def test_push__final_failure__failed_state(project, make_gate, settings):
    make_gate()
    spec = _production_spec(spec_publish(actor=None, project=project))
    settings.GATEHOUSE_SPEC_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(redis.ConnectionError):
        config_spec_push(spec_id=spec.pk, final=True)
    spec.refresh_from_db()
    assert spec.state == ConfigSpecState.FAILED


def test_repush__redis_lost_everything__heals(project, server_key, make_gate, spec_redis):
    # Given: everything pushed, then Redis restarts empty
    make_gate()
    version = spec_publish(actor=None, project=project)
    for spec in version.config_specs.all():
        config_spec_push(spec_id=spec.pk)
    before = _snapshot(spec_redis)
    spec_redis.flushdb()
    # When
    report = config_spec_repush()
    # Then
    assert sorted(report.healed) == sorted(version.config_specs.values_list("pk", flat=True))
    assert _snapshot(spec_redis) == before
    # and a second run finds nothing to do
    assert config_spec_repush().healed == []


def test_repush__new_key_and_revoked_key__entries_written_and_deleted(
    project, production, site_admin, server_key, make_gate, spec_redis
):
    make_gate()
    spec = _production_spec(spec_publish(actor=None, project=project))
    config_spec_push(spec_id=spec.pk)
    # When: a key is added after the push, and the first one is revoked
    added = core_services.key_create(
        actor=site_admin, project=project, kind="server", environment=production
    )
    assert config_spec_repush().healed == [spec.pk]
    core_services.key_revoke(actor=site_admin, key=server_key.key)
    config_spec_push(spec_id=spec.pk)
    # Then
    assert spec_redis.get(store.dcs_key("v1", added.key.key_hash)) is not None
    assert spec_redis.get(store.dcs_key("v1", server_key.key.key_hash)) is None


def test_repush__older_pending__superseded_only_newest_pushed(
    project, site_admin, server_key, make_gate, spec_redis
):
    gate = make_gate()
    old = _production_spec(spec_publish(actor=None, project=project))
    set_gate_emails(gate, site_admin, ["bob@corp.example"])
    new = _production_spec(spec_publish(actor=None, project=project))
    report = config_spec_repush()
    assert old.pk in report.superseded
    assert new.pk in report.pushed
    assert spec_redis.get(store.dcs_key("v1", server_key.key.key_hash)).decode() == new.v1_json
