"""Fixtures for publishing: keys, gates, Redis, the README adapters and a real worker."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import redis
import requests
from django.conf import settings
from django.db import connection

from console import services
from console.models import Environment
from console.publishing import selectors
from console.publishing.services import config_spec_push, spec_publish
from gates.services import gate_create, gate_update
from tests.gates.factories import condition, gate_document, rule

REPO = Path(__file__).resolve().parents[2]


def readme_block(name: str) -> str:
    """The code block of the README that follows `<!-- adapter:<name> -->`."""
    text = (REPO / "README.md").read_text()
    match = re.search(rf"<!-- adapter:{name} -->\s*```\w+\n(.*?)```", text, re.S)
    assert match, f"README has no adapter:{name} block"
    return match.group(1)


def readme_adapter(name: str, cls: str):
    namespace: dict = {}
    exec(compile(readme_block(name), f"README.md[adapter:{name}]", "exec"), namespace)  # noqa: S102
    return namespace[cls]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(interval)


@pytest.fixture
def spec_redis():
    return redis.Redis.from_url(settings.TEST_REDIS_URL)


@pytest.fixture
def production(project) -> Environment:
    return project.environments.get(name="production")


@pytest.fixture
def server_key(project, production, site_admin):
    return services.key_create(
        actor=site_admin, project=project, kind="server", environment=production, name="api"
    )


@pytest.fixture
def client_key(project, production, site_admin):
    return services.key_create(
        actor=site_admin, project=project, kind="client", environment=production, name="web"
    )


@pytest.fixture
def make_gate(project, site_admin):
    def make(name="new_checkout", emails=("alice@corp.example",), pass_percentage=100):
        conditions = [condition("email", "any", list(emails))]
        document = gate_document(name, rules=[rule("Staff", conditions, pass_percentage)])
        return gate_create(actor=site_admin, project=project, document=document)

    return make


def queued_pushes() -> list[tuple[int, list[int]]]:
    """The spec pushes waiting on the (real) broker: per message, its spec id and the spec
    ids of the pushes chained to run after it."""
    out = []
    for raw in redis.Redis.from_url(settings.CELERY_BROKER_URL).lrange("celery", 0, -1):
        message = json.loads(raw)
        assert message["headers"]["task"] == "console.tasks.config_spec_push_task"
        args, _kwargs, embed = json.loads(base64.b64decode(message["body"]))
        steps = embed["chain"] or []
        then = [task["args"][0] for step in steps for task in step["kwargs"]["tasks"]]
        out.append((args[0], sorted(then)))
    return out


def set_gate_emails(gate, actor, emails):
    conditions = [condition("email", "any", list(emails))]
    document = gate_document(gate.name, rules=[rule("Staff", conditions, 100)])
    return gate_update(actor=actor, gate=gate, document=document)


@pytest.fixture
def celery_worker_process(start_celery_worker):
    return start_celery_worker()


@pytest.fixture
def start_celery_worker(transactional_db):
    """Start a real `celery -A console worker` on this test's database and Redis DB.

    It runs with console.settings (not the test settings), so DATABASE_URL names the test
    database and REDIS_URL/CELERY_BROKER_URL the xdist worker's own Redis DB (keyword
    arguments override the environment). Function scoped: the autouse Redis flush after
    each test also drops the broker's bindings."""
    started: list = []

    def start(*, beat: bool = False, **overrides):
        """`beat`: the worker runs beat too (-B), as `make run`'s beat process would."""
        process, logfile = _spawn_worker(overrides, beat=beat, number=len(started))
        started.append((process, logfile))
        return process, logfile

    yield start
    for process, logfile in started:
        _stop(process)
        logfile.unlink(missing_ok=True)
        for beat_file in logfile.parent.glob(f"{logfile.name}.beat*"):
            beat_file.unlink(missing_ok=True)


def _stop(process) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _spawn_worker(overrides, *, beat: bool = False, number: int = 0):
    db = connection.settings_dict
    url = f"postgres://{db['USER']}"
    if db.get("PASSWORD"):
        url += f":{db['PASSWORD']}"
    url += f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "DATABASE_URL": url,
        "CONN_MAX_AGE": "0",
        "REDIS_URL": settings.TEST_REDIS_URL,
        "CELERY_BROKER_URL": settings.TEST_REDIS_URL,
        "GATEHOUSE_SPEC_REDIS_URL": settings.TEST_REDIS_URL,
        "LOG_LEVEL": "INFO",
        # Change sets notify by email: the worker keeps them in memory, no SMTP round trips.
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        **overrides,
    }
    log = tempfile.NamedTemporaryFile(prefix="celery-", suffix=".log", delete=False)  # noqa: SIM115
    extra = [f"--schedule={log.name}.beat", "-B"] if beat else []
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "console",
            "worker",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=INFO",
            f"--hostname=publish-test-{os.getpid()}-{number}@%h",
            *extra,
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    logfile = Path(log.name)
    try:
        wait_for(
            lambda: process.poll() is not None or " ready." in logfile.read_text(errors="replace"),
            timeout=30,
            interval=0.1,
        )
    except AssertionError:
        _stop(process)
        raise
    if process.poll() is not None:
        raise RuntimeError(f"celery worker exited: {logfile.read_text()[-3000:]}")
    return process, logfile


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of our own on a free port (no persistence), to stop and start."""
    port = free_port()

    class Server:
        url = f"redis://127.0.0.1:{port}/0"
        process = None

        def start(self):
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(tmp_path),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            conn = redis.Redis.from_url(self.url)
            wait_for(lambda: _pings(conn), timeout=10)

        def stop(self):
            if self.process and self.process.poll() is None:
                self.process.terminate()
                self.process.wait(timeout=10)

    server = Server()
    yield server
    server.stop()


def _pings(conn) -> bool:
    try:
        return bool(conn.ping())
    except redis.RedisError:
        return False


CLOSED = "http://127.0.0.1:9"  # nothing listens: SDK calls that must not happen fail fast


def core_sdk(secret: str, url: str):
    """statsig-python-core reading specs and ID lists from our server at `url` (logging
    off, never Statsig's servers); initialize and shut it down yourself."""
    import statsig_python_core as core

    return core.Statsig(
        secret,
        core.StatsigOptions(
            specs_url=f"{url}/v2/download_config_specs",
            id_lists_url=f"{url}/v1/get_id_lists",
            enable_id_lists=True,
            log_event_url=f"{CLOSED}/v1/log_event",
            fallback_to_statsig_api=False,
            disable_all_logging=True,
            disable_country_lookup=True,
            output_log_level="none",
            init_timeout_ms=10000,
        ),
    )


@contextlib.contextmanager
def legacy_sdk_on_redis(server_key):
    """The legacy `statsig` SDK reading the spec from Redis through the README adapter,
    polling every second (the README's recommended options), shut down on exit."""
    from statsig.evaluation_details import DataSource
    from statsig.statsig_options import StatsigOptions
    from statsig.statsig_server import StatsigServer

    logging.getLogger("statsig.sdk").setLevel(logging.ERROR)
    store_class = readme_adapter("legacy", "GatehouseLegacyStore")
    legacy = StatsigServer()
    legacy.initialize(
        server_key.secret,
        StatsigOptions(
            data_store=store_class(
                redis.Redis.from_url(settings.TEST_REDIS_URL), server_key.secret
            ),
            initialize_sources=[DataSource.DATASTORE],
            config_sync_sources=[DataSource.DATASTORE],
            rulesets_sync_interval=1,
            idlists_sync_interval=3600,
            api=f"{CLOSED}/v1",
            disable_all_logging=True,
            disable_diagnostics=True,
        ),
    )
    try:
        yield legacy
    finally:
        legacy.shutdown()


# The SDK key endpoints' tests: the last-use hint is written at most once a minute per key
# and process, so each test starts without it; `pushed` is production's spec in Redis.
@pytest.fixture(autouse=True)
def _forget_last_use():
    selectors._LAST_USED.clear()


@pytest.fixture
def pushed(project, server_key, client_key, make_gate):
    make_gate()
    spec = spec_publish(actor=None, project=project).config_specs.get(
        environment__name="production"
    )
    config_spec_push(spec_id=spec.pk)
    return spec


def sdk_server_up(url: str) -> bool:
    """Whether a console at `url` answers an SDK request (whatever the status)."""
    try:
        requests.get(f"{url}/v1/download_config_specs/secret-x.json", timeout=5)
    except requests.RequestException:
        return False
    return True
