"""Global search: names, descriptions, tags and owners across gates, configs, experiments,
segments and metrics of one project, in a fixed number of queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from console.models import Tag
from tests.console.factories import UserFactory
from tests.experiments.factories import ExperimentFactory
from tests.gates.factories import DynamicConfigFactory, FeatureGateFactory, SegmentFactory
from tests.metrics.catalog_factories import make_metric

pytestmark = pytest.mark.django_db


def _search(client, project, term, **headers):
    response = client.get(reverse("project-search", args=[project.slug]), {"q": term}, **headers)
    assert response.status_code == 200
    return response.content.decode()


def test_search__name_tag_and_owner__found_across_kinds(client, project, project_member):
    # Given entities of every kind, one tagged "checkout", one owned by Ada, one archived
    ada = UserFactory(username="ada", email="ada@corp.example")
    checkout = Tag.objects.create(project=project, name="checkout")
    gate = FeatureGateFactory(project=project, name="new_checkout_flow")
    config = DynamicConfigFactory(project=project, name="cart_settings", tags=[checkout])
    experiment = ExperimentFactory(project=project, name="blue_button", owner=ada)
    segment = SegmentFactory(project=project, name="checkout_staff")
    FeatureGateFactory(
        project=project, name="old_checkout", archived_at=timezone.now(), status="archived"
    )
    make_metric(project_member, project, "checkout_completed")
    client.force_login(project_member)

    # When a member searches "checkout"
    html = _search(client, project, "checkout")

    # Then names and the tag match in every kind; the archived gate does not
    for label in ("Feature gates", "Dynamic configs", "Segments", "Metrics"):
        assert label in html
    assert reverse("gate-detail", args=[project.slug, gate.pk]) in html
    assert reverse("config-detail", args=[project.slug, config.pk]) in html
    assert "tag checkout" in html
    assert reverse("segment-detail", args=[project.slug, segment.pk]) in html
    assert "checkout_completed" in html
    assert "old_checkout" not in html

    # And an owner's email finds what they own
    html = _search(client, project, "ada@corp")
    assert reverse("experiment-detail", args=[project.slug, experiment.pk]) in html
    assert "owner ada@corp.example" in html


def test_search__other_project__not_found(client, project, project_member, site_admin):
    from console import services

    other = services.project_create(actor=site_admin, name="Other", slug="other")
    FeatureGateFactory(project=other, name="secret_checkout")
    client.force_login(project_member)
    html = _search(client, project, "secret")
    assert "secret_checkout" not in html
    assert "Nothing in Payments matches" in html


def test_search__one_letter__asks_for_more(client, project, project_viewer):
    FeatureGateFactory(project=project, name="a_gate")
    client.force_login(project_viewer)
    html = _search(client, project, "a", HTTP_HX_REQUEST="true")
    assert "Type at least two letters." in html
    assert "a_gate" not in html
    assert "<html" not in html  # htmx gets the results only


def _queries(client, project, term) -> int:
    with CaptureQueriesContext(connection) as ctx:
        _search(client, project, term, HTTP_HX_REQUEST="true")
    return len(ctx)


def test_search__many_hits__constant_queries(
    client, project, project_member, django_assert_max_num_queries
):
    # Given 3 hits of every kind, tagged and owned
    tags = list(project.tags.all()[:2])

    def add(n, start):
        for i in range(start, start + n):
            FeatureGateFactory(project=project, name=f"g_find_{i}", owner=project_member, tags=tags)
            DynamicConfigFactory(project=project, name=f"c_find_{i}", tags=tags)
            SegmentFactory(project=project, name=f"s_find_{i}", tags=tags)
            ExperimentFactory(project=project, name=f"e_find_{i}").tags.set(tags)
            make_metric(project_member, project, f"m_find_{i}")

    add(3, 0)
    client.force_login(project_member)
    few = _queries(client, project, "find")

    # When 10 more of each match
    add(10, 3)

    # Then the search needs no more queries, and says more match
    with django_assert_max_num_queries(few):
        html = _search(client, project, "find", HTTP_HX_REQUEST="true")
    assert "More match" in html
