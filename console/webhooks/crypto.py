"""Webhook secrets: made here, kept encrypted at rest, and used to sign deliveries.

Encrypted with console.secretbox under the webhooks' own key (derived from SECRET_KEY with
HKDF; SECRET_KEY_FALLBACKS keep older secrets readable).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from console.secretbox import SecretBox
from console.secretbox import SecretUnreadable as SecretUnreadable  # callers catch it here

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"


_BOX = SecretBox(
    salt=b"gatehouse.webhooks",
    info=b"webhook signing secret encryption v1",
    unreadable="The webhook secret cannot be decrypted.",
)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_hint(secret: str) -> str:
    return secret[: len(SECRET_PREFIX) + 4]


def encrypt(secret: str) -> str:
    return _BOX.encrypt(secret)


def decrypt(token: str) -> str:
    return _BOX.decrypt(token)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """hex HMAC-SHA256 of f"{timestamp}.{body}" under the secret (the README's recipe)."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets_: list[str], timestamp: int, body: bytes) -> str:
    """`v1=<hex>`, or `v1=<new>,v1=<old>` while a rotated-out secret is still honoured."""
    return ",".join(f"{SIGNATURE_VERSION}={signature(s, timestamp, body)}" for s in secrets_)
