"""Why a single sign-on attempt was refused: one code, one message a person can act on."""

from __future__ import annotations

MESSAGES = {
    "sso_disabled": "Single sign-on is not set up on this Gatehouse.",
    "provider_unavailable": "The identity provider could not be reached. Try again in a minute.",
    "no_pending_login": (
        "No sign-in was in progress in this browser: it may have expired or finished already. "
        "Start again from the sign-in page."
    ),
    "state_mismatch": (
        "This sign-in response does not belong to a sign-in started in this browser, so it was "
        "ignored. Start again from the sign-in page."
    ),
    "provider_refused": "The identity provider did not sign you in.",
    "code_rejected": (
        "The identity provider did not accept the sign-in code (codes work once and expire "
        "quickly). Start again from the sign-in page."
    ),
    "token_invalid": (
        "The identity provider's answer could not be verified (signature, issuer or audience), "
        "so you were not signed in."
    ),
    "token_expired": (
        "The identity provider's answer had expired. Start again from the sign-in page."
    ),
    "email_missing": (
        "The identity provider did not share your email address, which Gatehouse needs. Ask "
        "your IT team to release the email claim to Gatehouse."
    ),
    "email_unverified": (
        "The identity provider says your email address is not verified, so Gatehouse cannot "
        "sign you in with it."
    ),
    "domain_not_allowed": (
        "Accounts of this email domain may not sign in to Gatehouse. Use your work account."
    ),
    "account_inactive": "This Gatehouse account is deactivated. Ask a site admin.",
    "identity_conflict": (
        "This email address already belongs to a Gatehouse account linked to another identity. "
        "Ask a site admin."
    ),
    "session_expired": (
        "Your single sign-on session has to be renewed with the identity provider. Reload the "
        "page to continue."
    ),
}

# 4xx for what the person or the provider sent, 502/503 for an unreachable provider.
STATUS = {
    "sso_disabled": 404,
    "provider_unavailable": 503,
    "no_pending_login": 400,
    "state_mismatch": 400,
    "provider_refused": 403,
    "code_rejected": 400,
    "token_invalid": 400,
    "token_expired": 400,
    "email_missing": 403,
    "email_unverified": 403,
    "domain_not_allowed": 403,
    "account_inactive": 403,
    "identity_conflict": 409,
    "session_expired": 401,
}


class SsoError(Exception):
    """A refused sign-in; `detail` is optional extra text (already safe to show, escaped)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.message = MESSAGES[code]
        self.status = STATUS[code]
        self.detail = detail[:300]
