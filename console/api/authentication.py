"""Console API keys in the STATSIG-API-KEY header (as Statsig's Console API uses)."""

from rest_framework import authentication, exceptions

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
        key = key_authenticate(secret.strip(), kinds=(KeyKind.CONSOLE,))
        if key is None or key.created_by is None or not key.created_by.is_active:
            raise exceptions.AuthenticationFailed(
                "This console API key is unknown, revoked or expired.", code="invalid_api_key"
            )
        set_api_key(key)
        return key.created_by, key

    def authenticate_header(self, request):
        return HEADER
