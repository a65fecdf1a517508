"""Session refresh: an SSO session is re-checked with the provider every refresh interval.

When the interval (OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS) is over, the next page load goes to the
provider with prompt=none. A person the provider no longer signs in (removed, disabled) comes
back with an error, and the callback ends their console session.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.http import JsonResponse
from django.utils.deprecation import MiddlewareMixin
from mozilla_django_oidc.middleware import SessionRefresh

from console.sso import conf
from console.sso.discovery import provider_metadata
from console.sso.exceptions import SsoError
from console.sso.views import sso_error_response


class SsoSessionRefresh(SessionRefresh):
    def __init__(self, get_response):
        # The library reads its settings here; they are read per request below instead.
        MiddlewareMixin.__init__(self, get_response)

    # The library's attribute names, following the settings and discovery live.
    OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_authentication_callback"

    @property
    def OIDC_EXEMPT_URLS(self):
        return settings.OIDC_EXEMPT_URLS

    @property
    def OIDC_OP_AUTHORIZATION_ENDPOINT(self):
        return provider_metadata()["authorization_endpoint"]

    @property
    def OIDC_RP_CLIENT_ID(self):
        return settings.OIDC_RP_CLIENT_ID

    @property
    def OIDC_RP_SCOPES(self):
        return settings.OIDC_RP_SCOPES

    OIDC_STATE_SIZE = 32
    OIDC_USE_NONCE = True
    OIDC_NONCE_SIZE = 32

    def process_request(self, request):
        if not (conf.sso_enabled() and request.user.is_authenticated):
            return None
        if not conf.is_sso_session(request) or request.path in self.exempt_urls:
            return None
        if request.session.get("oidc_id_token_expiration", 0) > time.time():
            return None
        if request.method != "GET" or request.headers.get("HX-Request"):
            # A write, or a part of a page, cannot go through the provider: refuse it until a
            # full page load has renewed the session (so an old session cannot keep writing).
            if request.headers.get("HX-Request"):
                response = JsonResponse({"detail": SsoError("session_expired").message}, status=401)
                response["HX-Refresh"] = "true"
                return response
            return sso_error_response(request, SsoError("session_expired"))
        try:
            return super().process_request(request)
        except SsoError as exc:
            return sso_error_response(request, exc)
