"""The readers of events and exposures give the same answers from ClickHouse as from
PostgreSQL: the same batches are stored once through each engine (the intake's own service,
tests/metrics/seed.py) and each reader is asked with the engine set one way, then the other."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from experiments.results.compute import exposure_summary, scope_of
from metrics import selectors
from metrics.models import Event, EventKey, Exposure, PendingExposures
from tests.metrics.seed import DAY_MS, event, exposure, gate_check, group_rules, now_ms, store

pytestmark = pytest.mark.django_db

BOT_UA = "Googlebot/2.1 (+http://www.google.com/bot.html)"


def _store_twice(settings, environment, batches) -> None:
    """Each (events, user agent) batch stored through ClickHouse, then, its keys forgotten,
    through PostgreSQL."""
    for engine in ("clickhouse", "postgres"):
        settings.GATEHOUSE_EVENTS_ENGINE = engine
        EventKey.objects.all().delete()
        for events, agent in batches:
            store(environment, events, user_agent=agent)
    assert not PendingExposures.objects.exists()


def _both(settings, read):
    answers = []
    for engine in ("clickhouse", "postgres"):
        settings.GATEHOUSE_EVENTS_ENGINE = engine
        answers.append(read())
    return answers


def test_event_names_and_tail__the_same_from_either_engine(clickhouse_engine, production, settings):
    # Given events by users and stable IDs, with metadata of several JSON types
    earlier = now_ms() - 3 * DAY_MS
    _store_twice(
        settings,
        production,
        [
            (
                [
                    event("purchase", "u1", value="12.5", metadata={"currency": "EUR", "n": 2}),
                    event("purchase", "u2", value=30, at=earlier),
                    event("purchase", "u1", value="7", metadata={"tags": ["a", "b"], "ok": True}),
                    {"eventName": "page_view", "user": {"customIDs": {"stableID": "s-1"}}},
                    {"eventName": "page_view", "user": {"customIDs": {"stableID": "s-1"}}, "v": 1},
                ],
                "",
            )
        ],
    )
    assert Event.objects.count() == 5
    assert clickhouse_engine.query("SELECT count() FROM events") == [(5,)]
    # When the Events page's readers ask each engine
    ch_names, pg_names = _both(settings, lambda: selectors.event_names(environment=production))
    ch_tail, pg_tail = _both(settings, lambda: selectors.event_tail(environment=production))
    # Then the names, counts and unique units are the same
    assert ch_names == pg_names
    assert {n.name: n.units_7d for n in ch_names} == {"purchase": 2, "page_view": 1}

    # And the tail holds the same events, metadata as the same texts (the two stores of a
    # batch arrived at different times)
    def same(tail):
        return sorted((e.name, e.user_id, e.stable_id, e.value or "", e.metadata) for e in tail)

    assert same(ch_tail) == same(pg_tail)
    purchases = {e.value: e.metadata for e in ch_tail if e.name == "purchase"}
    assert purchases["12.5"] == [("n", "2"), ("currency", "EUR")]
    assert purchases["7"] == [("ok", "true"), ("tags", '["a", "b"]')]


def test_exposures_panel_and_results_summary__the_same_from_either_engine(
    clickhouse_engine, production, running_experiment, settings
):
    # Given units in each group, one crossing over (in two batches), a bot, an early unit
    rules = group_rules(production, running_experiment.name)
    name = running_experiment.name
    week_ago = now_ms() - 6 * DAY_MS
    _store_twice(
        settings,
        production,
        [
            (
                [
                    exposure(name, rules["Control"], "a", at=week_ago),
                    exposure(name, rules["Control"], "b"),
                    exposure(name, rules["Test"], "c"),
                    exposure(name, rules["Control"], "d", at=now_ms() - 60_000),
                    gate_check("new_checkout", "a", True),
                    gate_check("new_checkout", "b", False),
                ],
                "",
            ),
            ([exposure(name, rules["Test"], "d"), exposure(name, rules["Test"], "c")], ""),
            ([exposure(name, rules["Test"], "crawler", userAgent=BOT_UA)], BOT_UA),
        ],
    )
    assert Exposure.objects.filter(kind="config").count() == 5
    # When the exposures panels and the results' exposure summary read each engine
    ch_panel, pg_panel = _both(
        settings,
        lambda: selectors.exposures(
            environment=production, kind="config", name=name, groups=["Control", "Test"]
        ),
    )
    ch_gate, pg_gate = _both(
        settings,
        lambda: selectors.exposures(environment=production, kind="gate", name="new_checkout"),
    )
    running_experiment.started_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=8)
    scope = scope_of(running_experiment, dt.datetime.now(dt.UTC))
    assert scope is not None
    ch_summary, pg_summary = _both(settings, lambda: exposure_summary(production, scope))
    # Then they are the same
    assert ch_panel == pg_panel
    assert [(g.group, g.units, g.crossovers, g.bots) for g in ch_panel.groups] == [
        ("Control", 2, 1, 0),
        ("Test", 1, 0, 1),
    ]
    assert ch_gate == pg_gate
    assert ch_summary == pg_summary
    assert ch_summary["groups"] == [{"name": "Control", "units": 2}, {"name": "Test", "units": 1}]
    assert (ch_summary["crossovers"], ch_summary["bots"]) == (1, 1)


def test_events_page__shows_clickhouse_events(
    clickhouse_engine, client, project, production, project_viewer
):
    # Given events stored on ClickHouse only
    store(production, [event("signup", "ch-user", value="pro", metadata={"plan": "team"})])
    assert not Event.objects.exists()
    client.force_login(project_viewer)
    # When a viewer opens the events page and its live tail
    response = client.get(reverse("metrics-events", args=[project.slug]) + "?env=production")
    tail = client.get(
        reverse("metrics-events-tail", args=[project.slug]) + "?env=production",
        HTTP_HX_REQUEST="true",
    )
    # Then both show them
    assert response.status_code == 200
    assert [(n.name, n.units_7d) for n in response.context["names"]] == [("signup", 1)]
    for html in (response.content.decode(), tail.content.decode()):
        assert "ch-user" in html
        assert "plan=team" in html


def test_metric_series__every_filter__the_same_from_either_engine(
    clickhouse_engine, project, production, project_member, settings
):
    from metrics.catalog.selectors import metric_definition
    from metrics.catalog.series import metric_series
    from tests.metrics.catalog_factories import make_metric

    # Given purchases with numbers and texts in metadata, user fields and user.custom
    def buy(user, value, **meta):
        e = event("buy", user, value=value, metadata=meta or None)
        e["user"].update(country=meta.get("c", "DE"), custom={"tier": meta.get("t", "gold")})
        return e

    _store_twice(
        settings,
        production,
        [
            (
                [
                    buy("u1", 10, amount="12.5", note="Grüße EUR", c="FR"),
                    buy("u1", "x", amount=" 7 ", t="silver"),
                    buy("u2", 3.25, amount="+1e2", note="usd"),
                    buy("u3", 0.1, amount="1e999", flag=True),
                    buy("u4", 2, amount="abc", nested={"a": 1}),
                    {"eventName": "buy", "user": {"customIDs": {"stableID": "s9"}}, "value": 5},
                ],
                "",
            )
        ],
    )
    filters = [
        {"field": "metadata.amount", "operator": "gt", "values": ["5"]},
        {"field": "metadata.amount", "operator": "lte", "values": ["100"]},
        {"field": "metadata.note", "operator": "contains", "values": ["grüße", "USD"]},
        {"field": "metadata.note", "operator": "neq", "values": ["usd"]},
        {"field": "metadata.note", "operator": "in", "values": ["usd", "x"]},
        {"field": "metadata.note", "operator": "not_in", "values": ["usd"]},
        {"field": "metadata.flag", "operator": "eq", "values": ["true"]},
        {"field": "metadata.nested", "operator": "eq", "values": ['{"a": 1}']},
        {"field": "metadata.note", "operator": "is_set", "values": []},
        {"field": "metadata.note", "operator": "is_not_set", "values": []},
        {"field": "user.country", "operator": "eq", "values": ["FR"]},
        {"field": "user.custom.tier", "operator": "in", "values": ["silver"]},
        {"field": "value", "operator": "gte", "values": ["3"]},
    ]
    metrics = [
        make_metric(project_member, project, f"f{i}", "event_count", event_name="buy", filters=[f])
        for i, f in enumerate(filters)
    ]
    metrics += [
        make_metric(project_member, project, "total", "sum", event_name="buy"),
        make_metric(
            project_member,
            project,
            "avg_amount",
            "mean",
            event_name="buy",
            value_field="metadata.amount",
        ),
        make_metric(project_member, project, "users", "event_user", event_name="buy"),
        make_metric(
            project_member,
            project,
            "notes",
            "count_distinct",
            event_name="buy",
            value_field="metadata.note",
        ),
    ]
    # When each metric's series is read from each engine, then they are the same
    today: dict[str, float | None] = {}
    for metric in metrics:
        definition = metric_definition(metric)
        ch_series, pg_series = _both(
            settings, lambda d=definition: metric_series(definition=d, environment=production)
        )
        assert [v is None for v in ch_series.values] == [v is None for v in pg_series.values]
        numbers = [(a, b) for a, b in zip(ch_series.values, pg_series.values, strict=True) if a]
        assert [a for a, _ in numbers] == pytest.approx([b for _, b in numbers]), metric.name
        assert ch_series.days == pg_series.days
        today[metric.name] = ch_series.values[-1]
    # And the filters selected what they say (" 7 " and "+1e2" are numbers, "1e999" not)
    assert (today["f0"], today["f1"], today["f2"], today["notes"]) == (3, 3, 2, 2)
