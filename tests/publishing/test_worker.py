"""End to end with a real Celery worker process and real Redis: publish → worker → Redis
→ the SDKs (legacy `statsig` and statsig-python-core through the README adapters, and
python-core through our /v2/ HTTP endpoint)."""

from __future__ import annotations

import time

import pytest
import redis
from django.conf import settings

from console.models import ConfigSpec, ConfigSpecState
from console.publishing import store
from console.publishing.services import spec_publish
from tests.publishing.conftest import (
    CLOSED,
    legacy_sdk_on_redis,
    readme_adapter,
    set_gate_emails,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _all_pushed(version) -> bool:
    return (
        not ConfigSpec.objects.filter(ruleset_version=version)
        .exclude(state=ConfigSpecState.PUSHED)
        .exists()
    )


def test_worker__publish__legacy_and_core_sdks_see_updates(
    celery_worker_process, project, site_admin, server_key, make_gate, live_server
):
    from statsig.statsig_user import StatsigUser

    # Given: a first publish pushed by the worker
    gate = make_gate(emails=["alice@corp.example"])
    first = spec_publish(actor=site_admin, project=project, reason="first")
    wait_for(lambda: _all_pushed(first), timeout=20)
    conn = redis.Redis.from_url(settings.TEST_REDIS_URL)
    production = first.config_specs.get(environment__name="production")
    assert conn.get(store.dcs_key("v1", server_key.key.key_hash)).decode() == production.v1_json

    # The legacy SDK through the README adapter, polling Redis every second.
    bob = StatsigUser(user_id="bob", email="bob@corp.example")
    with legacy_sdk_on_redis(server_key) as legacy:
        assert legacy.check_gate(bob, "new_checkout") is False

        # When: bob is added and published again
        set_gate_emails(gate, site_admin, ["alice@corp.example", "bob@corp.example"])
        started = time.monotonic()
        second = spec_publish(actor=site_admin, project=project, reason="add bob")
        # Then: the legacy SDK sees it within 5 seconds
        wait_for(lambda: legacy.check_gate(bob, "new_checkout"), timeout=5, interval=0.05)
        assert time.monotonic() - started < 5
    wait_for(lambda: _all_pushed(second), timeout=10)

    # statsig-python-core through our /v2/ endpoint (live server) and through Redis.
    import statsig_python_core as core

    CoreStore = readme_adapter("core", "GatehouseCoreStore")
    user = core.StatsigUser(user_id="bob", email="bob@corp.example")
    common = {
        "log_event_url": f"{CLOSED}/v1/log_event",
        "id_lists_url": f"{CLOSED}/v1/get_id_lists",
        "fallback_to_statsig_api": False,
        "disable_all_logging": True,
        "disable_country_lookup": True,
        "output_log_level": "none",
        "init_timeout_ms": 5000,
    }
    for options in (
        core.StatsigOptions(specs_url=f"{live_server.url}/v2/download_config_specs", **common),
        core.StatsigOptions(
            data_store=CoreStore(redis.Redis.from_url(settings.TEST_REDIS_URL)),
            specs_url=f"{CLOSED}/v2/download_config_specs",
            **common,
        ),
    ):
        client = core.Statsig(server_key.secret, options)
        try:
            details = client.initialize_with_details().result()
            assert details.is_config_spec_ready, details.source
            gate_result = client.get_feature_gate(user, "new_checkout")
            assert gate_result.value is True
            assert (
                gate_result.details.lcut
                == second.config_specs.get(environment__name="production").time_ms
            )
        finally:
            client.shutdown().wait()


def test_worker__spec_redis_down_while_a_change_is_applied__pending_then_pushed(
    start_celery_worker, private_redis, project, site_admin, project_member, server_key
):
    # Given: the worker writes specs to a private Redis, which then stops
    from reviews.services import ChangeInput, changeset_approve, changeset_submit
    from tests.gates.factories import gate_document, rule

    private_redis.start()
    start_celery_worker(GATEHOUSE_SPEC_REDIS_URL=private_redis.url)
    private_redis.stop()
    # When a member's change set is approved (and so applied) during the outage
    change_set = changeset_submit(
        actor=project_member,
        project=project,
        changes=[ChangeInput("gate", "create", payload=gate_document(rules=[rule()]))],
    )
    change_set = changeset_approve(actor=site_admin, change_set=change_set)
    version = change_set.ruleset_version
    spec = version.config_specs.get(environment__name="production")
    # Then: recorded, pending, with the error; nothing lost
    wait_for(lambda: ConfigSpec.objects.filter(pk=spec.pk, attempts__gte=1).exists(), timeout=15)
    spec.refresh_from_db()
    assert spec.state == ConfigSpecState.PENDING
    assert "Error" in spec.last_error
    # When Redis is back, the task's retries push it
    private_redis.start()
    wait_for(lambda: _all_pushed(version), timeout=20, interval=0.2)
    conn = redis.Redis.from_url(private_redis.url)
    assert conn.get(store.dcs_key("v2", server_key.key.key_hash)).decode() == spec.v2_json


def test_worker__killed_mid_push__runs_again_with_the_same_result(
    start_celery_worker, private_redis, project, site_admin, server_key, make_gate
):
    # Given a worker whose spec Redis stalls every write (so the push hangs mid-task)
    import os
    import signal

    from console.tasks import config_spec_repush_task

    private_redis.start()
    conn = redis.Redis.from_url(private_redis.url)
    process, logfile = start_celery_worker(GATEHOUSE_SPEC_REDIS_URL=private_redis.url)
    conn.execute_command("CLIENT", "PAUSE", 60_000, "WRITE")
    make_gate()
    version = spec_publish(actor=site_admin, project=project, reason="while the worker dies")
    spec = version.config_specs.get(environment__name="production")
    wait_for(lambda: "config_spec_push_task" in logfile.read_text(errors="replace"), timeout=15)
    time.sleep(0.5)  # the push is now blocked on the paused write

    # When the worker is killed mid-push and a new one starts
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    conn.execute_command("CLIENT", "UNPAUSE")
    spec.refresh_from_db()
    assert spec.state == ConfigSpecState.PENDING  # nothing recorded as done
    start_celery_worker(GATEHOUSE_SPEC_REDIS_URL=private_redis.url)
    config_spec_repush_task.delay()  # what beat sends every minute

    # Then the push runs again and Redis holds exactly that spec
    wait_for(lambda: _all_pushed(version), timeout=20, interval=0.2)
    assert conn.get(store.dcs_key("v1", server_key.key.key_hash)).decode() == spec.v1_json
    assert conn.get(store.dcs_key("v2", server_key.key.key_hash)).decode() == spec.v2_json
    assert store.pointer_times([spec.environment_id], conn) == [spec.time_ms]
