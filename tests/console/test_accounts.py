import re

from django.core import mail
from django.urls import reverse

from console.models import User
from tests.console.factories import UserFactory


def test_signup__email_and_password__account_created_and_signed_in(client, db):
    # When
    response = client.post(
        reverse("account_signup"),
        {
            "email": "new.hire@corp.example",
            "password1": "a-long-passphrase",
            "password2": "a-long-passphrase",
        },
        follow=True,
    )
    # Then
    assert response.status_code == 200
    user = User.objects.get(email="new.hire@corp.example")
    assert response.context["user"] == user
    assert user.check_password("a-long-passphrase")


def test_signup__taken_email__form_error_and_no_second_account(client, db):
    UserFactory(email="taken@corp.example")
    response = client.post(
        reverse("account_signup"),
        {
            "email": "Taken@corp.example",
            "password1": "a-long-passphrase",
            "password2": "a-long-passphrase",
        },
    )
    assert response.status_code == 200
    assert "already" in response.content.decode()
    assert User.objects.filter(email__iexact="taken@corp.example").count() == 1


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
