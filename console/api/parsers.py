"""The console API's JSON parser: bodies go through console.http_input.load_json, so a
body nested thousands deep, or holding NUL or lone surrogates, is a 400 before any
serializer or document validator recurses into it."""

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from console.http_input import JsonRefused, load_json


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return load_json(stream.read().decode(encoding))
        except JsonRefused as exc:
            raise ParseError(exc.message, code=exc.code) from exc
        except ValueError as exc:
            raise ParseError(f"JSON parse error: {exc}", code="parse_error") from exc
