"""The event intake counts exactly what the real Statsig SDKs send (issue 12).

A project's production environment has published specs (two gates, a layer and a RUNNING
experiment in it, 80% allocated). Each SDK reads them from the live console, evaluates the
gates, the experiment and the layer's parameters for many users, logs custom events with
values and metadata, and flushes to the console's intake. Between the SDK and the console
sits `Recorder`, a loopback HTTP proxy of the test's own that keeps every exchange (and can
lose one answer on the way back, as a network does). Then:

* events stored per name = events the SDK sent (read back from the recorded bodies), and the
  custom events carry the values and metadata the test logged;
* `metrics_exposure` holds, per unit, the group the SDK itself returned for that user (its
  `check_gate` result for gates, its group name for the experiment; a unit seen only
  through the layer counts when the parameter it read was the experiment's), and the hourly
  exposure counts per group add up to the exposure events sent;
* nothing set aside, no duplicates.

SDKs: legacy `statsig` (gzip), `statsig-python-core` (gzip), `statsig-node` (gzip) and
`@statsig/statsig-node-core` (zstd) in a node subprocess, `@statsig/js-client` in Chromium
(`/v1/rgstr`, `?gz=1` once /v1/initialize allows it, then `navigator.sendBeacon` when the
page is left). Resends: a batch answered 503 because PostgreSQL really failed it lands once
when resent; a batch whose 202 was lost on the way back is resent and counted once.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import socket
import struct
import subprocess
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
import zstandard
from django.db import connection

from console import services as core_services
from console.models import Environment
from console.publishing.services import spec_publish
from console.specs.evaluator import Evaluator
from console.specs.hashing import djb2
from experiments import services as experiment_services
from gates import services as gate_services
from metrics.models import (
    Event,
    EventKey,
    Exposure,
    ExposureCount,
    IntakeTally,
    PendingExposures,
    SetAsideEvent,
)
from metrics.services import exposures_apply
from tests.experiments.factories import experiment_document, layer_document
from tests.gates.factories import condition, gate_document, rule
from tests.publishing.conftest import REPO, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_event_table")]

NODE_SCRIPT = Path(__file__).resolve().parent / "node_events.js"
BUNDLE = REPO / "node_modules/@statsig/js-client/build/statsig-js-client.min.js"
STAFF = "@corp.example"
GATES = ("staff_tools", "half_rollout")
EXPERIMENT = "blue_button"
LAYER = "checkout_layer"
# `color` is the experiment's (an explicit parameter: its exposure counts for the
# experiment), `discount` only the layer's default (its exposure counts for nothing).
PARAMS = ("color", "discount")
EXPOSURE_NAMES = {"statsig::gate_exposure", "statsig::config_exposure", "statsig::layer_exposure"}
LOG_PATHS = ("/v1/log_event", "/v1/rgstr")


# ---------------------------------------------------------------- the published project


def _publish_project(project, admin) -> dict:
    """Gates (an email-domain rule, a 50% rollout), a layer and a running experiment in it
    (80% allocated, Control/Test), published for every environment."""
    staff = [condition("email", "str_ends_with_any", [STAFF])]
    gate_services.gate_create(
        actor=admin,
        project=project,
        document=gate_document("staff_tools", rules=[rule("Staff", staff)]),
    )
    gate_services.gate_create(
        actor=admin,
        project=project,
        document=gate_document("half_rollout", rules=[rule("Half", [condition("public")], 50)]),
    )
    experiment_services.layer_create(actor=admin, project=project, document=layer_document(LAYER))
    experiment = experiment_services.experiment_create(
        actor=admin,
        project=project,
        document=experiment_document(
            EXPERIMENT,
            allocation=80,
            layerID=LAYER,
            parameters=[{"name": "color", "type": "string"}],
        ),
    )
    experiment_services.experiment_start(actor=admin, experiment=experiment)
    version = spec_publish(actor=None, project=project)
    return json.loads(version.config_specs.get(environment__name="production").v1_json)


@dataclass
class Published:
    environment: Environment
    server_secret: str
    client_secret: str
    spec: dict

    def users(self, n: int) -> list[dict[str, Any]]:
        """`n` users whose first few cover every arm of the experiment, whatever the
        project's random salts: readers of the experiment (even places) in Control, Test
        and not allocated, layer-only users (odd places) in Control and Test. Only the
        choice uses our evaluator; what the tests compare with is the SDK's own results."""
        evaluator = Evaluator(self.spec, {})
        pool = [
            {"userID": f"user-{i}", "email": f"u{i}{STAFF if i % 3 else '@mail.example'}"}
            for i in range(n * 4)
        ]
        first = {0: "Control", 2: "Test", 4: None, 1: "Control", 3: "Test"}
        chosen: dict[int, dict] = {}
        rest = []
        for user in pool:
            arm = evaluator.get_config(user, EXPERIMENT).group_name
            place = next((p for p, a in first.items() if a == arm and p not in chosen), None)
            if place is None:
                rest.append(user)
            else:
                chosen[place] = user
        assert len(chosen) == len(first), "the pool covers every arm"
        return [chosen[p] for p in sorted(chosen)] + rest[: n - len(chosen)]


@pytest.fixture
def published(project, site_admin) -> Published:
    spec = _publish_project(project, site_admin)
    production = project.environments.get(name="production")

    def key(kind: str) -> str:
        return core_services.key_create(
            actor=site_admin, project=project, kind=kind, environment=production, name=kind
        ).secret

    return Published(production, key("server"), key("client"), spec)


def _custom_events(users: list[dict]) -> list[tuple[int, str, Any, dict[str, str] | None]]:
    """What each app logs: (user index, name, value, metadata); numbers and text as values."""
    events: list[tuple[int, str, Any, dict[str, str] | None]] = []
    for i, _user in enumerate(users):
        events.append((i, "add_to_cart", f"sku-{i % 7}", {"price": str(i * 3), "currency": "EUR"}))
        if i % 3 == 0:
            events.append((i, "purchase", i * 1.5 + 0.25, {"items": str(i % 4 + 1)}))
        if i % 5 == 0:
            events.append((i, "page_view", None, None))
    return events


# ---------------------------------------------------------------- the recording proxy

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


@dataclass
class Exchange:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    status: int = 0
    response: bytes = b""
    dropped: bool = False

    @property
    def path(self) -> str:
        return urlsplit(self.target).path.rstrip("/")

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.target).query).items()}

    @property
    def encoding(self) -> str:
        if self.query.get("gz") == "1":
            return "gzip"
        return self.headers.get("content-encoding", "").lower()

    def data(self) -> Any:
        raw = self.body
        if self.encoding == "gzip":
            raw = gzip.decompress(raw)
        elif self.encoding == "zstd":
            raw = zstandard.ZstdDecompressor().decompressobj().decompress(raw)
        return json.loads(raw)

    @property
    def events(self) -> list[dict]:
        return self.data()["events"]


class Recorder:
    """A loopback HTTP proxy in front of the live server: it forwards every request, keeps
    the exchange, and for `lose_answers` log posts forwards the request (the console stores
    it and answers) and then resets the SDK's connection instead of passing the answer on.

    An exchange is in flight from the moment its request is read until it is kept, and
    `posts()` waits for none to be: a batch the console has stored is always among them."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.exchanges: list[Exchange] = []
        self.lose_answers = 0
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._in_flight = 0
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks = []
                    while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _forward(self) -> None:
                with recorder._lock:
                    recorder._in_flight += 1
                try:
                    self._exchange()
                finally:
                    with recorder._lock:
                        recorder._in_flight -= 1
                        recorder._settled.notify_all()

            def _exchange(self) -> None:
                exchange = Exchange(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self._body(),
                )
                upstream = HTTPConnection(*recorder.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream.request(self.command, self.path, exchange.body or None, headers)
                answer = upstream.getresponse()
                exchange.status, exchange.response = answer.status, answer.read()
                upstream.close()
                with recorder._lock:
                    lose = recorder.lose_answers > 0 and exchange.path in LOG_PATHS
                    recorder.lose_answers -= lose
                    exchange.dropped = lose
                    recorder.exchanges.append(exchange)
                if lose:
                    # RST, not FIN: the SDK sees its request fail, as on a dropped network.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()
                    self.close_connection = True
                    return
                self.send_response(exchange.status)
                for name, value in answer.getheaders():
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(exchange.response)))
                self.end_headers()
                self.wfile.write(exchange.response)

            do_GET = do_POST = do_PUT = do_OPTIONS = _forward

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                return  # a reset connection is the point of `lose_answers`

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def posts(self) -> list[Exchange]:
        """The event batches posted so far (preflights and spec reads left out), once no
        exchange is in flight."""
        with self._settled:
            assert self._settled.wait_for(lambda: self._in_flight == 0, timeout=60)
            return [e for e in self.exchanges if e.method == "POST" and e.path in LOG_PATHS]


@pytest.fixture
def recorder(live_server):
    proxy = Recorder(live_server.url)
    yield proxy
    proxy.close()


# ---------------------------------------------------------------- what the SDK evaluated


@dataclass
class Evaluated:
    """One user's results as the SDK returned them."""

    user_id: str
    gates: dict[str, bool]
    # (rule ID, group name) of the experiment when the app read it, else None
    experiment: tuple[str, str | None] | None
    layer: tuple[str, str | None]
    rule_groups: dict[str, str] = field(default_factory=dict)


def _evaluated(users, rows: list[dict]) -> list[Evaluated]:
    out = []
    for user, row in zip(users, rows, strict=True):
        experiment = tuple(row["experiment"]) if row["experiment"] else None
        out.append(
            Evaluated(
                user["userID"],
                {name: bool(row["gates"][name][0]) for name in GATES},
                experiment,  # type: ignore[arg-type]
                tuple(row["layer"]),  # type: ignore[arg-type]
            )
        )
    return out


def _evaluate_all(sdk, sdk_users: list, users: list[dict]) -> list[dict[str, Any]]:
    """What a Python SDK (legacy or core: the same method names) evaluates per user: every
    gate, the experiment for the users who read it, and each parameter of the layer."""
    readers = set(_experiment_users(users))
    rows = []
    for i, user in enumerate(sdk_users):
        row: dict[str, Any] = {"gates": {}, "experiment": None}
        for gate in GATES:
            result = sdk.get_feature_gate(user, gate)
            row["gates"][gate] = (result.value, result.rule_id)
        if i in readers:
            experiment = sdk.get_experiment(user, EXPERIMENT)
            row["experiment"] = (experiment.rule_id, experiment.group_name)
        layer = sdk.get_layer(user, LAYER)
        for param in PARAMS:
            layer.get(param, None)
        row["layer"] = (layer.rule_id, layer.group_name)
        rows.append(row)
    return rows


def _experiment_users(users) -> list[int]:
    """Half the users' apps read the experiment itself; the rest only the layer."""
    return [i for i in range(len(users)) if i % 2 == 0]


# ---------------------------------------------------------------- the proof


def _sent_events(posts: list[Exchange]) -> list[dict]:
    """Every event the console answered 202 for, as the SDK sent it (a lost answer is a
    202 the SDK never saw: it resends, and the resend must count for nothing)."""
    return [event for post in posts if post.status == 202 for event in post.events]


def _assert_counted_exactly(
    environment: Environment,
    posts: list[Exchange],
    evaluated: list[Evaluated],
    custom: list[tuple[int, str, Any, dict | None]],
    users: list[dict],
    *,
    sdk_type: str,
    resent: int = 0,
    worker: bool = False,
) -> None:
    """`worker`: a real Celery worker is counting the exposures (the intake asked it to
    after each commit); else they are counted here, as it would."""
    env = environment.pk
    if worker:
        wait_for(lambda: not PendingExposures.objects.exists(), timeout=60)
    else:
        assert exposures_apply() > 0
    sent = _sent_events(posts)
    unique = {json.dumps(e, sort_keys=True) for e in sent}
    assert len(unique) == len(sent) - resent, "the SDK sent the same event twice"
    assert sent, "the SDK posted nothing"

    # Stored events per name = what the SDK sent (once each).
    stored = Counter(Event.objects.filter(environment_id=env).values_list("event_name", flat=True))
    assert stored == Counter(json.loads(e)["eventName"] for e in unique)
    assert set(Event.objects.filter(environment_id=env).values_list("sdk_type", flat=True)) == {
        sdk_type
    }

    # The custom events carry what the app logged: value (number or text) and metadata.
    def as_logged(i: int, name: str, value: Any, metadata: dict | None) -> tuple:
        if value is None:
            text, number = None, None
        elif isinstance(value, str):
            text, number = value, None
        else:
            text, number = (str(int(value)) if float(value).is_integer() else str(value)), value
        return (name, users[i]["userID"], text, number, json.dumps(metadata, sort_keys=True))

    rows = Event.objects.filter(environment_id=env).exclude(event_name__startswith="statsig::")
    got = Counter(
        (r.event_name, r.user_id, r.value_text, r.value_num, json.dumps(r.metadata, sort_keys=True))
        for r in rows
    )
    assert got == Counter(as_logged(*event) for event in custom)

    # Exposures per unit: the group the SDK returned for that user.
    exposures = Exposure.objects.filter(environment_id=env)
    for gate in GATES:
        expected = {e.user_id: "pass" if e.gates[gate] else "fail" for e in evaluated}
        got_units = dict(
            exposures.filter(kind="gate", name=gate).values_list("unit_id", "group_name")
        )
        assert got_units == expected, gate
    expected_groups = {}
    for e in evaluated:
        if e.experiment is not None:
            expected_groups[e.user_id] = e.experiment[1] or ""
        elif e.layer[1] is not None:
            expected_groups[e.user_id] = e.layer[1]
    got_groups = dict(
        exposures.filter(kind="config", name=EXPERIMENT).values_list("unit_id", "group_name")
    )
    assert got_groups == expected_groups
    assert set(expected_groups.values()) == {"Control", "Test", ""}, "every arm is exercised"
    assert not exposures.filter(crossover=True).exists()
    assert set(exposures.values_list("kind", "name")) == {
        *(("gate", g) for g in GATES),
        ("config", EXPERIMENT),
    }

    # Hourly exposure counts per group = exposure events sent, grouped by the SDK's results.
    by_user = {e.user_id: e for e in evaluated}
    checks: Counter = Counter()
    for event in map(json.loads, unique):
        if event["eventName"] not in EXPOSURE_NAMES:
            continue
        meta, user = event.get("metadata") or {}, by_user[event["user"]["userID"]]
        if event["eventName"] == "statsig::gate_exposure":
            checks[("gate", meta["gate"], "pass" if meta["gateValue"] == "true" else "fail")] += 1
        elif event["eventName"] == "statsig::config_exposure":
            assert user.experiment is not None
            assert meta["ruleID"] == user.experiment[0]
            checks[("config", meta["config"], user.experiment[1] or "")] += 1
        elif meta.get("isExplicitParameter") == "true" and meta.get("allocatedExperiment"):
            # a layer exposure that counts: js-client names the experiment as /v1/initialize
            # did, hashed (djb2)
            assert meta["allocatedExperiment"] in (EXPERIMENT, djb2(EXPERIMENT))
            assert meta["ruleID"] == user.layer[0]
            checks[("config", EXPERIMENT, user.layer[1] or "")] += 1
    counted: Counter = Counter()
    for row in ExposureCount.objects.filter(environment_id=env):
        counted[(row.kind, row.name, row.group_name)] += row.count
    assert counted == checks

    # Nothing set aside; the only duplicates are the resent events.
    tallies = dict(IntakeTally.objects.filter(environment_id=env).values_list("reason", "count"))
    assert tallies == ({"duplicate": resent} if resent else {})
    assert not SetAsideEvent.objects.exists()
    assert EventKey.objects.count() == len(unique)


# ---------------------------------------------------------------- the Python SDKs


def _legacy_server(secret: str, url: str):
    import logging

    from statsig.statsig_options import StatsigOptions
    from statsig.statsig_server import StatsigServer

    logging.getLogger("statsig.sdk").setLevel(logging.CRITICAL)
    server = StatsigServer()
    details = server.initialize(
        secret,
        StatsigOptions(
            api=f"{url}/v1",
            disable_diagnostics=True,
            rulesets_sync_interval=3600,
            idlists_sync_interval=3600,
        ),
    )
    assert details.init_success, details.error
    return server


def _legacy_run(server, users, custom) -> list[dict]:
    from statsig.statsig_event import StatsigEvent
    from statsig.statsig_user import StatsigUser

    sdk_users = [StatsigUser(user_id=u["userID"], email=u["email"]) for u in users]
    rows = _evaluate_all(server, sdk_users, users)
    for i, name, value, metadata in custom:
        server.log_event(StatsigEvent(sdk_users[i], name, value=value, metadata=metadata))
    return rows


def test_legacy_statsig__gzip_log_event__counted_exactly(
    published, recorder, celery_worker_process
):
    # Given the legacy SDK reading the published spec from the console (api=...), and a
    # real worker counting exposures
    users = published.users(60)
    custom = _custom_events(users)
    server = _legacy_server(published.server_secret, recorder.url)
    # When it evaluates every user, logs the app's events and shuts down (flushing)
    try:
        rows = _legacy_run(server, users, custom)
    finally:
        server.shutdown()
    # Then its gzip batches were stored, exactly
    posts = recorder.posts()
    assert {(p.path, p.encoding, p.status) for p in posts} == {("/v1/log_event", "gzip", 202)}
    _assert_counted_exactly(
        published.environment,
        posts,
        _evaluated(users, rows),
        custom,
        users,
        sdk_type="py-server",
        worker=True,
    )


def test_python_core__log_event_url__counted_exactly(published, recorder):
    import statsig_python_core as core

    # Given statsig-python-core with its specs_url and log_event_url on the console
    users = published.users(60)
    custom = _custom_events(users)
    sdk = core.Statsig(
        published.server_secret,
        core.StatsigOptions(
            specs_url=f"{recorder.url}/v2/download_config_specs",
            log_event_url=f"{recorder.url}/v1/log_event",
            enable_id_lists=False,
            fallback_to_statsig_api=False,
            disable_country_lookup=True,
            output_log_level="none",
            specs_sync_interval_ms=3_600_000,
            event_logging_flush_interval_ms=3_600_000,
        ),
    )
    details = sdk.initialize_with_details().result()
    assert details.is_config_spec_ready, details.source
    # When it evaluates every user, logs the app's events and flushes
    sdk_users = [core.StatsigUser(user_id=u["userID"], email=u["email"]) for u in users]
    try:
        rows = _evaluate_all(sdk, sdk_users, users)
        for i, name, value, metadata in custom:
            sdk.log_event(sdk_users[i], name, value=value, metadata=metadata)
        sdk.flush_events().wait()
    finally:
        sdk.shutdown().wait()
    # Then its batches were stored, exactly
    posts = recorder.posts()
    assert {(p.path, p.encoding, p.status) for p in posts} == {("/v1/log_event", "gzip", 202)}
    _assert_counted_exactly(
        published.environment,
        posts,
        _evaluated(users, rows),
        custom,
        users,
        sdk_type="statsig-server-core-python",
    )


# ---------------------------------------------------------------- the Node SDKs


def _node(sdk: str, secret: str, url: str, users, custom, timeout: float = 60) -> dict:
    payload = {
        "sdk": sdk,
        "key": secret,
        "api": f"{url}/v1",
        "users": users,
        "gates": GATES,
        "experiment": EXPERIMENT,
        "experiment_users": _experiment_users(users),
        "layer": LAYER,
        "params": PARAMS,
        "events": custom,
    }
    return run_node_sdk(payload, timeout)


def run_node_sdk(payload: dict, timeout: float = 60) -> dict:
    """Run node_events.js on `payload` (which Node SDK, its key and API, what to read and
    log): its output, once the SDK initialized."""
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp, "in.json"), Path(tmp, "out.json")
        source.write_text(json.dumps(payload))
        process = subprocess.run(
            ["node", str(NODE_SCRIPT), str(source), str(target)],
            cwd=REPO,
            env={**os.environ, "NODE_PATH": str(REPO / "node_modules")},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert process.returncode == 0, process.stderr[-3000:]
        out = json.loads(target.read_text())
    assert out["init"]["success"], out["init"]
    return out


@pytest.mark.parametrize(
    ("package", "encoding", "sdk_type"),
    [
        ("statsig-node", "gzip", "statsig-node"),
        # The Node build of Statsig's Rust core (npm @statsig/statsig-node-core) sends zstd.
        ("statsig-node-core", "zstd", "statsig-server-core-node"),
    ],
)
def test_node_sdks__log_event__counted_exactly(published, recorder, package, encoding, sdk_type):
    users = published.users(60)
    custom = _custom_events(users)
    # When the SDK evaluates every user, logs the app's events, flushes and shuts down
    out = _node(package, published.server_secret, recorder.url, users, custom)
    # Then its batches were stored, exactly
    posts = recorder.posts()
    assert {(p.path, p.encoding, p.status) for p in posts} == {("/v1/log_event", encoding, 202)}
    _assert_counted_exactly(
        published.environment,
        posts,
        _evaluated(users, out["rows"]),
        custom,
        users,
        sdk_type=sdk_type,
    )


# ---------------------------------------------------------------- resends


@contextlib.contextmanager
def _postgresql_fails_the_next_batch():
    """PostgreSQL fails the next batch for real, once: the test holds an exclusive lock on
    the idempotency keys; the intake's INSERT queues behind it; calling the yielded function
    waits for that and terminates the intake's backend (as a failover or an admin would).
    On exit the lock is let go."""
    db = connection.settings_dict
    params = {
        "host": db["HOST"] or "127.0.0.1",
        "port": db["PORT"] or 5432,
        "user": db["USER"],
        "password": db["PASSWORD"] or None,
        "dbname": db["NAME"],
    }
    locker = psycopg.connect(**params)
    watcher = psycopg.connect(**params, autocommit=True)
    locker.execute("LOCK TABLE metrics_eventkey IN ACCESS EXCLUSIVE MODE")

    def fail() -> None:
        waiting = wait_for(
            lambda: watcher.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO metrics_eventkey%%'"
            ).fetchone(),
            timeout=30,
        )
        assert watcher.execute("SELECT pg_terminate_backend(%s)", waiting).fetchone() == (True,)

    try:
        yield fail
    finally:
        locker.rollback()
        locker.close()
        watcher.close()


def test_legacy_statsig__503_when_postgresql_fails__its_resend_lands_once(published, recorder):
    # Given the legacy SDK holding a batch of evaluations and events
    users = published.users(40)
    custom = _custom_events(users)
    server = _legacy_server(published.server_secret, recorder.url)
    try:
        rows = _legacy_run(server, users, custom)
        # When PostgreSQL fails while the batch is stored (its connection is terminated)
        with _postgresql_fails_the_next_batch() as fail:
            flushing = threading.Thread(target=server.flush)
            flushing.start()
            fail()
            flushing.join(timeout=30)
        # Then the SDK is answered 503 and, the database back, resends the batch on its own
        wait_for(lambda: any(p.status == 202 for p in recorder.posts()), timeout=20)
    finally:
        server.shutdown()
    posts = recorder.posts()
    assert [(p.status, p.headers.get("statsig-retry")) for p in posts] == [(503, "0"), (202, "1")]
    refused = json.loads(posts[0].response)
    assert (refused["code"], bool(refused["message"])) == ("unavailable", True)
    assert posts[0].events == posts[1].events
    # And the batch counts once, exactly: the failed attempt stored nothing
    assert json.loads(posts[1].response)["duplicates"] == 0
    _assert_counted_exactly(
        published.environment, posts, _evaluated(users, rows), custom, users, sdk_type="py-server"
    )


def test_statsig_node__202_lost_on_the_way_back__its_resend_counts_once(published, recorder):
    # Given a network that loses the console's answer to the first batch (it was stored)
    users = published.users(40)
    custom = _custom_events(users)
    recorder.lose_answers = 1
    # When statsig-node flushes: its post fails, so it posts the batch again
    out = _node("statsig-node", published.server_secret, recorder.url, users, custom)
    posts = recorder.posts()
    assert [(p.status, p.dropped) for p in posts] == [(202, True), (202, False)]
    assert posts[0].events == posts[1].events
    # (the retry goes uncompressed: statsig-node drops the option on retries)
    assert [p.encoding for p in posts] == ["gzip", ""]
    # Then the resend is answered as all duplicates, and every event counts once
    resent = len(posts[1].events)
    answer = json.loads(posts[1].response)
    assert (answer["stored"], answer["duplicates"]) == (0, resent)
    _assert_counted_exactly(
        published.environment,
        posts,
        _evaluated(users, out["rows"]),
        custom,
        users,
        sdk_type="statsig-node",
        resent=resent,
    )


# ---------------------------------------------------------------- @statsig/js-client

PAGE = b"""<!doctype html><html><head><meta charset="utf-8"><title>shop</title>
<script src="/statsig-js-client.min.js"></script></head><body>shop</body></html>"""

# Runs in the page: one StatsigClient updated to each user in turn; each user's reads and
# events are what an app would do; then a flush (a POST, gzipped once the console allows).
VISIT = """
async ({sdkKey, api, app, users, gates, experiment, readers, layer, params, events}) => {
  const client = new window.Statsig.StatsigClient(sdkKey, users[0], {
    networkConfig: {api, sdkExceptionUrl: app + '/sdk_exception'},
  });
  window.client = client;
  const init = await client.initializeAsync();
  if (!init.success) { throw new Error('initializeAsync failed: ' + String(init.error)); }
  const rows = [];
  for (let i = 0; i < users.length; i++) {
    if (i > 0) {
      const details = await client.updateUserAsync(users[i]);
      if (!details.success) { throw new Error('updateUserAsync failed: ' + details.error); }
    }
    const row = {gates: {}, experiment: null, layer: null};
    for (const name of gates) {
      const g = client.getFeatureGate(name);
      row.gates[name] = [g.value, g.ruleID];
    }
    if (readers.includes(i)) {
      const e = client.getExperiment(experiment);
      row.experiment = [e.ruleID, e.groupName];
    }
    const l = client.getLayer(layer);
    for (const p of params) { l.get(p); }
    row.layer = [l.ruleID, l.groupName];
    for (const [index, name, value, metadata] of events) {
      if (index === i) { client.logEvent(name, value === null ? undefined : value,
                                         metadata === null ? undefined : metadata); }
    }
    rows.push(row);
  }
  await client.flush();
  return rows;
}
"""


class App:
    """The product's web app on a loopback origin of its own: the page, the js-client
    bundle, and a sink for SDK exception reports. A real server, not `page.route`: a routed
    page's requests pause in the browser until the test answers them, and a beacon sent
    while the page closes would never be let through."""

    def __init__(self) -> None:
        self.exceptions: list[bytes] = []
        bundle = BUNDLE.read_bytes()
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _send(self, body: bytes, ctype: str, status: int = 200) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.startswith("/statsig-js-client.min.js"):
                    self._send(bundle, "application/javascript")
                else:
                    self._send(PAGE, "text/html")

            def do_POST(self) -> None:
                app.exceptions.append(self.rfile.read(int(self.headers["Content-Length"] or 0)))
                self._send(b"{}", "application/json", 202)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def app():
    assert BUNDLE.exists(), "run `npm ci` (make install): @statsig/js-client is a devDependency"
    server = App()
    yield server
    server.close()


def test_js_client__rgstr_gzip_then_beacon_on_unload__counted_exactly(
    page, published, recorder, app
):
    # Given a shop page with the app's StatsigClient on the console (client key)
    users = published.users(24)
    custom = _custom_events(users)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.context.grant_permissions(["local-network-access"], origin=app.url)
    page.set_default_timeout(20_000)
    page.goto(app.url + "/")

    # When the client is updated to each user in turn, reads, logs, and flushes
    rows = page.evaluate(
        VISIT,
        {
            "sdkKey": published.client_secret,
            "api": recorder.url + "/v1",
            "app": app.url,
            "users": users,
            "gates": GATES,
            "experiment": EXPERIMENT,
            "readers": _experiment_users(users),
            "layer": LAYER,
            "params": PARAMS,
            "events": custom,
        },
    )
    # Then the batches were gzipped POSTs to /v1/rgstr (`?gz=1`: the console allows it)
    posts = recorder.posts()
    assert posts
    assert {(p.path, p.query.get("gz"), p.status) for p in posts} == {("/v1/rgstr", "1", 202)}

    # When the last user logs more and, in the same breath (no flush timer in between),
    # the app navigates away
    last = len(users) - 1
    leaving = [(last, "leave_page", "checkout", {"step": str(n)}) for n in range(3)]
    page.evaluate(
        """([events, next]) => {
             for (const [, name, value, metadata] of events) {
               window.client.logEvent(name, value, metadata);
             }
             window.location.href = next;
           }""",
        [leaving, app.url + "/bye"],
    )
    page.wait_for_url(app.url + "/bye")

    # Then navigator.sendBeacon delivered them (text/plain, not compressed) and they count
    beacons = wait_for(lambda: [p for p in recorder.posts() if p.query.get("gz") != "1"])
    assert [(p.path, p.status, p.headers.get("content-type")) for p in beacons] == [
        ("/v1/rgstr", 202, "text/plain;charset=UTF-8")
    ]
    assert [e["eventName"] for e in beacons[0].events] == ["leave_page"] * 3
    _assert_counted_exactly(
        published.environment,
        recorder.posts(),
        _evaluated(users, rows),
        custom + leaving,
        users,
        sdk_type="javascript-client",
    )
    # And nothing was sent anywhere else, nor reported as an SDK exception
    assert [u for u in requests if not u.startswith((app.url, recorder.url))] == []
    assert app.exceptions == []
