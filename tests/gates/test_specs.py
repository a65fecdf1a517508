import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.models import Environment
from console.specs.builder import (
    CONDITION_KEYS,
    RULE_KEYS,
    SPEC_KEYS,
    V2_REQUIRED,
    SpecError,
    build_spec,
    spec_json,
    to_v2,
)
from console.specs.registry import register_contributor, unregister_contributor
from console.targeting.conditions import CONDITION_TYPES, OPERATORS, ValueKind
from gates import services
from gates.documents import gate_to_document
from gates.specs import INLINE_ID_LIMIT
from tests.gates.factories import (
    DynamicConfigFactory,
    FeatureGateFactory,
    SegmentFactory,
    condition,
    config_document,
    gate_document,
    rule,
    segment_document,
)

TIME = 1_700_000_000_000

# One representative condition per catalogue type, and the spec condition it must become:
# (operator, targetValue, extra document keys) -> (spec type, field, targetValue, idType,
# additionalValues).
CASES = {
    "public": ((None, None, {}), ("public", None, None, "userID", {})),
    "user_id": (("any", ["u1"], {}), ("user_field", "userID", ["u1"], "userID", {})),
    "email": (
        ("str_ends_with_any", ["@corp.example"], {}),
        ("user_field", "email", ["@corp.example"], "userID", {}),
    ),
    "country": (("any", ["nz"], {}), ("ip_based", "country", ["NZ"], "userID", {})),
    "ip_address": (
        ("str_starts_with_any", ["10."], {}),
        ("user_field", "ip", ["10."], "userID", {}),
    ),
    "locale": (("any", ["en_NZ"], {}), ("user_field", "locale", ["en_NZ"], "userID", {})),
    "app_version": (
        ("version_gte", "1.2.0", {}),
        ("user_field", "appVersion", "1.2.0", "userID", {}),
    ),
    "browser_name": (
        ("any", ["Chrome"], {}),
        ("ua_based", "browser_name", ["Chrome"], "userID", {}),
    ),
    "browser_version": (
        ("version_lt", ["120"], {}),
        ("ua_based", "browser_version", "120", "userID", {}),
    ),
    "os_name": (("none", ["Windows"], {}), ("ua_based", "os_name", ["Windows"], "userID", {})),
    "os_version": (
        ("version_gte", "14.1", {}),
        ("ua_based", "os_version", "14.1", "userID", {}),
    ),
    "device_model": (
        ("str_contains_any", ["iPhone"], {}),
        ("user_field", "device_model", ["iPhone"], "userID", {}),
    ),
    "custom_field": (
        ("gt", "30", {"field": "age"}),
        ("user_field", "age", 30, "userID", {"custom_field": "age"}),
    ),
    "unit_id": (
        ("any", ["c1"], {"customID": "companyID"}),
        ("unit_id", "companyID", ["c1"], "companyID", {"custom_id": "companyID"}),
    ),
    "environment_tier": (
        ("any", ["Production"], {}),
        ("environment_field", "tier", ["production"], "userID", {}),
    ),
    "passes_gate": ((None, "base", {}), ("pass_gate", None, "base", "userID", {})),
    "fails_gate": ((None, "base", {}), ("fail_gate", None, "base", "userID", {})),
    "passes_segment": (
        (None, "staff", {}),
        ("pass_gate", None, "segment:staff", "userID", {}),
    ),
    "fails_segment": (
        (None, "staff", {}),
        ("fail_gate", None, "segment:staff", "userID", {}),
    ),
    "time": (
        ("after", "2023-11-14T22:13:20Z", {}),
        ("current_time", None, TIME, "userID", {}),
    ),
    "target_app": (("any", ["web"], {}), ("target_app", None, ["web"], "userID", {})),
}

# A valid targetValue for each value kind, and what the spec carries.
VALUES = {
    ValueKind.STRINGS: (["a", 5], ["a", "5"]),
    ValueKind.REGEX: ("^a+$", "^a+$"),
    ValueKind.NUMBER: (2.5, 2.5),
    ValueKind.VERSION: ("1.2.3-beta", "1.2.3-beta"),
    ValueKind.TIME: (TIME, TIME),
}


@pytest.fixture
def production(project):
    return Environment.objects.get(project=project, name="production")


@pytest.fixture
def development(project):
    return Environment.objects.get(project=project, name="development")


@pytest.fixture
def catalogue_gates(project, project_admin):
    """One gate per condition type (plus the gate and segment they reference)."""
    services.unit_type_create(actor=project_admin, project=project, name="companyID")
    services.gate_create(actor=project_admin, project=project, document=gate_document("base"))
    services.segment_create(
        actor=project_admin, project=project, document=segment_document("staff", rules=[rule()])
    )
    for ctype, ((operator, target, extra), _) in CASES.items():
        services.gate_create(
            actor=project_admin,
            project=project,
            document=gate_document(
                f"by_{ctype}",
                rules=[rule(ctype, [{**condition(ctype, operator, target), **extra}])],
            ),
        )


def _by_name(section):
    return {s["name"]: s for s in section}


def test_cases__cover_the_whole_catalogue():
    # Then
    assert set(CASES) == set(CONDITION_TYPES)


@pytest.mark.parametrize("ctype", sorted(CASES))
def test_build_spec__each_condition_type__v1_and_v2_condition_shapes(
    project, production, catalogue_gates, ctype
):
    # Given
    (operator, _, _), (spec_type, field, target, id_type, additional) = CASES[ctype]
    # When
    v1 = build_spec(project, production, time_ms=TIME)
    v2 = to_v2(v1)
    # Then
    spec = _by_name(v1["feature_gates"])[f"by_{ctype}"]
    assert all(key in spec for key in SPEC_KEYS)
    (spec_rule,) = spec["rules"]
    assert all(key in spec_rule for key in RULE_KEYS)
    assert (spec_rule["returnValue"], spec_rule["idType"]) == (True, "userID")
    (spec_condition,) = spec_rule["conditions"]
    assert spec_condition == {
        "type": spec_type,
        "operator": operator,
        "targetValue": target,
        "field": field,
        "additionalValues": additional,
        "idType": id_type,
    }
    v2_spec = v2["feature_gates"][f"by_{ctype}"]
    assert "name" not in v2_spec
    (key,) = v2_spec["rules"][0]["conditions"]
    assert v2["condition_map"][key] == spec_condition
    assert all(k in v2 for k in V2_REQUIRED)


@pytest.mark.parametrize("operator", CONDITION_TYPES["custom_field"].operators)
def test_build_spec__custom_field_operator__operator_and_value_emitted(
    project, project_admin, production, operator
):
    # Given
    value, expected = VALUES[OPERATORS[operator].value]
    services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document(
            rules=[rule(conditions=[condition("custom_field", operator, value, field="plan")])]
        ),
    )
    # When
    spec = build_spec(project, production, time_ms=TIME)
    # Then
    (spec_condition,) = spec["feature_gates"][0]["rules"][0]["conditions"]
    assert (spec_condition["operator"], spec_condition["targetValue"]) == (operator, expected)
    assert all(key in spec_condition for key in CONDITION_KEYS)


def test_build_spec__top_level__publisher_keys(project, production):
    # When
    v1 = build_spec(project, production, time_ms=TIME)
    v2 = to_v2(v1)
    # Then
    assert v1["has_updates"] is True
    assert v1["time"] == TIME
    assert v1["default_environment"] == "production"
    assert set(v1["diagnostics"].values()) == {0}
    for key in ("feature_gates", "dynamic_configs", "layer_configs", "layers", "id_lists"):
        assert key in v1
    assert v2["response_format"] == "dcs-v2"
    assert "layers" not in v2
    assert all(key in v2 for key in V2_REQUIRED)


@pytest.mark.parametrize("time_ms", [0, 1.5e12, "1700000000000", True])
def test_build_spec__time_not_a_positive_int__refused(project, production, time_ms):
    # When / Then
    with pytest.raises(SpecError):
        build_spec(project, production, time_ms=time_ms)


def test_build_spec__disabled_switch_or_status__enabled_false_and_no_rules(
    project, project_admin, production
):
    # Given
    for name, fields in [
        ("switched_off", {"isEnabled": False}),
        ("status_disabled", {"status": "disabled"}),
    ]:
        services.gate_create(
            actor=project_admin,
            project=project,
            document=gate_document(name, rules=[rule()], **fields),
        )
    # When
    gates = _by_name(build_spec(project, production, time_ms=TIME)["feature_gates"])
    # Then
    for name in ("switched_off", "status_disabled"):
        assert (gates[name]["enabled"], gates[name]["rules"]) == (False, [])


def test_build_spec__launched_gate__single_public_full_rule(project, project_admin, production):
    # Given
    services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document(
            status="launched",
            rules=[rule(pass_percentage=5)],
            overrides=[{"environment": None, "failingIDs": ["u1"]}],
        ),
    )
    # When
    (spec,) = build_spec(project, production, time_ms=TIME)["feature_gates"]
    # Then
    (only,) = spec["rules"]
    assert only["passPercentage"] == 100
    assert [c["type"] for c in only["conditions"]] == ["public"]
    assert spec["enabled"] is True


def test_build_spec__rule_for_some_environments__only_emitted_there(
    project, project_admin, production, development
):
    # Given
    services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document(
            rules=[rule("prod only", environments=["production"]), rule("everywhere")]
        ),
    )
    # When
    prod = build_spec(project, production, time_ms=TIME)["feature_gates"][0]
    dev = build_spec(project, development, time_ms=TIME)["feature_gates"][0]
    # Then
    assert [r["groupName"] for r in prod["rules"]] == ["prod only", "everywhere"]
    assert [r["groupName"] for r in dev["rules"]] == ["everywhere"]


def test_build_spec__renamed_environment__rules_follow_it(project, project_admin, production):
    # Given
    gate = services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document(rules=[rule("prod only", environments=["production"])]),
    )
    from console import services as console_services

    console_services.environment_update(
        actor=project_admin, environment=production, name="live", tier="production"
    )
    # When
    spec = build_spec(project, production, time_ms=TIME)["feature_gates"][0]
    # Then
    assert len(spec["rules"]) == 1
    assert gate_to_document(gate)["rules"][0]["environments"] == ["live"]


def test_build_spec__overrides__leading_fixed_rules_with_gate_id_type(
    project, project_admin, production, development
):
    # Given
    services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document(
            idType="stableID",
            rules=[rule(pass_percentage=50)],
            overrides=[
                {"environment": None, "passingIDs": ["s2", "s1"], "failingIDs": ["s3"]},
                {"environment": "production", "passingIDs": ["s3"], "failingIDs": ["s9"]},
            ],
        ),
    )
    # When
    prod = build_spec(project, production, time_ms=TIME)["feature_gates"][0]["rules"]
    dev = build_spec(project, development, time_ms=TIME)["feature_gates"][0]["rules"]
    # Then
    fail, pass_, regular = prod
    assert fail["id"].endswith("override")
    assert pass_["id"].endswith("override")
    assert (fail["passPercentage"], fail["returnValue"]) == (0, False)
    assert (pass_["passPercentage"], pass_["returnValue"]) == (100, True)
    assert fail["conditions"][0]["targetValue"] == ["s9"]
    assert pass_["conditions"][0]["targetValue"] == ["s1", "s2", "s3"]
    for r in (fail, pass_):
        assert (r["idType"], r["conditions"][0]["idType"]) == ("stableID", "stableID")
        assert (r["conditions"][0]["type"], r["conditions"][0]["operator"]) == ("unit_id", "any")
        assert r["salt"] == ""
    assert regular["passPercentage"] == 50
    assert [r["conditions"][0]["targetValue"] for r in dev[:2]] == [["s3"], ["s1", "s2"]]


def test_build_spec__segments__rule_based_inline_and_id_list(project, project_admin, production):
    # Given
    services.segment_create(
        actor=project_admin,
        project=project,
        document=segment_document("staff", rules=[rule()]),
    )
    small = services.segment_create(
        actor=project_admin, project=project, document=segment_document("small", type="id_list")
    )
    large = services.segment_create(
        actor=project_admin, project=project, document=segment_document("large", type="id_list")
    )
    services.segment_create(
        actor=project_admin, project=project, document=segment_document("empty", type="id_list")
    )
    services.segment_ids_add(actor=project_admin, segment=small, ids=["b", "a"])
    services.segment_ids_add(
        actor=project_admin, segment=large, ids=[f"u{n}" for n in range(INLINE_ID_LIMIT + 1)]
    )
    # When
    v1 = build_spec(project, production, time_ms=TIME)
    # Then
    specs = _by_name(v1["feature_gates"])
    assert set(specs) == {"segment:staff", "segment:small", "segment:large", "segment:empty"}
    for spec in specs.values():
        assert (spec["entity"], spec["type"], spec["defaultValue"]) == (
            "segment",
            "feature_gate",
            False,
        )
    assert specs["segment:staff"]["rules"][0]["conditions"][0]["type"] == "public"
    inline = specs["segment:small"]["rules"][0]["conditions"][0]
    assert (inline["type"], inline["operator"], inline["targetValue"]) == (
        "unit_id",
        "any",
        ["a", "b"],
    )
    listed = specs["segment:large"]["rules"][0]["conditions"][0]
    assert (listed["operator"], listed["targetValue"]) == ("in_segment_list", "large")
    assert v1["id_lists"] == {"large": True}
    assert specs["segment:empty"]["rules"] == []


def test_build_spec__dynamic_config__default_and_rule_values(project, project_admin, production):
    # Given
    services.dynamic_config_create(
        actor=project_admin,
        project=project,
        document=config_document(rules=[rule(returnValue={"theme": "dark"})]),
    )
    services.dynamic_config_create(
        actor=project_admin,
        project=project,
        document=config_document("off", isEnabled=False, rules=[rule(returnValue={})]),
    )
    # When
    configs = _by_name(build_spec(project, production, time_ms=TIME)["dynamic_configs"])
    # Then
    on = configs["checkout_settings"]
    assert (on["type"], on["entity"], on["defaultValue"]) == (
        "dynamic_config",
        "dynamic_config",
        {"theme": "light"},
    )
    assert on["rules"][0]["returnValue"] == {"theme": "dark"}
    assert (configs["off"]["enabled"], configs["off"]["rules"]) == (False, [])


def test_build_spec__archived_entities__left_out(project, project_admin, production):
    # Given
    gate = services.gate_create(actor=project_admin, project=project, document=gate_document())
    services.gate_archive(actor=project_admin, gate=gate)
    # When
    spec = build_spec(project, production, time_ms=TIME)
    # Then
    assert spec["feature_gates"] == []


def test_build_spec__same_data__identical_bytes_and_sorted_names(
    project, project_admin, production
):
    # Given
    for name in ("zeta", "alpha", "Mid"):
        services.gate_create(
            actor=project_admin,
            project=project,
            document=gate_document(
                name, rules=[rule(conditions=[condition("country", "any", ["NZ"])])]
            ),
        )
    # When
    first = build_spec(project, production, time_ms=TIME)
    second = build_spec(project, production, time_ms=TIME)
    # Then
    assert spec_json(first) == spec_json(second)
    assert spec_json(to_v2(first)) == spec_json(to_v2(second))
    assert [g["name"] for g in first["feature_gates"]] == ["Mid", "alpha", "zeta"]
    json.loads(spec_json(first))


def test_build_spec__contributor_breaks_a_publisher_rule__spec_error(project, production):
    # Given
    def broken(project, environment, draft):
        draft.feature_gates.append(
            {
                "name": "bad",
                "type": "feature_gate",
                "entity": "feature_gate",
                "salt": None,
                "enabled": True,
                "defaultValue": False,
                "idType": "userID",
                "rules": [],
            }
        )

    register_contributor(broken)
    try:
        # When / Then
        with pytest.raises(SpecError, match="salt"):
            build_spec(project, production, time_ms=TIME)
    finally:
        unregister_contributor(broken)


def _build_queries(project, environment) -> int:
    with CaptureQueriesContext(connection) as ctx:
        build_spec(project, environment, time_ms=TIME)
    return len(ctx.captured_queries)


def test_build_spec__3_or_30_of_each__same_number_of_queries(project, production):
    # Given
    def add(n):
        FeatureGateFactory.create_batch(n, project=project)
        SegmentFactory.create_batch(n, project=project)
        DynamicConfigFactory.create_batch(n, project=project)
        for segment in SegmentFactory.create_batch(n, project=project, kind="id_list", rules=[]):
            services_ids = [f"{segment.pk}-{i}" for i in range(3)]
            segment.ids.bulk_create(
                [segment.ids.model(segment=segment, unit_id=i) for i in services_ids]
            )
            segment.id_count = 3
            segment.save()

    add(3)
    few = _build_queries(project, production)
    # When
    add(27)
    many = _build_queries(project, production)
    # Then
    assert few == many
