"""HTML pages of gates, segments and dynamic configs: access per role, the rules editor,
refusals shown where they belong with nothing saved, "test a user", query counts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from console.models import AuditEvent, Environment, Project, Role
from console.specs.builder import build_spec
from console.specs.evaluator import Evaluator
from gates import services
from gates.models import (
    DynamicConfig,
    FeatureGate,
    GateStatus,
    Segment,
    SegmentID,
    SegmentKind,
    UnitType,
)
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

# Tests of editing itself: every change set applies at once (test_review_paths.py covers
# the default policy, where production changes wait for review).
pytestmark = pytest.mark.usefixtures("no_review")

ROLE_RANK = {None: 0, Role.VIEWER: 1, Role.MEMBER: 2, Role.ADMIN: 3}
XSS = "<script>alert(1)</script>"


# ---------------------------------------------------------------- form data builders


def _condition_data(prefix: str, cond: dict[str, Any]) -> dict[str, Any]:
    data = {f"{prefix}type": cond["type"], f"{prefix}operator": cond.get("operator") or ""}
    if cond.get("field"):
        data[f"{prefix}field"] = cond["field"]
    if cond.get("customID"):
        data[f"{prefix}custom_id"] = cond["customID"]
    value = cond.get("targetValue")
    if isinstance(value, list):
        data[f"{prefix}value"] = ", ".join(str(v) for v in value)
    elif value is not None:
        data[f"{prefix}value"] = str(value)
    return data


def rules_data(rules: list[dict[str, Any]]) -> dict[str, Any]:
    """The rules editor's POST fields for document-shaped rules."""
    data: dict[str, Any] = {}
    for i, r in enumerate(rules):
        p = f"rule-{i}-"
        data[p + "name"] = r["name"]
        data[p + "pass"] = str(r["passPercentage"])
        if r.get("id"):
            data[p + "id"] = r["id"]
        if r.get("environments"):
            data[p + "env"] = r["environments"]
        if "returnValue" in r:
            data[p + "return"] = r["returnValue"]
        for j, cond in enumerate(r["conditions"]):
            data.update(_condition_data(f"{p}cond-{j}-", cond))
    return data


def gate_data(name: str | None = "checkout_v3", rules=(), **fields) -> dict[str, Any]:
    data = {
        "description": "Checkout, third attempt",
        "owner": "",
        "tags": [],
        "id_type": "userID",
        "status": "in_progress",
        "is_enabled": "on",
        "is_permanent": "false",
        **rules_data(list(rules)),
        **fields,
    }
    if name is not None:
        data["name"] = name
    return data


def segment_data(name: str | None = "staff", kind="rule_based", rules=(), **fields):
    data = {
        "description": "",
        "owner": "",
        "id_type": "userID",
        **rules_data(list(rules)),
        **fields,
    }
    if name is not None:
        data["name"] = name
        data["kind"] = kind
    return data


def config_data(name: str | None = "limits", rules=(), **fields):
    data = {
        "description": "",
        "owner": "",
        "id_type": "userID",
        "is_enabled": "on",
        "default_value": '{"limit": 1}',
        "schema": "",
        **rules_data(list(rules)),
        **fields,
    }
    if name is not None:
        data["name"] = name
    return data


EMAIL_RULE = rule("Staff", [condition("email", "str_ends_with_any", ["@corp.example"])])


# ---------------------------------------------------------------- shared set-up


@dataclass
class World:
    project: Project
    gate: FeatureGate
    segment: Segment
    id_list: Segment
    config: DynamicConfig


@pytest.fixture
def world(project, project_admin, project_member, project_viewer, outsider) -> World:
    gate = services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document("new_checkout", rules=[EMAIL_RULE]),
    )
    segment = services.segment_create(
        actor=project_admin, project=project, document=segment_document("employees")
    )
    id_list = services.segment_create(
        actor=project_admin,
        project=project,
        document=segment_document("beta", type="id_list"),
    )
    services.segment_ids_add(actor=project_admin, segment=id_list, ids=["u-1", "u-2", "u-3"])
    config = services.dynamic_config_create(
        actor=project_admin,
        project=project,
        document=config_document(
            "checkout_settings",
            rules=[rule("Staff", EMAIL_RULE["conditions"], returnValue={"theme": "dark"})],
        ),
    )
    return World(project, gate, segment, id_list, config)


def _entity_events() -> int:
    """Audit events of the entities themselves (a write applied through a change set also
    records the change set's own events and the ruleset version it published)."""
    return (
        AuditEvent.objects.exclude(action__startswith="changeset.")
        .exclude(action__startswith="ruleset.")
        .count()
    )


def _db_state(project: Project) -> tuple:
    """Everything a gates write could change, to compare before and after (the entity
    audit events last)."""
    return (
        AuditEvent.objects.count(),
        list(FeatureGate.objects.filter(project=project).values_list("pk", "revision")),
        list(Segment.objects.filter(project=project).values_list("pk", "revision", "id_count")),
        list(DynamicConfig.objects.filter(project=project).values_list("pk", "revision")),
        SegmentID.objects.filter(segment__project=project).count(),
        UnitType.objects.filter(project=project).count(),
        _entity_events(),
    )


def _csv(text: str = "id\nu-9\nu-10\n") -> SimpleUploadedFile:
    return SimpleUploadedFile("ids.csv", text.encode(), content_type="text/csv")


TEST_USER = {"environment": "", "user_id": "u-1", "email": "pat@corp.example"}

# (url name, the world's object, method, minimum role, form data or a callable of the world)
MATRIX = [
    ("gate-list", None, "get", Role.VIEWER, None),
    ("gate-create", None, "get", Role.MEMBER, None),
    ("gate-create", None, "post", Role.MEMBER, gate_data(rules=[EMAIL_RULE])),
    ("gate-detail", "gate", "get", Role.VIEWER, None),
    ("gate-detail", "gate", "post", Role.MEMBER, gate_data(None, [EMAIL_RULE], status="launched")),
    ("gate-archive", "gate", "post", Role.MEMBER, {}),
    ("gate-test", "gate", "post", Role.VIEWER, TEST_USER),
    ("segment-list", None, "get", Role.VIEWER, None),
    ("segment-create", None, "get", Role.MEMBER, None),
    ("segment-create", None, "post", Role.MEMBER, segment_data(rules=[EMAIL_RULE])),
    ("segment-detail", "segment", "get", Role.VIEWER, None),
    ("segment-detail", "segment", "post", Role.MEMBER, segment_data(None, description="x")),
    ("segment-detail", "id_list", "get", Role.VIEWER, None),
    ("segment-archive", "segment", "post", Role.MEMBER, {}),
    ("segment-test", "segment", "post", Role.VIEWER, TEST_USER),
    ("segment-ids-add", "id_list", "post", Role.MEMBER, {"ids": "u-7 u-8"}),
    ("segment-ids-remove", "id_list", "post", Role.MEMBER, {"ids": "u-1"}),
    ("segment-ids-upload", "id_list", "post", Role.MEMBER, lambda: {"file": _csv(), "mode": "add"}),
    ("config-list", None, "get", Role.VIEWER, None),
    ("config-create", None, "get", Role.MEMBER, None),
    ("config-create", None, "post", Role.MEMBER, config_data()),
    ("config-detail", "config", "get", Role.VIEWER, None),
    ("config-detail", "config", "post", Role.MEMBER, config_data(None, default_value='{"a": 2}')),
    ("config-archive", "config", "post", Role.MEMBER, {}),
    ("config-test", "config", "post", Role.VIEWER, TEST_USER),
    ("unit-type-create", None, "post", Role.ADMIN, {"name": "companyID", "description": ""}),
]
ACTORS = ["anonymous", "outsider", Role.VIEWER, Role.MEMBER, Role.ADMIN]
READS_BY_POST = {"gate-test", "segment-test", "config-test"}


def _url(world: World, name: str, target: str | None) -> str:
    slug = world.project.slug
    if target is None:
        return reverse(name, args=[slug])
    return reverse(name, args=[slug, getattr(world, target).pk])


def _login(client, actor, request) -> str | None:
    users = {
        "outsider": "outsider",
        Role.VIEWER: "project_viewer",
        Role.MEMBER: "project_member",
        Role.ADMIN: "project_admin",
    }
    if actor != "anonymous":
        client.force_login(request.getfixturevalue(users[actor]))
    return actor if actor in ROLE_RANK else None


# ---------------------------------------------------------------- permission matrix


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize(
    ("name", "target", "method", "needed", "data"),
    MATRIX,
    ids=[f"{m[0]}-{m[1] or 'project'}-{m[2]}" for m in MATRIX],
)
def test_gates_pages__each_role__get_the_expected_status(
    client, world, request, actor, name, target, method, needed, data
):
    # Given a project with a gate, two segments and a config, and someone (or nobody)
    role = _login(client, actor, request)
    url = _url(world, name, target)
    if callable(data):
        data = data()
    if data is TEST_USER:
        data = {**TEST_USER, "environment": str(world.project.environments.first().pk)}
    before = _db_state(world.project)

    # When they open the page or send the form
    response = client.get(url) if method == "get" else client.post(url, data)

    # Then anonymous people sign in, outsiders are asked to request access, and the role
    # decides
    if actor == "anonymous":
        assert response.status_code == 302
        assert response.url.startswith(reverse("account_login"))
    elif actor == "outsider":
        assert response.status_code == 403
        assert "is a closed project" in response.content.decode()
    elif ROLE_RANK[role] < ROLE_RANK[needed]:
        assert response.status_code == 403
    elif method == "get" or name in READS_BY_POST:
        assert response.status_code == 200
    else:
        assert response.status_code == 302, response.content.decode()[:2000]
    if method == "post" and (
        role is None or ROLE_RANK[role] < ROLE_RANK[needed] or name in READS_BY_POST
    ):
        assert _db_state(world.project) == before
    elif method == "post":
        assert _entity_events() == before[-1] + 1


def test_gate_detail__viewer__read_only_page_without_save(client, world, project_viewer):
    # Given a viewer
    client.force_login(project_viewer)

    # When they open a gate
    response = client.get(reverse("gate-detail", args=[world.project.slug, world.gate.pk]))

    # Then everything is shown but disabled, and only the test panel can be used
    html = response.content.decode()
    assert '<fieldset class="plain" disabled>' in html
    assert "Save changes" not in html
    assert "+ Add rule" not in html
    assert "Test this user" in html
    assert "read-only access" in html


# ---------------------------------------------------------------- create and edit


def test_gate_create__three_rules__saved_in_order_with_conditions(client, project, project_member):
    # Given a member and a segment to target
    client.force_login(project_member)
    services.segment_create(
        actor=project_member, project=project, document=segment_document("employees")
    )
    rules = [
        rule("Employees", [condition("passes_segment", None, "employees")]),
        rule(
            "NZ on new app",
            [
                condition("country", "any", ["nz", "AU"]),
                condition("app_version", "version_gte", "2.1"),
            ],
            50,
        ),
        rule(
            "Pro plans in prod",
            [condition("custom_field", "any", ["pro", "team"], field="plan")],
            12.5,
            environments=["production"],
        ),
    ]

    # When they create a gate with three rules
    response = client.post(
        reverse("gate-create", args=[project.slug]),
        gate_data("checkout_v3", rules, tags=["growth"], **{"override-all-pass": "qa-1 qa-2"}),
    )

    # Then it exists with those rules, in that order, and the page redirects to it
    gate = FeatureGate.objects.get(project=project, name="checkout_v3")
    assert response.status_code == 302
    assert response.url == reverse("gate-detail", args=[project.slug, gate.pk])
    assert [r["name"] for r in gate.rules] == ["Employees", "NZ on new app", "Pro plans in prod"]
    assert [r["passPercentage"] for r in gate.rules] == [100, 50, 12.5]
    assert gate.rules[1]["conditions"][0]["targetValue"] == ["NZ", "AU"]
    assert gate.rules[1]["conditions"][1]["targetValue"] == "2.1"
    assert gate.rules[2]["conditions"][0]["field"] == "plan"
    assert gate.rules[2]["environmentIds"] == [project.environments.get(name="production").pk]
    assert gate.overrides == [
        {"environmentId": None, "passingIDs": ["qa-1", "qa-2"], "failingIDs": []}
    ]
    assert [t.name for t in gate.tags.all()] == ["growth"]
    assert gate.owner == project_member


def test_gate_detail__edit_percentage__keeps_rule_ids_and_bumps_revision(
    client, world, project_member
):
    # Given a gate page as rendered, with its rule ids in hidden fields
    client.force_login(project_member)
    url = reverse("gate-detail", args=[world.project.slug, world.gate.pk])
    rule_id = world.gate.rules[0]["id"]
    assert f'name="rule-0-id" value="{rule_id}"' in client.get(url).content.decode()
    doc_rule = {**EMAIL_RULE, "id": rule_id, "passPercentage": 33.33}

    # When the member changes the percentage and saves
    response = client.post(url, gate_data(None, [doc_rule], revision=str(world.gate.revision)))

    # Then the rule keeps its id (and salt) and the gate has a new revision
    world.gate.refresh_from_db()
    assert response.status_code == 302
    assert world.gate.rules[0]["id"] == rule_id
    assert world.gate.rules[0]["passPercentage"] == 33.33
    assert world.gate.revision == 2


def test_gate_detail__stale_revision__refused_and_input_kept(client, world, project_member):
    # Given someone else saved the gate after the page was opened
    client.force_login(project_member)
    url = reverse("gate-detail", args=[world.project.slug, world.gate.pk])
    services.gate_update(
        actor=project_member,
        gate=world.gate,
        document=gate_document("new_checkout", rules=[EMAIL_RULE], description="theirs"),
    )

    # When the member saves their older copy
    response = client.post(url, gate_data(None, [EMAIL_RULE], description="mine", revision="1"))

    # Then nothing is overwritten and their text is still on the page
    world.gate.refresh_from_db()
    assert response.status_code == 400
    assert world.gate.description == "theirs"
    html = response.content.decode()
    assert "It changed since you opened it" in html
    assert "\nmine</textarea>" in html


def _cond_block(html: str, rule_i: int, cond_j: int) -> str:
    start = html.index(f'id="rule-{rule_i}-cond-{cond_j}"')
    end = re.compile(r'<div class="cond[ "]|</section>').search(html, start)
    return html[start : end.start() if end else None]


@pytest.mark.parametrize(
    ("cond", "message"),
    [
        (condition("email", "str_matches", "(["), "not a valid regular expression"),
        (condition("custom_field", "gt", "abc", field="age"), "is not a number"),
        (condition("app_version", "version_gt", "1.x"), "is not a version"),
        (condition("passes_gate", None, "no_such_gate"), "no gate named"),
        (condition("custom_field", "any", ["x"]), "Name the custom field"),
    ],
    ids=["invalid-regex", "gt-not-a-number", "invalid-version", "unknown-gate", "no-field"],
)
def test_gate_create__bad_condition__error_on_that_row_and_nothing_saved(
    client, project, project_member, cond, message
):
    # Given a member filling a gate whose second rule's second condition is wrong
    client.force_login(project_member)
    rules = [EMAIL_RULE, rule("Second", [condition("country", "any", ["NZ"]), cond])]
    before = _db_state(project)

    # When they save
    response = client.post(reverse("gate-create", args=[project.slug]), gate_data("g1", rules))

    # Then the page comes back with the error at rule 2, condition 2, and nothing is saved
    html = response.content.decode()
    assert response.status_code == 400
    assert _db_state(project) == before
    assert 'class="cond is-invalid" id="rule-1-cond-1"' in html
    assert message in _cond_block(html, 1, 1)
    assert 'href="#rule-1-cond-1">Rule 2, condition 2</a>' in html
    # and what they typed is still there
    assert 'value="Second"' in html
    assert ">NZ</textarea>" in html


def test_gate_create__percentage_150__error_on_the_rule(client, project, project_member):
    # Given a rule at 150%
    client.force_login(project_member)
    rules = [EMAIL_RULE, rule("Too much", pass_percentage=150)]

    # When the member saves
    response = client.post(reverse("gate-create", args=[project.slug]), gate_data("g2", rules))

    # Then the second rule carries the error and no gate exists
    html = response.content.decode()
    assert response.status_code == 400
    assert not FeatureGate.objects.filter(name="g2").exists()
    assert 'class="rule is-invalid" id="rule-1"' in html
    assert "between 0 and 100" in html
    assert 'name="rule-1-pass" value="150"' in html


def test_gate_create__name_taken__error_on_name(client, world, project_member):
    # Given an existing gate named new_checkout
    client.force_login(project_member)
    before = _db_state(world.project)

    # When a member creates another one with the same name in another case
    response = client.post(
        reverse("gate-create", args=[world.project.slug]), gate_data("New_Checkout", [EMAIL_RULE])
    )

    # Then the name field says so and nothing is saved
    html = response.content.decode()
    assert response.status_code == 400
    assert _db_state(world.project) == before
    assert re.search(r"field--name has-error.*?already taken", html, re.S)


def test_config_create__bad_json__error_on_the_rule_value(client, project, project_member):
    # Given a config rule whose value is not JSON
    client.force_login(project_member)
    bad = {**rule("Staff", EMAIL_RULE["conditions"]), "returnValue": '{"theme": dark}'}

    # When the member saves
    response = client.post(reverse("config-create", args=[project.slug]), config_data("c1", [bad]))

    # Then the rule shows the JSON error with its position, and nothing is saved
    html = response.content.decode()
    assert response.status_code == 400
    assert not DynamicConfig.objects.filter(name="c1").exists()
    assert "This is not valid JSON (line 1, column 11)" in html
    assert 'class="rule is-invalid" id="rule-0"' in html


def test_config_create__default_breaks_schema__error_on_default(client, project, project_member):
    # Given a schema that wants an integer limit, and a default with a string
    client.force_login(project_member)
    data = config_data(
        "c2",
        default_value='{"limit": "many"}',
        schema='{"type": "object", "properties": {"limit": {"type": "integer"}}}',
    )

    # When the member saves
    response = client.post(reverse("config-create", args=[project.slug]), data)

    # Then the default value field explains the mismatch and nothing is saved
    html = response.content.decode()
    assert response.status_code == 400
    assert not DynamicConfig.objects.filter(name="c2").exists()
    assert re.search(r"field--default_value has-error.*?does not match the schema", html, re.S)


def test_config_create__rule_value_breaks_schema__error_on_that_rule(
    client, project, project_member
):
    # Given a rule value that breaks the schema
    client.force_login(project_member)
    bad = {**rule("Staff", EMAIL_RULE["conditions"]), "returnValue": '{"limit": "x"}'}
    data = config_data(
        "c3", [bad], schema='{"type": "object", "properties": {"limit": {"type": "integer"}}}'
    )

    # When the member saves
    response = client.post(reverse("config-create", args=[project.slug]), data)

    # Then rule 1 shows it
    html = response.content.decode()
    assert response.status_code == 400
    assert 'class="rule is-invalid" id="rule-0"' in html
    assert "does not match the schema" in html


def test_gate_detail__script_in_description__escaped(client, world, project_member):
    # Given a gate whose description holds markup
    services.gate_update(
        actor=project_member,
        gate=world.gate,
        document=gate_document("new_checkout", rules=[EMAIL_RULE], description=XSS),
    )
    client.force_login(project_member)

    # When its page and the list are shown
    pages = [
        client.get(reverse("gate-detail", args=[world.project.slug, world.gate.pk])),
        client.get(reverse("gate-list", args=[world.project.slug])),
    ]

    # Then the markup is text, never a script
    for response in pages:
        html = response.content.decode()
        assert XSS not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_segment_create__id_list__created_empty_without_rules(client, project, project_member):
    # Given a member
    client.force_login(project_member)

    # When they create an ID-list segment (rules typed before switching type are ignored)
    response = client.post(
        reverse("segment-create", args=[project.slug]),
        segment_data("vips", kind="id_list", rules=[EMAIL_RULE]),
    )

    # Then it exists, empty, and its page offers to add IDs
    segment = Segment.objects.get(project=project, name="vips")
    assert response.status_code == 302
    assert segment.kind == SegmentKind.ID_LIST
    assert segment.rules == []
    page = client.get(response.url).content.decode()
    assert "Add IDs" in page
    assert "Upload CSV" in page


def test_archive__gate_in_use__refused_with_message(client, world, project_member):
    # Given a config that uses the gate
    services.dynamic_config_update(
        actor=project_member,
        config=world.config,
        document=config_document(
            "checkout_settings",
            rules=[
                rule(
                    "Gated",
                    [condition("passes_gate", None, "new_checkout")],
                    returnValue={"theme": "x"},
                )
            ],
        ),
    )
    client.force_login(project_member)

    # When the member archives the gate
    response = client.post(
        reverse("gate-archive", args=[world.project.slug, world.gate.pk]), follow=True
    )

    # Then it stays live and the page says who uses it
    world.gate.refresh_from_db()
    assert world.gate.status != GateStatus.ARCHIVED
    assert "is used by dynamic config checkout_settings" in response.content.decode()


# ---------------------------------------------------------------- the rules editor


def _editor(client, url, data, action):
    return client.post(url, {**data, "editor_action": action}, headers={"HX-Request": "true"})


def test_rules_editor__buttons__change_rows_and_save_nothing(client, project, project_member):
    # Given a member on the new gate page with two rules typed
    client.force_login(project_member)
    url = reverse("gate-create", args=[project.slug])
    data = gate_data("g3", [rule("First"), rule("Second")])
    before = _db_state(project)

    # When they add a rule, move the second up, and add a condition to the first
    added = _editor(client, url, data, "add_rule").content.decode()
    moved = _editor(client, url, data, "up:1").content.decode()
    more = _editor(client, url, data, "add_cond:0").content.decode()
    removed = _editor(client, url, data, "remove_rule:0").content.decode()

    # Then each answer is the editor alone, changed, and nothing was saved
    assert added.startswith('<div id="rules-editor"')
    assert 'id="rule-2"' in added
    assert moved.index('value="Second"') < moved.index('value="First"')
    assert 'id="rule-0-cond-1"' in more
    assert 'value="First"' not in removed
    assert _db_state(project) == before


def test_rules_editor__type_changed__operators_of_the_new_type(client, project, project_member):
    # Given a condition whose type just changed from email to app version
    client.force_login(project_member)
    url = reverse("gate-create", args=[project.slug])
    data = gate_data("g4", [rule("R", [condition("email", "str_contains_any", ["x"])])])
    data["rule-0-cond-0-type"] = "app_version"

    # When the editor refreshes
    html = _editor(client, url, data, "refresh").content.decode()

    # Then the operator list is the catalogue's for app versions, a valid one is selected,
    # and the typed value is kept
    ops = re.search(r'name="rule-0-cond-0-operator".*?</select>', html, re.S).group(0)
    assert 'value="version_gte"' in ops
    assert 'value="str_contains_any"' not in ops
    assert re.search(r'<option value="any"[^>]* selected>', ops)
    assert ">x</textarea>" in html


def test_rules_editor__no_javascript__whole_page_without_errors(client, project, project_member):
    # Given a member without htmx (a plain form post of an editor button)
    client.force_login(project_member)
    data = {**gate_data(None), "editor_action": "add_rule"}

    # When the button is pressed
    response = client.post(reverse("gate-create", args=[project.slug]), data)

    # Then the whole page comes back with the new rule and no "required" noise
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html
    assert 'id="rule-0"' in html
    assert "This field is required" not in html


# ---------------------------------------------------------------- test a user


def _explain(world, name, kind, env, user):
    spec = build_spec(world.project, env, time_ms=1_700_000_000_000)
    return Evaluator(spec).explain(user, name, kind)


def test_gate_test__known_user__matches_the_evaluator(client, world, project_viewer):
    # Given a gate with a 100% staff rule and a 0% "NZ" rule first
    production = world.project.environments.get(name="production")
    services.gate_update(
        actor=world.gate.owner,
        gate=world.gate,
        document=gate_document(
            "new_checkout",
            rules=[rule("Kiwis", [condition("country", "any", ["NZ"])], 0), EMAIL_RULE],
        ),
    )
    user = {"userID": "u-42", "email": "pat@corp.example", "country": "DE"}
    expected = _explain(world, "new_checkout", "gate", production, user)
    client.force_login(project_viewer)

    # When a viewer tests that user in production
    response = client.post(
        reverse("gate-test", args=[world.project.slug, world.gate.pk]),
        {
            "environment": str(production.pk),
            "user_id": "u-42",
            "email": "pat@corp.example",
            "country": "DE",
        },
        headers={"HX-Request": "true"},
    )

    # Then the panel shows the evaluator's verdict, deciding rule and per-condition marks
    html = response.content.decode()
    assert response.status_code == 200
    assert expected["result"]["value"] is True
    assert expected["deciding_rule"] == 1
    assert 'class="verdict verdict--pass"' in html
    assert "Decided by rule 2 “Staff”" in html
    decided = re.search(r"trace-rule--decided.*?</li>\s*</ul>", html, re.S).group(0)
    assert "Staff" in decided
    assert "pat@corp.example" in decided
    first = re.search(r"trace-rule--missed.*?</ul>", html, re.S).group(0)
    assert "Kiwis" in first
    assert "is-fail" in first
    assert "<code>DE</code>" in first


def test_gate_test__user_json__used_as_is(client, world, project_member):
    # Given a user pasted as JSON that fails the staff rule
    production = world.project.environments.get(name="production")
    user = {"userID": "u-1", "email": "someone@else.example"}
    expected = _explain(world, "new_checkout", "gate", production, user)
    client.force_login(project_member)

    # When it is tested
    response = client.post(
        reverse("gate-test", args=[world.project.slug, world.gate.pk]),
        {
            "environment": str(production.pk),
            "user_id": "ignored",
            "user_json": '{"userID": "u-1", "email": "someone@else.example"}',
        },
        headers={"HX-Request": "true"},
    )

    # Then it fails like the evaluator says, and the evaluated user is the pasted one
    html = response.content.decode()
    assert expected["result"]["value"] is False
    assert 'class="verdict verdict--fail"' in html
    assert "No rule matched" in html
    assert "ignored" not in html.split("User sent to the evaluator")[1]


def test_gate_test__bad_user_json__400_with_error(client, world, project_member):
    client.force_login(project_member)
    env = world.project.environments.first()
    response = client.post(
        reverse("gate-test", args=[world.project.slug, world.gate.pk]),
        {"environment": str(env.pk), "user_json": "{nope"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 400
    assert "This is not valid JSON" in response.content.decode()


def test_config_test__staff_user__gets_the_rule_value(client, world, project_member):
    # Given the config returns {"theme": "dark"} to staff
    env = world.project.environments.get(name="staging")
    user = {"userID": "u-1", "email": "a@corp.example"}
    expected = _explain(world, "checkout_settings", "config", env, user)
    client.force_login(project_member)

    # When a staff user is tested
    response = client.post(
        reverse("config-test", args=[world.project.slug, world.config.pk]),
        {"environment": str(env.pk), "user_id": "u-1", "email": "a@corp.example"},
        headers={"HX-Request": "true"},
    )

    # Then the returned JSON is the evaluator's
    html = response.content.decode()
    assert expected["result"]["value"] == {"theme": "dark"}
    assert "Gets the value of rule 1" in html
    assert "&quot;theme&quot;: &quot;dark&quot;" in html


def test_segment_test__id_list_member__in_the_segment(client, world, project_member):
    client.force_login(project_member)
    env = world.project.environments.first()
    response = client.post(
        reverse("segment-test", args=[world.project.slug, world.id_list.pk]),
        {"environment": str(env.pk), "user_id": "u-2"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert 'class="verdict verdict--pass"' in html
    assert "In the segment" in html


# ---------------------------------------------------------------- segment IDs


def test_segment_ids__csv_replace__list_is_the_file(client, world, project_member):
    # Given an ID list with u-1..u-3
    client.force_login(project_member)
    url = reverse("segment-ids-upload", args=[world.project.slug, world.id_list.pk])

    # When a CSV replaces it
    response = client.post(url, {"file": _csv("id\nu-3\nu-4\n"), "mode": "replace"}, follow=True)

    # Then exactly the file's IDs remain, and the message counts the change
    ids = set(SegmentID.objects.filter(segment=world.id_list).values_list("unit_id", flat=True))
    assert ids == {"u-3", "u-4"}
    assert "1 added, 2 removed" in response.content.decode()


def test_segment_ids__malformed_csv__400_and_unchanged(client, world, project_member):
    client.force_login(project_member)
    url = reverse("segment-ids-upload", args=[world.project.slug, world.id_list.pk])
    response = client.post(url, {"file": _csv("a,b\n"), "mode": "replace"})
    assert response.status_code == 400
    assert "Line 1 has 2 values" in response.content.decode()
    assert world.id_list.ids.count() == 3


def test_segment_ids__browser_search__partial_with_matches(client, world, project_viewer):
    client.force_login(project_viewer)
    response = client.get(
        reverse("segment-detail", args=[world.project.slug, world.id_list.pk]),
        {"ids_q": "u-2"},
        headers={"HX-Request": "true", "HX-Target": "id-browser"},
    )
    html = response.content.decode()
    assert html.startswith('<div id="id-browser"')
    assert ">u-2</span>" in html
    assert ">u-1</span>" not in html


# ---------------------------------------------------------------- unit types


def test_unit_type_create__htmx__field_with_the_new_type_selected(client, world, project_admin):
    client.force_login(project_admin)
    response = client.post(
        reverse("unit-type-create", args=[world.project.slug]),
        {"name": "companyID", "description": "", "id_type": "userID"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert '<option value="companyID" selected>' in html
    assert UnitType.objects.filter(project=world.project, name="companyID").exists()


def test_unit_type_create__builtin_name__400_with_error(client, world, project_admin):
    client.force_login(project_admin)
    response = client.post(
        reverse("unit-type-create", args=[world.project.slug]),
        {"name": "stableID", "id_type": "userID"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 400
    assert "already exists" in response.content.decode()


# ---------------------------------------------------------------- lists and query counts


def test_gate_list__filters__tag_status_stale_search(client, world, project_member):
    # Given gates with different tags and statuses
    project = world.project
    growth = project.tags.get(name="growth")
    FeatureGateFactory(project=project, name="tagged_one", tags=[growth])
    FeatureGateFactory(project=project, name="launched_one", status=GateStatus.LAUNCHED)
    client.force_login(project_member)
    url = reverse("gate-list", args=[project.slug])

    def names(**params):
        html = client.get(url, params).content.decode()
        return set(re.findall(r'class="strong-link mono" href="[^"]+">([^<]+)</a>', html))

    # Then each filter narrows the list
    assert names(tag="growth") == {"tagged_one"}
    assert names(status="launched") == {"launched_one"}
    assert names(q="checkout") == {"new_checkout"}
    assert names(stale="stale") == set()
    assert "No gates match these filters" in client.get(url, {"q": "zzz"}).content.decode()


def test_gate_list__no_gates__invites_to_create_the_first(client, project, project_member):
    client.force_login(project_member)
    html = client.get(reverse("gate-list", args=[project.slug])).content.decode()
    assert "Create your first gate" in html


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx)


@pytest.mark.parametrize(
    ("name", "factory"),
    [
        ("gate-list", FeatureGateFactory),
        ("segment-list", SegmentFactory),
        ("config-list", DynamicConfigFactory),
    ],
)
def test_lists__many_rows__constant_queries(
    client, project, project_member, name, factory, django_assert_max_num_queries
):
    # Given 3 rows with tags and an owner
    tags = list(project.tags.all()[:2])

    def add(n):
        for _ in range(n):
            factory(project=project, owner=project_member, tags=tags)

    add(3)
    client.force_login(project_member)
    url = reverse(name, args=[project.slug])
    few = _queries(client, url)
    assert few <= 12, f"{url} needs {few} queries"

    # When 10 more rows exist
    add(10)

    # Then the page needs no more queries
    with django_assert_max_num_queries(few):
        assert client.get(url).status_code == 200


def test_navigation__gates_and_segments_sections_link_to_their_pages(
    client, project, project_member
):
    client.force_login(project_member)
    html = client.get(reverse("project-home", args=[project.slug])).content.decode()
    assert f'href="{reverse("gate-list", args=[project.slug])}"' in html
    assert f'href="{reverse("segment-list", args=[project.slug])}"' in html


def test_environment_choices__unknown_environment__400(client, world, project_member):
    client.force_login(project_member)
    other = Environment.objects.exclude(project=world.project).first()
    response = client.post(
        reverse("gate-test", args=[world.project.slug, world.gate.pk]),
        {"environment": str(other.pk if other else 999_999), "user_id": "u"},
    )
    assert response.status_code == 400


def test_gate_test__big_id_list_segment__member_found_through_id_lists(
    client, world, project_member
):
    # Given a segment too big to inline (served as an ID list) used by a gate
    big = services.segment_create(
        actor=project_member,
        project=world.project,
        document=segment_document("big", type="id_list"),
    )
    services.segment_ids_add(actor=project_member, segment=big, ids=[f"c-{i}" for i in range(1001)])
    services.gate_update(
        actor=project_member,
        gate=world.gate,
        document=gate_document(
            "new_checkout", rules=[rule("Big ones", [condition("passes_segment", None, "big")])]
        ),
    )
    env = world.project.environments.first()
    client.force_login(project_member)
    url = reverse("gate-test", args=[world.project.slug, world.gate.pk])

    # When a listed and an unlisted user are tested
    inside = client.post(url, {"environment": str(env.pk), "user_id": "c-1000"})
    outside = client.post(url, {"environment": str(env.pk), "user_id": "c-5000"})

    # Then only the listed one passes
    assert 'class="verdict verdict--pass"' in inside.content.decode()
    assert 'class="verdict verdict--fail"' in outside.content.decode()


@pytest.mark.parametrize(
    "user_json",
    ['{"userID": 5, "customIDs": "x"}', '{"custom": [1, 2], "email": null}', "{}"],
)
def test_gate_test__odd_user_shapes__evaluated_without_crashing(
    client, world, project_member, user_json
):
    client.force_login(project_member)
    env = world.project.environments.first()
    response = client.post(
        reverse("gate-test", args=[world.project.slug, world.gate.pk]),
        {"environment": str(env.pk), "user_json": user_json},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "verdict" in response.content.decode()
