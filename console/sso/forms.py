"""The sign-in form, which says plainly when SSO enforcement has turned passwords off."""

from __future__ import annotations

from allauth.account.forms import LoginForm as AllauthLoginForm
from django import forms
from django.conf import settings

from console.sso import conf
from console.sso.backend import password_login_allowed


class LoginForm(AllauthLoginForm):
    def clean(self):
        if not conf.sso_enforced():
            return super().clean()
        # One message for every refusal, so the form does not reveal who is break-glass.
        refused = forms.ValidationError(
            f"Password sign-in is turned off: sign in with {settings.OIDC_PROVIDER_NAME}. "
            "Only break-glass administrators with an authenticator app may use a password.",
            code="sso_enforced",
        )
        try:
            cleaned = super().clean()
        except forms.ValidationError as exc:
            raise refused from exc
        if self.errors:
            return cleaned
        if self.user is None or not password_login_allowed(self.user):
            self.user = None
            raise refused
        return cleaned
