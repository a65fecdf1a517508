"""The console API's JSON parser: bodies go through console.http_input.load_json, so a
body nested thousands deep, or holding NUL or lone surrogates, is a 400 before any
serializer or document validator recurses into it."""

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

from console.http_input import JsonRefused, load_json


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"
    default_detail = "The request body is too large."


def read_capped(stream) -> bytes:
    """The body, read no further than DATA_UPLOAD_MAX_MEMORY_SIZE (DRF reads JSON from the
    stream, past Django's own check of that limit)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    raw = stream.read(limit + 1) if limit is not None else stream.read()
    if limit is not None and len(raw) > limit:
        raise BodyTooLarge(f"The request body is larger than {limit} bytes.")
    return raw


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return load_json(read_capped(stream).decode(encoding))
        except JsonRefused as exc:
            raise ParseError(exc.message, code=exc.code) from exc
        except ValueError as exc:
            raise ParseError(f"JSON parse error: {exc}", code="parse_error") from exc
