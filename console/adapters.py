from allauth.account import stages
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect

from console.sso import conf


class EmailVerificationStage(stages.EmailVerificationStage):
    """allauth's verification step (ACCOUNT_EMAIL_VERIFICATION=mandatory), for the accounts
    people made themselves by signing up: those have an allauth EmailAddress. Accounts the
    console made (invites, commands, SSO, the demo) have none: an admin typed the address or
    the provider vouched for it, and their holders set a password through an emailed link.

    Mandatory verification is what keeps sign-up from telling whether an email has an
    account: a new address and a taken one both get "check your inbox" (the taken one an
    "account already exists" email), and a new account cannot sign in before verifying."""

    def handle(self):
        user = self.login.user
        if user is not None and not EmailAddress.objects.filter(user=user).exists():
            return None, True
        return super().handle()


class AccountAdapter(DefaultAccountAdapter):
    def get_login_stages(self) -> list[str]:
        ours = f"{EmailVerificationStage.__module__}.{EmailVerificationStage.__qualname__}"
        return [
            ours if path == "allauth.account.stages.EmailVerificationStage" else path
            for path in super().get_login_stages()
        ]

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
