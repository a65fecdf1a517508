"""The SDK poll answered ahead of Django (console/sdk_poll.py, issue 17): the same answer as
the Django path, from Redis alone, and every request it must not answer handed to Django.

The WSGI application under test is what console/wsgi.py serves, PollShortcut around Django's
handler, called the way a WSGI server calls it; the Django handler is counted, so each test
knows which of the two answered."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test import RequestFactory

from console import services, throttle
from console.publishing import selectors, store
from console.publishing.services import config_spec_push, spec_publish
from console.redaction import redact_keys
from console.sdk_poll import PollShortcut, memo
from console.sdk_views import NO_UPDATES
from tests.publishing.conftest import REPO, free_port, sdk_server_up, set_gate_emails, wait_for

pytestmark = pytest.mark.django_db


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    by_django: bool


class Counted:
    """Django's WSGI handler, counting the requests it answers."""

    def __init__(self) -> None:
        self.handler = WSGIHandler()
        self.calls = 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.handler(environ, start_response)


def call(app, environ) -> tuple[int, dict[str, str], bytes]:
    got: dict = {}

    def start_response(status, headers, exc_info=None):
        got["status"], got["headers"] = int(status.split()[0]), headers

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()  # request_finished, as a WSGI server sends it
    return got["status"], dict(got["headers"]), body


@pytest.fixture
def serve(django_db_blocker):
    """GET `path` through PollShortcut(Django): an Answer saying who answered."""
    from django.core import signals
    from django.db import close_old_connections

    memo.stop()  # nothing remembered from another test (each empties Redis)

    def get(path: str, *, secure: bool = False, address="127.0.0.1", **headers) -> Answer:
        django = Counted()
        factory = RequestFactory(REMOTE_ADDR=address)
        environ = factory.get(path, secure=secure, headers=headers).environ
        # As Django's test client does: the test's transaction must outlive the request.
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)
        try:
            status, response_headers, body = call(PollShortcut(django), environ)
        finally:
            signals.request_started.connect(close_old_connections)
            signals.request_finished.connect(close_old_connections)
        return Answer(status, response_headers, body, by_django=django.calls == 1)

    return get


def poll(secret: str, since: int, version: str = "v2") -> str:
    return f"/{version}/download_config_specs/{secret}.json?sinceTime={since}"


def listening() -> int:
    """Wait until this process remembers polls (its memo subscribed); its generation."""
    memo.generation(django_settings.GATEHOUSE_SPEC_REDIS_URL)
    wait_for(lambda: memo.listening, timeout=5)
    return generation()


def remember(serve, server_key, pushed) -> None:
    """The key's current poll answered by the shortcut and remembered (after Django's
    last-use stamp)."""
    listening()
    serve(poll(server_key.secret, pushed.time_ms))
    assert not serve(poll(server_key.secret, pushed.time_ms)).by_django


def generation() -> int | None:
    return memo.generation(django_settings.GATEHOUSE_SPEC_REDIS_URL)


def heard(before: int | None) -> None:
    """Wait (at most a second) until the memo has heard a change since `before`."""
    wait_for(lambda: generation() != before, timeout=1)


def test_poll__current__answered_without_django_after_the_last_use_stamp(serve, pushed, server_key):
    # Given the key's first poll in this process: Django answers (and stamps last_used_at)
    first = serve(poll(server_key.secret, pushed.time_ms))
    server_key.key.refresh_from_db()
    # When it polls again, by path (v1 and v2) and by header
    answers = [
        serve(poll(server_key.secret, pushed.time_ms, "v1")),
        serve(poll(server_key.secret, pushed.time_ms)),
        serve(
            f"/v2/download_config_specs?sinceTime={pushed.time_ms + 5}",
            STATSIG_API_KEY=server_key.secret,
        ),
    ]
    # Then
    assert first.by_django
    assert first.body == NO_UPDATES
    assert server_key.key.last_used_at is not None
    for answer in answers:
        assert (answer.status, answer.body, answer.by_django) == (200, NO_UPDATES, False)


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param({}, id="http"),
        pytest.param({"secure": True, "SECURE_HSTS_SECONDS": 3600}, id="https-hsts"),
        pytest.param({"SSO_ENABLED": True, "OIDC_ISSUER": "https://idp.example"}, id="sso"),
    ],
)
def test_poll__current__same_status_body_and_headers_as_django(
    serve, settings, pushed, server_key, variant
):
    secure = variant.pop("secure", False)
    for name, value in variant.items():
        setattr(settings, name, value)
    url = poll(server_key.secret, pushed.time_ms)
    serve(url)  # the last-use stamp
    # When the same poll is answered by the shortcut and by Django alone
    fast = serve(url, secure=secure, X_REQUEST_ID="req-1")
    selectors._LAST_USED.clear()  # Django answers the key's next poll
    slow = serve(url, secure=secure, X_REQUEST_ID="req-1")
    # Then
    assert not fast.by_django
    assert slow.by_django
    assert (fast.status, fast.body) == (slow.status, slow.body) == (200, NO_UPDATES)
    assert fast.headers == slow.headers
    # And without a request id of its own, each gets a fresh one, as from Django
    assert len(serve(url, secure=secure).headers["X-Request-ID"]) == 32


def test_poll__stale_since_time__the_full_spec_from_django(serve, pushed, server_key):
    serve(poll(server_key.secret, pushed.time_ms))
    answer = serve(poll(server_key.secret, pushed.time_ms - 1))
    assert answer.by_django
    assert (answer.status, answer.body) == (200, pushed.v2_json.encode())


def test_poll__revoked_key__401_once_heard(
    serve, pushed, server_key, site_admin, django_capture_on_commit_callbacks
):
    # Given the key is polled through the shortcut, and remembered
    remember(serve, server_key, pushed)
    before = generation()
    # When revoked (its tombstone written on commit, and announced)
    with django_capture_on_commit_callbacks(execute=True):
        services.key_revoke(actor=site_admin, key=server_key.key)
    heard(before)
    answer = serve(poll(server_key.secret, pushed.time_ms))
    # Then the next poll is Django's 401
    assert (answer.status, answer.by_django) == (401, True)
    assert json.loads(answer.body)["code"] == "invalid_sdk_key"


def test_poll__rotated_key__both_answered_until_the_old_one_expires(
    serve, pushed, server_key, site_admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        successor = services.key_rotate(actor=site_admin, key=server_key.key, overlap_hours=1)
    # Both keys poll through the shortcut (after each one's last-use stamp)
    for secret in (server_key.secret, successor.secret):
        serve(poll(secret, pushed.time_ms))
        answer = serve(poll(secret, pushed.time_ms))
        assert (answer.status, answer.body, answer.by_django) == (200, NO_UPDATES, False)
    # When the overlap is over (the record says so, as a push after expiry writes it)
    before = generation()
    record = json.loads(store.client().get(store.key_record_key(server_key.key.key_hash)))
    record.update(hash=server_key.key.key_hash, expires=record["expires"] - 3_700_000)
    store.write_key_records([record], [])
    heard(before)
    expired = serve(poll(server_key.secret, pushed.time_ms))
    current = serve(poll(successor.secret, pushed.time_ms))
    # Then the old key is Django's 401, the new one still the shortcut's
    assert (expired.status, expired.by_django) == (401, True)
    assert (current.status, current.body, current.by_django) == (200, NO_UPDATES, False)


def test_poll__remembered__answered_without_redis_until_a_change_is_heard(
    serve, pushed, server_key
):
    # Given the key's poll is remembered
    remember(serve, server_key, pushed)
    # When its record leaves Redis unannounced (nothing of ours does that)
    store.client().delete(store.key_record_key(server_key.key.key_hash))
    remembered = serve(poll(server_key.secret, pushed.time_ms))
    # Then the shortcut still answers, from memory
    assert (remembered.status, remembered.body, remembered.by_django) == (200, NO_UPDATES, False)
    # And once any change is announced, it asks Redis again: no record, so Django answers
    # (from the database)
    before = generation()
    store.announce_auth_change()
    heard(before)
    answer = serve(poll(server_key.secret, pushed.time_ms))
    assert (answer.status, answer.body, answer.by_django) == (200, NO_UPDATES, True)


def test_poll__new_spec_pushed__the_remembered_poll_gets_it(
    serve, project, pushed, server_key, make_gate
):
    remember(serve, server_key, pushed)
    before = generation()
    # When a new spec is published and pushed
    make_gate(name="second_gate")
    spec = spec_publish(actor=None, project=project).config_specs.get(
        environment__name="production"
    )
    config_spec_push(spec_id=spec.pk)
    heard(before)
    answer = serve(poll(server_key.secret, pushed.time_ms))
    # Then the next poll from the old time gets the new spec, from Django
    assert answer.by_django
    assert (answer.status, answer.body) == (200, spec.v2_json.encode())
    assert not serve(poll(server_key.secret, spec.time_ms)).by_django


def test_poll__memo_loses_redis__forgets_and_listens_again(serve, pushed, server_key):
    remember(serve, server_key, pushed)
    # When Redis drops the memo's subscription (and its listener connects again)
    conn = store.client()
    db = str(conn.connection_pool.connection_kwargs.get("db", 0))
    for listener in conn.client_list(_type="pubsub"):
        if listener["db"] == db:  # this worker's (other test workers use other DBs)
            conn.client_kill_filter(_id=listener["id"])
    wait_for(lambda: generation() is None, timeout=2)
    listening()
    # Then what it remembered is gone: a record gone from Redis sends the poll to Django
    store.client().delete(store.key_record_key(server_key.key.key_hash))
    answer = serve(poll(server_key.secret, pushed.time_ms))
    assert (answer.status, answer.body, answer.by_django) == (200, NO_UPDATES, True)


def test_poll__memo_in_a_fork__remembers_nothing_of_its_parent(serve, pushed, server_key):
    # Given a process that remembers a poll
    remember(serve, server_key, pushed)
    (remembered,) = memo._entries
    assert memo.get(remembered) is not None
    # When it forks (as gunicorn's master would, had it polled)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child reports through the pipe)
        os.write(write, b"%d%d" % (memo.get(remembered) is None, not memo.listening))
        os._exit(0)
    os.waitpid(child, 0)
    # Then the child neither answers from the parent's memo nor counts as listening
    assert os.read(read, 2) == b"11"
    assert memo.get(remembered) is not None  # the parent still does


def test_poll__client_key__403_from_django(serve, pushed, client_key):
    for _ in range(2):
        answer = serve(poll(client_key.secret, pushed.time_ms))
        assert (answer.status, answer.by_django) == (403, True)


def test_poll__unknown_key__401_from_django_and_counted(serve, pushed, server_key):
    answer = serve(poll("secret-" + "x" * 43, pushed.time_ms))
    assert (answer.status, answer.by_django) == (401, True)
    key, _ = throttle.bucket(throttle.address(RequestFactory().get("/")))
    assert store.client().get(f":1:{key}") == b"1"


def test_poll__throttled_address__429_from_django(serve, settings, pushed, server_key):
    settings.GATEHOUSE_BAD_KEY_LIMIT = 2
    remember(serve, server_key, pushed)
    before = generation()
    # When the address presents two unknown keys (the second one announced)
    for n in range(2):
        serve(poll(f"secret-unknown{n}" + "x" * 30, pushed.time_ms))
    heard(before)
    answer = serve(poll(server_key.secret, pushed.time_ms))
    elsewhere = serve(poll(server_key.secret, pushed.time_ms), address="10.0.0.2")
    # Then even its good key gets Django's 429 for the rest of the minute
    assert (answer.status, answer.by_django) == (429, True)
    assert 0 < int(answer.headers["Retry-After"]) <= throttle.WINDOW_SECONDS
    # And another address polls on, through the shortcut
    assert (elsewhere.status, elsewhere.body, elsewhere.by_django) == (200, NO_UPDATES, False)


def test_poll__cache_on_another_redis__its_counter_read_there(
    serve, settings, pushed, server_key, private_redis
):
    private_redis.start()
    settings.GATEHOUSE_BAD_KEY_LIMIT = 1
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": private_redis.url}}
    serve(poll(server_key.secret, pushed.time_ms))
    assert not serve(poll(server_key.secret, pushed.time_ms)).by_django
    serve(poll("secret-unknown" + "x" * 30, pushed.time_ms))
    answer = serve(poll(server_key.secret, pushed.time_ms))
    assert (answer.status, answer.by_django) == (429, True)


def test_poll__redis_down__django_answers_from_the_database(serve, settings, pushed, server_key):
    serve(poll(server_key.secret, pushed.time_ms))
    # When neither the spec store nor the cache can be reached
    settings.GATEHOUSE_SPEC_REDIS_URL = "redis://127.0.0.1:9/0"
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:9/0"}
    }
    answers = [serve(poll(server_key.secret, pushed.time_ms)) for _ in range(2)]
    stale = serve(poll(server_key.secret, pushed.time_ms - 1))
    # Then Django answers, from the database
    for answer in answers:
        assert (answer.status, answer.body, answer.by_django) == (200, NO_UPDATES, True)
    assert (stale.status, stale.body) == (200, pushed.v2_json.encode())


def test_poll__last_use_due_again__django_stamps_it(serve, pushed, server_key):
    serve(poll(server_key.secret, pushed.time_ms))
    server_key.key.refresh_from_db()
    stamped = server_key.key.last_used_at
    # When a minute has passed since this process stamped the key
    selectors._LAST_USED[server_key.key.key_hash] -= selectors.LAST_USED_SECONDS + 1
    time.sleep(0.01)
    answer = serve(poll(server_key.secret, pushed.time_ms))
    server_key.key.refresh_from_db()
    # Then Django answers and stamps it again
    assert answer.by_django
    assert answer.body == NO_UPDATES
    assert server_key.key.last_used_at > stamped


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        pytest.param("{dcs}?sinceTime={t}", {"HOST": "evil.example"}, 400, id="disallowed-host"),
        pytest.param("{dcs}?sinceTime={t}", {"COOKIE": "sessionid=x"}, 200, id="cookie"),
        pytest.param("{dcs}?sinceTime={t}&x=%00", {}, 400, id="nul-in-query"),
        pytest.param("{dcs}?sinceTime=%C2%B2", {}, 200, id="not-ascii-digits"),
        pytest.param("{dcs}?sinceTime=", {}, 200, id="empty-since"),
        pytest.param("/v2/download_config_specs?sinceTime={t}&k={key}", {}, 200, id="k-param"),
    ],
)
def test_poll__other_shapes__django_answers(serve, pushed, server_key, path, headers, status):
    dcs = f"/v2/download_config_specs/{server_key.secret}.json"
    url = path.format(dcs=dcs, t=pushed.time_ms, key=server_key.secret)
    serve(poll(server_key.secret, pushed.time_ms))  # the last-use stamp
    answer = serve(url, **headers)
    assert (answer.status, answer.by_django) == (status, True)


def test_poll__ssl_redirect__django_redirects(serve, settings, pushed, server_key):
    settings.SECURE_SSL_REDIRECT = True
    serve(poll(server_key.secret, pushed.time_ms), secure=True)
    plain = serve(poll(server_key.secret, pushed.time_ms))
    secure = serve(poll(server_key.secret, pushed.time_ms), secure=True)
    assert (plain.status, plain.by_django) == (301, True)
    assert (secure.status, secure.body, secure.by_django) == (200, NO_UPDATES, False)


# ---------------------------------------------------------------- a real SDK, a real server


@pytest.fixture
def gunicorn_console(transactional_db, tmp_path):
    """console.wsgi under gunicorn with the production settings file (DEBUG off), on this
    test's database and Redis DB; yields (url, its log)."""
    db = connection.settings_dict
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "DEBUG": "false",
        "SECRET_KEY": "test-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "CONN_MAX_AGE": "0",
        "REDIS_URL": django_settings.TEST_REDIS_URL,
        "CELERY_BROKER_URL": django_settings.TEST_REDIS_URL,
        "GATEHOUSE_SPEC_REDIS_URL": django_settings.TEST_REDIS_URL,
        "WEB_WORKERS": "1",
        "LOG_LEVEL": "INFO",
    }
    port = free_port()
    argv = [str(Path(sys.executable).with_name("gunicorn")), "console.wsgi:application"]
    argv += ["-c", "console/gunicorn_conf.py", f"--bind=127.0.0.1:{port}"]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: process.poll() is not None or sdk_server_up(url), timeout=60, interval=0.2)
        assert process.poll() is None, log.read_text()[-3000:]
        yield url, log
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.slow
def test_python_core_sdk__polls_through_the_shortcut__and_sees_a_new_spec(
    gunicorn_console, project, server_key, make_gate, site_admin
):
    import statsig_python_core as core

    url, log = gunicorn_console
    gate = make_gate(emails=["alice@corp.example"])
    production = project.environments.get(name="production")

    def publish():
        spec = spec_publish(actor=None, project=project).config_specs.get(environment=production)
        config_spec_push(spec_id=spec.pk)
        return spec

    first = publish()
    sdk = core.Statsig(
        server_key.secret,
        core.StatsigOptions(
            specs_url=f"{url}/v2/download_config_specs",
            specs_sync_interval_ms=1000,
            fallback_to_statsig_api=False,
            disable_all_logging=True,
            disable_country_lookup=True,
            output_log_level="none",
            init_timeout_ms=10000,
        ),
    )
    alice = core.StatsigUser(user_id="a", email="alice@corp.example")
    bob = core.StatsigUser(user_id="b", email="bob@corp.example")
    try:
        assert sdk.initialize_with_details().result().is_config_spec_ready
        assert sdk.check_gate(alice, "new_checkout")
        # Its polls with the current time are answered "no updates" (21 bytes)
        polls = re.compile(
            rf'"GET (/v2/download_config_specs/\S+\?sinceTime={first.time_ms}\S*) HTTP/1.1" 200 21 '
        )
        line = wait_for(lambda: polls.search(log.read_text()), timeout=15).group(1)
        # When a new spec is published, its next poll gets it
        set_gate_emails(gate, site_admin, ["bob@corp.example"])
        second = publish()
        wait_for(lambda: sdk.check_gate(bob, "new_checkout"), timeout=15)
        assert not sdk.check_gate(alice, "new_checkout")
        wait_for(lambda: f"sinceTime={second.time_ms}" in log.read_text(), timeout=15)
    finally:
        sdk.shutdown().wait()
    # The SDK's poll, exactly as sent, is the shape the shortcut answers (the server's log
    # cut the key to its hint: put it back), and no log line holds the key
    path, query = line.replace(redact_keys(server_key.secret), server_key.secret).split("?")
    environ = RequestFactory().get(path, headers={"HOST": "127.0.0.1"}).environ
    environ.update(QUERY_STRING=query.replace(str(second.time_ms), str(first.time_ms)))
    environ.pop("HTTP_COOKIE")
    selectors._LAST_USED[server_key.key.key_hash] = time.time()
    store.client().set(store.pointer_key(production.pk), first.time_ms)
    assert PollShortcut(None).answer(environ) is not None
    assert server_key.secret not in log.read_text()
