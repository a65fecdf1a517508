from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect

from console.sso import conf


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        # With SSO enforced, accounts are made by the first SSO sign-in only.
        return settings.ACCOUNT_ALLOW_SIGNUP and not conf.sso_enforced()

    def pre_login(self, request, user, **kwargs):
        # Every allauth sign-in (password, login after a password reset, ...) passes here;
        # SSO sign-ins do not. Enforcement leaves only break-glass admins with TOTP.
        from console.sso.backend import password_login_allowed

        if not password_login_allowed(user):
            from allauth.account.internal.stagekit import clear_login

            clear_login(request)
            messages.error(
                request,
                f"Password sign-in is turned off: sign in with {settings.OIDC_PROVIDER_NAME}.",
            )
            return redirect("account_login")
        return super().pre_login(request, user, **kwargs)

    def get_logout_redirect_url(self, request) -> str:
        # Asked before the session ends: an SSO session also ends at the provider.
        if conf.sso_enabled() and conf.is_sso_session(request):
            from console.sso.views import provider_logout_url

            return provider_logout_url(request)
        return super().get_logout_redirect_url(request)
