"""NUL bytes, lone surrogates and invalid UTF-8 in URLs: a 4xx, never a 5xx, nothing stored."""

from __future__ import annotations

import pytest

from tests.api_support import session_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/console/v1/gates/a%00b?project=payments",
        "/console/v1/segments/%00?project=payments",
        "/console/v1/layers/x%00?project=payments",
        "/console/v1/holdouts/x%00?project=payments",
        "/console/v1/gates?project=pay%00ments",
        "/console/v1/gates/%ED%A0%80?project=payments",
        "/console/v1/gates/%FF%FE?project=payments",
        "/v1/get_id_lists/secret-%00.json",
        "/p/payments/gates/?q=%00",
        "/p/payments/gates/a%00b/",
    ],
)
def test_hostile_url__4xx_not_5xx(project_admin, path):
    response = session_client(project_admin).get(path)
    assert 400 <= response.status_code < 500, (path, response.status_code)


def test_nul_in_path__400_in_the_api_error_shape(project_admin):
    response = session_client(project_admin).get("/console/v1/gates/a%00b?project=payments")
    assert response.status_code == 400
    assert response.json()["code"] == "nul_character"
