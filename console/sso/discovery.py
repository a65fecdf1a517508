"""The provider's endpoints, from `{issuer}/.well-known/openid-configuration` (cached).

Looked up on first use, not at import: the provider may start after Django (tests do), and a
provider outage must not stop the console from starting.
"""

from __future__ import annotations

import hashlib
import logging

import requests
from django.conf import settings
from django.core.cache import cache

from console.sso import conf
from console.sso.exceptions import SsoError

logger = logging.getLogger(__name__)

REQUIRED = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")


def _cache_key(issuer: str) -> str:
    return "sso:discovery:" + hashlib.sha256(issuer.encode()).hexdigest()[:32]


def provider_metadata() -> dict:
    """The discovery document of OIDC_ISSUER; raises SsoError("provider_unavailable")."""
    issuer = conf.issuer()
    key = _cache_key(issuer)
    cached = cache.get(key)
    if cached is not None:
        return cached
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        logger.warning("sso.discovery_failed url=%s error=%s", url, exc)
        raise SsoError("provider_unavailable") from exc
    _check(document, issuer)
    cache.set(key, document, settings.SSO_DISCOVERY_CACHE_SECONDS)
    return document


def _check(document: dict, issuer: str) -> None:
    # OIDC Discovery 4.3: the document must name the issuer we asked, or it is someone else's.
    problems = []
    if not isinstance(document, dict) or document.get("issuer", "").rstrip("/") != issuer:
        problems.append("issuer does not match OIDC_ISSUER")
    else:
        problems += [f"{name} missing" for name in REQUIRED if not document.get(name)]
        methods = document.get("code_challenge_methods_supported")
        if methods is not None and "S256" not in methods:
            problems.append("PKCE S256 not supported")
        algs = document.get("id_token_signing_alg_values_supported")
        if algs is not None and settings.OIDC_RP_SIGN_ALGO not in algs:
            problems.append(f"{settings.OIDC_RP_SIGN_ALGO} not supported")
    if problems:
        logger.error("sso.discovery_invalid issuer=%s problems=%s", issuer, problems)
        raise SsoError("provider_unavailable", "; ".join(problems))


def forget_provider_metadata() -> None:
    cache.delete(_cache_key(conf.issuer()))
