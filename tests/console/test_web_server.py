"""`make run` serves the console the way production does (issue 10): the Procfile's web
command, started as it is, holds a bounded number of PostgreSQL connections under load and
writes no keys in its access log."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(settings.BASE_DIR)
APP_NAME = "gatehouse-web-under-test"
SERVER_KEY = "secret-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcde"
CLIENT_KEY = "client-ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210_-zyxwv"
REQUESTS, CLIENTS = 500, 50


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _web_command(port: int) -> list[str]:
    """The Procfile's `web:` line, bound to `port` instead of 8000."""
    line = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")
    )
    args = shlex.split(line.removeprefix("web:"))
    assert any("127.0.0.1:8000" in a for a in args), "the web command binds 127.0.0.1:8000"
    return [a.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for a in args]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@contextmanager
def _web_process(log: Path, **extra: str) -> Iterator[str]:
    """The web process against the test database, as `make run` starts it (DEBUG as there),
    with `extra` environment; yields its base URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "PORT")}
    env.update(
        DJANGO_SETTINGS_MODULE="console.settings",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{_database()}?application_name={APP_NAME}",
        REDIS_URL=settings.TEST_REDIS_URL,
        # Every unknown key below is looked up in PostgreSQL (none throttled): the point
        # is the connections those lookups hold.
        GATEHOUSE_BAD_KEY_LIMIT="0",
        **extra,
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            _web_command(port), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if _get(base + "/accounts/login/") == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the web process did not answer in 60 s"
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _database() -> str:
    """The test database: settings_dict names it once a db test has run in this session,
    before that it still names the configured database."""
    name = connection.settings_dict["NAME"]
    return name if name.startswith("test_") else connection.creation._get_test_db_name()


@pytest.fixture(scope="module")
def web(django_db_setup, tmp_path_factory):
    log = tmp_path_factory.mktemp("web") / "web.log"
    with _web_process(log) as base:
        yield base, _database(), log


def _web_connections(database: str) -> int:
    with psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres") as db:
        row = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
            (database, APP_NAME),
        ).fetchone()
    return row[0]


def test_web__500_concurrent_requests__postgresql_connections_stay_bounded(web):
    from console import gunicorn_conf

    base, database, _ = web
    bound = gunicorn_conf.workers * gunicorn_conf.threads
    paths = [
        "/accounts/login/",
        "/static/console/app.css",
        f"/v1/download_config_specs/{SERVER_KEY}.json",
    ]
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _web_connections(database))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            statuses = Counter(
                zip(
                    (paths[i % 3] for i in range(REQUESTS)),
                    pool.map(_get, (base + paths[i % 3] for i in range(REQUESTS)), timeout=240),
                    strict=True,
                )
            )
    finally:
        done.set()
        sampler.join(timeout=10)
    peak = max(peak, _web_connections(database))

    # Every request was answered: the page and the stylesheet (served by the app), and the
    # SDK endpoint refusing an unknown key
    assert statuses == {
        (paths[0], 200): 167,
        (paths[1], 200): 167,
        (paths[2], 401): 166,
    }
    # And the web process never held more connections than its workers × threads
    assert 0 < peak <= bound, f"{peak} connections, bound {bound}"


def test_web__sdk_requests_with_keys__access_log_has_no_key(web):
    base, _, log = web
    # When SDKs call with keys in the path and in ?k=
    assert _get(f"{base}/v1/download_config_specs/{SERVER_KEY}.json") == 401
    assert _get(f"{base}/v1/download_config_specs/{SERVER_KEY}.json/nope?k={CLIENT_KEY}") == 404
    time.sleep(0.5)
    written = log.read_text()
    # Then the access log has the requests, with the keys cut to their hints
    assert '"GET /v1/download_config_specs/secret-AbCdEf….json HTTP/1.1" 401' in written
    assert "/nope?k=client-ZyXwVu… HTTP/1.1" in written
    assert SERVER_KEY not in written
    assert CLIENT_KEY not in written


def test_web__workers_recycled_under_load__every_request_answered(django_db_setup, tmp_path):
    """The application is loaded once and each worker forked from it (preload_app): a
    worker that replaces another serves pages, the SDK endpoint (PostgreSQL and Redis) and
    the Console API as the first ones did, with WEB_MAX_REQUESTS honoured."""
    log = tmp_path / "web.log"
    paths = [
        "/accounts/login/",
        f"/v1/download_config_specs/{SERVER_KEY}.json",  # PostgreSQL and Redis
        "/console/v1/gates",  # the Console API refusing a missing key
    ]
    # Given workers replaced after 10 or 11 requests each, when 300 requests come, 20 at a time
    with (
        _web_process(log, WEB_MAX_REQUESTS="10") as base,
        ThreadPoolExecutor(max_workers=20) as pool,
    ):
        statuses = Counter(
            zip(
                (paths[i % 3] for i in range(300)),
                pool.map(_get, (base + paths[i % 3] for i in range(300)), timeout=240),
                strict=True,
            )
        )
    # Then every one was answered as by a worker that was never replaced
    assert statuses == {(paths[0], 200): 100, (paths[1], 401): 100, (paths[2], 401): 100}
    # And workers were replaced all along (a worker finishes the requests it has taken
    # before it goes, so it serves 10 or more)
    booted = log.read_text().count("Booting worker with pid")
    assert booted >= 2 + 5, log.read_text()[-3000:]
