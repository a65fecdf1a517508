"""SSO sessions: renewal with the provider, deactivation by the provider, and sign-out."""

from __future__ import annotations

from urllib.parse import parse_qs, urljoin, urlparse

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.urls import reverse

from tests.sso.fixtures import _Forms

pytestmark = pytest.mark.django_db(transaction=True)


def _expire_refresh_interval(client) -> None:
    """Move the client's console session past its refresh interval (as if time had passed)."""
    session = SessionStore(session_key=client.http.cookies.get("sessionid"))
    session["oidc_id_token_expiration"] = 0
    session.save()


def test_session_refresh__interval_over_and_still_at_provider__renewed_silently(sso, sso_client):
    # Given an employee signed in with SSO whose refresh interval is over
    login = sso.account()
    sso_client.sign_in(login)
    _expire_refresh_interval(sso_client)

    # When they open a page
    response = sso_client.get(reverse("project-list"))

    # Then the console checks with the provider without asking anything (prompt=none)
    authorize = response.headers["Location"]
    assert authorize.startswith(sso.issuer + "/auth")
    assert parse_qs(urlparse(authorize).query)["prompt"] == ["none"]
    # And the provider still knows them, so they are back on the page, signed in
    final = sso_client.finish(sso_client.login_at_provider(response, login))
    assert final.status_code == 200
    assert final.url.endswith(reverse("project-list"))
    assert sso_client.is_signed_in()


def test_session_refresh__account_removed_at_provider__console_session_ends(sso, sso_client):
    # Given an employee signed in with SSO, then removed at the provider
    login = sso.account()
    sso_client.sign_in(login)
    sso.update(login, removed=True)
    # And their old session is still good until the refresh interval is over
    assert sso_client.is_signed_in()
    _expire_refresh_interval(sso_client)

    # When they open a page after the interval
    response = sso_client.get(reverse("project-list"))
    final = sso_client.finish(sso_client.login_at_provider(response, login))

    # Then the provider does not vouch for them and the console session is over
    assert final.status_code == 403
    assert 'data-sso-error="provider_refused"' in final.text
    assert not sso_client.is_signed_in()


def test_session_refresh__interval_over__writes_refused_until_renewed(sso, sso_client):
    # Given an SSO session past its refresh interval
    sso_client.sign_in(sso.account())
    _expire_refresh_interval(sso_client)
    token = sso_client.http.cookies.get("csrftoken")

    # When it tries to write (a POST cannot go through the provider)
    response = sso_client.http.post(
        sso_client.live_url + reverse("project-list"),
        data={"csrfmiddlewaretoken": token},
        allow_redirects=False,
    )

    # Then it is refused until a page load renews the session
    assert response.status_code == 401
    assert 'data-sso-error="session_expired"' in response.text


def test_logout__sso_session__ends_console_and_provider_sessions(sso, sso_client):
    # Given an employee signed in with SSO
    login = sso.account()
    sso_client.sign_in(login)
    token = sso_client.http.cookies.get("csrftoken")

    # When they sign out
    response = sso_client.http.post(
        sso_client.live_url + reverse("account_logout"),
        data={"csrfmiddlewaretoken": token},
        allow_redirects=False,
    )

    # Then the console sends them to the provider's end-session endpoint with their ID token
    end_session = response.headers["Location"]
    assert end_session.startswith(sso.issuer + "/session/end")
    query = parse_qs(urlparse(end_session).query)
    assert query["id_token_hint"][0].count(".") == 2
    assert query["post_logout_redirect_uri"] == [sso_client.live_url + reverse("account_login")]
    assert not sso_client.is_signed_in()

    # When they confirm at the provider
    page = sso_client.http.get(end_session, allow_redirects=False)
    parser = _Forms()
    parser.feed(page.text)
    form = parser.forms[0]
    done = sso_client.http.post(
        urljoin(page.url, form["action"]),
        data={**form["fields"], "logout": "yes"},
        allow_redirects=True,
    )

    # Then they are back on the console's sign-in page
    assert done.url == sso_client.live_url + reverse("account_login")
    # And the provider session is over too: signing in asks for the login again
    at_provider = sso_client.http.get(sso_client.start().headers["Location"])
    assert 'name="login"' in at_provider.text
