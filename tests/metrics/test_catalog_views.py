"""Metrics → Catalog through Django's test client: the list (search, tag filter, htmx,
constant queries), a metric's page, the create and edit forms with their errors, archive,
and the active-unit setting."""

from __future__ import annotations

import pytest
from django.urls import reverse

from console.models import AuditEvent
from metrics.models import Metric
from tests.metrics.catalog_factories import make_metric
from tests.metrics.seed import event, store

pytestmark = pytest.mark.django_db


def _list(project, **query) -> str:
    url = reverse("metric-list", args=[project.slug])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_metric_list__metrics__names_types_markers_and_summary(client, project, project_member):
    make_metric(project_member, project, "purchase", tags=["core"], description="Buys")
    make_metric(project_member, project, "visit", "event_user")
    make_metric(
        project_member,
        project,
        "conversion",
        "ratio",
        numerator="purchase::event_count",
        denominator="visit::event_user",
    )
    client.force_login(project_member)
    response = client.get(_list(project))
    assert response.status_code == 200
    names = [m.statsig_id for m in response.context["metrics"]]
    assert names == ["conversion::ratio", "purchase::event_count", "visit::event_user"]
    html = response.content.decode()
    assert "badge--metric-ratio" in html
    assert "purchase::event_count ÷ visit::event_user" in html
    assert 'class="badge badge--core"' in html
    assert reverse("metric-create", args=[project.slug]) in html


def test_metric_list__search_tag_type__htmx_partial_with_matches(client, project, project_member):
    make_metric(project_member, project, "purchase", description="money in", tags=["growth"])
    make_metric(project_member, project, "refund", description="money out")
    make_metric(project_member, project, "visit", "event_user", tags=["growth"])
    client.force_login(project_member)
    # Search by description, through htmx: only the results come back
    response = client.get(_list(project, q="money"), HTTP_HX_REQUEST="true")
    assert [m.name for m in response.context["metrics"]] == ["purchase", "refund"]
    assert response.templates[0].name == "metrics/partials/_metric_table.html"
    # A tag and a type
    response = client.get(_list(project, tag="growth"))
    assert [m.name for m in response.context["metrics"]] == ["purchase", "visit"]
    response = client.get(_list(project, tag="growth", type="event_user"))
    assert [m.name for m in response.context["metrics"]] == ["visit"]
    # Nothing matches: say so
    response = client.get(_list(project, q="zzz"))
    assert "No metrics match" in response.content.decode()


def test_metric_list__empty__says_what_to_do(client, project, project_viewer):
    client.force_login(project_viewer)
    html = client.get(_list(project)).content.decode()
    assert "No event has arrived yet: is an SDK pointed at Gatehouse?" in html
    assert reverse("metric-create", args=[project.slug]) not in html


def test_metric_list__first_visit_after_events__auto_metrics_made(
    client, project, production, project_viewer
):
    store(production, [event("purchase"), event("statsig::gate_exposure")])
    client.force_login(project_viewer)
    response = client.get(_list(project))
    assert [m.statsig_id for m in response.context["metrics"]] == [
        "purchase::event_count",
        "purchase::event_user",
    ]
    assert 'title="Made for the event purchase">auto' in response.content.decode()


@pytest.mark.parametrize("count", [3, 30])
def test_metric_list__queries__constant(
    client, project, project_member, django_assert_num_queries, count
):
    # Given `count` metrics with tags, a third of them ratios
    for i in range(count // 3):
        make_metric(project_member, project, f"a{i}", tags=["growth", "web"])
        make_metric(project_member, project, f"b{i}", "event_user", tags=["core"])
        make_metric(
            project_member,
            project,
            f"r{i}",
            "ratio",
            numerator=f"a{i}::event_count",
            denominator=f"b{i}::event_user",
        )
    client.force_login(project_member)
    client.get(_list(project))  # the session and the role cache are warm
    # Then the page takes the same number of queries whatever the count
    with django_assert_num_queries(11):
        response = client.get(_list(project))
    assert len(response.context["metrics"]) == count


def test_metric_detail__definition_chart_history(client, project, production, project_member):
    store(production, [event("purchase", value="12")])
    metric = make_metric(
        project_member,
        project,
        "revenue",
        "sum",
        event_name="purchase",
        filters=[{"field": "metadata.currency", "operator": "in", "values": ["EUR", "USD"]}],
        cap=100,
    )
    client.force_login(project_member)
    response = client.get(
        reverse("metric-detail", args=[project.slug, metric.pk]) + "?env=production"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        "The sum of value over purchase events where metadata.currency is any of EUR, USD, "
        "per unit." in html
    )
    assert "Each unit counts at most 100." in html
    assert "99.9th percentile" in html
    assert 'data-chart="' in html
    assert response.context["series"].label == "Total per day"
    assert "metric.created" in html


def test_metric_detail__events_never_seen__asks_about_the_sdk(client, project, project_viewer):
    metric = make_metric(project_viewer.__class__.objects.get(username="root"), project, "checkout")
    client.force_login(project_viewer)
    html = client.get(reverse("metric-detail", args=[project.slug, metric.pk])).content.decode()
    assert "No events named <code>checkout</code> yet in any environment" in html
    assert "is the SDK sending it?" in html
    assert reverse("metric-update", args=[project.slug, metric.pk]) not in html


def _form_post(**fields) -> dict:
    data = {
        "name": "",
        "metric_type": "event_count",
        "description": "",
        "event_name": "",
        "value_field": "value",
        "user_count_mode": "daily_participation",
        "direction": "increase",
        "winsorize_upper": "0.999",
    }
    data.update(fields)
    return data


def test_metric_create__form_errors__shown_on_fields_nothing_saved(client, project, project_member):
    client.force_login(project_member)
    url = reverse("metric-create", args=[project.slug])
    # A filter with an unknown field (the second filled row) and a percentile out of range
    response = client.post(
        url,
        _form_post(
            name="purchase",
            event_name="purchase",
            filter_0_field="value",
            filter_0_operator="is_set",
            filter_2_field="colour",
            filter_2_operator="eq",
            filter_2_values="red",
        ),
    )
    assert response.status_code == 400
    assert "is not a field of an event" in response.context["form"].errors["filter_2_field"][0]
    # A ratio without a denominator
    make_metric(project_member, project, "visit")
    response = client.post(
        url, _form_post(name="rate", metric_type="ratio", numerator="visit::event_count")
    )
    assert response.status_code == 400
    assert "needs a denominator" in response.context["form"].errors["denominator"][0]
    # A funnel of one step
    response = client.post(url, _form_post(name="f", metric_type="funnel", step_0="visit"))
    assert "at least two steps" in response.context["form"].errors["step_0"][0]
    assert "Not saved." in response.content.decode()
    assert Metric.objects.count() == 1


def test_metric_create__valid__created_and_redirected(client, project, project_member):
    client.force_login(project_member)
    response = client.post(
        reverse("metric-create", args=[project.slug]),
        _form_post(
            name="big_purchases",
            event_name="purchase",
            filter_1_field="value",
            filter_1_operator="gte",
            filter_1_values="100",
            tags=["growth"],
            direction="increase",
            cap="10",
        ),
    )
    metric = Metric.objects.get(name="big_purchases")
    assert response.status_code == 302
    assert response["Location"] == reverse("metric-detail", args=[project.slug, metric.pk])
    assert metric.filters == [{"field": "value", "operator": "gte", "values": ["100"]}]
    assert metric.cap == 10
    assert [t.name for t in metric.tags.all()] == ["growth"]


def test_metric_create__viewer__forbidden(client, project, project_viewer):
    client.force_login(project_viewer)
    url = reverse("metric-create", args=[project.slug])
    assert client.get(url).status_code == 403
    assert client.post(url, _form_post(name="x", event_name="x")).status_code == 403
    assert not Metric.objects.exists()


def test_metric_update__form__saved_with_revision_and_stale_refused(
    client, project, project_member
):
    metric = make_metric(project_member, project, "purchase")
    client.force_login(project_member)
    url = reverse("metric-update", args=[project.slug, metric.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert page.context["form"]["name"].value() == "purchase"
    post = _form_post(
        name="ignored",
        metric_type="sum",
        event_name="purchase",
        description="Edited",
        revision="1",
    )
    response = client.post(url, post)
    assert response.status_code == 302
    metric.refresh_from_db()
    assert (metric.name, metric.metric_type, metric.description, metric.revision) == (
        "purchase",
        "event_count",
        "Edited",
        2,
    )
    # The same form again (revision 1) is stale
    response = client.post(url, {**post, "description": "Again"})
    assert response.status_code == 400
    assert "changed since you opened it" in response.content.decode()


def test_metric_archive__post__archived_and_listed_as_archived(client, project, project_member):
    metric = make_metric(project_member, project, "purchase")
    client.force_login(project_member)
    response = client.post(reverse("metric-archive", args=[project.slug, metric.pk]))
    assert response.status_code == 302
    metric.refresh_from_db()
    assert metric.is_archived
    assert list(client.get(_list(project)).context["metrics"]) == []
    assert list(client.get(_list(project, archived="on")).context["metrics"]) == [metric]


def test_metric_settings__post__saved_and_shown(client, project, project_member):
    client.force_login(project_member)
    response = client.post(
        reverse("metric-settings", args=[project.slug]), {"active_events": "login, session_start"}
    )
    assert response.status_code == 302
    html = client.get(_list(project)).content.decode()
    assert "A unit is active on a day it logs login, session_start." in html
    assert AuditEvent.objects.filter(action="metric_settings.updated").exists()


def test_events_page__catalog_tab__links_both_ways(client, project, project_viewer):
    client.force_login(project_viewer)
    html = client.get(reverse("metrics-events", args=[project.slug])).content.decode()
    assert reverse("metric-list", args=[project.slug]) in html
