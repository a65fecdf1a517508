"""Console API keys in the STATSIG-API-KEY header (as Statsig's Console API uses)."""

from rest_framework import authentication, exceptions

from console import throttle
from console.context import set_api_key
from console.models import KeyKind
from console.services import key_authenticate

HEADER = "STATSIG-API-KEY"


class ConsoleKeyAuthentication(authentication.BaseAuthentication):
    """Authenticates as the key's creator; request.auth is the ApiKey, which scopes the
    request to the key's project and caps the role (see console.api.permissions)."""

    def authenticate(self, request):
        secret = request.headers.get(HEADER)
        if not secret:
            return None
        wait = throttle.retry_after(request)
        if wait is not None:
            raise exceptions.Throttled(
                wait=wait,
                detail=f"Too many unknown keys from this address: try again in {wait} s.",
                code="too_many_bad_keys",
            )
        key = key_authenticate(secret.strip(), kinds=(KeyKind.CONSOLE,))
        if key is None or key.created_by is None or not key.created_by.is_active:
            throttle.record_bad_key(request)
            raise exceptions.AuthenticationFailed(
                "This console API key is unknown, revoked or expired.", code="invalid_api_key"
            )
        set_api_key(key)
        return key.created_by, key

    def authenticate_header(self, request):
        return HEADER
