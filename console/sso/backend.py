"""Authentication backends: the OIDC one, and the password ones that SSO enforcement limits."""

from __future__ import annotations

import logging

import jwt
from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from console.sso import conf
from console.sso.discovery import provider_metadata
from console.sso.exceptions import SsoError
from console.sso.services import sso_claims_parse, sso_login

logger = logging.getLogger(__name__)


class SsoBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's code flow, with discovered endpoints and stricter ID token checks.

    Beyond the library (signature against the JWKS, nonce) it checks the issuer, the audience
    (and `azp`), expiry with a small leeway, and that userinfo names the ID token's subject.
    Refusals raise SsoError, which the callback view turns into an error page.
    """

    def __init__(self, *args, **kwargs):
        # Django builds backends on every request that loads a user: read no settings and
        # fetch nothing here. Endpoints come from discovery when a sign-in happens.
        self.UserModel = get_user_model()

    # The library reads these upper-case attributes; here they follow the settings live.
    OIDC_RP_IDP_SIGN_KEY = None

    @property
    def OIDC_RP_SIGN_ALGO(self) -> str:
        return settings.OIDC_RP_SIGN_ALGO

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:
        return settings.OIDC_RP_CLIENT_ID

    @property
    def OIDC_RP_CLIENT_SECRET(self) -> str:
        return settings.OIDC_RP_CLIENT_SECRET

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:
        return provider_metadata()["token_endpoint"]

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str:
        return provider_metadata()["userinfo_endpoint"]

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:
        return provider_metadata()["jwks_uri"]

    def authenticate(self, request, **kwargs):
        # Only the callback view passes a nonce; password sign-ins must never reach the
        # token endpoint, whatever their query string holds.
        if request is None or "nonce" not in kwargs or not conf.sso_enabled():
            return None
        return super().authenticate(request, **kwargs)

    def get_user(self, user_id):
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None

    def _verify_jws(self, payload, key):
        try:
            header = jwt.get_unverified_header(payload)
            if header.get("alg") != self.OIDC_RP_SIGN_ALGO:
                raise SsoError("token_invalid", f"Unexpected algorithm {header.get('alg')!r}.")
            claims = jwt.decode(
                payload,
                key,
                algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=conf.issuer(),
                leeway=settings.SSO_CLOCK_SKEW_SECONDS,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise SsoError("token_expired") from exc
        except jwt.PyJWTError as exc:
            raise SsoError("token_invalid", str(exc)) from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise SsoError("token_invalid", "The token was issued to another party (azp).")
        return claims

    def retrieve_matching_jwk(self, token):
        try:
            return super().retrieve_matching_jwk(token)
        except (jwt.PyJWTError, KeyError) as exc:  # KeyError: a token header without "kid"
            raise SsoError("token_invalid", str(exc)) from exc

    def get_token(self, payload):
        token = super().get_token(payload)
        if not token.get("id_token"):
            raise SsoError("token_invalid", "The provider sent no ID token.")
        return token

    def raise_token_response_error(self, response):
        if response.status_code != 200:
            # A used, expired or foreign code, or a wrong PKCE verifier: the provider says no.
            logger.warning(
                "sso.code_rejected status=%s body=%s", response.status_code, response.text[:200]
            )
            raise SsoError("code_rejected")

    def get_or_create_user(self, access_token, id_token, payload):
        userinfo = self.get_userinfo(access_token, id_token, payload)
        claims = sso_claims_parse(userinfo=userinfo, id_token=payload)
        return sso_login(claims=claims)


def password_login_allowed(user) -> bool:
    """With SSO enforced, only break-glass admins who have TOTP set up may use a password."""
    if not conf.sso_enforced():
        return True
    if not conf.is_break_glass(user.email):
        return False
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


class PasswordBackend(ModelBackend):
    """Django's username + password backend, closed by SSO enforcement."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        return user if user is not None and password_login_allowed(user) else None


class AllauthPasswordBackend(AllauthBackend):
    """allauth's email + password backend, closed by SSO enforcement."""

    def authenticate(self, request, **credentials):
        user = super().authenticate(request, **credentials)
        return user if user is not None and password_login_allowed(user) else None
