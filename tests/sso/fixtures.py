"""SSO test fixtures: a real OIDC provider (tests/idp/server.mjs) and a protocol-level client.

The provider is session-scoped and starts after pytest-django's live_server, because the
redirect URI it accepts must name the live server's random port. Each xdist worker has its own
live server and provider, both on free ports. The provider listens on 127.0.0.1 and Django on
localhost, so their cookies never mix.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
IDP_SCRIPT = ROOT / "tests" / "idp" / "server.mjs"
CLIENT_ID = "gatehouse"
CLIENT_SECRET = "gatehouse-test-secret-" + uuid.uuid4().hex
PROVIDER_NAME = "Acme ID"
DOMAIN = "corp.example"


@dataclass
class Idp:
    issuer: str
    client_id: str
    client_secret: str

    def account(self, login: str | None = None, **overrides) -> str:
        """A new login id at the provider (unique per call), with claim overrides; a value of
        None withholds the claim. Returns the login id, which is also the subject."""
        login = login or f"emp-{uuid.uuid4().hex[:10]}@{DOMAIN}"
        self.update(login, **overrides)
        return login

    def update(self, login: str, **overrides) -> None:
        response = requests.put(
            f"{self.issuer}/_test/accounts/{login}", data=json.dumps(overrides), timeout=5
        )
        assert response.status_code == 204, response.text


@pytest.fixture(scope="session")
def idp(live_server):
    """The running provider; stopped at the end of the session."""
    out = tempfile.NamedTemporaryFile(prefix="idp-", suffix=".log", delete=False)  # noqa: SIM115
    env = {
        **os.environ,
        "IDP_HOST": "127.0.0.1",
        "IDP_PORT": "0",
        "IDP_CLIENT_ID": CLIENT_ID,
        "IDP_CLIENT_SECRET": CLIENT_SECRET,
        "IDP_REDIRECT_URIS": live_server.url + reverse("oidc_authentication_callback"),
        "IDP_TEST_API": "1",
    }
    process = subprocess.Popen(
        ["node", str(IDP_SCRIPT)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
    )
    log = Path(out.name)
    issuer = None
    deadline = time.monotonic() + 20
    while issuer is None and time.monotonic() < deadline:
        if process.poll() is not None:
            break
        for line in log.read_text().splitlines():
            if line.startswith("READY "):
                issuer = line.split(" ", 1)[1].strip()
        time.sleep(0.05)
    if issuer is None:
        process.kill()
        pytest.fail(f"The test identity provider did not start:\n{log.read_text()}")
    yield Idp(issuer=issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
    out.close()
    log.unlink(missing_ok=True)


@pytest.fixture
def sso_settings(settings):
    """SSO switched on (as OIDC_ISSUER would), without a running provider."""
    from console.sso.discovery import forget_provider_metadata

    settings.OIDC_ISSUER = "http://127.0.0.1:9"
    settings.SSO_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_PROVIDER_NAME = PROVIDER_NAME
    settings.SSO_ALLOWED_DOMAINS = [DOMAIN]
    settings.SSO_ENFORCED = False
    settings.SSO_BREAK_GLASS_EMAILS = []
    settings.AUTHENTICATION_BACKENDS = settings.SSO_AUTHENTICATION_BACKENDS
    yield settings
    forget_provider_metadata()


@pytest.fixture
def sso(sso_settings, idp):
    """SSO against the running provider."""
    from console.sso.discovery import forget_provider_metadata

    sso_settings.OIDC_ISSUER = idp.issuer
    forget_provider_metadata()
    return idp


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action") or "", "fields": {}})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value") or ""


class SsoClient:
    """A person's browser at the protocol level: cookies for both hosts, redirects by hand."""

    def __init__(self, live_url: str, idp: Idp):
        self.live_url = live_url
        self.idp = idp
        self.http = requests.Session()
        self.callback_url = live_url + reverse("oidc_authentication_callback")
        self.authorize_requests: list[str] = []

    def get(self, url: str, **kwargs) -> requests.Response:
        return self.http.get(
            urljoin(self.live_url, url), allow_redirects=False, timeout=10, **kwargs
        )

    def start(self, next_url: str = "") -> requests.Response:
        """Click "Sign in with ...": Django's answer (a redirect to the provider)."""
        params = {"next": next_url} if next_url else None
        return self.get(reverse("oidc_authentication_init"), params=params)

    def login_at_provider(self, response: requests.Response, login: str) -> str:
        """Follow the provider's pages (login, consent) from `response`; the callback URL."""
        for _ in range(20):
            if response.is_redirect:
                location = urljoin(response.url, response.headers["Location"])
                if location.startswith(self.callback_url):
                    return location
                if location.startswith(self.idp.issuer + "/auth"):
                    self.authorize_requests.append(location)
                response = self.http.get(location, allow_redirects=False, timeout=10)
                continue
            parser = _Forms()
            parser.feed(response.text)
            if response.status_code != 200 or not parser.forms:
                raise AssertionError(
                    f"unexpected page {response.status_code} {response.url}: {response.text[:500]}"
                )
            form = parser.forms[0]
            fields = dict(form["fields"])
            if "login" in fields:
                fields.update(login=login, password="any-password")
            response = self.http.post(
                urljoin(response.url, form["action"]), data=fields, allow_redirects=False
            )
        raise AssertionError("the provider never sent the browser back")

    def finish(self, callback_url: str) -> requests.Response:
        """Deliver the provider's answer to Django and follow Django's redirects."""
        response = self.http.get(callback_url, allow_redirects=False, timeout=10)
        while response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            if not location.startswith(self.live_url):
                break
            response = self.http.get(location, allow_redirects=False, timeout=10)
        return response

    def sign_in(self, login: str, next_url: str = "") -> requests.Response:
        return self.finish(self.login_at_provider(self.start(next_url), login))

    def is_signed_in(self) -> bool:
        response = self.get(reverse("project-list"))
        assert response.status_code in (200, 302)
        return response.status_code == 200


@pytest.fixture
def sso_client(sso, live_server):
    return SsoClient(live_server.url, sso)


@pytest.fixture
def new_sso_client(sso, live_server):
    """Another browser (no cookies), for a second person or a second device."""
    return lambda: SsoClient(live_server.url, sso)
