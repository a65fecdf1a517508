"""The Publishing settings page: status per environment, Publish now, Retry."""

from __future__ import annotations

import pytest
from django.urls import reverse

from console.models import ConfigSpec, ConfigSpecState, RulesetVersion
from console.publishing.services import config_spec_push, spec_publish
from tests.publishing.conftest import queued_pushes

pytestmark = pytest.mark.django_db


def test_publishing_page__admin__states_and_buttons(
    client, project, site_admin, server_key, make_gate, django_assert_max_num_queries
):
    # Given: production pushed, the others pending, one with an error
    make_gate()
    version = spec_publish(actor=None, project=project, reason="first publish")
    production = version.config_specs.get(environment__name="production")
    config_spec_push(spec_id=production.pk)
    ConfigSpec.objects.filter(environment__name="staging").update(
        state=ConfigSpecState.FAILED, last_error="ConnectionError: refused", attempts=3
    )
    client.force_login(site_admin)
    # When
    with django_assert_max_num_queries(15):
        response = client.get(reverse("publishing", args=[project.slug]))
    # Then
    html = response.content.decode()
    assert response.status_code == 200
    assert "Publish now" in html
    assert "Retry" in html
    assert 'data-state="pushed"' in html
    assert 'data-state="failed"' in html
    assert "ConnectionError: refused" in html
    assert str(production.time_ms) in html


def test_publish_now__admin__new_version_and_enqueue(client, project, site_admin, make_gate):
    make_gate()
    client.force_login(site_admin)
    response = client.post(
        reverse("publishing-publish", args=[project.slug]), {"reason": "by hand"}
    )
    assert response.status_code == 302
    assert RulesetVersion.objects.get(project=project).reason == "by hand"


def test_retry__admin__enqueues(client, project, site_admin, make_gate):
    make_gate()
    spec = spec_publish(actor=None, project=project).config_specs.first()
    client.force_login(site_admin)
    client.post(reverse("publishing-retry", args=[project.slug, spec.pk]))
    assert queued_pushes() == [(spec.pk, [])]


def test_publishing_page__viewer__reads_but_cannot_publish(client, project, project_viewer):
    client.force_login(project_viewer)
    page = client.get(reverse("publishing", args=[project.slug]))
    assert page.status_code == 200
    assert "Publish now" not in page.content.decode()
    refused = client.post(reverse("publishing-publish", args=[project.slug]))
    assert refused.status_code == 403
    assert not RulesetVersion.objects.exists()
