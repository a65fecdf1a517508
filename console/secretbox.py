"""Secrets the server must read back (webhook signing secrets, warehouse passwords), kept
encrypted at rest with Fernet under a key of their own per purpose.

Each purpose's key is derived from SECRET_KEY with HKDF (its own salt and info), so a leak of
one use never reveals another. Secrets encrypted under a key in SECRET_KEY_FALLBACKS stay
readable, so SECRET_KEY can be rotated the Django way.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SecretUnreadable(Exception):
    """The stored secret was encrypted under a SECRET_KEY that is no longer configured."""


@functools.lru_cache(maxsize=16)
def _fernet(secret_key: str, salt: bytes, info: bytes) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


@dataclass(frozen=True)
class SecretBox:
    """Encrypts and decrypts the secrets of one purpose (`salt` and `info` name it)."""

    salt: bytes
    info: bytes
    # What SecretUnreadable says ("The webhook secret cannot be decrypted.").
    unreadable: str

    def encrypt(self, secret: str) -> str:
        return _fernet(settings.SECRET_KEY, self.salt, self.info).encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
        fernets = [_fernet(k, self.salt, self.info) for k in keys]
        try:
            return MultiFernet(fernets).decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretUnreadable(self.unreadable) from exc
