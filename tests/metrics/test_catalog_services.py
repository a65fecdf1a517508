"""The catalog's services: every rule a metric obeys, the audit of each change, revisions,
roles, the definition handed to the query plan, auto metrics and the active-unit setting."""

from __future__ import annotations

import pytest

from console.exceptions import Conflict, DomainError, NotAllowed
from console.models import AuditEvent, Tag
from metrics.catalog import selectors, services
from metrics.catalog.validation import FilterInput
from metrics.definitions import (
    Direction,
    EventSelector,
    Filter,
    MetricDefinition,
    MetricType,
    Operator,
)
from metrics.models import Metric
from tests.metrics.catalog_factories import make_metric, metric_input
from tests.metrics.seed import event, store

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------- create


def test_metric_create__sum_with_filter_and_tags__saved_audited_and_defined(
    project, project_member
):
    # Given a member and a sum of purchase values in EUR
    data = metric_input(
        "revenue_eur",
        "sum",
        event_name="purchase",
        filters=[{"field": "metadata.currency", "operator": "eq", "values": ["EUR"]}],
        description="Revenue in euros",
        tags=["growth", "CORE"],
        dimensions=["metadata.country"],
        cap=500,
    )
    # When she creates it
    metric = services.metric_create(actor=project_member, project=project, data=data)
    # Then it is stored with its ID, revision 1 and its tags (matched in any case)
    assert metric.statsig_id == "revenue_eur::sum"
    assert metric.revision == 1
    assert sorted(t.name for t in metric.tags.all()) == ["core", "growth"]
    # And the audit has its values
    audit = AuditEvent.objects.get(action="metric.created", target_id=str(metric.pk))
    assert audit.actor == project_member
    assert audit.after["filters"] == [
        {"field": "metadata.currency", "operator": "eq", "values": ["EUR"]}
    ]
    assert audit.after["tags"] == ["core", "growth"]
    # And its definition is exactly the query plan's shape
    assert selectors.metric_definition(metric) == MetricDefinition(
        name="revenue_eur",
        type=MetricType.SUM,
        events=EventSelector("purchase", (Filter("metadata.currency", Operator.EQ, ("EUR",)),)),
        value_field="value",
        cap=500.0,
        winsorize_upper=0.999,
        dimensions=("metadata.country",),
        tags=("core", "growth"),
    )


def test_metric_create__ratio__definition_resolves_both_parts(project, project_member):
    # Given two count metrics
    make_metric(project_member, project, "checkout")
    make_metric(project_member, project, "visit", "event_user", user_count_mode="one_time")
    # When a ratio of them is created (the IDs in any case)
    ratio = make_metric(
        project_member,
        project,
        "checkout_rate",
        "ratio",
        numerator="Checkout::event_count",
        denominator="visit::event_user",
        direction="decrease",
    )
    # Then its definition carries both metrics' definitions
    definition = selectors.metric_definition(ratio)
    assert definition.type == MetricType.RATIO
    assert definition.direction == Direction.DECREASE
    assert definition.events is None
    assert definition.numerator is not None
    assert definition.denominator is not None
    assert definition.numerator.events == EventSelector("checkout")
    assert definition.denominator.user_count_mode == "one_time"
    assert MetricDefinition.from_dict(definition.as_dict()) == definition
    # And the bulk selector finds it by ID, unknown IDs left out
    found = selectors.metric_definitions(
        project=project, ids=["CHECKOUT_RATE::ratio", "nope::sum", "junk"]
    )
    assert found == {"CHECKOUT_RATE::ratio": definition}


def test_metric_create__funnel__steps_and_window_in_definition(project, project_member):
    metric = make_metric(
        project_member,
        project,
        "signup_funnel",
        "funnel",
        steps=[
            {"event_name": "visit"},
            {
                "event_name": "signup",
                "filters": [{"field": "user.country", "operator": "in", "values": ["NZ", "AU"]}],
            },
        ],
        funnel_window_hours=48,
    )
    definition = selectors.metric_definition(metric)
    assert definition.steps == (
        EventSelector("visit"),
        EventSelector("signup", (Filter("user.country", Operator.IN, ("NZ", "AU")),)),
    )
    assert definition.funnel_window_hours == 48
    assert definition.winsorized


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"name": ""}, "name", "required"),
        ({"name": "x" * 129}, "name", "too_long"),
        ({"name": "bad\x00name"}, "name", "invalid_characters"),
        ({"name": "bad\ud800"}, "name", "invalid_characters"),
        ({"description": "nul\x00"}, "description", "invalid_characters"),
        ({"description": "d" * 5001}, "description", "too_long"),
        ({"metric_type": "median"}, "metric_type", "unknown_type"),
        ({"event_name": ""}, "event_name", "required"),
        ({"event_name": "statsig::gate_exposure"}, "event_name", "internal_event"),
        (
            {"filters": [{"field": "value", "operator": "like", "values": ["a"]}]},
            "filters[0].operator",
            "unknown_operator",
        ),
        (
            {"filters": [{"field": "colour", "operator": "eq", "values": ["a"]}]},
            "filters[0].field",
            "invalid_field",
        ),
        (
            {"filters": [{"field": "value", "operator": "eq", "values": []}]},
            "filters[0].values",
            "missing_values",
        ),
        (
            {"filters": [{"field": "value", "operator": "gt", "values": ["ten"]}]},
            "filters[0].values",
            "not_a_number",
        ),
        (
            {"filters": [{"field": "value", "operator": "is_set", "values": ["x"]}]},
            "filters[0].values",
            "unexpected_values",
        ),
        ({"winsorize_upper": 1.0}, "winsorize_upper", "invalid_percentile"),
        ({"winsorize_upper": 0}, "winsorize_upper", "invalid_percentile"),
        ({"winsorize_lower": -0.1}, "winsorize_lower", "invalid_percentile"),
        ({"winsorize_lower": 0.9, "winsorize_upper": 0.5}, "winsorize_lower", "invalid_percentile"),
        ({"winsorize_lower": 0.5, "winsorize_upper": 0.5}, "winsorize_lower", "invalid_percentile"),
        ({"cap": -1}, "cap", "negative_cap"),
        ({"cap": float("inf")}, "cap", "invalid_number"),
        ({"direction": "sideways"}, "direction", "unknown_direction"),
        ({"dimensions": ["user.country"]}, "dimensions", "invalid_field"),
        (
            {"dimensions": ["value", "metadata.a", "metadata.b", "metadata.c", "metadata.d"]},
            "dimensions",
            "too_many",
        ),
        ({"tags": ["no-such-tag"]}, "tags", "unknown_tag"),
    ],
)
def test_metric_create__invalid__refused_on_its_field(project, project_member, fields, field, code):
    # Given a valid event count metric with one thing wrong
    data = metric_input(fields.pop("name", "purchase"), fields.pop("metric_type", "event_count"))
    for key, value in fields.items():
        setattr(data, key, [FilterInput(**f) for f in value] if key == "filters" else value)
    # When it is created, Then the refusal names the field
    with pytest.raises(DomainError) as caught:
        services.metric_create(actor=project_member, project=project, data=data)
    assert (caught.value.field, caught.value.code) == (field, code)
    assert caught.value.message
    assert not Metric.objects.exists()


def test_metric_create__cap_on_a_mean__refused(project, project_member):
    with pytest.raises(DomainError) as caught:
        make_metric(project_member, project, "basket", "mean", cap=10)
    assert caught.value.code == "cap_not_applicable"


def test_metric_create__user_count__never_winsorized(project, project_member):
    metric = make_metric(project_member, project, "visit", "event_user", winsorize_lower=0.01)
    assert (metric.winsorize_lower, metric.winsorize_upper) == (None, None)
    assert not selectors.metric_definition(metric).winsorized


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"denominator": "visit::event_count"}, "numerator", "missing_numerator"),
        ({"numerator": "visit::event_count"}, "denominator", "missing_denominator"),
        (
            {"numerator": "rate::ratio", "denominator": "visit::event_count"},
            "numerator",
            "ratio_of_itself",
        ),
        (
            {"numerator": "visit::event_count", "denominator": "other_rate::ratio"},
            "denominator",
            "ratio_of_ratio",
        ),
        (
            {"numerator": "steps::funnel", "denominator": "visit::event_count"},
            "numerator",
            "ratio_of_ratio",
        ),
        (
            {"numerator": "ghost::sum", "denominator": "visit::event_count"},
            "numerator",
            "unknown_metric",
        ),
    ],
)
def test_metric_create__bad_ratio__refused(project, project_member, fields, field, code):
    # Given counts, a ratio and a funnel
    make_metric(project_member, project, "visit")
    make_metric(project_member, project, "buy")
    make_metric(
        project_member,
        project,
        "other_rate",
        "ratio",
        numerator="buy::event_count",
        denominator="visit::event_count",
    )
    make_metric(
        project_member,
        project,
        "steps",
        "funnel",
        steps=[{"event_name": "visit"}, {"event_name": "buy"}],
    )
    # When a ratio is made of the wrong parts, Then it is refused on that part
    with pytest.raises(DomainError) as caught:
        make_metric(project_member, project, "rate", "ratio", **fields)
    assert (caught.value.field, caught.value.code) == (field, code)


def test_metric_create__funnel_of_one_step__refused(project, project_member):
    with pytest.raises(DomainError) as caught:
        make_metric(project_member, project, "f", "funnel", steps=[{"event_name": "visit"}])
    assert (caught.value.field, caught.value.code) == ("steps", "too_few_steps")


def test_metric_create__name_taken_in_another_case__conflict(project, project_member):
    make_metric(project_member, project, "Purchase")
    with pytest.raises(Conflict) as caught:
        make_metric(project_member, project, "purchase")
    assert caught.value.field == "name"
    # And the same name with another type is another metric
    assert make_metric(project_member, project, "purchase", "event_user").pk


def test_metric_create__viewer__not_allowed(project, project_viewer):
    with pytest.raises(NotAllowed):
        make_metric(project_viewer, project, "purchase")
    assert not Metric.objects.exists()


# ---------------------------------------------------------------- update and archive


def test_metric_update__changed__revision_bumped_and_old_new_audited(project, project_member):
    # Given a metric at revision 1
    metric = make_metric(project_member, project, "purchase", tags=["growth"])
    data = metric_input(
        "purchase",
        filters=[{"field": "value", "operator": "gte", "values": ["10"]}],
        tags=["web"],
        description="Big purchases",
    )
    # When it is edited from revision 1
    metric = services.metric_update(
        actor=project_member, metric=metric, data=data, expected_revision=1
    )
    # Then it is at revision 2, and the audit holds the old and new values of what changed
    assert metric.revision == 2
    audit = AuditEvent.objects.get(action="metric.updated")
    assert audit.before == {"description": "", "filters": [], "tags": ["growth"]}
    assert audit.after["tags"] == ["web"]
    assert audit.after["filters"][0]["operator"] == "gte"
    # And an edit that changes nothing leaves the revision alone
    same = services.metric_update(actor=project_member, metric=metric, data=data)
    assert same.revision == 2
    assert AuditEvent.objects.filter(action="metric.updated").count() == 1


def test_metric_update__stale_revision__conflict(project, project_member):
    metric = make_metric(project_member, project, "purchase")
    services.metric_update(
        actor=project_member, metric=metric, data=metric_input("purchase", description="a")
    )
    with pytest.raises(Conflict) as caught:
        services.metric_update(
            actor=project_member,
            metric=metric,
            data=metric_input("purchase", description="b"),
            expected_revision=1,
        )
    assert caught.value.code == "stale_revision"
    metric.refresh_from_db()
    assert metric.description == "a"


def test_metric_update__rename_or_retype__refused(project, project_member):
    metric = make_metric(project_member, project, "purchase")
    with pytest.raises(DomainError) as caught:
        services.metric_update(actor=project_member, metric=metric, data=metric_input("buy"))
    assert caught.value.field == "name"
    with pytest.raises(DomainError) as caught:
        services.metric_update(
            actor=project_member, metric=metric, data=metric_input("purchase", "event_user")
        )
    assert caught.value.field == "metric_type"


def test_metric_update__viewer__not_allowed(project, project_member, project_viewer):
    metric = make_metric(project_member, project, "purchase")
    with pytest.raises(NotAllowed):
        services.metric_update(
            actor=project_viewer, metric=metric, data=metric_input("purchase", description="x")
        )


def test_metric_update__ratio_made_of_itself__refused(project, project_member):
    make_metric(project_member, project, "a")
    make_metric(project_member, project, "b")
    ratio = make_metric(
        project_member,
        project,
        "r",
        "ratio",
        numerator="a::event_count",
        denominator="b::event_count",
    )
    with pytest.raises(DomainError) as caught:
        services.metric_update(
            actor=project_member,
            metric=ratio,
            data=metric_input("r", "ratio", numerator="r::ratio", denominator="b::event_count"),
        )
    assert caught.value.code == "ratio_of_itself"


def test_metric_archive__archived_audited_and_frozen(project, project_member):
    metric = make_metric(project_member, project, "purchase")
    metric = services.metric_archive(actor=project_member, metric=metric, expected_revision=1)
    assert metric.is_archived
    assert metric.revision == 2
    assert AuditEvent.objects.filter(action="metric.archived", target_id=str(metric.pk)).exists()
    # And it can neither change nor be archived again, and its ID stays taken
    with pytest.raises(Conflict):
        services.metric_update(actor=project_member, metric=metric, data=metric_input("purchase"))
    with pytest.raises(Conflict):
        services.metric_archive(actor=project_member, metric=metric)
    with pytest.raises(Conflict):
        make_metric(project_member, project, "purchase")
    # And the catalog hides it unless asked for archived metrics
    assert list(selectors.metric_list(project=project)) == []
    archived = selectors.metric_list(
        project=project, filters=selectors.MetricFilters(archived=True)
    )
    assert list(archived) == [metric]


def test_metric_archive__used_by_a_ratio__conflict(project, project_member):
    make_metric(project_member, project, "a")
    b = make_metric(project_member, project, "b")
    make_metric(
        project_member,
        project,
        "r",
        "ratio",
        numerator="a::event_count",
        denominator="b::event_count",
    )
    with pytest.raises(Conflict) as caught:
        services.metric_archive(actor=project_member, metric=b)
    assert caught.value.code == "in_use"
    assert "r::ratio" in caught.value.message


def test_metric_archive__viewer__not_allowed(project, project_member, project_viewer):
    metric = make_metric(project_member, project, "purchase")
    with pytest.raises(NotAllowed):
        services.metric_archive(actor=project_viewer, metric=metric)


# ---------------------------------------------------------------- auto metrics, Core, settings


def test_metric_autocreate__custom_events__two_metrics_each_none_for_exposures(project, production):
    # Given custom events and an exposure stored by the intake, in two environments
    staging = project.environments.get(name="staging")
    store(production, [event("purchase"), event("page_view"), event("statsig::gate_exposure")])
    store(staging, [event("purchase"), event("signup")])
    # (the intake itself makes no metric)
    assert not Metric.objects.exists()
    # When the beat task runs
    from metrics.tasks import metric_autocreate_task

    made = metric_autocreate_task()
    # Then each custom event name has exactly its event count and user count metrics
    assert made == 6
    ids = sorted(m.statsig_id for m in Metric.objects.filter(project=project))
    assert ids == [
        "page_view::event_count",
        "page_view::event_user",
        "purchase::event_count",
        "purchase::event_user",
        "signup::event_count",
        "signup::event_user",
    ]
    assert all(m.is_auto for m in Metric.objects.all())
    assert AuditEvent.objects.filter(action="metric.created", actor=None).count() == 6
    # And running again makes nothing
    assert metric_autocreate_task() == 0
    assert services.metric_autocreate(project=project) == []
    assert Metric.objects.count() == 6


def test_metric_autocreate__archived_or_custom_same_id__left_alone(
    project, production, project_member
):
    # Given a member's own purchase::event_count and an archived auto metric
    make_metric(project_member, project, "Purchase", description="mine")
    store(production, [event("purchase"), event("gone")])
    services.metric_autocreate(project=project)
    gone = Metric.objects.get(name="gone", metric_type="event_count")
    services.metric_archive(actor=project_member, metric=gone)
    # When auto creation runs again
    made = services.metric_autocreate(project=project)
    # Then neither is made again
    assert made == []
    assert Metric.objects.filter(name__iexact="purchase", metric_type="event_count").count() == 1
    assert Metric.objects.get(name="Purchase").description == "mine"
    assert Metric.objects.filter(name="gone").count() == 2


def test_metric_update__auto_metric__event_fixed_rest_editable(project, production, project_member):
    store(production, [event("purchase")])
    services.metric_autocreate(project=project)
    metric = Metric.objects.get(name="purchase", metric_type="event_count")
    with pytest.raises(DomainError) as caught:
        services.metric_update(
            actor=project_member,
            metric=metric,
            data=metric_input(
                "purchase", filters=[{"field": "value", "operator": "is_set", "values": []}]
            ),
        )
    assert caught.value.code == "auto_metric"
    metric = services.metric_update(
        actor=project_member,
        metric=metric,
        data=metric_input("purchase", description="Purchases", tags=["core"]),
    )
    assert metric.revision == 2


def test_core_tag_ensure__missing__created_once(project):
    Tag.objects.filter(project=project, name__iexact="core").delete()
    tag = services.core_tag_ensure(project=project)
    assert tag.name == "Core"
    assert services.core_tag_ensure(project=project) == tag
    assert Tag.objects.filter(project=project, name__iexact="core").count() == 1


def test_metric_settings_update__events__saved_audited_and_read(project, project_member):
    assert selectors.active_unit_events(project=project) == []
    services.metric_settings_update(
        actor=project_member, project=project, active_events=["login", "purchase", "login"]
    )
    assert selectors.active_unit_events(project=project) == ["login", "purchase"]
    audit = AuditEvent.objects.get(action="metric_settings.updated")
    assert audit.before == {"active_events": []}
    assert audit.after == {"active_events": ["login", "purchase"]}


def test_metric_settings_update__exposure_or_viewer__refused(
    project, project_member, project_viewer
):
    with pytest.raises(DomainError):
        services.metric_settings_update(
            actor=project_member, project=project, active_events=["statsig::gate_exposure"]
        )
    with pytest.raises(NotAllowed):
        services.metric_settings_update(actor=project_viewer, project=project, active_events=[])
