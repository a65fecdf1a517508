"""Reading request bodies that arrive compressed, safely: every endpoint that inflates a
body (SDK initialize now, event intake next) goes through `inflate`, so a few kilobytes of
gzip can never become hundreds of megabytes in the web process (a decompression bomb)."""

from __future__ import annotations

import io
import itertools
import json
import re
import zlib

import zstandard
from django.conf import settings

from console.exceptions import ApplicationError

# zlib's wbits: 31 = gzip only, 47 = gzip or zlib (auto-detected from the header).
GZIP_WBITS = 31
GZIP_OR_ZLIB_WBITS = 47
_CHUNK = 64 * 1024


class BodyTooLarge(ApplicationError):
    status = 413
    default_code = "body_too_large"


class BodyMalformed(ApplicationError):
    default_code = "bad_compression"


def inflate(data: bytes, *, wbits: int = GZIP_WBITS, limit: int | None = None) -> bytes:
    """`data` decompressed as a stream, refusing more than `limit` bytes of output
    (GATEHOUSE_MAX_INFLATED_BYTES) before it is produced. Truncated or garbage input is
    BodyMalformed (400), too much output BodyTooLarge (413)."""
    cap = settings.GATEHOUSE_MAX_INFLATED_BYTES if limit is None else limit
    inflater = zlib.decompressobj(wbits=wbits)
    out = bytearray()
    pending = data
    try:
        while True:
            # One byte more than allowed is enough to know the body is too large.
            chunk = inflater.decompress(pending, min(_CHUNK, cap + 1 - len(out)))
            out += chunk
            if len(out) > cap:
                raise BodyTooLarge(f"The body inflates to more than {cap} bytes.")
            pending = inflater.unconsumed_tail
            if inflater.eof:
                break
            if not pending and not chunk:
                raise BodyMalformed("The compressed body is truncated.")
    except zlib.error as exc:
        raise BodyMalformed("The body is not valid compressed data.") from exc
    if inflater.unused_data.strip(b"\0"):
        # Concatenated gzip members are legal but no SDK sends them; refuse the ambiguity.
        raise BodyMalformed("The compressed body has trailing data.")
    return bytes(out)


def inflate_zstd(data: bytes, *, limit: int | None = None) -> bytes:
    """`data` as a zstd frame decompressed, with the same cap and errors as `inflate` (the
    Node build of Statsig's Rust core compresses its event batches with zstd)."""
    cap = settings.GATEHOUSE_MAX_INFLATED_BYTES if limit is None else limit
    try:
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
            out = reader.read(cap + 1)
            # stream_reader stops at the frame's end; anything after it is not ours to read.
            trailing = reader.read(1) if len(out) <= cap else b""
    except zstandard.ZstdError as exc:
        raise BodyMalformed("The body is not valid zstd data.") from exc
    if len(out) > cap:
        raise BodyTooLarge(f"The body inflates to more than {cap} bytes.")
    if trailing:
        raise BodyMalformed("The compressed body has trailing data.")
    return out


_ESCAPES = re.compile(rb"\\.", re.DOTALL)
_NOT_BRACKETS = bytes(range(256)).translate(None, b"[]{}")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth(data: bytes) -> int:
    """How deep the JSON text `data` nests, in linear time and without recursion: escapes
    dropped, then what lies between quotes (the strings), then all but the brackets, all in
    C. Exact for valid JSON and for each valid start of it, which is all a parser reads."""
    outside = b"".join(_ESCAPES.sub(b"", data).split(b'"')[::2])
    brackets = outside.translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


class JsonRefused(ApplicationError):
    """A JSON body the domain code must never see: too deep, NUL or lone surrogates."""


def load_json(raw: bytes | str, *, max_depth: int | None = None, strict: bool = True):
    """`raw` parsed as JSON, refused (JsonRefused, 400) when it nests deeper than
    GATEHOUSE_MAX_JSON_DEPTH (checked before parsing, in linear time, so a body nested
    thousands deep never reaches a recursive parser or validator) or holds a NUL or a lone
    surrogate in any string, keys included (PostgreSQL and UTF-8 encoding refuse them
    later with a 500). Not JSON at all is ValueError, as json.loads raises. With `strict`
    False the strings are not checked and NaN and Infinity are read as floats (the Python
    SDKs write them): the event intake sets such events aside one by one instead."""
    limit = settings.GATEHOUSE_MAX_JSON_DEPTH if max_depth is None else max_depth
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    if json_depth(data) > limit:
        raise JsonRefused(f"The JSON nests deeper than {limit} levels.", code="too_deep")
    text = data.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
    if not strict:
        return json.loads(text)
    parsed = json.loads(text, parse_constant=_refuse_constant)
    check_strings(parsed)
    return parsed


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON.")


def check_strings(value) -> None:
    """check_text on every string in parsed JSON (or YAML), keys included. The caller has
    bounded the depth, so this recursion is bounded too."""
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                check_text(key)
            check_strings(item)
    elif isinstance(value, list):
        for item in value:
            check_strings(item)


def check_text(value: str) -> None:
    """Refuse a NUL (PostgreSQL cannot store it) or a lone surrogate (not encodable)."""
    if "\x00" in value:
        raise JsonRefused("Text may not contain NUL characters.", code="nul_character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise JsonRefused(
            "Text may not contain lone surrogates (invalid Unicode).", code="invalid_unicode"
        ) from exc
