"""Publishing: spec build and publish, the push to Redis, the SDK download endpoint under
gunicorn, and approval → Redis latency with a live Celery worker.

    .venv/bin/python bench/publishing.py [--gates 10000] [--experiments 1000] [--layers 50]
        [--runs 1] [--rounds 3] [--seconds 2] [--connections 4] [--changes 100]
        [--out bench/results.json] [--keep-db] [--redis-url redis://127.0.0.1:6379/12]
        [--only publish|serve|approval ...]

It works in a database of its own, ``gatehouse_bench`` on DATABASE_URL's server (dropped,
created and migrated at the start, dropped at the end unless ``--keep-db``), and a
redis-server of its own on a free port (or ``--redis-url``, emptied before and after): the
dev database, the console's Redis and the test runs' Redis DBs never see its keys or flushes.
Every process (this one, gunicorn, the worker) runs with DEBUG off.
The data is bulk-inserted by the builders of ``gates_bench_spec`` and
``experiments_bench_spec``; everything timed goes through the real services and servers.

1. ``publish``: one project with 10,000 gates and 1,000 experiments in 50 layers and a server
   key per environment. ``spec_publish`` (v1 + v2 of the three environments built, rows
   inserted, pushes enqueued) is timed ``--runs`` times (force), and after each run the push
   of each environment's spec (``config_spec_push``, as the worker runs it).
2. ``serve``: requests per second of ``GET /v1/download_config_specs/<key>.json`` (that
   project's production spec) under gunicorn as production runs it (``-c
   console/gunicorn_conf.py``: gthread workers, keep-alive, the access log; WEB_WORKERS=2),
   against the same bytes as a static file from ``http.server`` (a thread per connection,
   keep-alive, TCP_NODELAY), with one load generator, wrk (Debian's package, one thread,
   ``--connections`` keep-alive connections; every response checked for its status and
   size), in interleaved rounds of ``--seconds``, median of ``--rounds``. Not a Python
   client: one in the same process as the rounds' bookkeeping spent a core of its own
   parsing each answer's headers in Python, so it measured itself (a WSGI app under
   gunicorn that only returns the 21 bytes came out at 0.59-0.70x of http.server with
   it, 1.35x with wrk). Also ``?sinceTime=<current>`` (every SDK's poll,
   ``{"has_updates":false}``, answered ahead of Django by console/sdk_poll.py; against a
   static file of those bytes), and the full spec with ``Accept-Encoding: gzip`` as SDK
   HTTP clients send it.
3. ``approval_to_redis``: a ``celery -A console worker`` (as in the Procfile) and a second
   project of ``--latency-gates`` gates and ``--latency-experiments`` experiments (10,000
   gates would make each change a publish of part 1's size); ``--changes`` gate updates, each
   submitted by a member and approved by an admin (reviews.services), timed from just before
   ``changeset_approve`` until the production pointer in Redis holds the new spec: p50, p99.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import merge_results, percentile  # noqa: E402

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
NO_UPDATES = b'{"has_updates":false}'
WARMUP_CHANGES = 3
PARTS = ("publish", "serve", "approval")


# ---------------------------------------------------------------- database, Redis, processes


def _environment(database: str, redis_url: str) -> dict[str, str]:
    """Production-like settings on the bench database and Redis, for every process."""
    db = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gatehouse"))
    return {
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_hex(32),
        "ALLOWED_HOSTS": HOST,
        "SECURE_SSL_REDIRECT": "false",
        # Change sets email their reviewers: rendered, then dropped (no SMTP server here).
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        "DATABASE_URL": urlunsplit(db._replace(path=f"/{database}")),
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "GATEHOUSE_SPEC_REDIS_URL": redis_url,
        "LOG_LEVEL": "WARNING",
    }


@contextmanager
def _redis(url: str | None, workdir: Path) -> Iterator[str]:
    """`url` emptied before and after, or else a redis-server of the bench's own on a free
    port (no persistence), stopped at the end: no test run's flush or other load reaches it."""
    import redis

    if url:
        redis.Redis.from_url(url).flushdb()
        try:
            yield url
        finally:
            redis.Redis.from_url(url).flushdb()
        return
    binary = shutil.which("redis-server")
    _check(binary, "redis-server is not installed (make services installs it); or pass --redis-url")
    port = _free_port()
    argv = [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
    with _process([*argv, "--dir", str(workdir)], dict(os.environ), None) as server:
        url = f"redis://{HOST}:{port}/0"
        conn = redis.Redis.from_url(url)
        _wait_until(lambda: _pings(conn), "redis-server", server, None)
        yield url


def _pings(conn) -> bool:
    import redis

    try:
        return bool(conn.ping())
    except redis.RedisError:
        return False


def _database(url: str, *, create: bool) -> None:
    """Drop the bench database (and create it anew when `create`)."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = sql.Identifier(parts.path.lstrip("/"))
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        if create:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


@contextmanager
def isolated(
    database: str, redis_url: str | None, prefix: str, *, keep_db: bool = False, **extra: str
):
    """A bench's own database (created now, dropped at the end unless `keep_db`) and Redis,
    their settings (and `extra` ones) in os.environ for every process; yields (env, working
    directory)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp, _redis(redis_url, Path(tmp)) as url:
        env = {**_environment(database, url), **extra}
        os.environ.update(env)
        _database(env["DATABASE_URL"], create=True)
        try:
            yield env, Path(tmp)
        finally:
            if not keep_db:
                _database(env["DATABASE_URL"], create=False)


def _check(condition, message: str) -> None:
    if not condition:
        raise RuntimeError(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@contextmanager
def _process(argv: list[str], env: dict[str, str], log: Path | None) -> Iterator:
    """A child in its own session, stopped (SIGTERM to its group, then SIGKILL) on exit."""
    out = log.open("wb") if log else subprocess.DEVNULL
    process = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    if log:
        out.close()
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


def _wait_until(predicate, what: str, process, log: Path | None, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise RuntimeError(f"{what}: the process exited.\n{tail}")
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: timed out after {timeout:.0f} s")
        time.sleep(0.1)


def _get(port: int, path: str, headers: dict | None = None) -> tuple[int, dict, bytes] | None:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


# ---------------------------------------------------------------- data


def _project(slug: str, *, gates: int, experiments: int, layers: int):
    """A project with an admin (its owner), a member, a server key per environment, and the
    bench commands' gates and experiments. Returns (project, admin, member, the server
    keys' secrets by environment name)."""
    from console import services as console_services
    from console.models import Membership, Role, User
    from experiments.management.commands.experiments_bench_spec import bench_experiments_create
    from gates.management.commands.gates_bench_spec import bench_gates_create

    admin = User.objects.create(username=f"{slug}-admin", email=f"admin@{slug}.bench")
    member = User.objects.create(username=f"{slug}-member", email=f"member@{slug}.bench")
    project = console_services.project_create(actor=None, name=slug, slug=slug, owner=admin)
    Membership.objects.create(project=project, user=member, role=Role.MEMBER)
    keys = {
        env.name: console_services.key_create(
            actor=admin, project=project, kind="server", environment=env, name="bench"
        ).secret
        for env in project.environments.order_by("pk")
    }
    bench_gates_create(project, gates)
    if experiments:
        bench_experiments_create(project, experiments, layers)
    return project, admin, member, keys


# ---------------------------------------------------------------- 1. publish and push


def _build_only(project) -> None:
    """What spec_publish computes for each environment, without the database writes: the
    baseline its time is compared with."""
    from console.publishing.services import spec_content_checksum
    from console.specs.builder import build_spec, spec_json, to_v2

    for environment in project.environments.order_by("pk"):
        v1 = build_spec(project, environment, time_ms=time.time_ns() // 1_000_000)
        spec_content_checksum(v1)
        hashlib.sha256(spec_json(v1).encode()).hexdigest()
        spec_json(to_v2(v1))


def bench_publish(project, admin, runs: int) -> dict:
    """spec_publish and each environment's config_spec_push, `runs` times, each run after
    the build-only baseline."""
    from console.models import ConfigSpecState
    from console.publishing.services import config_spec_push, spec_publish

    build: list[float] = []
    publish: list[float] = []
    push: dict[str, list[float]] = {}
    for n in range(runs):
        started = time.perf_counter()
        _build_only(project)
        build.append(time.perf_counter() - started)
        started = time.perf_counter()
        version = spec_publish(actor=admin, project=project, reason=f"bench {n + 1}", force=True)
        publish.append(time.perf_counter() - started)
        specs = version.config_specs.select_related("environment").order_by("environment_id")
        for spec in specs.defer("v1_chunks", "v2_chunks"):
            started = time.perf_counter()
            pushed = config_spec_push(spec_id=spec.pk)
            push.setdefault(spec.environment.name, []).append(time.perf_counter() - started)
            _check(pushed and pushed.state == ConfigSpecState.PUSHED, f"push of {spec}: {pushed}")
    production = version.config_specs.get(environment__name="production")
    return {
        "runs": runs,
        "environments": len(push),
        "v1_bytes": len(production.v1_json.encode()),
        "v2_bytes": len(production.v2_json.encode()),
        "build_only_s": round(statistics.median(build), 3),
        "build_only_runs_s": [round(s, 3) for s in build],
        "spec_publish_s": round(statistics.median(publish), 3),
        "spec_publish_runs_s": [round(s, 3) for s in publish],
        "spec_publish_vs_build_only": round(
            statistics.median(p / b for p, b in zip(publish, build, strict=True)), 2
        ),
        "config_spec_push_s": {env: round(statistics.median(s), 3) for env, s in push.items()},
        "config_spec_push_total_s": round(
            statistics.median(sum(run) for run in zip(*push.values(), strict=True)), 3
        ),
    }


# ---------------------------------------------------------------- 2. serve


# wrk's own summary at the end of a run (its `done` hook: no per-response Lua, so the
# generator's cost is wrk's alone): requests, bytes read (headers and bodies), duration in
# microseconds, and the errors by kind.
WRK_SUMMARY = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("wrk-summary %d %d %d %d %d %d %d %d\\n", summary.requests,
    summary.bytes, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def load(
    port: int,
    path: str,
    *,
    connections: int,
    seconds: int,
    script: Path,
    headers: dict | None = None,
    length: int,
) -> float:
    """Requests per second of GET `path` from wrk (one thread, `connections` keep-alive
    connections, each sending its next request when the last response is read). Every
    response must be a 2xx (wrk counts the others) of `length` bytes of body: the bytes
    read are checked against it, the headers allowed 2 KB."""
    argv = [_wrk(), "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout=30s", f"-s{script}"]
    for name, value in (headers or {}).items():
        argv.append(f"-H{name}: {value}")
    run = subprocess.run(
        [*argv, f"http://{HOST}:{port}{path}"], capture_output=True, text=True, check=False
    )
    line = next((ln for ln in run.stdout.splitlines() if ln.startswith("wrk-summary ")), None)
    if run.returncode != 0 or line is None:
        raise RuntimeError(f"wrk on {path} (port {port}) failed: {run.stdout}{run.stderr}")
    requests, read, micros, *errors = (int(v) for v in line.split()[1:])
    if any(errors) or not requests:
        kinds = dict(zip(("connect", "read", "write", "status", "timeout"), errors, strict=True))
        raise RuntimeError(f"GET {path} on port {port}: {requests} answered, errors {kinds}")
    # Bytes read also hold the answers under way when the round ended, one per connection.
    if not length * requests <= read <= (length + 2048) * (requests + connections):
        raise RuntimeError(f"GET {path} on port {port}: {read:,} bytes for {requests} answers")
    return requests / (micros / 1e6)


def _wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit(
            "bench/publishing.py's serve part needs wrk: install Debian's 'wrk' package "
            "(make bench does, with scripts/bench-tools.sh)."
        )
    return found


def bench_serve(env: dict, secret: str, environment_id: int, args, workdir: Path) -> dict:
    """gunicorn vs http.server on the production spec Redis holds for `secret`."""
    from console.models import hash_key
    from console.publishing import store

    current, body = store.read_dcs("v1", hash_key(secret), environment_id)
    static = workdir / "static"
    static.mkdir()
    (static / "dcs.json").write_bytes(body)
    (static / "no_updates.json").write_bytes(NO_UPDATES)
    ours_port, static_port = _free_port(), _free_port()
    # The production settings (console/gunicorn_conf.py: gthread workers, keep-alive, the
    # redacting access log), two workers.
    gunicorn = [
        str(BIN / "gunicorn"),
        "console.wsgi:application",
        "-c",
        str(ROOT / "console" / "gunicorn_conf.py"),
        f"--bind={HOST}:{ours_port}",
        "--log-level=warning",
    ]
    http_server = [sys.executable, __file__, "--static-server", str(static), str(static_port)]
    dcs = f"/v1/download_config_specs/{secret}.json"
    gzip = {"Accept-Encoding": "gzip"}
    # name -> (ours: path, headers; the static server's path or None)
    paths = {
        "full spec": ((dcs, None), "/dcs.json", len(body)),
        "sinceTime=current": ((f"{dcs}?sinceTime={current}", None), "/no_updates.json", None),
        "full spec, gzip": ((dcs, gzip), None, None),
    }
    log = workdir / "gunicorn.log"
    with (
        _process(gunicorn, {**os.environ, **env, "WEB_WORKERS": "2"}, log) as ours,
        _process(http_server, {**os.environ, **env}, None) as reference,
    ):
        first = _wait_until(lambda: _get(ours_port, dcs), "gunicorn", ours, log, timeout=180)
        _check(first[0] == 200 and first[2] == body, f"gunicorn served {first[:2]}")
        _wait_until(lambda: _get(static_port, "/dcs.json"), "http.server", reference, None)
        lengths = {}
        for name, ((path, headers), static_path, _length) in paths.items():
            # Warm both workers.
            for _ in range(4):
                status, got_headers, got = _get(ours_port, path, headers)
                _check(status == 200, f"{name}: {status} {got[:200]!r}")
            if static_path:
                _check(_get(static_port, static_path)[2] == got, f"{name}: not the same bytes")
            lengths[name] = len(got)
            if headers == gzip:
                _check(got_headers.get("Content-Encoding") == "gzip", f"{name}: {got_headers}")
        _check(lengths["sinceTime=current"] == len(NO_UPDATES), "sinceTime: not up to date")
        runs: dict[str, dict[str, list[float]]] = {n: {"gunicorn": [], "static": []} for n in paths}
        script = workdir / "wrk.lua"
        script.write_text(WRK_SUMMARY)
        options = {"connections": args.connections, "seconds": args.seconds, "script": script}
        for _ in range(args.rounds):
            for name, ((path, headers), static_path, _length) in paths.items():
                runs[name]["gunicorn"].append(
                    load(ours_port, path, headers=headers, length=lengths[name], **options)
                )
                if static_path:
                    runs[name]["static"].append(
                        load(static_port, static_path, length=lengths[name], **options)
                    )
    rows = {}
    for name, by_server in runs.items():
        row: dict = {"response_bytes": lengths[name]}
        for server, rates in by_server.items():
            row[server] = round(statistics.median(rates), 1) if rates else None
            row[f"{server}_runs"] = [round(r, 1) for r in rates]
        row["gunicorn_vs_static"] = (
            round(row["gunicorn"] / row["static"], 3) if row["static"] else None
        )
        rows[name] = row
    return {
        "gunicorn": "console/gunicorn_conf.py, 2 workers (gthread, keep-alive)",
        "static": "http.server (threads, one process), HTTP/1.1 keep-alive, TCP_NODELAY",
        "load": "wrk, one thread",
        "connections": args.connections,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "paths": rows,
    }


def static_server(directory: str, port: int) -> None:
    """http.server's static files, HTTP/1.1 keep-alive, with TCP_NODELAY: its headers and
    body are two writes, which Nagle's algorithm and delayed ACKs would hold back 40 ms."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Handler(SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            pass  # wrk closes its connections mid-response when a round ends

    handler = functools.partial(Handler, directory=directory)
    with Server((HOST, port), handler) as server:
        server.serve_forever()


# ---------------------------------------------------------------- 3. approval to Redis


def _worker(env: dict, log: Path):
    argv = [str(BIN / "celery"), "-A", "console", "worker", "--concurrency=2"]
    argv += ["--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO"]
    argv += [f"--hostname=bench-publishing-{os.getpid()}@%h"]
    # INFO: the worker logs through settings.LOGGING, and its " ready." line is INFO.
    return _process(argv, {**os.environ, **env, "LOG_LEVEL": "INFO"}, log)


def _next_document(gate) -> dict:
    """The gate's document with its 30% public rule moved to 40% (or back)."""
    from gates.documents import gate_to_document

    document = gate_to_document(gate)
    last = document["rules"][-1]
    last["passPercentage"] = 40 if last["passPercentage"] == 30 else 30
    return document


def bench_approval(env: dict, args, workdir: Path) -> dict:
    from console.publishing import store
    from console.publishing.services import spec_publish
    from gates.models import FeatureGate
    from reviews.services import ChangeInput, changeset_approve, changeset_submit

    project, admin, member, _keys = _project(
        "bench-latency",
        gates=args.latency_gates,
        experiments=args.latency_experiments,
        layers=max(1, args.latency_experiments // 10),
    )
    production = project.environments.get(name="production")
    conn = store.client()
    # Part 1's publishes enqueued pushes that nobody consumed: the worker must not start
    # with a backlog of 10,000-gate pushes.
    conn.delete("celery")
    gates = list(FeatureGate.objects.filter(project=project).order_by("pk"))
    log = workdir / "celery.log"
    approve_s: list[float] = []
    total_s: list[float] = []
    with _worker(env, log) as worker:
        _wait_until(lambda: " ready." in log.read_text(errors="replace"), "worker", worker, log)
        first = spec_publish(actor=admin, project=project, reason="bench baseline")
        wanted = first.config_specs.get(environment=production).time_ms
        _wait_until(
            lambda: store.pointer_times([production.pk], conn)[0] == wanted, "push", worker, log
        )
        for n in range(WARMUP_CHANGES + args.changes):
            gate = FeatureGate.objects.select_related("project", "owner").get(
                pk=gates[n % len(gates)].pk
            )
            document = _next_document(gate)
            change = ChangeInput(kind="gate", action="update", name=gate.name, payload=document)
            change_set = changeset_submit(
                actor=member, project=project, changes=[change], source="bench"
            )
            _check(change_set.state == "in_review", f"submitted: {change_set.state}")
            before = store.pointer_times([production.pk], conn)[0]
            started = time.perf_counter()
            change_set = changeset_approve(actor=admin, change_set=change_set)
            approved = time.perf_counter()
            _check(change_set.state == "applied", f"approved: {change_set.apply_error}")
            deadline = approved + 60
            while (store.pointer_times([production.pk], conn)[0] or 0) <= before:
                if time.perf_counter() > deadline or worker.poll() is not None:
                    raise RuntimeError(
                        f"change {n}: no new spec in Redis\n{log.read_text()[-3000:]}"
                    )
                time.sleep(0.0005)
            seen = time.perf_counter()
            if n >= WARMUP_CHANGES:
                approve_s.append(approved - started)
                total_s.append(seen - started)
    return {
        "changes": args.changes,
        "project": {"gates": args.latency_gates, "experiments": args.latency_experiments},
        "worker": "celery -A console worker --concurrency=2 (prefork)",
        "approve_ms": _summary(approve_s),
        "to_redis_ms": _summary(total_s),
    }


def _summary(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {
        "p50": round(percentile(ms, 50), 1),
        "p99": round(percentile(ms, 99), 1),
        "mean": round(statistics.fmean(ms), 1),
        "max": round(max(ms), 1),
    }


# ---------------------------------------------------------------- report


def _render_publish(p: dict, s: dict) -> list[str]:
    lines = [
        f"Publishing one project of {p['gates']:,} gates and {p['experiments']:,} experiments "
        f"({p['layers']} layers), {s['environments']} environments; production spec "
        f"v1 {s['v1_bytes'] / 1e6:.1f} MB, v2 {s['v2_bytes'] / 1e6:.1f} MB; "
        f"seconds, median of {s['runs']}",
        f"  {'build v1+v2 of each environment, no database (baseline)':58} "
        f"{s['build_only_s']:>7.2f}",
        f"  {'spec_publish (the same, plus rows and enqueues)':58} "
        f"{s['spec_publish_s']:>7.2f}  {s['spec_publish_vs_build_only']:.2f}x the baseline",
    ]
    for env, seconds in s["config_spec_push_s"].items():
        lines.append(f"  {'config_spec_push ' + env:58} {seconds:>7.2f}")
    return lines


def _render_serve(a: dict) -> list[str]:
    lines = [
        f"GET /v1/download_config_specs, req/s: gunicorn ({a['gunicorn']}) vs the same bytes "
        f"from http.server; wrk, {a['connections']} connections, median of {a['rounds']} x "
        f"{a['seconds']:g} s",
        f"  {'':24} {'bytes':>11} {'gunicorn':>10} {'static':>10} {'gunicorn/static':>16}",
    ]
    for name, row in a["paths"].items():
        static = f"{row['static']:>10,.1f}" if row["static"] else f"{'-':>10}"
        ratio = f"{row['gunicorn_vs_static']:>15.3f}x" if row["static"] else f"{'-':>16}"
        lines.append(
            f"  {name:24} {row['response_bytes']:>11,} {row['gunicorn']:>10,.1f} {static} {ratio}"
        )
    return lines


def _render_approval(r: dict) -> list[str]:
    lines = [
        f"Approval -> new production spec in Redis, ms ({r['changes']} changes, live worker, "
        f"project of {r['project']['gates']:,} gates and {r['project']['experiments']} "
        "experiments)",
        f"  {'':28} {'p50':>8} {'p99':>8} {'mean':>8} {'max':>8}",
    ]
    for label, key in (("changeset_approve returns", "approve_ms"), ("in Redis", "to_redis_ms")):
        row = r[key]
        lines.append(
            f"  {label:28} {row['p50']:>8.1f} {row['p99']:>8.1f} {row['mean']:>8.1f} "
            f"{row['max']:>8.1f}"
        )
    return lines


def render(figures: dict) -> str:
    """The table of the parts measured so far."""
    sections = []
    if "publish" in figures:
        sections.append(_render_publish(figures["project"], figures["publish"]))
    if "serve" in figures:
        sections.append(_render_serve(figures["serve"]))
    if "approval_to_redis" in figures:
        sections.append(_render_approval(figures["approval_to_redis"]))
    return "\n\n".join("\n".join(lines) for lines in sections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gates", type=int, default=10_000)
    parser.add_argument("--experiments", type=int, default=1_000)
    parser.add_argument("--layers", type=int, default=50)
    parser.add_argument("--runs", type=int, default=1, help="spec_publish runs")
    parser.add_argument("--rounds", type=int, default=3, help="load rounds per server and path")
    parser.add_argument("--seconds", type=int, default=2, help="length of one load round")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--latency-gates", type=int, default=100)
    parser.add_argument("--latency-experiments", type=int, default=10)
    parser.add_argument("--database", default="gatehouse_bench")
    parser.add_argument(
        "--redis-url", help="a Redis DB to use (emptied!) instead of a redis-server of its own"
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database")
    parser.add_argument("--out", type=Path, help="merge the figures into this JSON file")
    parser.add_argument(
        "--only",
        choices=PARTS,
        action="append",
        help="run only this part (repeatable); serve publishes once first, for its spec",
    )
    args = parser.parse_args()
    if "bench" not in args.database:
        parser.error("the bench drops its database: give it a name containing 'bench'")
    with isolated(args.database, args.redis_url, "bench-publishing-", keep_db=args.keep_db) as (
        env,
        workdir,
    ):
        figures = run(args, env, workdir)
    print(render(figures))  # noqa: T201
    if args.out:
        merge_results(args.out, "publishing", figures)


def run(args, env: dict, workdir: Path) -> dict:
    """The three parts (or those of --only), in the freshly created bench database."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    parts = set(args.only or PARTS)
    figures: dict = {}
    try:
        call_command("migrate", verbosity=0, interactive=False)
        if parts & {"publish", "serve"}:
            started = time.perf_counter()
            project, admin, _member, keys = _project(
                "bench-publishing",
                gates=args.gates,
                experiments=args.experiments,
                layers=args.layers,
            )
            figures["project"] = {
                "gates": args.gates,
                "experiments": args.experiments,
                "layers": args.layers,
                "created_s": round(time.perf_counter() - started, 1),
            }
            figures["publish"] = bench_publish(project, admin, args.runs)
        if "serve" in parts:
            production = project.environments.get(name="production")
            figures["serve"] = bench_serve(env, keys["production"], production.pk, args, workdir)
        if "approval" in parts:
            figures["approval_to_redis"] = bench_approval(env, args, workdir)
    except BaseException:
        print(render(figures), file=sys.stderr)  # noqa: T201 (what was measured before)
        raise
    finally:
        connections.close_all()
    return figures


if __name__ == "__main__":
    if sys.argv[1:2] == ["--static-server"]:
        static_server(sys.argv[2], int(sys.argv[3]))
    else:
        main()
