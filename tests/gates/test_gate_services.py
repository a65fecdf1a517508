import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from console.exceptions import Conflict, DomainError, NotAllowed
from console.models import AuditEvent
from gates import services
from gates.documents import gate_to_document, validate_gate_document
from gates.models import FeatureGate, GateStatus, Reference, Segment
from tests.gates.factories import condition, gate_document, rule, segment_document


def _state(project):
    """Everything a refused write must leave unchanged."""
    return (
        list(FeatureGate.objects.filter(project=project).order_by("pk").values()),
        list(Segment.objects.filter(project=project).order_by("pk").values()),
        list(Reference.objects.filter(project=project).order_by("pk").values()),
        list(FeatureGate.tags.through.objects.order_by("pk").values()),
        AuditEvent.objects.count(),
    )


@pytest.fixture
def employees_segment(project, project_admin):
    return services.segment_create(
        actor=project_admin,
        project=project,
        document=segment_document(
            "employees",
            rules=[
                rule(
                    "Staff",
                    [condition("email", "str_ends_with_any", ["@corp.example"])],
                )
            ],
        ),
    )


# ---------------------------------------------------------------- create


def test_gate_create__member_with_full_document__saved_with_salts_and_audited(
    project, project_member
):
    # Given
    document = gate_document(
        tags=["core", "WEB"],
        rules=[
            rule("Staff", [condition("email", "str_ends_with_any", "@corp.example")]),
            rule("Half", pass_percentage=50.5, environments=["production"]),
        ],
        overrides=[{"environment": "staging", "passingIDs": ["u1"], "failingIDs": ["u2"]}],
    )
    # When
    gate = services.gate_create(actor=project_member, project=project, document=document)
    # Then
    gate.refresh_from_db()
    assert uuid.UUID(gate.salt)
    assert gate.revision == 1
    assert gate.owner == project_member
    assert [uuid.UUID(r["salt"]) for r in gate.rules]
    assert len({r["id"] for r in gate.rules}) == 2
    doc = gate_to_document(gate)
    assert doc["tags"] == ["core", "web"]
    assert doc["owner"] == project_member.email
    assert doc["rules"][0]["conditions"][0] == {
        "type": "email",
        "operator": "str_ends_with_any",
        "targetValue": ["@corp.example"],
        "field": None,
        "customID": None,
    }
    assert doc["rules"][1]["passPercentage"] == 50.5
    assert doc["rules"][1]["environments"] == ["production"]
    assert doc["overrides"] == [
        {"environment": "staging", "passingIDs": ["u1"], "failingIDs": ["u2"]}
    ]
    event = AuditEvent.objects.get(action__startswith="gate.")
    assert (event.action, event.actor, event.project) == ("gate.created", project_member, project)
    assert event.before == {}
    assert event.after == doc


def test_gate_create__document_round_trips__validating_its_own_document_changes_nothing(
    project, project_admin
):
    # Given
    gate = services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document(rules=[rule("All", [condition("country", "any", ["nz", "US"])])]),
    )
    document = gate_to_document(gate)
    # When
    cleaned = validate_gate_document(project, document, existing=gate)
    # Then
    assert cleaned == document
    assert document["rules"][0]["conditions"][0]["targetValue"] == ["NZ", "US"]


@pytest.mark.parametrize("role_fixture", ["project_viewer", "outsider"])
def test_gate_create__viewer_or_outsider__refused_and_nothing_saved(project, role_fixture, request):
    # Given
    actor = request.getfixturevalue(role_fixture)
    before = _state(project)
    # When / Then
    with pytest.raises(NotAllowed):
        services.gate_create(actor=actor, project=project, document=gate_document())
    assert _state(project) == before


@pytest.mark.parametrize(
    ("document", "error", "code", "field"),
    [
        (
            gate_document(rules=[rule(conditions=[condition("email", "str_matches", "([a-z")])]),
            DomainError,
            "invalid_regex",
            "rules[0].conditions[0].targetValue",
        ),
        (
            gate_document(
                rules=[rule(conditions=[condition("email", "str_matches", "(?i)^pat@corp")])]
            ),
            DomainError,
            "invalid_regex",
            "rules[0].conditions[0].targetValue",
        ),
        (
            gate_document(rules=[rule(conditions=[condition("os_version", "any", ["17.1"])])]),
            DomainError,
            "operator_not_allowed",
            "rules[0].conditions[0].operator",
        ),
        (
            gate_document(
                rules=[rule(conditions=[condition("custom_field", "gt", "abc", field="age")])]
            ),
            DomainError,
            "not_a_number",
            "rules[0].conditions[0].targetValue",
        ),
        (
            gate_document(
                rules=[rule(), rule(conditions=[condition("app_version", "version_gte", "1.x")])]
            ),
            DomainError,
            "invalid_version",
            "rules[1].conditions[0].targetValue",
        ),
        (
            gate_document(rules=[rule(conditions=[condition("passes_gate", None, "nope")])]),
            DomainError,
            "unknown_gate",
            "rules[0].conditions[0].targetValue",
        ),
        (
            gate_document(rules=[rule(conditions=[condition("fails_segment", None, "nope")])]),
            DomainError,
            "unknown_segment",
            "rules[0].conditions[0].targetValue",
        ),
        (
            gate_document(rules=[rule(pass_percentage=100.5)]),
            DomainError,
            "percentage_out_of_range",
            "rules[0].passPercentage",
        ),
        (
            gate_document(rules=[rule(pass_percentage=-1)]),
            DomainError,
            "percentage_out_of_range",
            "rules[0].passPercentage",
        ),
        (
            gate_document(rules=[rule(pass_percentage=12.345)]),
            DomainError,
            "percentage_precision",
            "rules[0].passPercentage",
        ),
        (
            gate_document(rules=[rule(pass_percentage="50")]),
            DomainError,
            "invalid_percentage",
            "rules[0].passPercentage",
        ),
        (
            gate_document(rules=[rule(conditions=[condition("email", "version_gt", "1.0")])]),
            DomainError,
            "operator_not_allowed",
            "rules[0].conditions[0].operator",
        ),
        (
            gate_document(rules=[rule(conditions=[condition("public", "any", ["x"])])]),
            DomainError,
            "operator_not_allowed",
            "rules[0].conditions[0].operator",
        ),
        (
            gate_document(rules=[rule(conditions=[condition("planet", "any", ["x"])])]),
            DomainError,
            "invalid_condition_type",
            "rules[0].conditions[0].type",
        ),
        (
            gate_document(rules=[rule(environments=["production", "moon"])]),
            DomainError,
            "unknown_environment",
            "rules[0].environments[1]",
        ),
        (
            gate_document(rules=[rule(conditions=[condition("time", "after", 1700000000)])]),
            DomainError,
            "invalid_time",
            "rules[0].conditions[0].targetValue",
        ),
        (
            gate_document(
                rules=[rule(conditions=[condition("unit_id", "any", ["c1"], custom_id="orgID")])]
            ),
            DomainError,
            "unknown_unit_type",
            "rules[0].conditions[0].customID",
        ),
        (
            gate_document(rules=[rule(conditions=[condition("custom_field", "any", ["x"])])]),
            DomainError,
            "field_required",
            "rules[0].conditions[0].field",
        ),
        (
            gate_document(
                rules=[rule(conditions=[condition("environment_tier", "any", ["moon"])])]
            ),
            DomainError,
            "invalid_value",
            "rules[0].conditions[0].targetValue",
        ),
        (
            gate_document(rules=[rule(conditions=[])]),
            DomainError,
            "no_conditions",
            "rules[0].conditions",
        ),
        (
            gate_document(
                overrides=[{"environment": "production", "passingIDs": ["a"], "failingIDs": ["a"]}]
            ),
            DomainError,
            "conflicting_override",
            "overrides[0].failingIDs",
        ),
        (
            gate_document(overrides=[{"environment": "moon", "passingIDs": ["a"]}]),
            DomainError,
            "unknown_environment",
            "overrides[0].environment",
        ),
        (gate_document("has space"), DomainError, "invalid_name", "name"),
        (gate_document(idType="orgID"), DomainError, "unknown_unit_type", "idType"),
        (gate_document(tags=["nope"]), DomainError, "unknown_tag", "tags[0]"),
        (gate_document(owner="someone@else.example"), DomainError, "unknown_owner", "owner"),
        (gate_document(status="archived"), DomainError, "invalid_status", "status"),
        ("not a document", DomainError, "invalid_document", None),
    ],
)
def test_gate_create__bad_input__refused_with_field_and_nothing_saved(
    project, project_admin, document, error, code, field
):
    # Given
    before = _state(project)
    # When
    with pytest.raises(error) as caught:
        services.gate_create(actor=project_admin, project=project, document=document)
    # Then
    assert (caught.value.code, caught.value.field) == (code, field)
    assert caught.value.message
    assert _state(project) == before


def test_gate_create__name_taken_in_another_case__conflict_and_nothing_saved(
    project, project_admin
):
    # Given
    services.gate_create(actor=project_admin, project=project, document=gate_document("Beta"))
    before = _state(project)
    # When
    with pytest.raises(Conflict) as caught:
        services.gate_create(actor=project_admin, project=project, document=gate_document("beta"))
    # Then
    assert (caught.value.code, caught.value.field) == ("duplicate", "name")
    assert _state(project) == before


def test_gate_create__conditions_use_gate_and_segment__references_recorded(
    project, project_admin, employees_segment
):
    # Given
    base = services.gate_create(
        actor=project_admin, project=project, document=gate_document("base")
    )
    # When
    gate = services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document(
            "dependent",
            rules=[
                rule(
                    conditions=[
                        condition("passes_gate", None, "BASE"),
                        condition("fails_segment", None, "segment:employees"),
                    ]
                )
            ],
        ),
    )
    # Then
    targets = set(
        Reference.objects.filter(source_id=gate.pk).values_list("target_kind", "target_id")
    )
    assert targets == {("gate", base.pk), ("segment", employees_segment.pk)}
    conditions = gate_to_document(gate)["rules"][0]["conditions"]
    assert [c["targetValue"] for c in conditions] == ["base", "employees"]


def test_gate_create__uses_itself__cycle_refused(project, project_admin):
    # Given
    services.gate_create(actor=project_admin, project=project, document=gate_document("a"))
    gate = FeatureGate.objects.get(name="a")
    before = _state(project)
    # When
    with pytest.raises(DomainError) as caught:
        services.gate_update(
            actor=project_admin,
            gate=gate,
            document=gate_document(
                "a", rules=[rule(conditions=[condition("passes_gate", None, "a")])]
            ),
        )
    # Then
    assert (caught.value.code, caught.value.field) == (
        "cycle",
        "rules[0].conditions[0].targetValue",
    )
    assert _state(project) == before


def test_gate_update__cycle_through_segment_and_gate__refused_and_nothing_saved(
    project, project_admin
):
    # Given: a → (nothing); segment s uses gate b; b uses gate a
    a = services.gate_create(actor=project_admin, project=project, document=gate_document("a"))
    services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document("b", rules=[rule(conditions=[condition("passes_gate", None, "a")])]),
    )
    services.segment_create(
        actor=project_admin,
        project=project,
        document=segment_document(
            "s", rules=[rule(conditions=[condition("fails_gate", None, "b")])]
        ),
    )
    before = _state(project)
    # When: a starts using segment s (a → s → b → a)
    with pytest.raises(DomainError) as caught:
        services.gate_update(
            actor=project_admin,
            gate=a,
            document=gate_document(
                "a",
                rules=[rule(), rule(conditions=[condition("passes_segment", None, "s")])],
            ),
        )
    # Then
    assert caught.value.code == "cycle"
    assert caught.value.field == "rules[1].conditions[0].targetValue"
    assert "gate a → segment s → gate b → gate a" in caught.value.message
    assert _state(project) == before


# ---------------------------------------------------------------- update


@pytest.fixture
def gate(project, project_admin):
    return services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document(
            rules=[
                rule("Staff", [condition("email", "str_ends_with_any", ["@corp.example"])]),
                rule("Rollout", pass_percentage=30),
            ]
        ),
    )


def test_gate_update__rules_keep_ids__salts_kept_and_new_rule_gets_new_salt(gate, project_member):
    # Given
    old_salt, old_rules = gate.salt, {r["id"]: r["salt"] for r in gate.rules}
    document = gate_to_document(gate)
    document["rules"][1]["passPercentage"] = 40
    document["rules"].insert(0, rule("New", [condition("country", "any", ["NZ"])]))
    document["rules"][1]["name"] = "Employees"
    # When
    updated = services.gate_update(actor=project_member, gate=gate, document=document)
    # Then
    updated.refresh_from_db()
    assert updated.salt == old_salt
    new_rule, staff, rollout = updated.rules
    assert old_rules[staff["id"]] == staff["salt"]
    assert old_rules[rollout["id"]] == rollout["salt"]
    assert rollout["passPercentage"] == 40
    assert new_rule["id"] not in old_rules
    assert new_rule["salt"] not in old_rules.values()


def test_gate_update__rule_removed_and_readded_without_id__gets_a_new_salt(gate, project_admin):
    # Given
    old_salts = {r["salt"] for r in gate.rules}
    document = gate_to_document(gate)
    document["rules"][1].pop("id")
    # When
    updated = services.gate_update(actor=project_admin, gate=gate, document=document)
    # Then
    assert updated.rules[0]["salt"] in old_salts
    assert updated.rules[1]["salt"] not in old_salts


def test_gate_update__changed_document__one_audit_event_with_changed_keys_and_revision_bumped(
    gate, project_admin
):
    # Given
    AuditEvent.objects.all().delete()
    document = gate_to_document(gate)
    document["description"] = "Now for everyone"
    document["isPermanent"] = True
    # When
    updated = services.gate_update(actor=project_admin, gate=gate, document=document)
    # Then
    assert updated.revision == 2
    event = AuditEvent.objects.get()
    assert event.action == "gate.updated"
    assert event.before == {"description": "The new checkout flow", "isPermanent": False}
    assert event.after == {"description": "Now for everyone", "isPermanent": True}


def test_gate_update__identical_document__nothing_written(gate, project_admin):
    # Given
    AuditEvent.objects.all().delete()
    # When
    updated = services.gate_update(actor=project_admin, gate=gate, document=gate_to_document(gate))
    # Then
    assert updated.revision == 1
    assert not AuditEvent.objects.exists()


def test_gate_update__viewer__refused_and_nothing_saved(gate, project, project_viewer):
    # Given
    before = _state(project)
    document = {**gate_to_document(gate), "isEnabled": False}
    # When / Then
    with pytest.raises(NotAllowed):
        services.gate_update(actor=project_viewer, gate=gate, document=document)
    assert _state(project) == before


def test_gate_update__stale_expected_revision__conflict(gate, project_admin):
    # Given
    document = {**gate_to_document(gate), "isEnabled": False}
    # When / Then
    with pytest.raises(Conflict) as caught:
        services.gate_update(actor=project_admin, gate=gate, document=document, expected_revision=7)
    assert caught.value.code == "stale_revision"


def test_gate_update__renamed__refused(gate, project_admin):
    # When / Then
    with pytest.raises(DomainError) as caught:
        services.gate_update(actor=project_admin, gate=gate, document=gate_document("other_name"))
    assert (caught.value.code, caught.value.field) == ("name_immutable", "name")


def test_gate_update__status_changes__status_changed_at_moves(gate, project_admin):
    # Given
    FeatureGate.objects.filter(pk=gate.pk).update(
        status_changed_at=timezone.now() - timedelta(days=3)
    )
    # When
    updated = services.gate_update(
        actor=project_admin, gate=gate, document={**gate_to_document(gate), "status": "launched"}
    )
    # Then
    assert updated.status == GateStatus.LAUNCHED
    assert timezone.now() - updated.status_changed_at < timedelta(minutes=1)


# ---------------------------------------------------------------- archive


def test_gate_archive__unused_gate__archived_name_freed_and_audited(gate, project, project_admin):
    # Given
    AuditEvent.objects.all().delete()
    # When
    archived = services.gate_archive(actor=project_admin, gate=gate)
    # Then
    assert archived.status == GateStatus.ARCHIVED
    assert archived.archived_by == project_admin
    assert archived.revision == 2
    event = AuditEvent.objects.get()
    assert event.action == "gate.archived"
    assert (event.before["status"], event.after["status"]) == ("in_progress", "archived")
    again = services.gate_create(actor=project_admin, project=project, document=gate_document())
    assert again.pk != gate.pk


def test_gate_archive__used_by_another_gate__conflict_then_allowed_once_unused(
    gate, project, project_admin
):
    # Given
    user = services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document(
            "user", rules=[rule(conditions=[condition("passes_gate", None, gate.name)])]
        ),
    )
    # When
    with pytest.raises(Conflict) as caught:
        services.gate_archive(actor=project_admin, gate=gate)
    # Then
    assert caught.value.code == "in_use"
    assert "gate user" in caught.value.message
    services.gate_archive(actor=project_admin, gate=user)
    assert services.gate_archive(actor=project_admin, gate=gate).is_archived


def test_gate_archive__already_archived__conflict_and_no_update_either(gate, project_admin):
    # Given
    services.gate_archive(actor=project_admin, gate=gate)
    # When / Then
    with pytest.raises(Conflict):
        services.gate_archive(actor=project_admin, gate=gate)
    with pytest.raises(Conflict) as caught:
        services.gate_update(actor=project_admin, gate=gate, document=gate_document())
    assert caught.value.code == "archived"


@pytest.mark.parametrize("role_fixture", ["project_viewer", "outsider"])
def test_gate_archive__viewer_or_outsider__refused(gate, project, role_fixture, request):
    # Given
    before = _state(project)
    # When / Then
    with pytest.raises(NotAllowed):
        services.gate_archive(actor=request.getfixturevalue(role_fixture), gate=gate)
    assert _state(project) == before


def test_gate_archive__archived_gate__cannot_be_used_in_conditions(gate, project, project_admin):
    # Given
    services.gate_archive(actor=project_admin, gate=gate)
    # When / Then
    with pytest.raises(DomainError) as caught:
        services.gate_create(
            actor=project_admin,
            project=project,
            document=gate_document(
                "user", rules=[rule(conditions=[condition("passes_gate", None, gate.name)])]
            ),
        )
    assert caught.value.code == "unknown_gate"
