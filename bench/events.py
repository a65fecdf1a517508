"""Event intake: SDK batches through POST /v1/log_event under gunicorn, against a raw COPY
of the same rows into the same table (the ceiling).

    .venv/bin/python bench/events.py [--size 1000] [--batches 30] [--rounds 3]
        [--connections 3] [--workers 2] [--latency-batches 60] [--inprocess-batches 20]
        [--profile] [--out bench/results.json] [--keep-db] [--redis-url redis://...]

In a database and a redis-server of its own (as bench/publishing.py): one project with a
few gates and running experiments, published, and a server key of its production
environment. The batches are what the legacy Python SDK (`statsig`, sdkType py-server)
posts: it is initialized in local mode with the published production spec and its logger
hands over each event dict (gate and experiment exposures with their metadata and
secondary exposures, custom events with value and metadata), `--size` per batch, JSON
with its statsigMetadata, gzipped, with its headers. Every batch is new (no resends).

1. ``http``: ``--connections`` client threads (http.client, one request per connection as
   gunicorn's sync workers close them) post ``--batches`` batches per round to gunicorn
   (``--workers`` sync workers), while a Celery worker (as the Procfile starts it) counts
   the exposures each stored batch left pending; events per second answered 202 (stored),
   each request's latency, and how long after the last 202 the worker had counted every
   exposure (so events per second stored and counted). Then, as
   the ceiling of the same round, the rows that round stored are read back with COPY TO
   and written again with ``COPY metrics_event FROM STDIN`` of those bytes, one
   transaction per batch, by as many threads: events per second, and the ratio.
   Median of ``--rounds``, interleaved; the CPU used by the client (this process),
   gunicorn and the whole machine during the HTTP rounds is reported in cores.
2. ``one_connection``: ``--latency-batches`` batches one after another: p50/p99 of one
   batch alone (the worker counting beside it).
3. ``in_process``: decode, ``parse_batch``, ``events_store`` and the worker's
   ``exposures_apply`` in this process, no HTTP: what the intake's own code costs
   (``--profile`` prints cProfile's top functions).
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import io
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import CLOSED_URL, merge_results, percentile  # noqa: E402
from bench.publishing import (  # noqa: E402
    BIN,
    HOST,
    _check,
    _free_port,
    _process,
    _project,
    _wait_until,
    _worker,
    isolated,
)

PATH = "/v1/log_event"
GATES = ("gate_000000", "gate_000001")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
)
WARMUP_BATCHES = 4


# ---------------------------------------------------------------- the SDK's batches


def sdk_batches(spec: dict, experiments: list[str], count: int, size: int) -> list[bytes]:
    """`count` gzipped bodies of `size` events each, as the legacy SDK logs them: per user
    a custom event, two gate checks and an experiment."""
    from statsig.statsig_event import StatsigEvent
    from statsig.statsig_metadata import _StatsigMetadata
    from statsig.statsig_options import StatsigOptions
    from statsig.statsig_server import StatsigServer
    from statsig.statsig_user import StatsigUser

    legacy = StatsigServer()
    legacy.initialize(
        "secret-bench",
        StatsigOptions(bootstrap_values=json.dumps(spec), local_mode=True, api=CLOSED_URL),
    )
    events: list[dict] = []
    # Local mode logs nothing: take each event as the logger would queue it.
    legacy._logger.log = lambda event: events.append(event.to_dict())
    metadata = _StatsigMetadata.get()
    bodies = []
    n = 0
    try:
        while len(bodies) < count:
            n += 1
            user = StatsigUser(
                user_id=f"user-{n:08d}",
                email=f"user{n}@example.com",
                country=("NZ", "US", "FR")[n % 3],
                app_version=f"9.{n % 4}.0",
                user_agent=USER_AGENTS[n % len(USER_AGENTS)],
                custom={"plan": ("free", "pro")[n % 2], "age": n % 90},
                custom_ids={"stableID": f"stable-{n:08d}", "companyID": f"co-{n % 500}"},
            )
            price = n % 50 + 0.99
            legacy.log_event(
                StatsigEvent(user, "purchase", value=price, metadata={"item": f"sku-{n % 300}"})
            )
            for gate in GATES:
                legacy.check_gate(user, gate)
            legacy.get_experiment(user, experiments[n % len(experiments)])
            while len(events) >= size:
                body = {"events": events[:size], "statsigMetadata": metadata}
                del events[:size]
                bodies.append(_gzip(json.dumps(body).encode()))
    finally:
        legacy.shutdown()
    return bodies[:count]


def _gzip(data: bytes) -> bytes:
    """As the SDK's http_worker zips a payload."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="w") as gz:
        gz.write(data)
    return out.getvalue()


def _headers(secret: str) -> dict[str, str]:
    """The legacy SDK's request headers (http_worker._prepare_headers)."""
    return {
        "Content-type": "application/json",
        "User-Agent": "statsig-python/0.0 statsig-sdk-type/py-server",
        "STATSIG-API-KEY": secret,
        "STATSIG-CLIENT-TIME": str(round(time.time() * 1000)),
        "STATSIG-SERVER-SESSION-ID": "bench-session",
        "STATSIG-SDK-TYPE": "py-server",
        "STATSIG-SDK-VERSION": "0.0",
        "STATSIG-RETRY": "0",
        "Accept-Encoding": "gzip, deflate, br",
        "Content-Encoding": "gzip",
    }


# ---------------------------------------------------------------- HTTP


def post(port: int, secret: str, body: bytes) -> tuple[int, dict]:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("POST", PATH, body=body, headers=_headers(secret))
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def load(port: int, secret: str, bodies: list[bytes], size: int, connections: int) -> dict:
    """Post `bodies` from `connections` threads; each must be stored whole, once."""
    lock = threading.Lock()
    queue = list(reversed(bodies))
    latencies: list[float] = []
    failures: list[str] = []

    def run() -> None:
        while True:
            with lock:
                if not queue or failures:
                    return
                body = queue.pop()
            started = time.perf_counter()
            try:
                status, answer = post(port, secret, body)
            except (OSError, http.client.HTTPException) as exc:
                failures.append(repr(exc))
                return
            elapsed = time.perf_counter() - started
            if status != 202 or answer.get("stored") != size:
                failures.append(f"{status} {answer}")
                return
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=run) for _ in range(connections)]
    cpu = _cpu()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    _check(not failures, f"POST {PATH}: {failures[:1]}")
    return {"rate": len(bodies) * size / elapsed, "latencies": latencies, "cpu": _cpu(cpu)}


def _ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime


def _cpu(since: dict | None = None) -> dict:
    """CPU seconds so far (or, given an earlier reading, cores used since): this process,
    the gunicorn processes (os.environ["BENCH_GUNICORN_PIDS"]), the whole machine."""
    hertz = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as stat:
        fields = [int(f) for f in stat.readline().split()[1:]]
    pids = [int(p) for p in os.environ.get("BENCH_GUNICORN_PIDS", "").split()]
    now = {
        "at": time.perf_counter(),
        "client": time.process_time(),
        "gunicorn": sum(_ticks(pid) for pid in pids) / hertz,
        "machine": (sum(fields) - fields[3] - fields[4]) / hertz,  # all but idle, iowait
    }
    if since is None:
        return now
    wall = now["at"] - since["at"]
    return {k: round((now[k] - since[k]) / wall, 2) for k in ("client", "gunicorn", "machine")}


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()]


# ---------------------------------------------------------------- the ceiling


def copy_ceiling(url: str, chunks: list[bytes], connections: int) -> float:
    """Events per second of COPYing `chunks` (COPY text of `--size` rows each) into
    metrics_event from `connections` threads, one transaction per chunk."""
    import psycopg

    from metrics.services import EVENT_COLUMNS

    lock = threading.Lock()
    queue = list(chunks)
    rows = sum(chunk.count(b"\n") for chunk in chunks)
    conns = [psycopg.connect(url) for _ in range(connections)]

    def run(conn) -> None:
        while True:
            with lock:
                if not queue:
                    return
                chunk = queue.pop()
            with (
                conn.transaction(),
                conn.cursor() as cursor,
                cursor.copy(f"COPY metrics_event ({EVENT_COLUMNS}) FROM STDIN") as copy,
            ):
                copy.write(chunk)

    threads = [threading.Thread(target=run, args=(conn,)) for conn in conns]
    try:
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return rows / (time.perf_counter() - started)
    finally:
        for conn in conns:
            conn.close()


def decode_floor(url: str, bodies: list[bytes], chunks: list[bytes]) -> dict:
    """On one connection, one batch after another: the ms per batch of COPYing its stored
    rows alone, and of first inflating and decoding its body as the endpoint does (no
    per-event work at all). Their ratio bounds what any intake that decodes the JSON can
    reach against the ceiling on one stream."""
    import orjson
    import psycopg

    from console.http_input import GZIP_OR_ZLIB_WBITS, inflate, json_depth
    from metrics.services import EVENT_COLUMNS

    def copy(conn, chunk: bytes) -> None:
        with (
            conn.transaction(),
            conn.cursor() as cursor,
            cursor.copy(f"COPY metrics_event ({EVENT_COLUMNS}) FROM STDIN") as out,
        ):
            out.write(chunk)

    def decode(body: bytes) -> None:
        raw = inflate(body, wbits=GZIP_OR_ZLIB_WBITS)
        json_depth(raw)
        orjson.loads(raw)

    alone, decoded = [], []
    with psycopg.connect(url) as conn:
        for _ in range(3):
            started = time.perf_counter()
            for chunk in chunks:
                copy(conn, chunk)
            alone.append(time.perf_counter() - started)
            started = time.perf_counter()
            for body, chunk in zip(bodies, chunks, strict=True):
                decode(body)
                copy(conn, chunk)
            decoded.append(time.perf_counter() - started)
    copy_ms, decode_copy_ms = (min(runs) * 1000 / len(chunks) for runs in (alone, decoded))
    return {
        "copy_ms": round(copy_ms, 2),
        "decode_and_copy_ms": round(decode_copy_ms, 2),
        "ratio": round(copy_ms / decode_copy_ms, 3),
    }


def last_id(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT coalesce(max(id), 0) FROM metrics_event").fetchone()[0]


def stored_rows(url: str, after_id: int, size: int) -> list[bytes]:
    """The rows stored after `after_id` as COPY text, in chunks of `size` (a row is one
    line: COPY escapes the newlines inside values)."""
    import psycopg

    from metrics.services import EVENT_COLUMNS

    out = io.BytesIO()
    query = (
        f"COPY (SELECT {EVENT_COLUMNS} FROM metrics_event WHERE id > {int(after_id)} "
        "ORDER BY id) TO STDOUT"
    )
    with psycopg.connect(url) as conn, conn.cursor() as cursor, cursor.copy(query) as copy:
        for data in copy:
            out.write(data)
    lines = out.getvalue().splitlines(keepends=True)
    return [b"".join(lines[i : i + size]) for i in range(0, len(lines), size)]


# ---------------------------------------------------------------- in process


def in_process(environment_id: int, bodies: list[bytes], size: int, profile: bool) -> dict:
    """The endpoint's steps without HTTP (inflate, JSON, parse_batch, events_store), then
    the worker's (exposures_apply)."""
    import cProfile
    import pstats

    from console.http_input import GZIP_OR_ZLIB_WBITS, inflate
    from metrics.intake import Envelope, parse_batch
    from metrics.sdk_views import decode, intake_limits, is_bot
    from metrics.services import events_store, exposures_apply

    steps = ("inflate", "json", "parse_batch", "events_store", "exposures_apply")
    spent = dict.fromkeys(steps, 0.0)
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    for body in bodies:
        if profiler:
            profiler.enable()
        marks = [time.perf_counter()]
        raw = inflate(body, wbits=GZIP_OR_ZLIB_WBITS)
        marks.append(time.perf_counter())
        data, finite = decode(raw)
        marks.append(time.perf_counter())
        now = int(time.time() * 1000)
        envelope = Envelope(environment_id, now, now, "py-server", "0.0")
        batch = parse_batch(data, envelope, intake_limits(), is_bot, finite=finite)
        marks.append(time.perf_counter())
        stored = events_store(envelope, batch)
        marks.append(time.perf_counter())
        counted = exposures_apply()
        marks.append(time.perf_counter())
        if profiler:
            profiler.disable()
        _check(stored.stored == size and counted == 1, f"in process: {stored}, {counted}")
        for name, begin, end in zip(spent, marks, marks[1:], strict=False):
            spent[name] += end - begin
    elapsed = time.perf_counter() - started
    if profiler:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    return {
        "events_per_s": round(len(bodies) * size / elapsed),
        "ms_per_batch": {k: round(v * 1000 / len(bodies), 2) for k, v in spent.items()},
    }


# ---------------------------------------------------------------- the run


def setup(size: int, count: int) -> dict:
    """The project, its published spec, a server key, and `count` SDK batches."""
    from console.models import ConfigSpec
    from console.publishing.services import spec_publish
    from experiments.models import Experiment, ExperimentStatus

    project, admin, _member, keys = _project(
        "bench-events", gates=len(GATES), experiments=6, layers=1
    )
    spec_publish(actor=admin, project=project, reason="bench")
    production = project.environments.get(name="production")
    spec = json.loads(ConfigSpec.objects.filter(environment=production).latest("time_ms").v1_json)
    running = Experiment.objects.filter(project=project, status=ExperimentStatus.RUNNING)
    experiments = sorted(running.values_list("name", flat=True))
    started = time.perf_counter()
    bodies = sdk_batches(spec, experiments, count, size)
    return {
        "secret": keys["production"],
        "environment_id": production.pk,
        "experiments": experiments,
        "bodies": bodies,
        "generated_s": time.perf_counter() - started,
    }


def _gunicorn(port: int, workers: int) -> list[str]:
    return [
        str(BIN / "gunicorn"),
        "console.wsgi:application",
        f"--bind={HOST}:{port}",
        f"--workers={workers}",
        "--worker-class=sync",
        "--log-level=warning",
    ]


def _latency_ms(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {
        "p50": round(percentile(ms, 50), 1),
        "p99": round(percentile(ms, 99), 1),
        "max": round(max(ms), 1),
    }


def pending(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM metrics_pendingexposures").fetchone()[0]


def bench_http(env: dict, data: dict, args, workdir: Path) -> dict:
    """Interleaved rounds of HTTP load (a worker counting exposures meanwhile) and the COPY
    ceiling, then one connection alone."""
    url = env["DATABASE_URL"]
    bodies = iter(data["bodies"])
    port = _free_port()
    log, worker_log = workdir / "gunicorn.log", workdir / "celery.log"
    http_runs, counted_runs, drains, copy_runs, latencies, cpu = [], [], [], [], [], []
    with (
        _process(_gunicorn(port, args.workers), {**os.environ, **env}, log) as server,
        _worker(env, worker_log) as worker,
    ):
        _wait_until(lambda: _children(server.pid)[1:], "gunicorn", server, log, timeout=180)
        ready = lambda: " ready." in worker_log.read_text(errors="replace")  # noqa: E731
        _wait_until(ready, "worker", worker, worker_log, timeout=180)
        pids = [server.pid, *_children(server.pid), worker.pid, *_children(worker.pid)]
        os.environ["BENCH_GUNICORN_PIDS"] = " ".join(map(str, pids))

        def drained(started: float) -> float:
            _wait_until(lambda: not pending(url), "exposures counted", worker, worker_log, 600)
            return time.perf_counter() - started

        warmup = [next(bodies) for _ in range(WARMUP_BATCHES)]
        load(port, data["secret"], warmup, args.size, args.connections)
        drained(time.perf_counter())
        for _ in range(args.rounds):
            before = last_id(url)
            batch = [next(bodies) for _ in range(args.batches)]
            started = time.perf_counter()
            result = load(port, data["secret"], batch, args.size, args.connections)
            http_runs.append(result["rate"])
            after = time.perf_counter()
            counted_runs.append(len(batch) * args.size / drained(started))
            drains.append(time.perf_counter() - after)
            latencies += result["latencies"]
            cpu.append(result["cpu"])
            chunks = stored_rows(url, before, args.size)
            _check(len(chunks) == args.batches, f"{len(chunks)} batches of rows stored")
            copy_runs.append(copy_ceiling(url, chunks, args.connections))
        floor = decode_floor(url, batch, chunks)
        alone = [next(bodies) for _ in range(args.latency_batches)]
        single = load(port, data["secret"], alone, args.size, 1)
        drained(time.perf_counter())
    http_rate, copy_rate = statistics.median(http_runs), statistics.median(copy_runs)
    counted_rate = statistics.median(counted_runs)
    return {
        "http": {
            "events_per_s": round(http_rate),
            "runs": [round(r) for r in http_runs],
            "latency_ms": _latency_ms(latencies),
            "cpu_cores": {k: round(statistics.median(c[k] for c in cpu), 2) for k in cpu[0]},
            "counted_events_per_s": round(counted_rate),
            "exposures_counted_s_after_last_202": round(statistics.median(drains), 2),
        },
        "copy_ceiling": {"events_per_s": round(copy_rate), "runs": [round(r) for r in copy_runs]},
        "http_vs_copy": round(http_rate / copy_rate, 3),
        "counted_vs_copy": round(counted_rate / copy_rate, 3),
        "decode_floor": floor,
        "one_connection": {
            "events_per_s": round(single["rate"]),
            "latency_ms": _latency_ms(single["latencies"]),
            "cpu_cores": single["cpu"],
        },
    }


def _exposure_groups(environment_id: int) -> dict:
    """Units exposed per kind, and how many of the experiment ones landed in a group."""
    from metrics.models import Exposure

    units = Exposure.objects.filter(environment_id=environment_id)
    grouped = units.filter(kind="config").exclude(group_name="").count()
    _check(grouped, "no experiment exposure was mapped to a group")
    return {
        "gate_units": units.filter(kind="gate").count(),
        "experiment_units": units.filter(kind="config").count(),
        "experiment_units_in_a_group": grouped,
    }


def run(args, env: dict, workdir: Path) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    needed = WARMUP_BATCHES + args.rounds * args.batches + args.latency_batches
    try:
        call_command("migrate", verbosity=0, interactive=False)
        data = setup(args.size, needed + args.inprocess_batches)
        connections.close_all()
        figures: dict = {
            "batch": {
                "events": args.size,
                "gzip_bytes": round(statistics.fmean(len(b) for b in data["bodies"])),
                "json_bytes": len(gzip.decompress(data["bodies"][0])),
                "sdk": "legacy statsig (py-server), local mode, its logger's event dicts",
                "generated_s": round(data["generated_s"], 1),
            },
            "gunicorn": f"{args.workers} sync workers",
            "connections": args.connections,
            "rounds": args.rounds,
            "batches_per_round": args.batches,
            "cores": os.cpu_count(),
        }
        figures.update(bench_http(env, {**data, "bodies": data["bodies"][:needed]}, args, workdir))
        inproc = data["bodies"][needed:]
        figures["in_process"] = in_process(data["environment_id"], inproc, args.size, args.profile)
        figures["exposures"] = _exposure_groups(data["environment_id"])
    finally:
        connections.close_all()
    return figures


def render(f: dict) -> str:
    h, c, one, ip = f["http"], f["copy_ceiling"], f["one_connection"], f["in_process"]
    b = f["batch"]
    lines = [
        f"Event intake: batches of {b['events']:,} legacy-SDK events "
        f"({b['json_bytes'] / 1e3:.0f} kB JSON, {b['gzip_bytes'] / 1e3:.0f} kB gzipped), "
        f"{f['cores']} cores; median of {f['rounds']} x {f['batches_per_round']} batches",
        f"  POST /v1/log_event, gunicorn {f['gunicorn']}, {f['connections']} client threads: "
        f"{h['events_per_s']:>9,} events/s  p50 {h['latency_ms']['p50']} ms, "
        f"p99 {h['latency_ms']['p99']} ms",
        f"    exposures all counted by the worker {h['exposures_counted_s_after_last_202']} s "
        f"after the last 202: {h['counted_events_per_s']:,} events/s stored and counted",
        f"    CPU in cores: client {h['cpu_cores']['client']}, gunicorn + worker "
        f"{h['cpu_cores']['gunicorn']}, machine {h['cpu_cores']['machine']}",
        f"  raw COPY of the same rows, {f['connections']} threads (ceiling): "
        f"{c['events_per_s']:>9,} events/s",
        f"  HTTP / COPY: {f['http_vs_copy']:.3f} stored, {f['counted_vs_copy']:.3f} stored and "
        "counted",
        f"  floor, one stream: COPY {f['decode_floor']['copy_ms']} ms a batch, inflate + "
        f"decode + COPY {f['decode_floor']['decode_and_copy_ms']} ms: "
        f"{f['decode_floor']['ratio']:.3f} with no per-event work",
        f"  one connection: {one['events_per_s']:,} events/s, one batch p50 "
        f"{one['latency_ms']['p50']} ms, p99 {one['latency_ms']['p99']} ms",
        f"  in process (no HTTP): {ip['events_per_s']:,} events/s; ms per batch: "
        + ", ".join(f"{k} {v}" for k, v in ip["ms_per_batch"].items()),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000, help="events per batch")
    parser.add_argument("--batches", type=int, default=30, help="batches per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=3, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--latency-batches", type=int, default=60)
    parser.add_argument("--inprocess-batches", type=int, default=20)
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process run")
    parser.add_argument("--database", default="gatehouse_bench_events")
    parser.add_argument("--redis-url", help="a Redis DB to use (emptied!)")
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database")
    parser.add_argument("--out", type=Path, help="merge the figures into this JSON file")
    args = parser.parse_args()
    if "bench" not in args.database:
        parser.error("the bench drops its database: give it a name containing 'bench'")
    with isolated(args.database, args.redis_url, "bench-events-", keep_db=args.keep_db) as (
        env,
        workdir,
    ):
        figures = run(args, env, workdir)
    print(render(figures))  # noqa: T201
    if args.out:
        merge_results(args.out, "events", figures)


if __name__ == "__main__":
    main()
