"""SSO enforcement: passwords are off, except for break-glass admins who also give a TOTP code."""

from __future__ import annotations

import time

import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.urls import reverse

from tests.conftest import PASSWORD
from tests.console.factories import UserFactory

pytestmark = pytest.mark.django_db

BREAK_GLASS = "ops.admin@corp.example"


@pytest.fixture
def enforced(sso_settings):
    sso_settings.SSO_ENFORCED = True
    sso_settings.SSO_BREAK_GLASS_EMAILS = [BREAK_GLASS]
    return sso_settings


def _totp_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def _signed_in(client) -> bool:
    return client.get(reverse("project-list")).status_code == 200


def test_password_login__break_glass_admin_with_totp__signed_in_after_code(client, enforced):
    # Given a break-glass admin with an authenticator app
    admin = UserFactory(email=BREAK_GLASS, is_staff=True, is_superuser=True)
    secret = generate_totp_secret()
    TOTP.activate(admin, secret)

    # When they sign in with their password
    response = client.post(reverse("account_login"), {"login": BREAK_GLASS, "password": PASSWORD})

    # Then they are asked for a code first, and not signed in yet
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")
    assert not _signed_in(client)

    # When they give a wrong code, then the right one
    wrong = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert wrong.status_code == 200
    assert not _signed_in(client)
    client.post(reverse("account_login"), {"login": BREAK_GLASS, "password": PASSWORD})
    response = client.post(reverse("mfa_authenticate"), {"code": _totp_code(secret)})

    # Then they are in
    assert response.status_code == 302
    assert _signed_in(client)


def test_password_login__sso_enforced_other_user__refused_with_clear_message(client, enforced):
    # Given an ordinary employee who still has a password
    UserFactory(email="pat@corp.example")

    # When they use it
    response = client.post(
        reverse("account_login"), {"login": "pat@corp.example", "password": PASSWORD}
    )

    # Then they are told to use SSO and stay signed out
    assert response.status_code == 200
    assert "Password sign-in is turned off: sign in with Acme ID" in response.content.decode()
    assert not _signed_in(client)


def test_password_login__break_glass_admin_without_totp__refused(client, enforced):
    # Given a break-glass admin who never set up an authenticator app
    UserFactory(email=BREAK_GLASS, is_staff=True, is_superuser=True)

    # When
    response = client.post(reverse("account_login"), {"login": BREAK_GLASS, "password": PASSWORD})

    # Then the password alone is not enough
    assert "Password sign-in is turned off" in response.content.decode()
    assert not _signed_in(client)


def test_admin_login__sso_enforced__password_form_not_reachable(client, enforced):
    # Given a staff member with a password
    UserFactory(email="staff@corp.example", username="staff", is_staff=True, is_superuser=True)

    # When they post to Django admin's own login form
    response = client.post(reverse("admin:login"), {"username": "staff", "password": PASSWORD})

    # Then it sends them to the console's sign-in page instead, and nobody is signed in
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert not _signed_in(client)


def test_password_reset__sso_enforced__does_not_sign_in(client, enforced, mailoutbox):
    # Given an ordinary employee, enforcement on
    UserFactory(email="pat@corp.example")

    # When they reset their password through the emailed link
    client.post(reverse("account_reset_password"), {"email": "pat@corp.example"})
    assert mailoutbox, "the reset email was sent"
    link = next(w for w in mailoutbox[-1].body.split() if "/accounts/password/reset/key/" in w)
    form = client.get(link, follow=True)
    client.post(
        form.redirect_chain[-1][0] if form.redirect_chain else link,
        {"password1": "brand-new-passphrase", "password2": "brand-new-passphrase"},
    )

    # Then they are still not signed in, and the new password does not open the console either
    assert not _signed_in(client)
    client.post(
        reverse("account_login"), {"login": "pat@corp.example", "password": "brand-new-passphrase"}
    )
    assert not _signed_in(client)


def test_signup__sso_enforced__closed(client, enforced):
    # When
    response = client.post(
        reverse("account_signup"),
        {"email": "new@corp.example", "password1": "a-long-pass", "password2": "a-long-pass"},
    )
    # Then
    assert response.status_code == 200
    assert not _signed_in(client)
    assert "closed" in response.content.decode().lower()


def test_password_login__sso_on_not_enforced__local_accounts_still_work(client, sso_settings):
    # Given
    UserFactory(email="pat@corp.example")
    # When
    client.post(reverse("account_login"), {"login": "pat@corp.example", "password": PASSWORD})
    # Then
    assert _signed_in(client)
