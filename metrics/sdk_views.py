"""The event intake endpoints, where Statsig's SDKs send exposures and custom events
(docs/events.md):

* POST /v1/log_event: the server SDKs (legacy `statsig`, `statsig-node`, the Rust core's
  `log_event_url`); server key in STATSIG-API-KEY; JSON, gzip or zstd.
* POST /v1/rgstr: `@statsig/js-client` (client key in `?k=`); the body is sent as
  text/plain, gzipped when `?gz=1`, and by `navigator.sendBeacon` on page unload.

202 `{"success": true}` means the batch is committed to the database, and to ClickHouse
when it holds the events (the Rust core reads an empty body as a failure). 503 means
nothing was stored and the SDK should resend; 400
and 413 are for batches no resend can fix.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from console.exceptions import ApplicationError
from console.http_input import (
    GZIP_OR_ZLIB_WBITS,
    BodyTooLarge,
    inflate,
    inflate_zstd,
    json_depth,
    load_json,
)
from console.models import KeyKind
from console.sdk_views import authenticate, cors, error
from metrics.agents import is_bot
from metrics.clickhouse import ClickHouseError
from metrics.intake import Envelope, Limits, epoch_ms, parse_batch, storable
from metrics.services import events_store

logger = logging.getLogger(__name__)


def intake_limits() -> Limits:
    return Limits(
        max_name=settings.GATEHOUSE_EVENT_MAX_NAME,
        max_value=settings.GATEHOUSE_EVENT_MAX_VALUE,
        max_metadata_bytes=settings.GATEHOUSE_EVENT_MAX_METADATA_BYTES,
    )


def _body(request: HttpRequest) -> bytes:
    """The raw body, read up to the cap (the request's own size limit does not apply:
    event batches are larger than forms), then inflated as its sender marked it."""
    cap = settings.GATEHOUSE_EVENTS_MAX_BODY_BYTES
    declared = request.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > cap:
        raise BodyTooLarge(f"The body is larger than {cap:,} bytes.")
    raw = request.read(cap + 1)
    if len(raw) > cap:
        raise BodyTooLarge(f"The body is larger than {cap:,} bytes.")
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("gzip", "deflate") or request.GET.get("gz") == "1":
        return inflate(raw, wbits=GZIP_OR_ZLIB_WBITS, limit=cap)
    if encoding == "zstd":
        return inflate_zstd(raw, limit=cap)
    if encoding not in ("", "identity"):
        raise ApplicationError(
            f"Content-Encoding {encoding!r} is not supported (gzip, deflate or zstd).",
            code="unsupported_encoding",
        )
    return raw


def decode(body: bytes) -> tuple[Any, bool]:
    """The body's JSON and whether its numbers are known finite: orjson (fast, refusing
    NaN, Infinity and lone surrogates) once the depth is checked; what it refuses is read
    again by the standard parser, so that such events are set aside one by one."""
    limit = settings.GATEHOUSE_MAX_JSON_DEPTH
    if json_depth(body) <= limit:
        try:
            return orjson.loads(body), True
        except orjson.JSONDecodeError:
            pass
    return load_json(body, strict=False), False


def _envelope(request: HttpRequest, environment_id: int, data) -> Envelope:
    """What the request says beside its events: headers first, then js-client's query
    parameters, then the body's statsigMetadata. Text PostgreSQL cannot store is dropped
    (it is optional), and so is a send time out of range."""
    metadata = data.get("statsigMetadata") if isinstance(data, dict) else None
    metadata = metadata if isinstance(metadata, dict) else {}

    def said(header: str, param: str, key: str) -> str:
        value = request.headers.get(header) or request.GET.get(param) or metadata.get(key)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return ""
        return storable(str(value)[:100])

    sent = request.headers.get("STATSIG-CLIENT-TIME") or request.GET.get("t")
    return Envelope(
        environment_id=environment_id,
        received_ms=int(time.time() * 1000),
        client_sent_ms=epoch_ms(sent),
        sdk_type=said("STATSIG-SDK-TYPE", "st", "sdkType"),
        sdk_version=said("STATSIG-SDK-VERSION", "sv", "sdkVersion"),
        user_agent=storable(request.headers.get("User-Agent", "")[:1000]),
    )


def _intake(request: HttpRequest, kind: str) -> HttpResponse:
    found = authenticate(request, None, kind)
    if isinstance(found, HttpResponse):
        return found
    try:
        data, finite = decode(_body(request))
    except ApplicationError as exc:
        return error(exc.status, exc.message, exc.code)
    except (ValueError, RecursionError):
        return error(400, "The body is not JSON.", "malformed_json")
    events = data.get("events") if isinstance(data, dict) else data
    if not isinstance(events, list):
        return error(400, 'The body needs an "events" list.', "no_events")
    most = settings.GATEHOUSE_EVENTS_MAX_PER_REQUEST
    if len(events) > most:
        return error(413, f"A request may carry {most:,} events at most.", "too_many_events")
    envelope = _envelope(request, found.environment_id, data)
    batch = parse_batch(data, envelope, intake_limits(), is_bot, finite=finite)
    try:
        stored = events_store(envelope, batch)
    except (OperationalError, InterfaceError, ClickHouseError):
        logger.exception("events.store_failed environment=%s", found.environment_id)
        return error(503, "Events cannot be stored right now; send them again.", "unavailable")
    return JsonResponse(
        {
            "success": True,
            "stored": stored.stored,
            "duplicates": stored.duplicates,
            "setAside": stored.set_aside,
        },
        status=202,
    )


@csrf_exempt
@require_http_methods(["POST"])
def log_event(request: HttpRequest) -> HttpResponse:
    return _intake(request, KeyKind.SERVER)


@csrf_exempt
@require_http_methods(["POST", "OPTIONS"])
def rgstr(request: HttpRequest) -> HttpResponse:
    if request.method == "OPTIONS":
        return cors(HttpResponse(status=204))
    return cors(_intake(request, KeyKind.CLIENT))
