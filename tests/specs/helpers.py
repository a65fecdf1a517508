"""Spec/user builders and fixture loading shared by the tests in tests/specs."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from console.specs.hashing import id_list_hash

# The Statsig SDKs' own test payloads, kept in the repository (see its README.md).
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "statsig"
SECTIONS = {"gate": "feature_gates", "config": "dynamic_configs", "layer": "layer_configs"}


# ---------------------------------------------------------------- spec building


def cond(ctype: str, operator=None, target=None, field=None, id_type="userID", **extra) -> dict:
    return {
        "type": ctype,
        "targetValue": target,
        "operator": operator,
        "field": field,
        "additionalValues": extra.pop("additional", {}),
        "idType": id_type,
        **extra,
    }


def rule(rule_id: str, conditions: list[dict], value: Any = True, pct: float = 100, **extra):
    out = {
        "name": rule_id,
        "id": rule_id,
        "salt": extra.pop("salt", rule_id),
        "passPercentage": pct,
        "conditions": conditions,
        "returnValue": value,
        "idType": extra.pop("id_type", "userID"),
    }
    out.update(extra)
    return out


def entity(name: str, rules: list[dict], *, kind="gate", default: Any = None, **extra) -> dict:
    is_gate = kind == "gate"
    out = {
        "name": name,
        "type": "feature_gate" if is_gate else "dynamic_config",
        "entity": extra.pop("entity", "feature_gate" if is_gate else "dynamic_config"),
        "salt": extra.pop("salt", f"salt-{name}"),
        "enabled": extra.pop("enabled", True),
        "defaultValue": (False if is_gate else {}) if default is None else default,
        "idType": extra.pop("id_type", "userID"),
        "rules": rules,
    }
    out.update(extra)
    return out


def payload(gates=(), configs=(), layer_configs=(), **extra) -> dict:
    """A v1 DCS payload."""
    out = {
        "has_updates": True,
        "time": 1_700_000_000_000,
        "feature_gates": list(gates),
        "dynamic_configs": list(configs),
        "layer_configs": list(layer_configs),
        "layers": {},
        "experiment_to_layer": {},
        "diagnostics": {"initialize": 0, "dcs": 0, "idlist": 0, "logevent": 0, "api_call": 0},
    }
    out.update(extra)
    return out


# ---------------------------------------------------------------- fixtures


def fixture_files() -> list[Path]:
    """The DCS payloads among the official fixtures (v1 and v2). Missing fixtures are an
    error, not an empty (silently skipped) test."""
    files = sorted(
        path for path in FIXTURES.glob("*.json") if "feature_gates" in json.loads(path.read_text())
    )
    if not files:
        raise FileNotFoundError(f"No Statsig fixtures in {FIXTURES}.")
    return files


FIXTURES_ALL = fixture_files()


def load_fixture(path: Path) -> dict:
    return json.loads(path.read_text())


def spec_names(spec: Mapping) -> dict[str, list[str]]:
    """``{kind: [names]}`` of a v1 or v2 payload."""
    out = {}
    for kind, section in SECTIONS.items():
        entries = spec.get(section) or []
        out[kind] = list(entries) if isinstance(entries, Mapping) else [e["name"] for e in entries]
    return out


def iter_conditions(spec: Mapping) -> Iterable[dict]:
    condition_map = spec.get("condition_map") or {}
    for section in SECTIONS.values():
        entries = spec.get(section) or []
        for item in entries.values() if isinstance(entries, Mapping) else entries:
            for rule_ in item.get("rules", []):
                for condition in rule_.get("conditions", []):
                    yield condition_map[condition] if isinstance(condition, str) else condition


# ---------------------------------------------------------------- users

_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.109 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.6045.163 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/118.0.0.0 Safari/537.36",
]
_IPS = ["1.0.0.0", "1.1.1.1", "2.2.2.2", "1.2.3.4", "101.100.159.200", "24.0.0.1", "77.0.0.1"]
_IPS += ["80.0.0.1", "58.0.0.1", "150.0.0.1", "41.0.0.1", "192.168.0.1"]
_COUNTRIES = ["US", "CA", "NZ", "DE", "FR", "JP", "CN", "GB", "us", "ch"]
_EMAILS = ["@statsig.com", "@statsig.io", "@gmail.com", "@example.com", "@Statsig.COM", "@acme.io"]
_VERSIONS = ["1.0.0", "1.2.3", "1.3", "1.1.1-beta", "2.0", "4", "0.9.9", "10.1.0", "1.2.3.4"]
_LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "ja_JP"]
_TIERS = ["production", "staging", "development"]


def _seeds(specs: Iterable[Mapping]) -> dict[str, list[str]]:
    """String targets of the given specs' conditions, so overrides and lists get hit."""
    seeds: dict[str, set[str]] = {"userID": set(), "email": set(), "custom_ids": set()}
    for spec in specs:
        for condition in iter_conditions(spec):
            target = condition.get("targetValue")
            values = target if isinstance(target, list) else [target]
            strings = [v for v in values if isinstance(v, str)][:60]
            field = condition.get("field")
            if condition.get("type") == "unit_id" or field == "userID":
                seeds["userID" if condition.get("idType") == "userID" else "custom_ids"].update(
                    strings
                )
            elif field == "email" and condition.get("operator") == "any":
                seeds["email"].update(strings)
    return {key: sorted(values) for key, values in seeds.items()}


def generate_users(count: int, *, seed: int = 7, specs: Iterable[Mapping] = ()) -> list[dict]:
    """``count`` distinct users with varied attributes (some missing, some odd), plus IDs and
    emails taken from the specs' own targets. Values stay within what all three SDKs read
    alike (see the divergence notes in console.specs.evaluator)."""
    rnd = random.Random(seed)
    seeds = _seeds(specs)
    users = []
    for i in range(count):
        user: dict[str, Any] = {}
        pick = rnd.random()
        if seeds["userID"] and pick < 0.15:
            user["userID"] = rnd.choice(seeds["userID"])
        elif pick < 0.2:
            user["userID"] = str(rnd.randint(1, 200))
        elif pick < 0.25:
            user["userID"] = f"ünïcødé-{i}-用户"
        else:
            user["userID"] = f"user-{i}"
        if rnd.random() < 0.7:
            if seeds["email"] and rnd.random() < 0.2:
                user["email"] = rnd.choice(seeds["email"])
            else:
                user["email"] = f"u{i}{rnd.choice(_EMAILS)}"
        if rnd.random() < 0.6:
            user["country"] = rnd.choice(_COUNTRIES)
        if rnd.random() < 0.6:
            user["ip"] = rnd.choice(_IPS)
        if rnd.random() < 0.6:
            user["userAgent"] = rnd.choice(_AGENTS)
        if rnd.random() < 0.5:
            user["appVersion"] = rnd.choice(_VERSIONS)
        if rnd.random() < 0.5:
            user["locale"] = rnd.choice(_LOCALES)
        custom: dict[str, Any] = {}
        if rnd.random() < 0.5:
            custom["level"] = rnd.choice([0, 3, 4, 5, 8, 9, 10, 12, "7", "9"])
        if rnd.random() < 0.3:
            custom["newUser"] = rnd.choice([True, False, "true", "TRUE"])
        if rnd.random() < 0.2:
            custom["passes"] = rnd.choice([True, "true", "no"])
        if rnd.random() < 0.2:
            custom["Foo"] = rnd.choice(["Bar", "bar", "baz"])
        if rnd.random() < 0.2:
            custom["plays_league"] = rnd.choice(["yes", "no"])
        if rnd.random() < 0.2:
            custom["region"] = rnd.choice(["some-use", "some-west", "eu"])
        if rnd.random() < 0.2:
            custom["service"] = rnd.choice(["backend", "backend-configspec", "web"])
        if rnd.random() < 0.1:
            custom["device_model"] = rnd.choice(["123", "pixel"])
        if rnd.random() < 0.1:
            custom["bigInt"] = rnd.choice([9223372036854775807, 5, 9223372036854770000])
        if rnd.random() < 0.3:
            custom["tags"] = rnd.sample(["a", "b", "c", "d"], k=rnd.randint(0, 3))
        if rnd.random() < 0.4:
            custom["plan"] = rnd.choice(["pro", "free", "Pro", "enterprise"])
        if rnd.random() < 0.4:
            custom["signup"] = rnd.choice([1_600_000_000_000, 1_700_000_000_000, 1_800_000_000])
        if custom:
            user["custom"] = custom
        if rnd.random() < 0.1:
            user["privateAttributes"] = {"secret_level": rnd.randint(0, 10)}
        ids: dict[str, str] = {}
        if rnd.random() < 0.5:
            ids["stableID"] = f"stable-{rnd.randint(0, 400)}"
        if rnd.random() < 0.4:
            ids["companyID"] = rnd.choice(["123", "12345", "bad-employee", f"co-{i % 37}"])
        if seeds["custom_ids"] and rnd.random() < 0.3:
            ids[rnd.choice(["hubID", "random_id", "companyID", "stableID"])] = rnd.choice(
                seeds["custom_ids"]
            )
        if rnd.random() < 0.1:
            ids["hubID"] = rnd.choice(["console-1", "d-run-7", "my-computer-local"])
        if ids:
            user["customIDs"] = ids
        users.append(user)
    return users


def id_lists_for(users: list[dict], names: Iterable[str], *, seed: int = 3) -> dict[str, set]:
    """ID lists holding the hashed unit IDs of about a third of the users."""
    rnd = random.Random(seed)
    units = sorted(
        {u.get("userID", "") for u in users}
        | {v for u in users for v in u.get("customIDs", {}).values()}
    )
    return {name: {id_list_hash(uid) for uid in units if rnd.random() < 0.33} for name in names}


# ---------------------------------------------------------------- a spec with every operator


def _gate(name: str, *conditions: dict, pct: float = 100, **extra) -> dict:
    return entity(name, [rule(f"{name}_r", list(conditions), True, pct)], **extra)


def catalogue_spec() -> dict:
    """One gate per condition type / operator (so a divergence stays local to its gate),
    plus rollouts, nesting, segments, a disabled gate, configs, an experiment and a layer.
    Only shapes the spec builder may emit, unless the name starts with ``x_`` (documented
    divergences, see console.specs.evaluator)."""
    uf = "user_field"
    gates = [
        _gate("country_any", cond(uf, "any", ["US", "ca"], "country")),
        _gate("country_none", cond(uf, "none", ["US", "CA"], "country")),
        _gate("plan_any_cs", cond(uf, "any_case_sensitive", ["pro"], "plan")),
        _gate("plan_none_cs", cond(uf, "none_case_sensitive", ["pro"], "plan")),
        _gate("email_starts", cond(uf, "str_starts_with_any", ["U1", "u2"], "email")),
        _gate("email_ends", cond(uf, "str_ends_with_any", ["@statsig.com"], "email")),
        _gate("email_contains", cond(uf, "str_contains_any", ["statsig", "ACME"], "email")),
        _gate("email_contains_none", cond(uf, "str_contains_none", ["gmail"], "email")),
        _gate("email_regex", cond(uf, "str_matches", r"^u\d+@(statsig|acme)\.", "email")),
        _gate("level_gt", cond(uf, "gt", 5, "level")),
        _gate("level_gte", cond(uf, "gte", 5, "level")),
        _gate("level_lt", cond(uf, "lt", 5.5, "level")),
        _gate("level_lte", cond(uf, "lte", "5", "level")),
        _gate("version_gt", cond(uf, "version_gt", "1.2.3", "appVersion")),
        _gate("version_gte", cond(uf, "version_gte", "1.3", "appVersion")),
        _gate("version_lt", cond(uf, "version_lt", "2.0.0", "appVersion")),
        _gate("version_lte", cond(uf, "version_lte", "1.2.3", "appVersion")),
        _gate("version_eq", cond(uf, "version_eq", "1.3.0", "appVersion")),
        _gate("version_neq", cond(uf, "version_neq", "1.0", "appVersion")),
        _gate("plan_eq", cond(uf, "eq", "pro", "plan")),
        _gate("plan_neq", cond(uf, "neq", "pro", "plan")),
        _gate("signup_before", cond(uf, "before", 1_650_000_000_000, "signup")),
        _gate("signup_after", cond(uf, "after", 1_650_000_000_000, "signup")),
        _gate("now_after", cond("current_time", "after", 1_600_000_000_000)),
        _gate("now_before", cond("current_time", "before", 4_100_000_000_000)),
        _gate("in_list", cond("unit_id", "in_segment_list", "beta_list")),
        _gate("not_in_list", cond("unit_id", "not_in_segment_list", "beta_list")),
        _gate(
            "company_in_list",
            cond("unit_id", "in_segment_list", "company_list", id_type="companyID"),
        ),
        _gate("tags_any", cond(uf, "array_contains_any", ["a", "b"], "tags")),
        _gate("tags_none", cond(uf, "array_contains_none", ["a"], "tags")),
        _gate("tags_all", cond(uf, "array_contains_all", ["a", "b"], "tags")),
        _gate("tags_not_all", cond(uf, "not_array_contains_all", ["a", "b"], "tags")),
        _gate("tier_any", cond("environment_field", "any", ["staging"], "tier")),
        _gate("tier_none", cond("environment_field", "none", ["production"], "tier")),
        _gate("ip_country", cond("ip_based", "any", ["US", "NZ", "DE"], "country")),
        _gate("os_name", cond("ua_based", "any", ["iOS", "Android", "Mac OS X"], "os_name")),
        _gate("browser_name", cond("ua_based", "any", ["Chrome", "Firefox"], "browser_name")),
        _gate("os_version", cond("ua_based", "version_gte", "13.0", "os_version")),
        _gate("browser_version", cond("ua_based", "version_gte", "119", "browser_version")),
        _gate(
            "company_bucket",
            cond("user_bucket", "lt", 400, id_type="companyID", additional={"salt": "b-salt"}),
        ),
        _gate(
            "bucket_any",
            cond("user_bucket", "any", list(range(0, 1000, 3)), additional={"salt": "s2"}),
        ),
        _gate("stable_any", cond("unit_id", "any", ["stable-1", "stable-2"], id_type="stableID")),
        _gate("private_attr", cond(uf, "gte", 5, "secret_level")),
        _gate("app_target", cond("target_app", "any", ["app-web"])),
        _gate("public_30", cond("public"), pct=30),
        _gate("public_fraction", cond("public"), pct=33.3),
        _gate("public_zero", cond("public"), pct=0),
        _gate("stable_rollout", cond("public"), pct=50, id_type="stableID"),
        entity(
            "stable_rule_rollout",
            [rule("by_stable", [cond("public")], True, 50, id_type="stableID")],
        ),
        entity("killed", [], enabled=False),
        entity(
            "segment:staff",
            [rule("staff", [cond(uf, "str_ends_with_any", ["@statsig.com"], "email")])],
            entity="segment",
        ),
        entity(
            "segment:listed",
            [rule("id_list", [cond("unit_id", "in_segment_list", "beta_list")], salt="")],
            entity="segment",
        ),
        entity(
            "holdout_10",
            [rule("holdout:10.00:1", [cond("public")], True, 10, salt="holdout")],
            entity="holdout",
        ),
        _gate("uses_segment", cond("pass_gate", None, "segment:staff")),
        _gate("not_segment", cond("fail_gate", None, "segment:listed")),
        entity(
            "nested",
            [
                rule("n1", [cond("pass_gate", None, "country_any"), cond(uf, "gt", 3, "level")]),
                rule("n2", [cond("fail_gate", None, "holdout_10")], True, 50),
            ],
        ),
        _gate("x_multi_pass", cond("multi_pass_gate", None, ["country_any", "email_ends"])),
        _gate("x_multi_fail", cond("multi_fail_gate", None, ["country_any", "email_ends"])),
        entity(
            "many_rules",
            [
                rule(f"m{i}", [cond(uf, "any", [f"user-{i}", f"user-{i + 20}"], "userID")])
                for i in range(18)
            ]
            + [rule("m_email", [cond(uf, "str_contains_any", ["@acme"], "email")])]
            + [rule("m_rest", [cond("public")], True, 40)],
        ),
    ]
    params = {"color": "blue", "size": 1}
    configs = [
        entity(
            "banner",
            [
                rule("pro", [cond(uf, "any", ["pro"], "plan")], {"color": "gold", "size": 3}),
                rule("half", [cond("public")], {"color": "green", "size": 2}, 50),
            ],
            kind="config",
            default=params,
        ),
        entity(
            "checkout_exp",
            [
                rule("holdout", [cond("pass_gate", None, "holdout_10")], params, salt=""),
                rule(
                    "layerAssignment",
                    [
                        cond(
                            "user_bucket",
                            "none",
                            list(range(600)),
                            additional={"salt": "layer-salt"},
                        )
                    ],
                    params,
                    salt="",
                ),
                rule(
                    "control",
                    [cond("user_bucket", "lt", 500, additional={"salt": "exp-salt"})],
                    params,
                    groupName="Control",
                    isExperimentGroup=True,
                ),
                rule(
                    "test",
                    [cond("user_bucket", "lt", 1000, additional={"salt": "exp-salt"})],
                    {"color": "red", "size": 1},
                    groupName="Test",
                    isExperimentGroup=True,
                ),
            ],
            kind="config",
            default=params,
            entity="experiment",
            isActive=True,
            hasSharedParams=True,
            explicitParameters=["color"],
        ),
    ]
    layers = [
        entity(
            "checkout_layer",
            [
                rule("holdout", [cond("pass_gate", None, "holdout_10")], params, salt=""),
                rule(
                    "experimentAssignment",
                    [
                        cond(
                            "user_bucket",
                            "any",
                            list(range(600)),
                            additional={"salt": "layer-salt"},
                        )
                    ],
                    params,
                    salt="",
                    configDelegate="checkout_exp",
                ),
            ],
            kind="layer",
            default=params,
            entity="layer",
        )
    ]
    return payload(
        gates,
        configs,
        layers,
        app_id="app-web",
        layers={"checkout_layer": ["checkout_exp"]},
        experiment_to_layer={"checkout_exp": "checkout_layer"},
    )
