"""Key redaction for every log line we write.

SDK and console keys travel in URLs (`/v1/download_config_specs/secret-….json`, js-client's
`?k=client-…`) and headers, so access and error logs would otherwise hold whole keys, and
logs are read by far more people than may use the keys. A key keeps its prefix and first six
characters (the same hint the keys page shows) and loses the rest.

No model imports here: the logging configuration (and gunicorn's config) load this before
Django's apps are ready. tests/console/test_hardening.py checks the prefixes against
console.models.KEY_PREFIXES.
"""

from __future__ import annotations

import logging
import re

KEY_PREFIXES = ("secret-", "client-", "console-")
HINT_CHARS = 6
# A prefix starting a token, then the random part (secrets.token_urlsafe: A-Z a-z 0-9 _ -).
# Ten characters or more after the hint, so words such as "client-side" are left alone.
_KEY = re.compile(
    r"(?<![A-Za-z0-9_-])("
    + "|".join(re.escape(p) for p in KEY_PREFIXES)
    + rf")([A-Za-z0-9_-]{{{HINT_CHARS}}})[A-Za-z0-9_-]{{10,}}"
)


def redact_keys(text: str) -> str:
    """`secret-AbCdEf…` for every key-shaped token in `text`."""
    return _KEY.sub(r"\1\2…", text)


class RedactKeysFilter(logging.Filter):
    """Rewrites the record's final message (and its traceback text) with keys redacted.
    Attached to handlers, so records propagated from any logger pass through it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_keys(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_keys(record.exc_text)
        return True
