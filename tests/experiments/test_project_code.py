"""A whole project as code (experiments/projectcode, docs/project-as-code.md): export →
import into a fresh project → the same specs; importing again changes nothing; a broken file
is refused with its path and keeps nothing."""

from __future__ import annotations

import copy

import pytest
from django.core.management import CommandError, call_command

from console import services as console_services
from console.exceptions import ApplicationError
from console.models import AuditEvent, ConfigSpec, Environment, Project, RulesetVersion, Tag
from console.services.tags import tag_create
from experiments.models import Experiment
from experiments.projectcode import (
    dump_document,
    id_list_files,
    parse_document,
    project_document,
    project_import,
)
from gates.models import FeatureGate
from metrics.models import Metric
from reviews.models import ChangeSet, ChangeSetSource, ChangeSetState
from reviews.services import ChangeInput, changeset_submit
from tests.conftest import review_nowhere
from tests.experiments.factories import (
    experiment_document,
    group,
    holdout_document,
    layer_document,
    parameter,
)
from tests.gates.factories import condition, config_document, gate_document, rule, segment_document
from tests.metrics.catalog_factories import make_metric


def _apply(actor, project, *changes: ChangeInput) -> ChangeSet:
    change_set = changeset_submit(actor=actor, project=project, changes=list(changes))
    assert change_set.state == ChangeSetState.APPLIED
    return change_set


def build_rich_project(actor, project) -> None:
    """Every kind: tags, a metric, a rule segment and an ID-list one, a gate naming both, a
    config, a layer with a running experiment, a shipped experiment, a holdout."""
    tag_create(actor=actor, project=project, name="checkout", description="The checkout team")
    make_metric(actor, project, "purchase")
    employees = condition("email", "str_ends_with_any", ["@corp.example"])
    _apply(
        actor,
        project,
        ChangeInput("segment", "create", "", segment_document(rules=[rule("Staff", [employees])])),
        ChangeInput("segment", "create", "", segment_document("beta_users", type="id_list")),
    )
    _apply(actor, project, ChangeInput("segment", "ids_add", "beta_users", {"ids": ["u1", "u2"]}))
    in_beta = condition("passes_segment", None, "beta_users")
    staff = condition("passes_segment", None, "employees")
    _apply(
        actor,
        project,
        ChangeInput(
            "gate",
            "create",
            "",
            gate_document(
                "new_checkout",
                tags=["checkout"],
                rules=[
                    rule("Beta", [in_beta], 100),
                    rule("Staff in production", [staff], 50, environments=["production"]),
                    rule("Everyone", pass_percentage=10),
                ],
                overrides=[{"environment": None, "passingIDs": ["vip"], "failingIDs": []}],
            ),
        ),
        ChangeInput(
            "dynamic_config",
            "create",
            "",
            config_document(
                rules=[{**rule("Staff", [staff], 30), "returnValue": {"theme": "dark"}}]
            ),
        ),
        ChangeInput("layer", "create", "", layer_document()),
        ChangeInput(
            "experiment",
            "create",
            "",
            experiment_document(
                "button_color",
                layerID="checkout_layer",
                allocation=40,
                targetingGateID="new_checkout",
                primaryMetrics=[{"name": "purchase", "type": "event_count"}],
            ),
        ),
        ChangeInput(
            "experiment",
            "create",
            "",
            experiment_document(
                "headline",
                parameters=[parameter("title", "string", "Welcome")],
                groups=[
                    group("Control", 50, {"title": "Welcome"}),
                    group("Short", 50, {"title": "Hi"}),
                ],
            ),
        ),
    )
    _apply(actor, project, ChangeInput("experiment", "start", "button_color"))
    _apply(actor, project, ChangeInput("experiment", "start", "headline"))
    _apply(actor, project, ChangeInput("experiment", "ship", "headline", {"group": "Short"}))
    _apply(
        actor,
        project,
        ChangeInput("holdout", "create", "", holdout_document(experimentIDs=["button_color"])),
    )


def latest_checksums(project: Project) -> dict[str, str]:
    """{environment name: the content checksum of its latest spec} (what SDKs receive,
    whatever its `time`: console.publishing.services.spec_content_checksum)."""
    out = {}
    for environment in Environment.objects.filter(project=project):
        spec = (
            ConfigSpec.objects.filter(environment=environment)
            .order_by("-ruleset_version__number")
            .first()
        )
        assert spec is not None
        out[environment.name] = spec.content_checksum
    return out


@pytest.fixture
def source(no_review, site_admin):
    build_rich_project(site_admin, no_review)
    return no_review


@pytest.fixture
def target(site_admin):
    fresh = console_services.project_create(actor=site_admin, name="Copy", slug="copy")
    review_nowhere(fresh, site_admin)
    return fresh


def _round_trip(project: Project, fmt: str = "yaml") -> dict:
    return parse_document(dump_document(project_document(project), fmt), fmt)


def test_project_import__fresh_project__same_spec_checksums_in_every_environment(
    source, target, site_admin
):
    # Given
    document = _round_trip(source)
    # When
    plan = project_import(actor=site_admin, project=target, document=document)
    # Then
    assert plan.change_set is not None
    assert plan.change_set.state == ChangeSetState.APPLIED
    assert ChangeSet.objects.filter(project=target).count() == 1
    checksums = latest_checksums(target)
    assert checksums == latest_checksums(source)
    assert set(checksums) == {"development", "staging", "production"}
    assert dump_document(project_document(target)) == dump_document(project_document(source))
    headline = Experiment.objects.get(project=target, name="headline")
    assert headline.status == "shipped"
    assert Experiment.objects.get(project=target, name="button_color").status == "running"


def test_project_import__same_file_again__changes_nothing(source, target, site_admin):
    # Given
    document = _round_trip(source, "json")
    project_import(actor=site_admin, project=target, document=document)
    counts = (
        ChangeSet.objects.count(),
        RulesetVersion.objects.filter(project=target).count(),
        AuditEvent.objects.count(),
    )
    # When
    plan = project_import(actor=site_admin, project=target, document=copy.deepcopy(document))
    again = project_import(actor=site_admin, project=source, document=_round_trip(source))
    # Then
    assert plan.change_set is None
    assert again.change_set is None
    assert not plan.changed
    assert not again.changed
    assert (
        ChangeSet.objects.count(),
        RulesetVersion.objects.filter(project=target).count(),
        AuditEvent.objects.count(),
    ) == counts


def test_project_import__dry_run__diff_shown_and_nothing_kept(source, site_admin):
    # Given
    document = _round_trip(source)
    gate = next(g for g in document["gates"] if g["name"] == "new_checkout")
    gate["rules"][2]["passPercentage"] = 20
    document["gates"].append({**gate_document("kill_switch"), "identity": None})
    audit = AuditEvent.objects.count()
    # When
    plan = project_import(actor=site_admin, project=source, document=document, dry_run=True)
    # Then
    changed = {(e.section, e.name): e for e in plan.changed}
    assert set(changed) == {("gates", "new_checkout"), ("gates", "kill_switch")}
    assert changed["gates", "new_checkout"].action == "update"
    assert "-  passPercentage: 10" in changed["gates", "new_checkout"].diff
    assert "+  passPercentage: 20" in changed["gates", "new_checkout"].diff
    assert changed["gates", "kill_switch"].action == "create"
    assert plan.change_set is None
    assert plan.needs_review == []
    assert not FeatureGate.objects.filter(project=source, name="kill_switch").exists()
    assert AuditEvent.objects.count() == audit


def test_project_import__prune__archives_what_the_file_leaves_out(source, site_admin):
    # Given
    document = _round_trip(source)
    document["dynamicConfigs"] = []
    # When
    plan = project_import(actor=site_admin, project=source, document=document, prune=True)
    # Then
    assert [(e.section, e.name, e.action) for e in plan.changed] == [
        ("dynamicConfigs", "checkout_settings", "archive")
    ]
    assert plan.change_set is not None
    assert plan.change_set.state == ChangeSetState.APPLIED


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (
            lambda d: d["gates"][0]["rules"][1]["conditions"][0].update(
                type="email", operator="is_bogus", targetValue=["x"]
            ),
            "gates[0].rules[1].conditions[0].operator",
        ),
        (
            lambda d: d["gates"][0]["rules"][0]["conditions"][0].update(targetValue="nobody"),
            "gates[0].rules[0].conditions[0].targetValue",
        ),
        (
            lambda d: d["gates"][0]["rules"][2].update(passPercentage="fifty"),
            "gates[0].rules[2].passPercentage",
        ),
        (
            lambda d: d["experiments"][0]["groups"][0].update(size=90),
            "experiments[0].groups",
        ),
        (lambda d: d["metrics"][0].update(type="nonsense"), "metrics[0].type"),
        (lambda d: d.update(version=7), "version"),
    ],
)
def test_project_import__broken_file__refused_with_its_path_and_nothing_kept(
    source, target, site_admin, edit, field
):
    # Given
    document = _round_trip(source)
    edit(document)
    tags, metrics = Tag.objects.count(), Metric.objects.count()
    # When
    with pytest.raises(ApplicationError) as refused:
        project_import(actor=site_admin, project=target, document=document)
    # Then
    assert refused.value.field is not None
    assert refused.value.field.startswith(field), refused.value.field
    assert not ChangeSet.objects.filter(project=target).exists()
    assert (Tag.objects.count(), Metric.objects.count()) == (tags, metrics)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("version: 1\ngates: [\n", "invalid_yaml"),
        ("a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n", "invalid_yaml"),
        ("x: " + "[" * 200 + "]" * 200 + "\n", "too_deep"),
        ("- just\n- a list\n", "invalid_document"),
        ("!!python/object/apply:os.system ['true']\n", "invalid_yaml"),
    ],
)
def test_parse_document__hostile_or_broken_yaml__refused(text, code):
    # When
    with pytest.raises(ApplicationError) as refused:
        parse_document(text.encode(), "yaml")
    # Then
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("text", "fmt", "code"),
    [
        ('{"version": 1, "\\ud800": []}', "json", "invalid_unicode"),
        ('{"version": 1, "gates": [{"name": "a\\u0000b"}]}', "json", "nul_character"),
        # (YAML's reader refuses the escape itself)
        ('version: 1\ngates:\n  - name: "x\\ud800"\n', "yaml", "invalid_yaml"),
        ('version: 1\n"\\0": []\n', "yaml", "nul_character"),
    ],
)
def test_parse_document__nul_or_lone_surrogate__refused(text, fmt, code):
    # When a document holds text no database or UTF-8 encoder takes, in a value or a key
    with pytest.raises(ApplicationError) as refused:
        parse_document(text.encode(), fmt)
    # Then it is refused as such (before any message could repeat it)
    assert refused.value.code == code
    assert refused.value.status == 400


def test_project_commands__export_with_id_list_files_then_import__same_specs(
    source, target, site_admin, tmp_path, capsys
):
    # Given
    out = tmp_path / "repo" / "project.yaml"
    call_command("project_export", source.slug, "--output", str(out), "--id-lists", "files")
    assert (tmp_path / "repo" / "id-lists" / "beta_users.txt").read_text() == "u1\nu2\n"
    # When
    call_command("project_import", target.slug, str(out), "--as", site_admin.email, "--dry-run")
    dry = capsys.readouterr().out
    assert not ChangeSet.objects.filter(project=target).exists()
    call_command("project_import", target.slug, str(out), "--as", site_admin.email)
    # Then
    assert "create    gates new_checkout" in dry
    assert "dry run" in dry
    assert latest_checksums(target) == latest_checksums(source)
    change_set = ChangeSet.objects.get(project=target)
    assert change_set.source == ChangeSetSource.COMMAND


def test_project_import_command__broken_file__exits_with_a_sentence(target, site_admin, tmp_path):
    # Given
    path = tmp_path / "project.yaml"
    path.write_text("version: 1\ngates:\n  - name: x\n    rules: {\n")
    # When
    with pytest.raises(CommandError) as refused:
        call_command("project_import", target.slug, str(path), "--as", site_admin.email)
    # Then
    assert str(refused.value).startswith("Nothing was imported: The YAML is malformed at line")
    assert not ChangeSet.objects.filter(project=target).exists()


def test_id_list_files__segments__ids_moved_beside_the_document(source):
    # Given
    document = project_document(source)
    # When
    moved, files = id_list_files(document)
    # Then
    segment = next(s for s in moved["segments"] if s["name"] == "beta_users")
    assert segment["idsFile"] == "id-lists/beta_users.txt"
    assert "ids" not in segment
    assert files == {"id-lists/beta_users.txt": "u1\nu2\n"}


def test_project_import__difference_the_cleaning_erases__counts_as_unchanged(source, site_admin):
    # Given
    document = _round_trip(source)
    gate = next(g for g in document["gates"] if g["name"] == "new_checkout")
    gate["description"] += "   "
    versions = RulesetVersion.objects.filter(project=source).count()
    # When
    plan = project_import(actor=site_admin, project=source, document=document)
    # Then
    assert plan.change_set is None
    assert not plan.changed
    assert RulesetVersion.objects.filter(project=source).count() == versions


def test_project_import__a_name_twice_or_odd_shapes__refused_with_the_path(target, site_admin):
    # Given
    twice = {"version": 1, "gates": [gate_document("a"), gate_document("b"), gate_document("A")]}
    odd = {"version": 1, "gates": [{**gate_document("a"), "rules": 5}]}
    # When
    with pytest.raises(ApplicationError) as named_twice:
        project_import(actor=site_admin, project=target, document=twice)
    with pytest.raises(ApplicationError) as odd_rules:
        project_import(actor=site_admin, project=target, document=odd)
    # Then
    assert named_twice.value.field == "gates[2].name"
    assert odd_rules.value.field == "gates[0].rules"
    assert not ChangeSet.objects.filter(project=target).exists()
