"""Reading request bodies that arrive compressed, safely: every endpoint that inflates a
body (SDK initialize now, event intake next) goes through `inflate`, so a few kilobytes of
gzip can never become hundreds of megabytes in the web process (a decompression bomb)."""

from __future__ import annotations

import zlib

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
