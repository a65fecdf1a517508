"""The SSO endpoints: start a sign-in, take the provider's answer, end the provider session."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlencode

import requests
from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.contrib import admin, auth
from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.generic import View
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from console.sso import conf
from console.sso.discovery import provider_metadata
from console.sso.exceptions import SsoError

logger = logging.getLogger(__name__)

# A sign-in left unfinished for longer than this cannot be completed any more.
STATE_MAX_AGE_SECONDS = 600


def sso_error_response(request, error: SsoError):
    logger.info("sso.refused code=%s detail=%s", error.code, error.detail)
    return render(
        request,
        "console/sso_error.html",
        {"error": error, "provider_name": settings.OIDC_PROVIDER_NAME},
        status=error.status,
    )


class SsoAuthenticateView(OIDCAuthenticationRequestView):
    """Redirect to the provider's authorization endpoint (code flow, PKCE S256, state, nonce)."""

    def __init__(self, *args, **kwargs):
        # The library reads the endpoint from settings here; ours is discovered in get().
        View.__init__(self, *args, **kwargs)

    def get(self, request):
        if not conf.sso_enabled():
            raise Http404("Single sign-on is off.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider_metadata()["authorization_endpoint"]
        except SsoError as exc:
            return sso_error_response(request, exc)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


class SsoCallbackView(OIDCAuthenticationCallbackView):
    """The provider's answer: every refusal is an error page; a refused answer to this
    browser's own sign-in (or silent renewal) also ends its console session."""

    def get(self, request):
        if not conf.sso_enabled():
            raise Http404("Single sign-on is off.")
        try:
            self._check_request(request)
        except SsoError as exc:
            if exc.code in ("no_pending_login", "state_mismatch"):
                # Not an answer to this browser's sign-in: anyone can send such a link, so it
                # must not end the session of whoever opens it.
                return sso_error_response(request, exc)
            return self._fail(exc)
        try:
            response = super().get(request)
        except SsoError as exc:
            return self._fail(exc)
        except SuspiciousOperation as exc:  # nonce mismatch, unknown signing key, ...
            return self._fail(SsoError("token_invalid", str(exc)))
        except requests.RequestException as exc:
            logger.warning("sso.provider_error error=%s", exc)
            return self._fail(SsoError("provider_unavailable"))
        return response

    def _check_request(self, request) -> None:
        states = request.session.get("oidc_states")
        state = request.GET.get("state")
        if not isinstance(states, dict) or not states:
            raise SsoError("no_pending_login")
        if not state or state not in states:
            raise SsoError("state_mismatch")
        if time.time() - states[state].get("added_on", 0) > STATE_MAX_AGE_SECONDS:
            del states[state]
            request.session.save()
            raise SsoError("no_pending_login")
        iss = request.GET.get("iss")
        if iss is not None and iss.rstrip("/") != conf.issuer():
            # RFC 9207: an answer from another provider (mix-up attack) is not ours to use.
            raise SsoError("state_mismatch", "The answer names another issuer.")
        if request.GET.get("error"):
            del states[state]  # a refused sign-in cannot be answered twice either
            request.session.save()
            description = request.GET.get("error_description") or request.GET["error"]
            raise SsoError("provider_refused", description)
        if not request.GET.get("code"):
            raise SsoError("provider_refused", "The provider sent no code.")

    def login_failure(self):
        user = getattr(self, "user", None)
        if user is not None and not user.is_active:
            return self._fail(SsoError("account_inactive"))
        return self._fail(SsoError("provider_refused"))

    def _fail(self, error: SsoError):
        # A failed answer (including a failed silent renewal) ends any console session.
        if self.request.user.is_authenticated:
            auth.logout(self.request)
        return sso_error_response(self.request, error)


def provider_logout_url(request) -> str:
    """Where signing out sends an SSO user: the provider's end_session_endpoint, when it has one,
    which ends the provider session and comes back to the sign-in page."""
    back = request.build_absolute_uri(reverse("account_login"))
    try:
        end_session = provider_metadata().get("end_session_endpoint")
    except SsoError:
        end_session = None
    if not end_session:
        return back
    params = {"client_id": settings.OIDC_RP_CLIENT_ID, "post_logout_redirect_uri": back}
    id_token = request.session.get("oidc_id_token")
    if id_token:
        params["id_token_hint"] = id_token
    return f"{end_session}?{urlencode(params)}"


# Django's admin login would skip allauth's TOTP step and SSO enforcement: send it to ours.
admin_login = secure_admin_login(admin.site.login)
