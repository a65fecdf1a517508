"""The SDK-facing HTTP endpoints (docs/statsig-spec.md §8, §10, §11), authenticated by an
environment's server or client key. They only read: Redis first, then the database
(console.publishing.selectors); only Celery workers write specs to Redis.

* GET  /v1|v2/download_config_specs/<server key>.json[?sinceTime=]  (or STATSIG-API-KEY)
* POST /v1/get_id_lists (server key)  → manifest; GET /v1/download_id_list_file/<token>
  (a signed, unguessable URL, honouring Range)
* POST /v1/initialize (client key)    → precomputed values (djb2 / none hashing), or 204
  when the client already holds them. @statsig/js-client sends its key as `?k=` and its
  body "Statsig-encoded" (`?se=1`: base64, reversed).
"""

from __future__ import annotations

import base64
import functools
import gzip
import json
import logging
import re
import threading
from collections import OrderedDict

from django.conf import settings
from django.core import signing
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from console import throttle
from console.exceptions import ApplicationError
from console.http_input import BodyTooLarge, inflate, load_json
from console.models import KeyKind
from console.publishing import selectors
from console.publishing.client_init import client_initialize, client_is_current

logger = logging.getLogger(__name__)
ID_LIST_SALT = "gatehouse.sdk.id_list_file"
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
# Gzip only what is worth it.
GZIP_MIN_BYTES = 512
NO_UPDATES = b'{"has_updates":false}'


# The SDK endpoints' errors: the console's {"message", "code"} shape, plus the "error" key
# the first SDK endpoints answered with (kept for clients that read it).
_CODES = {
    400: "bad_request",
    401: "invalid_sdk_key",
    403: "wrong_key_kind",
    404: "not_found",
    410: "link_expired",
    503: "unavailable",
}


def error(status: int, message: str, code: str | None = None) -> JsonResponse:
    code = code or _CODES.get(status, "error")
    return JsonResponse({"message": message, "code": code, "error": message}, status=status)


def authenticate(
    request: HttpRequest, key: str | None, kind: str
) -> selectors.SdkKey | JsonResponse:
    """The usable key of `kind` from the path, the STATSIG-API-KEY header or `?k=`, checked
    in Redis first (selectors.sdk_key). 401 for unknown, revoked or expired keys; 403 for
    a key of the other kind; 503 when the key is not in Redis and the database is down."""
    secret = key or request.headers.get("STATSIG-API-KEY") or request.GET.get("k") or ""
    wait = throttle.retry_after(request)
    if wait is not None:
        response = error(
            429,
            f"Too many unknown keys from this address: try again in {wait} s.",
            "too_many_bad_keys",
        )
        response["Retry-After"] = str(wait)
        return response
    try:
        found = selectors.sdk_key(secret, kinds=(KeyKind.SERVER, KeyKind.CLIENT))
    except selectors.DatabaseUnavailable:
        return error(503, "SDK keys cannot be checked right now; try again shortly.")
    if found is None:
        throttle.record_bad_key(request)
        return error(401, "Unknown, revoked or expired SDK key.")
    if found.kind != kind:
        return error(403, f"This endpoint needs a {KeyKind(kind).label.lower()}.")
    return found


def _database_optional(view):
    """Serving comes from Redis; when Redis lacks what a request needs and the database is
    down too, answer 503 (JSON) rather than crash."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except (OperationalError, InterfaceError):
            logger.warning("sdk.database_unavailable path=%s", request.path)
            return error(503, "This is not available right now; try again shortly.")

    return wrapped


class _RecentSpecs:
    """The last few spec bodies served, by (version, environment, time, encoding): a
    published spec never changes, and fetching megabytes from Redis or compressing them on
    every SDK poll costs far more than serving them. Per process, bounded."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[tuple, bytes] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple) -> bytes | None:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key: tuple, body: bytes) -> bytes:
        with self.lock:
            self.items[key] = body
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return body


_RECENT = _RecentSpecs(size=6)


def _json_bytes(
    request: HttpRequest, body: bytes, status: int = 200, spec_key: tuple | None = None
) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type="application/json")
    response["Vary"] = "Accept-Encoding"
    response["Cache-Control"] = "no-store"
    accepted = request.headers.get("Accept-Encoding", "")
    if len(body) >= GZIP_MIN_BYTES and "gzip" in accepted:
        compressed = _RECENT.get((*spec_key, "gzip")) if spec_key else None
        if compressed is None:
            compressed = gzip.compress(body, compresslevel=5)
            if spec_key:
                _RECENT.put((*spec_key, "gzip"), compressed)
        response.content = compressed
        response["Content-Encoding"] = "gzip"
    response["Content-Length"] = str(len(response.content))
    return response


def _since(request: HttpRequest) -> int:
    raw = request.GET.get("sinceTime", "")
    # ASCII digits only: str.isdigit() accepts "²", which int() refuses (a 500).
    return int(raw) if raw.isascii() and raw.isdigit() else 0


@csrf_exempt
@require_GET
@_database_optional
def download_config_specs(request: HttpRequest, version: str, key: str | None = None):
    found = authenticate(request, key, KeyKind.SERVER)
    if isinstance(found, HttpResponse):
        return found
    since = _since(request)
    environment_id = found.environment_id
    current = selectors.current_time(environment_id)
    if current is not None and since >= current:
        return _json_bytes(request, NO_UPDATES)
    body = _RECENT.get((version, environment_id, current)) if current is not None else None
    if body is not None:
        return _json_bytes(request, body, spec_key=(version, environment_id, current))
    spec = selectors.dcs_for_key(version, found.key_hash, environment_id)
    if spec is None:
        return error(404, "Nothing has been published for this environment yet.")
    time_ms, body = spec
    if since >= time_ms:
        return _json_bytes(request, NO_UPDATES)
    if time_ms == current:  # never remember a body under another spec's time
        _RECENT.put((version, environment_id, time_ms), body)
    return _json_bytes(request, body, spec_key=(version, environment_id, time_ms))


def _file_url(request: HttpRequest, entry: selectors.IdListEntry, environment_id: int) -> str:
    # The size names the file's bytes in Redis (a file only grows while its id stays).
    size = entry.size if entry.time_ms is not None else None
    token = signing.dumps([environment_id, entry.file_id, size], salt=ID_LIST_SALT)
    return request.build_absolute_uri(reverse("sdk-id-list-file", args=[token]))


@csrf_exempt
@require_http_methods(["GET", "POST"])
@_database_optional
def get_id_lists(request: HttpRequest, key: str | None = None):
    found = authenticate(request, key, KeyKind.SERVER)
    if isinstance(found, HttpResponse):
        return found
    manifest = {
        f.name: {
            "name": f.name,
            "size": f.size,
            "url": _file_url(request, f, found.environment_id),
            "creationTime": f.creation_time,
            "fileID": f.file_id,
        }
        for f in selectors.id_list_manifest(found.environment_id)
    }
    return _json_bytes(request, json.dumps(manifest).encode())


@require_GET
@_database_optional
def download_id_list_file(request: HttpRequest, token: str):
    try:
        environment_id, file_id, size = signing.loads(
            token, salt=ID_LIST_SALT, max_age=settings.GATEHOUSE_ID_LIST_URL_MAX_AGE
        )
    except signing.SignatureExpired:
        return error(410, "This ID-list file link has expired; fetch get_id_lists again.")
    except (signing.BadSignature, ValueError, TypeError):
        return error(404, "No such ID-list file.")
    body = selectors.id_list_file(environment_id, file_id, size)
    if body is None:
        return error(404, "No such ID-list file.")
    ranged = _RANGE.match(request.headers.get("Range", "").strip())
    if not ranged:
        response = HttpResponse(body, content_type="text/plain")
    else:
        start = int(ranged.group(1))
        end = int(ranged.group(2)) if ranged.group(2) else len(body) - 1
        if start >= len(body):
            response = HttpResponse(b"", status=416, content_type="text/plain")
            response["Content-Range"] = f"bytes */{len(body)}"
            return response
        response = HttpResponse(body[start : end + 1], status=206, content_type="text/plain")
        response["Content-Range"] = f"bytes {start}-{min(end, len(body) - 1)}/{len(body)}"
    response["Accept-Ranges"] = "bytes"
    response["Content-Length"] = str(len(response.content))
    return response


def cors(response: HttpResponse) -> HttpResponse:
    # Browsers call /v1/initialize from the product's own origin.
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Allow-Headers"] = "*"
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    return response


def _request_json(request: HttpRequest) -> dict:
    """The JSON body, gunzipped (`Content-Encoding: gzip` or js-client's `?gz=1`) and then
    decoded from js-client's `?se=1` encoding: `btoa(json)` reversed. btoa writes one byte
    per character (it refuses anything past U+00FF), so the bytes are Latin-1."""
    try:
        raw: bytes | str = request.body
    except RequestDataTooBig as exc:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raise BodyTooLarge(f"The body is larger than {limit:,} bytes.") from exc
    if request.headers.get("Content-Encoding") == "gzip" or request.GET.get("gz") == "1":
        raw = inflate(raw)
    if request.GET.get("se") == "1":
        raw = base64.b64decode(raw.decode("ascii")[::-1], validate=True).decode("latin-1")
    data = load_json(raw or b"{}")
    return data if isinstance(data, dict) else {}


@csrf_exempt
@require_http_methods(["POST", "OPTIONS"])
@_database_optional
def initialize(request: HttpRequest):
    if request.method == "OPTIONS":
        return cors(HttpResponse(status=204))
    found = authenticate(request, None, KeyKind.CLIENT)
    if isinstance(found, HttpResponse):
        return cors(found)
    try:
        data = _request_json(request)
    except ApplicationError as exc:
        return cors(JsonResponse({"message": exc.message, "code": exc.code}, status=exc.status))
    except (ValueError, RecursionError):
        return cors(error(400, "The body is not JSON."))
    user = data.get("user") if isinstance(data.get("user"), dict) else {}
    metadata = data.get("statsigMetadata") if isinstance(data.get("statsigMetadata"), dict) else {}
    source = selectors.initialize_source(found.environment_id)
    if source is None:
        return cors(error(404, "Nothing has been published for this environment yet."))
    spec, evaluator = source
    payload = client_initialize(
        spec,
        evaluator,
        user,
        algorithm=str(data.get("hash", "djb2")),
        stable_id=metadata.get("stableID"),
    )
    if client_is_current(data, payload):
        # Statsig's answer for "nothing changed"; js-client keeps the values it holds.
        response = HttpResponse(status=204)
        response["Cache-Control"] = "no-store"
        return cors(response)
    return cors(_json_bytes(request, json.dumps(payload).encode()))


def not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Any /v1/ or /v2/ path no SDK endpoint matched: JSON, as SDKs expect."""
    return error(404, "No such SDK endpoint.")
