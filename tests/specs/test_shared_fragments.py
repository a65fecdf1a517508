"""The fragment cache's shared tier (console/specs/shared_fragments.py): units other
processes built are taken from Redis; Redis down or holding garbage costs a rebuild, never
a wrong spec or a failed build."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import socket
import sys

import pytest
import redis
from django.conf import settings
from django.db import transaction
from django.test import TestCase

from console.specs import incremental, shared_fragments
from console.specs.builder import build_spec, spec_json, to_v2
from console.specs.registry import register_contributor, unregister_contributor
from tests.gates.factories import condition, gate_document, rule

TIME = 1_700_000_000_000

pytestmark = pytest.mark.usefixtures("redis_flushed")


@pytest.fixture(autouse=True)
def _cold_cache():
    incremental.clear_caches()
    yield
    incremental.clear_caches()


@pytest.fixture
def gates(project, project_admin):
    from gates import services

    for n in range(5):
        services.gate_create(
            actor=project_admin,
            project=project,
            document=gate_document(
                f"gate_{n}",
                rules=[
                    rule(conditions=[condition("email", "str_contains_any", ["@corp.example"])])
                ],
            ),
        )
    # Nothing built yet, anywhere (the services' publishes built and stored units).
    redis.Redis.from_url(settings.TEST_REDIS_URL).flushdb()
    incremental.clear_caches()
    return project


def _production(project):
    return project.environments.get(name="production")


def _build(project):
    """A build as it runs in a committed transaction (its units stored when it commits)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return incremental.build(project, _production(project), time_ms=TIME)


def _stored_keys() -> list:
    conn = redis.Redis.from_url(settings.TEST_REDIS_URL)  # type: ignore[misc]  # settings_test
    return conn.keys(shared_fragments._namespace() + "*")


def test_shared__new_process__takes_units_from_redis_same_bytes(gates):
    # Given a build by one process
    first = _build(gates)
    assert first.rebuilt > 0
    assert first.fetched == 0
    assert len(_stored_keys()) == 2 * first.rebuilt  # each unit, and its behaviour record
    # When another process (an empty cache of its own) builds the same content
    incremental.clear_caches()
    second = _build(gates)
    # Then it builds nothing and serves the same bytes, its fragments' specs included
    assert (second.rebuilt, second.fetched) == (0, first.rebuilt)
    assert (
        second.v1_json
        == first.v1_json
        == spec_json(build_spec(gates, _production(gates), time_ms=TIME))
    )
    assert (
        second.v2_json
        == first.v2_json
        == spec_json(to_v2(build_spec(gates, _production(gates), time_ms=TIME)))
    )
    assert (second.checksum, second.behaviour_checksum) == (
        first.checksum,
        first.behaviour_checksum,
    )
    assert [f.spec for f in second.fragments] == [f.spec for f in first.fragments]
    assert [f.conditions for f in second.fragments] == [f.conditions for f in first.fragments]


def _behaviours(project):
    """A dry run's build: the behaviour checksums of every environment."""
    environments = list(project.environments.order_by("pk"))
    with TestCase.captureOnCommitCallbacks(execute=True):
        return incremental.build_all(
            project, [(e, TIME) for e in environments], behaviour_only=True
        )


def test_shared__behaviour_only_new_process__reads_behaviour_records_alone(gates):
    # Given a dry run's build by one process (it stores full units and behaviour records)
    first = _behaviours(gates)
    assert first[0].rebuilt > 0
    # When a new process makes a dry run's build
    incremental.clear_caches()
    dry = _behaviours(gates)
    # Then it builds nothing, takes the units' behaviour records (not the units), and gets
    # the same behaviour checksums
    assert [b.rebuilt for b in dry] == [0, 0, 0]
    assert dry[0].fetched == first[0].rebuilt > 0
    assert [b.behaviour_checksum for b in dry] == [b.behaviour_checksum for b in first]
    assert all(f.v1 == f.v2 == "" and f.conditions == () for f in dry[0].fragments)
    assert incremental.cache.get_many([f.key.split("#")[0] for f in dry[0].fragments])[0] == []
    # And a full build after it in the same process takes the full units: the same bytes
    full = _build(gates)
    assert (full.rebuilt, full.fetched) == (0, first[0].rebuilt)
    assert full.v1_json == spec_json(build_spec(gates, _production(gates), time_ms=TIME))
    assert full.v2_json == spec_json(to_v2(build_spec(gates, _production(gates), time_ms=TIME)))


def test_shared__behaviour_only_after_a_full_build__uses_the_full_units(gates):
    _build(gates)
    # When the process that built makes a dry run's build
    dry = _behaviours(gates)
    # Then it asks nothing of Redis: its own units serve
    assert [(b.rebuilt, b.fetched) for b in dry] == [(0, 0)] * 3
    assert dry[2].behaviour_checksum == _build(gates).behaviour_checksum


class _Rollback(Exception):
    pass


def test_shared__build_rolled_back__stores_nothing(gates):
    # When a build runs in a transaction that rolls back (a dry run's savepoint, say)
    builds = []

    def build_and_roll_back():
        with transaction.atomic():
            builds.append(incremental.build(gates, _production(gates), time_ms=TIME))
            raise _Rollback

    with TestCase.captureOnCommitCallbacks(execute=True) as callbacks, pytest.raises(_Rollback):
        build_and_roll_back()
    (built,) = builds
    # Then its units stay in this process: nothing reached Redis, even under the lock
    assert built.rebuilt > 0
    assert callbacks == []
    assert _stored_keys() == []
    assert _build(gates).rebuilt == 0


def test_shared__garbage_in_redis__a_miss_rebuilt(gates):
    # Given units in Redis overwritten with values that do not decode, or are not theirs
    first = _build(gates)
    conn = redis.Redis.from_url(settings.TEST_REDIS_URL)
    stored = _stored_keys()
    valid = conn.mget(stored)
    for n, key in enumerate(stored):
        # junk, too few fields, not UTF-8, and another key's (valid) unit
        garbage = [b"junk", b"feature_gates\x1eonly-two", b"\xff\xfe", valid[n - 1]]
        conn.set(key, garbage[n % 4])
    incremental.clear_caches()
    # When a new process builds
    second = _build(gates)
    # Then every unit is rebuilt (and stored again), and the spec is the same
    assert (second.rebuilt, second.fetched) == (first.rebuilt, 0)
    assert second.v1_json == first.v1_json
    # And so with garbage in the behaviour records (another key's included): a dry run's
    # build rebuilds
    records = [k for k in _stored_keys() if k.endswith(incremental.BEHAVIOUR_SUFFIX.encode())]
    values = conn.mget(records)
    for n, key in enumerate(records):
        conn.set(key, [b"junk", b"feature_gates\x1eonly-two", b"\xff\xfe", values[n - 1]][n % 4])
    incremental.clear_caches()
    dry = _behaviours(gates)
    assert (dry[0].rebuilt, dry[0].fetched) == (first.rebuilt, 0)
    assert dry[2].behaviour_checksum == first.behaviour_checksum


def test_shared__redis_down__builds_alone_and_warns_once(gates, settings, caplog):
    # Given the shared tier's Redis unreachable
    settings.GATEHOUSE_SPEC_FRAGMENT_REDIS_URL = "redis://127.0.0.1:1/0"
    caplog.set_level(logging.WARNING, logger="console.specs.shared_fragments")
    # When two new processes build
    first = _build(gates)
    incremental.clear_caches()
    second = _build(gates)
    # Then each builds everything itself, correctly; one warning until Redis answers again
    assert second.rebuilt == first.rebuilt > 0
    assert second.v1_json == first.v1_json
    warnings = [r for r in caplog.records if "shared_unavailable" in r.getMessage()]
    assert len(warnings) == 1
    settings.GATEHOUSE_SPEC_FRAGMENT_REDIS_URL = settings.TEST_REDIS_URL
    incremental.clear_caches()
    assert _build(gates).rebuilt == first.rebuilt  # answers again: stores


def test_shared__redis_not_answering__left_alone_after_its_first_timeout(gates, settings):
    # Given a "Redis" that accepts connections and never answers
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        settings.GATEHOUSE_SPEC_FRAGMENT_REDIS_URL = (
            f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        )
        # When two new processes build (each build asks the tier several times)
        first = _build(gates)
        incremental.clear_caches()
        second = _build(gates)
        # Then only the first question waited for it: one connection in all
        silent.setblocking(False)
        connections = 0
        with contextlib.suppress(BlockingIOError):
            while True:
                silent.accept()[0].close()
                connections += 1
    assert connections == 1
    assert second.v1_json == first.v1_json
    assert second.rebuilt == first.rebuilt > 0


def test_shared__off__nothing_stored(gates, settings):
    settings.GATEHOUSE_SPEC_FRAGMENT_REDIS_URL = ""
    assert _build(gates).rebuilt > 0
    assert _stored_keys() == []


def test_shared__name_holding_a_separator__unit_not_shared(project):
    # Given a contributor whose entity name holds the encoding's separator
    def contribute(project, environment, draft):
        pass

    def fragments(project, environment, draft):
        if draft.reuse(["test/1:odd"]):
            spec = {
                "name": "odd\x1ename",
                "type": "feature_gate",
                "entity": "feature_gate",
                "salt": "s",
                "enabled": True,
                "defaultValue": False,
                "idType": "userID",
                "rules": [],
            }
            draft.add("test/1:odd", [("feature_gates", spec)])

    register_contributor(contribute, fragments=fragments)
    try:
        built = _build(project)
        incremental.clear_caches()
        again = _build(project)
    finally:
        unregister_contributor(contribute)
    # Then it is built in each process, never stored, and served right
    assert built.rebuilt == again.rebuilt == 1
    assert _stored_keys() == []
    assert again.v1_json == built.v1_json
    assert "odd\\u001ename" in again.v1_json


def test_shared__namespace__follows_the_fragment_building_source(project, tmp_path):
    # Given the namespace of the code as it is
    shared_fragments._namespace.cache_clear()
    before = shared_fragments._namespace()
    # When a fragment contributor from another module (other source) is registered
    module_path = tmp_path / "extra_fragments.py"
    module_path.write_text(
        "def contribute(p, e, d):\n    pass\n\n\ndef fragments(p, e, d):\n    pass\n"
    )
    spec = importlib.util.spec_from_file_location("extra_fragments", module_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["extra_fragments"] = module
    spec.loader.exec_module(module)
    register_contributor(module.contribute, fragments=module.fragments)
    try:
        shared_fragments._namespace.cache_clear()
        with_extra = shared_fragments._namespace()
        module_path.write_text(module_path.read_text() + "\n# changed\n")
        shared_fragments._namespace.cache_clear()
        changed = shared_fragments._namespace()
    finally:
        unregister_contributor(module.contribute)
        sys.modules.pop("extra_fragments", None)
        shared_fragments._namespace.cache_clear()
    # Then units built by other code are never read
    assert len({before, with_extra, changed}) == 3
    assert shared_fragments._namespace() == before
