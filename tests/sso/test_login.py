"""Sign-in through the OIDC protocol against a real provider, without a browser."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from console.models import AuditEvent, Membership, SsoIdentity, User

pytestmark = pytest.mark.django_db(transaction=True)


def _state_of_db() -> dict:
    return {
        "users": User.objects.count(),
        "identities": SsoIdentity.objects.count(),
        "memberships": Membership.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def test_sso_login__first_sign_in__account_created_from_claims(sso, sso_client):
    # Given an employee known only to the provider
    login = sso.account(given_name="Jane", family_name="Doe")

    # When they sign in
    start = sso_client.start()
    response = sso_client.finish(sso_client.login_at_provider(start, login))

    # Then the request used PKCE S256, a state and a nonce
    query = parse_qs(urlparse(start.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["code_challenge"][0]
    assert query["state"][0]
    assert query["nonce"][0]
    # And they land in the console with an account made from the verified claims
    assert response.status_code == 200
    assert sso_client.is_signed_in()
    user = User.objects.get(email=login)
    assert (user.first_name, user.last_name) == ("Jane", "Doe")
    assert not user.has_usable_password()
    identity = SsoIdentity.objects.get(user=user)
    assert (identity.issuer, identity.subject) == (sso.issuer, login)
    assert AuditEvent.objects.filter(action="sso_identity.created", target_id=identity.pk).exists()


def test_sso_login__second_sign_in__same_account_and_name_updated(sso, sso_client, new_sso_client):
    # Given an employee who signed in once
    login = sso.account(given_name="Jane", family_name="Doe")
    sso_client.sign_in(login)
    user = User.objects.get(email=login)
    # And whose name changed at the provider since
    sso.update(login, given_name="Jane", family_name="Roe")

    # When they sign in again, from another browser
    other = new_sso_client()
    response = other.sign_in(login)

    # Then it is the same account, with the new name, and no second one
    assert response.status_code == 200
    assert other.is_signed_in()
    assert User.objects.filter(email__iexact=login).count() == 1
    assert SsoIdentity.objects.filter(subject=login).count() == 1
    user.refresh_from_db()
    assert user.last_name == "Roe"
    assert AuditEvent.objects.filter(action="user.updated_from_sso", target_id=user.pk).exists()


def test_sso_login__invited_account_with_same_email__linked_not_duplicated(sso, sso_client):
    # Given someone an admin invited before SSO (an account without a password)
    login = sso.account()
    invited = User.objects.create(username="invited", email=login)

    # When they sign in with SSO
    sso_client.sign_in(login)

    # Then the invited account is theirs
    assert User.objects.filter(email__iexact=login).count() == 1
    assert SsoIdentity.objects.get(subject=login).user == invited
    assert AuditEvent.objects.filter(action="sso_identity.linked").exists()


REFUSALS = [
    # (claim overrides, email domain, expected error code, HTTP status)
    pytest.param(
        {"email_verified": False}, "corp.example", "email_unverified", 403, id="unverified"
    ),
    pytest.param({}, "gmail.example", "domain_not_allowed", 403, id="disallowed-domain"),
    pytest.param({"email": None}, "corp.example", "email_missing", 403, id="missing-email"),
    pytest.param({"token": "unknown-key"}, "corp.example", "token_invalid", 400, id="unknown-key"),
    pytest.param(
        {"token": "forged-signature"}, "corp.example", "token_invalid", 400, id="forged-signature"
    ),
    pytest.param({"token": "wrong-audience"}, "corp.example", "token_invalid", 400, id="audience"),
    pytest.param({"token": "expired"}, "corp.example", "token_expired", 400, id="expired-token"),
]


@pytest.mark.parametrize(("overrides", "domain", "code", "status"), REFUSALS)
def test_sso_callback__refused_claims_or_token__error_page_and_nothing_changed(
    sso, sso_client, overrides, domain, code, status
):
    # Given a provider account that must not get in
    login = sso.account(f"pat-{code}-{status}@{domain}", **overrides)
    before = _state_of_db()

    # When they sign in
    response = sso_client.sign_in(login)

    # Then a clear error page, no session, and no account or anything else
    assert response.status_code == status
    assert f'data-sso-error="{code}"' in response.text
    assert "no account was created or changed" in response.text
    assert not sso_client.is_signed_in()
    assert _state_of_db() == before


def test_sso_callback__known_employee_refused__account_left_unchanged(sso, sso_client):
    # Given an employee with an account, whose email the provider no longer vouches for
    login = sso.account(given_name="Jane", family_name="Doe")
    sso_client.sign_in(login)
    sso_client.http.cookies.clear()
    sso.update(login, given_name="Mallory", email_verified=False)
    before = _state_of_db()

    # When they sign in
    response = sso_client.sign_in(login)

    # Then they are refused and their account keeps its name
    assert response.status_code == 403
    assert not sso_client.is_signed_in()
    assert _state_of_db() == before
    assert User.objects.get(email=login).first_name == "Jane"


def test_sso_callback__wrong_state__error_page_and_no_account(sso, sso_client):
    # Given a sign-in the provider answered
    login = sso.account()
    callback = sso_client.login_at_provider(sso_client.start(), login)
    state = parse_qs(urlparse(callback).query)["state"][0]
    before = _state_of_db()

    # When the answer comes back with another state (a forged or crossed response)
    response = sso_client.finish(callback.replace(f"state={state}", "state=forged-state"))

    # Then it is refused with an error page
    assert response.status_code == 400
    assert 'data-sso-error="state_mismatch"' in response.text
    assert not sso_client.is_signed_in()
    assert _state_of_db() == before


def test_sso_callback__no_sign_in_started_in_this_browser__error_page(
    sso, sso_client, new_sso_client
):
    # Given a provider answer meant for someone else's browser
    callback = sso_client.login_at_provider(sso_client.start(), sso.account())
    before = _state_of_db()

    # When another browser delivers it
    stranger = new_sso_client()
    response = stranger.finish(callback)

    # Then it is refused
    assert response.status_code == 400
    assert 'data-sso-error="no_pending_login"' in response.text
    assert not stranger.is_signed_in()
    assert _state_of_db() == before


def test_sso_callback__replayed_authorization_code__rejected_by_provider(
    sso, sso_client, new_sso_client
):
    # Given an employee who signed in (their code is used)
    login = sso.account()
    callback = sso_client.login_at_provider(sso_client.start(), login)
    sso_client.finish(callback)
    code = parse_qs(urlparse(callback).query)["code"][0]
    before = _state_of_db()

    # When an attacker who captured the callback replays the code with a sign-in of their own
    attacker = new_sso_client()
    own = parse_qs(urlparse(attacker.start().headers["Location"]).query)
    replay = callback.replace(
        f"state={parse_qs(urlparse(callback).query)['state'][0]}", f"state={own['state'][0]}"
    )
    response = attacker.finish(replay)

    # Then the provider refuses the code (used once already; PKCE verifier not theirs either)
    assert code in replay
    assert response.status_code == 400
    assert 'data-sso-error="code_rejected"' in response.text
    assert not attacker.is_signed_in()
    assert _state_of_db() == before

    # And the same callback delivered twice to the employee's own browser is refused too
    again = sso_client.finish(callback)
    assert again.status_code == 400
    assert _state_of_db() == before


def test_sso_callback__person_cancels_at_provider__error_page(sso, sso_client):
    # Given a sign-in waiting at the provider's login page
    response = sso_client.start()
    response = sso_client.http.get(response.headers["Location"], allow_redirects=False)
    interaction = response.headers["Location"]
    before = _state_of_db()

    # When they cancel it
    aborted = sso_client.http.get(f"{sso.issuer}{interaction}/abort", allow_redirects=False)
    callback = sso_client.login_at_provider(aborted, login="unused")
    response = sso_client.finish(callback)

    # Then the console says the provider did not sign them in
    assert "error=access_denied" in callback
    assert response.status_code == 403
    assert 'data-sso-error="provider_refused"' in response.text
    assert not sso_client.is_signed_in()
    assert _state_of_db() == before


def test_sso_login__deactivated_console_account__refused(sso, sso_client, new_sso_client):
    # Given an employee whose console account a site admin deactivated
    login = sso.account()
    sso_client.sign_in(login)
    User.objects.filter(email=login).update(is_active=False)

    # When they sign in again
    other = new_sso_client()
    response = other.sign_in(login)

    # Then they are refused, and their old session is no longer valid either
    assert response.status_code == 403
    assert 'data-sso-error="account_inactive"' in response.text
    assert not other.is_signed_in()
    assert not sso_client.is_signed_in()


def test_sso_authenticate__sso_off__not_found_and_no_button(client, db, settings):
    # Given SSO is not configured (no OIDC_ISSUER)
    settings.OIDC_ISSUER, settings.SSO_ENABLED = "", False
    # When someone opens the sign-in page and the SSO start URL
    page = client.get("/accounts/login/")
    start = client.get("/oidc/authenticate/")

    # Then the page offers passwords only, and there is no SSO endpoint
    assert page.status_code == 200
    assert "Sign in with" not in page.content.decode()
    assert start.status_code == 404


def test_login_page__sso_on__offers_sign_in_with_provider(client, db, sso_settings):
    # When
    page = client.get("/accounts/login/?next=/projects/").content.decode()

    # Then
    assert "Sign in with Acme ID" in page
    assert "/oidc/authenticate/?next=%2Fprojects%2F" in page


def test_sso_authenticate__provider_unreachable__error_page_not_500(client, db, sso_settings):
    # Given SSO pointing at a provider that does not answer (sso_settings: 127.0.0.1:9)
    # When someone clicks "Sign in with Acme ID"
    response = client.get("/oidc/authenticate/")

    # Then they get a clear error page
    assert response.status_code == 503
    assert 'data-sso-error="provider_unavailable"' in response.content.decode()


def test_sso_callback__forged_link_to_signed_in_user__session_kept(client, db, sso_settings):
    # Given someone signed in
    client.force_login(User.objects.create(username="pat", email="pat@corp.example"))

    # When they open a callback link they did not start (sent by someone else)
    response = client.get("/oidc/callback/?code=attacker-code&state=attacker-state")

    # Then it is refused, and they stay signed in
    assert response.status_code == 400
    assert client.get("/projects/").status_code == 200
