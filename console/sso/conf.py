"""The SSO settings, read at call time (tests and operators change them without a restart)."""

from __future__ import annotations

from django.conf import settings

BACKEND_PATH = "console.sso.backend.SsoBackend"


def sso_enabled() -> bool:
    return bool(getattr(settings, "SSO_ENABLED", False) and settings.OIDC_ISSUER)


def sso_enforced() -> bool:
    return sso_enabled() and bool(getattr(settings, "SSO_ENFORCED", False))


def issuer() -> str:
    return settings.OIDC_ISSUER.rstrip("/")


def allowed_domains() -> frozenset[str]:
    return frozenset(d.strip().lower() for d in settings.SSO_ALLOWED_DOMAINS if d.strip())


def is_break_glass(email: str | None) -> bool:
    wanted = {e.strip().lower() for e in settings.SSO_BREAK_GLASS_EMAILS if e.strip()}
    return email is not None and email.strip().lower() in wanted


def is_sso_session(request) -> bool:
    """Whether the signed-in user of this request came in through the OIDC backend."""
    from django.contrib.auth import BACKEND_SESSION_KEY

    session = getattr(request, "session", None)
    return session is not None and session.get(BACKEND_SESSION_KEY) == BACKEND_PATH
