"""gunicorn settings for the console, in `make run` (Procfile) and in production alike.

The number of PostgreSQL connections a console holds is bounded by workers × threads: each
worker thread keeps at most one persistent connection (CONN_MAX_AGE), and gthread workers
run a fixed pool of threads. Size PostgreSQL's max_connections (and a pooler, if any) for
WEB_WORKERS × WEB_THREADS per console, plus the Celery worker's concurrency.

Usage: gunicorn console.wsgi:application -c console/gunicorn_conf.py --bind 127.0.0.1:8000
"""

from __future__ import annotations

import os

from gunicorn.glogging import Logger

from console.redaction import RedactKeysFilter

workers = int(os.environ.get("WEB_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
# Bounded per request; SDK polls and pages answer in well under a second.
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 10
keepalive = 5
# The application is loaded once, in the master, and each worker is a fork of it: a new
# worker serves at once instead of importing everything again (about 2 s of CPU with
# compiled bytecode, 5 s without, taken from the workers serving meanwhile). A fork uses
# no connection of the master's: Django's are per thread (requests run on the workers'
# threads) and redis-py's pools start again in a new process.
# tests/console/test_web_server.py replaces workers under load. console/wsgi.py freezes
# what the loaded application holds out of the garbage collector's passes, which also
# keeps the forks' pages shared.
preload_app = True
# A worker is replaced after this many requests (with jitter): a leak cannot grow forever.
# Every SDK instance polls every 10 s, so a console with a few thousand SDK instances
# counts hundreds of requests a second per worker: at 2,000 its workers were replaced
# every few seconds, and make bench's poll rate was 0.25x the static server's with
# preloading and 0.10x without, against 0.40x with neither replacements nor the memo of
# console/sdk_poll.py (its load generator was a Python client then, not wrk). Each
# replacement also empties the worker's spec fragment cache.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "100000"))
max_requests_jitter = max_requests // 10
# gunicorn's runtime control socket is one path per machine (~/.gunicorn): two consoles, or a
# console and `make bench`, would fight over it. Nothing of ours uses it.
control_socket_disable = True

accesslog = os.environ.get("WEB_ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s" %({x-request-id}o)s'


class RedactingLogger(Logger):
    """gunicorn's logger with keys redacted from access and error lines: SDK keys sit in
    request paths and query strings (console.redaction)."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactKeysFilter) for f in log.filters):
                log.addFilter(RedactKeysFilter())


logger_class = RedactingLogger
