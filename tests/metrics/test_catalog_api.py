"""The catalog in the console API: GET/POST /console/v1/metrics and GET/PATCH/DELETE
/console/v1/metrics/<name::type>, in Statsig's shapes, with 4xx errors in the API's
format for hostile or wrong input (never a 5xx)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from console.models import AuditEvent, Role
from metrics.models import Metric
from tests.api_support import (
    api_url_for,
    assert_error,
    console_key,
    key_client,
    session_client,
)
from tests.metrics.catalog_factories import make_metric

pytestmark = pytest.mark.django_db

api_url = api_url_for("metrics-api")


def _detail(metric_id: str, **query) -> str:
    return api_url("api-metric-detail", quote(metric_id, safe=":"), **query)


REVENUE = {
    "name": "revenue_eur",
    "type": "sum",
    "description": "Euros in",
    "directionality": "increase",
    "tags": ["growth"],
    "metricEvents": [
        {
            "name": "purchase",
            "type": "metadata",
            "metadataKey": "amount",
            "criteria": [
                {"type": "metadata", "column": "currency", "condition": "=", "values": ["EUR"]}
            ],
        }
    ],
    "winsorizationUpperPercentile": 0.99,
    "cap": 1000,
}


def test_create__member_key__created_in_statsig_shape(project, site_admin, project_member):
    # Given a console key with the member role
    client = key_client(console_key(site_admin, project, Role.MEMBER))
    # When it posts a sum metric
    response = client.post(api_url("api-metric-list", project=None), REVENUE, format="json")
    # Then it is created, and answered as Statsig's metric document
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["message"] == "Metric created successfully."
    doc = body["data"]
    assert doc["id"] == "revenue_eur::sum"
    assert doc["metricEvents"] == REVENUE["metricEvents"]
    assert (doc["type"], doc["directionality"], doc["tags"]) == ("sum", "increase", ["growth"])
    assert doc["lineage"] == {"events": ["purchase"], "metrics": []}
    assert doc["creatorEmail"] == site_admin.email
    metric = Metric.objects.get(name="revenue_eur")
    assert metric.value_field == "metadata.amount"
    assert metric.filters == [{"field": "metadata.currency", "operator": "eq", "values": ["EUR"]}]
    assert AuditEvent.objects.get(action="metric.created").via_key is not None


def test_list_and_get__viewer_session__documents_filters_and_pagination(
    project, project_member, project_viewer
):
    make_metric(project_member, project, "purchase", tags=["growth"])
    make_metric(project_member, project, "visit", "event_user", user_count_mode="one_time")
    make_metric(
        project_member,
        project,
        "conversion",
        "ratio",
        numerator="purchase::event_count",
        denominator="visit::event_user",
    )
    client = session_client(project_viewer)
    response = client.get(api_url("api-metric-list"))
    assert response.status_code == 200
    body = response.json()
    assert [d["id"] for d in body["data"]] == [
        "conversion::ratio",
        "purchase::event_count",
        "visit::event_user",
    ]
    assert body["pagination"]["totalItems"] == 3
    ratio = body["data"][0]
    assert ratio["metricComponentMetrics"] == [
        {"name": "purchase", "type": "event_count"},
        {"name": "visit", "type": "event_user"},
    ]
    assert ratio["lineage"]["metrics"] == ["purchase::event_count", "visit::event_user"]
    assert body["data"][2]["userCountMode"] == "one_time"
    tagged = client.get(api_url("api-metric-list", tag="growth")).json()["data"]
    assert [d["id"] for d in tagged] == ["purchase::event_count"]
    # One metric by its ID, the name in any case
    response = client.get(_detail("PURCHASE::event_count"))
    assert response.status_code == 200
    assert response.json()["data"]["name"] == "purchase"


@pytest.mark.parametrize("count", [3, 30])
def test_list__queries__constant(project, project_member, django_assert_num_queries, count):
    for i in range(count // 3):
        make_metric(project_member, project, f"a{i}", tags=["web"])
        make_metric(project_member, project, f"b{i}", "event_user")
        make_metric(
            project_member,
            project,
            f"r{i}",
            "ratio",
            numerator=f"a{i}::event_count",
            denominator=f"b{i}::event_user",
        )
    client = session_client(project_member)
    client.get(api_url("api-metric-list"))
    with django_assert_num_queries(7):
        response = client.get(api_url("api-metric-list", limit=100))
    assert len(response.json()["data"]) == count


def test_patch__fields_given__replaced_revision_checked(project, project_member):
    make_metric(project_member, project, "purchase")
    client = session_client(project_member)
    url = _detail("purchase::event_count")
    response = client.patch(
        url,
        {
            "description": "Buys",
            "directionality": "decrease",
            "revision": 1,
            "metricEvents": [
                {
                    "name": "purchase",
                    "criteria": [
                        {"type": "user", "column": "country", "condition": "in", "values": ["NZ"]}
                    ],
                }
            ],
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    doc = response.json()["data"]
    assert (doc["description"], doc["directionality"], doc["revision"]) == ("Buys", "decrease", 2)
    assert doc["metricEvents"][0]["criteria"] == [
        {"type": "user", "column": "country", "condition": "in", "values": ["NZ"]}
    ]
    # The same revision again is stale
    response = client.patch(url, {"description": "x", "revision": 1}, format="json")
    assert_error(response, 409, "stale_revision")
    # Renaming is refused
    response = client.patch(url, {"name": "other"}, format="json")
    assert_error(response, 400, "immutable", "name")


def test_delete__archives__gone_from_list_id_kept(project, project_member):
    make_metric(project_member, project, "purchase")
    client = session_client(project_member)
    response = client.delete(_detail("purchase::event_count"))
    assert response.status_code == 200
    assert response.json()["data"]["isArchived"] is True
    assert client.get(api_url("api-metric-list")).json()["data"] == []
    archived = client.get(api_url("api-metric-list", archived="true")).json()["data"]
    assert [d["id"] for d in archived] == ["purchase::event_count"]
    assert_error(client.delete(_detail("purchase::event_count")), 409, "archived")


def test_writes__viewer__403_nothing_changed(project, project_member, site_admin):
    make_metric(project_member, project, "purchase")
    client = key_client(console_key(site_admin, project, Role.VIEWER))
    assert_error(client.post(api_url("api-metric-list", project=None), REVENUE, format="json"), 403)
    assert_error(
        client.patch(
            _detail("purchase::event_count", project=None), {"description": "x"}, format="json"
        ),
        403,
    )
    assert_error(client.delete(_detail("purchase::event_count", project=None)), 403)
    assert Metric.objects.get().description == ""


def test_get__unknown_or_outsider__404(project, project_member, outsider):
    assert_error(session_client(project_member).get(_detail("ghost::sum")), 404, "not_found")
    assert_error(session_client(project_member).get(_detail("no-type")), 404)
    assert_error(session_client(outsider).get(api_url("api-metric-list")), 404)


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"type": "median"}, "unknown_type", "type"),
        ({"name": "bad\u0000"}, None, None),
        ({"name": "x" * 129}, "too_long", "name"),
        ({"description": ["not", "text"]}, "invalid_type", "description"),
        ({"directionality": "up"}, "unknown_direction", "directionality"),
        ({"metricEvents": []}, "one_event", "metricEvents"),
        ({"metricEvents": "purchase"}, "invalid_type", "metricEvents"),
        (
            {
                "metricEvents": [
                    {
                        "name": "purchase",
                        "type": "value",
                        "criteria": [{"type": "value", "condition": "like", "values": ["a"]}],
                    }
                ]
            },
            "unknown_operator",
            "metricEvents[0].criteria[0].condition",
        ),
        (
            {
                "metricEvents": [
                    {
                        "name": "purchase",
                        "type": "value",
                        "criteria": [{"type": "value", "condition": ">", "values": ["ten"]}],
                    }
                ]
            },
            "not_a_number",
            "metricEvents[0].criteria[0].values",
        ),
        ({"metricEvents": [{"name": "", "type": "value"}]}, "required", "metricEvents[0].name"),
        (
            {"winsorizationUpperPercentile": 1.5},
            "invalid_percentile",
            "winsorizationUpperPercentile",
        ),
        ({"winsorizationUpperPercentile": "high"}, "invalid_type", "winsorizationUpperPercentile"),
        ({"cap": -5}, "negative_cap", "cap"),
        ({"tags": "growth"}, "invalid_type", "tags"),
        ({"tags": ["nope"]}, "unknown_tag", "tags"),
        ({"dimensions": [{"deep": True}]}, "invalid_type", "dimensions"),
        ({"colour": "red"}, "unknown_field", "colour"),
    ],
)
def test_create__invalid__400_with_field(project, project_member, change, code, field):
    client = session_client(project_member)
    response = client.post(api_url("api-metric-list"), {**REVENUE, **change}, format="json")
    assert_error(response, 400, code, field)
    assert not Metric.objects.exists()


def test_create__ratio_and_funnel_rules__400_on_their_fields(project, project_member):
    make_metric(project_member, project, "visit")
    client = session_client(project_member)
    url = api_url("api-metric-list")
    ratio = {"name": "r", "type": "ratio", "numerator": "visit::event_count"}
    assert_error(client.post(url, ratio, format="json"), 400, "missing_denominator", "denominator")
    ratio["denominator"] = "r::ratio"
    assert_error(client.post(url, ratio, format="json"), 400, "ratio_of_itself", "denominator")
    funnel = {"name": "f", "type": "funnel", "funnelEventList": [{"name": "visit"}]}
    assert_error(client.post(url, funnel, format="json"), 400, "too_few_steps", "funnelEventList")
    # Statsig's component list works as well as our numerator/denominator
    ratio = {
        "name": "r2",
        "type": "ratio",
        "metricComponentMetrics": [
            {"name": "visit", "type": "event_count"},
            {"name": "visit", "type": "event_count"},
        ],
    }
    response = client.post(url, ratio, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["data"]["numerator"] == "visit::event_count"


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "a\\u0000b", "type": "event_count"}',
        b'{"name": "\\ud800", "type": "event_count"}',
        b"[" * 5000 + b"]" * 5000,
        b'{"name": ' + b"[" * 3000 + b"]" * 3000 + b"}",
        b"not json",
        b'"just a string"',
        b"[1, 2, 3]",
    ],
)
def test_create__hostile_body__4xx_never_5xx(project, project_member, body):
    client = session_client(project_member)
    response = client.post(api_url("api-metric-list"), body, content_type="application/json")
    assert 400 <= response.status_code < 500, response.content
    assert "message" in response.json()
    assert not Metric.objects.exists()


def test_patch__hostile_values__4xx(project, project_member):
    make_metric(project_member, project, "purchase")
    client = session_client(project_member)
    url = _detail("purchase::event_count")
    for body in [
        json.dumps({"description": "\ud800"}, ensure_ascii=True),
        json.dumps({"revision": "1"}),
        json.dumps(
            {
                "metricEvents": [
                    {
                        "name": "purchase",
                        "criteria": [
                            {
                                "type": "metadata",
                                "column": "k\u0000",
                                "condition": "=",
                                "values": ["v"],
                            }
                        ],
                    }
                ]
            }
        ),
        json.dumps(["not", "an", "object"]),
    ]:
        response = client.patch(url, body, content_type="application/json")
        assert 400 <= response.status_code < 500, (body, response.content)
    assert Metric.objects.get().revision == 1
