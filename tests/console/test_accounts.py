import re

from django.core import mail
from django.core.cache import cache
from django.urls import reverse

from console.models import User
from tests.console.factories import UserFactory

SIGNUP = {"password1": "a-long-passphrase", "password2": "a-long-passphrase"}


def test_signup__email_and_password__account_created_signed_in_after_verifying(client, db):
    # When
    response = client.post(
        reverse("account_signup"), {"email": "new.hire@corp.example", **SIGNUP}, follow=True
    )
    # Then the account exists but is not signed in until the address is verified
    assert response.status_code == 200
    user = User.objects.get(email="new.hire@corp.example")
    assert user.check_password("a-long-passphrase")
    assert "_auth_user_id" not in client.session
    # When they follow the link from the email
    link = re.search(r"https?://[^/\s]+(/\S+)", mail.outbox[-1].body).group(1)
    client.post(link)
    response = client.post(
        reverse("account_login"),
        {"login": "new.hire@corp.example", "password": "a-long-passphrase"},
        follow=True,
    )
    # Then they can sign in
    assert response.context["user"] == user


def _signup_page(client, email: str) -> str:
    """The page a sign-up ends on, with the typed address and the CSRF token taken out."""
    response = client.post(reverse("account_signup"), {"email": email, **SIGNUP}, follow=True)
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    html = response.content.decode().replace(email, "EMAIL").replace(email.lower(), "EMAIL")
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def test_signup__taken_and_new_email__same_answer_and_no_second_account(client, db):
    # Given an account made by signing up and one made by the console (an invite)
    _signup_page(client, "first@corp.example")
    UserFactory(email="invited@corp.example")
    new = _signup_page(client, "brand.new@corp.example")
    mail.outbox.clear()
    # (and allauth's cooldown of one confirmation email per address per 3 minutes over, which
    # silences the "sent" message for new and taken addresses alike)
    cache.clear()
    # When the same addresses sign up again
    answers = {_signup_page(client, e) for e in ("First@corp.example", "invited@corp.example")}
    # Then the page is the one an address nobody has gets
    assert "Confirmation email sent to EMAIL" in new
    assert answers == {new}
    # And no second account; the holders are told by email instead
    assert User.objects.filter(email__iexact="first@corp.example").count() == 1
    assert User.objects.filter(email__iexact="invited@corp.example").count() == 1
    assert sorted(m.to[0] for m in mail.outbox) == ["first@corp.example", "invited@corp.example"]


def test_login__wrong_password__error_and_not_signed_in(client, db):
    UserFactory(email="pat@corp.example")
    response = client.post(
        reverse("account_login"), {"login": "pat@corp.example", "password": "wrong"}
    )
    assert response.status_code == 200
    assert "not correct" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_password_reset__link_from_email__sets_new_password(client, db):
    # Given an invited account that has no password yet
    user = UserFactory(email="invited@corp.example")
    user.set_unusable_password()
    user.save()
    # When
    client.post(reverse("account_reset_password"), {"email": "invited@corp.example"})
    link = re.search(r"https?://[^/\s]+(/\S+)", mail.outbox[-1].body).group(1)
    form_page = client.get(link, follow=True)
    client.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else link,
        {"password1": "brand-new-passphrase", "password2": "brand-new-passphrase"},
    )
    # Then
    user.refresh_from_db()
    assert user.check_password("brand-new-passphrase")
