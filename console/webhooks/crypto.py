"""Webhook secrets: made here, kept encrypted at rest, and used to sign deliveries.

The encryption key is derived from SECRET_KEY with HKDF (a key of its own, so a leak of one
use never reveals the other). Secrets encrypted under a key in SECRET_KEY_FALLBACKS stay
readable, so SECRET_KEY can be rotated the Django way.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"


class SecretUnreadable(Exception):
    """The stored secret was encrypted under a SECRET_KEY that is no longer configured."""


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_hint(secret: str) -> str:
    return secret[: len(SECRET_PREFIX) + 4]


@functools.lru_cache(maxsize=8)
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"gatehouse.webhooks",
        info=b"webhook signing secret encryption v1",
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret: str) -> str:
    return _fernet(settings.SECRET_KEY).encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    try:
        return MultiFernet([_fernet(k) for k in keys]).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("The webhook secret cannot be decrypted.") from exc


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """hex HMAC-SHA256 of f"{timestamp}.{body}" under the secret (the README's recipe)."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets_: list[str], timestamp: int, body: bytes) -> str:
    """`v1=<hex>`, or `v1=<new>,v1=<old>` while a rotated-out secret is still honoured."""
    return ",".join(f"{SIGNATURE_VERSION}={signature(s, timestamp, body)}" for s in secrets_)
