"""What the sign-in page shows about single sign-on."""

from __future__ import annotations

from urllib.parse import urlencode

from django import template
from django.conf import settings
from django.urls import reverse

from console.sso import conf

register = template.Library()


@register.simple_tag
def sso_login_options(next_url: str = "") -> dict:
    if not conf.sso_enabled():
        return {"enabled": False, "enforced": False}
    url = reverse("oidc_authentication_init")
    if next_url:
        url += "?" + urlencode({"next": next_url})
    return {
        "enabled": True,
        "enforced": conf.sso_enforced(),
        "provider_name": settings.OIDC_PROVIDER_NAME,
        "url": url,
    }
