"""Single sign-on with an OpenID Connect provider (mozilla-django-oidc, configured by discovery).

Flow: `views.SsoAuthenticateView` (PKCE S256, state, nonce) -> the provider ->
`views.SsoCallbackView` -> `backend.SsoBackend` (token exchange; RS256 against the provider's
JWKS; issuer, audience, expiry, nonce) -> `services.sso_login` (just-in-time account, group
roles). Any refusal is an `exceptions.SsoError`, shown on one error page, and rolls back.
"""
