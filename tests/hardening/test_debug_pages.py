"""With DEBUG on, Django's technical pages never show an SDK key from the URL."""

from __future__ import annotations

import pytest
from django.test import override_settings

from console.models import KeyKind
from console.services import key_create

pytestmark = pytest.mark.django_db


@override_settings(DEBUG=True)
def test_debug_404_page__server_key_in_path__shown_as_its_hint_only(client, project, site_admin):
    secret = key_create(
        actor=site_admin,
        project=project,
        kind=KeyKind.SERVER,
        environment=project.environments.first(),
    ).secret
    # A path no URL matches, with a real key in it: Django's technical 404 page lists it.
    response = client.get(f"/download_config_specs/{secret}/nothing/here")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Page not found" in page  # the debug page itself
    assert secret not in page
    assert secret[:13] + "…" in page


@override_settings(DEBUG=True)
def test_debug_404_page__inline_styles_allowed_there_only(client, project_admin):
    from console.middleware import DEBUG_PAGE_CSP

    client.force_login(project_admin)
    technical = client.get("/no/such/page/")
    assert technical.status_code == 404
    assert technical["Content-Security-Policy"] == DEBUG_PAGE_CSP
    ours = client.get("/p/payments/gates/")
    assert ours.status_code == 200
    assert "'unsafe-inline'" not in ours["Content-Security-Policy"]
