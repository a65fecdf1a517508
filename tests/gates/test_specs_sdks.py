"""The built spec, as the real Statsig SDKs read it: every condition type of the catalogue,
segments (rule based, inline and ID list), overrides, launched/disabled gates and a dynamic
config give the same (value, rule id) for generated users in the legacy Python SDK,
statsig-python-core (v2) and our evaluator."""

import pytest

from console.models import Environment
from console.specs.builder import build_spec, to_v2
from gates import services
from gates.models import Segment
from gates.selectors import segment_id_list_text
from tests.gates.factories import condition, config_document, gate_document, rule, segment_document
from tests.gates.test_specs import CASES
from tests.specs.helpers import generate_users
from tests.specs.sdks import core_evaluate_all, legacy_evaluate_all, ours_evaluate_all

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def spec(project, project_admin):
    services.unit_type_create(actor=project_admin, project=project, name="companyID")
    services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document("base", rules=[rule(pass_percentage=50)]),
    )
    services.segment_create(
        actor=project_admin,
        project=project,
        document=segment_document(
            "staff", rules=[rule(conditions=[condition("email", "str_contains_any", ["@"])])]
        ),
    )
    for ctype, ((operator, target, extra), _) in CASES.items():
        services.gate_create(
            actor=project_admin,
            project=project,
            document=gate_document(
                f"by_{ctype}",
                rules=[
                    rule(ctype, [{**condition(ctype, operator, target), **extra}], 60),
                    rule("rest", pass_percentage=10.5),
                ],
                overrides=[
                    {"environment": None, "passingIDs": ["user-3"], "failingIDs": ["user-4"]}
                ],
            ),
        )
    for name, fields in [("launched", {"status": "launched"}), ("off", {"isEnabled": False})]:
        services.gate_create(
            actor=project_admin,
            project=project,
            document=gate_document(name, rules=[rule(pass_percentage=50)], **fields),
        )
    ids = services.segment_create(
        actor=project_admin, project=project, document=segment_document("few", type="id_list")
    )
    services.segment_ids_add(
        actor=project_admin, segment=ids, ids=[f"user-{n}" for n in range(0, 300, 3)]
    )
    many = services.segment_create(
        actor=project_admin, project=project, document=segment_document("many", type="id_list")
    )
    services.segment_ids_add(
        actor=project_admin, segment=many, ids=[f"user-{n}" for n in range(1, 3000, 2)]
    )
    services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document(
            "segmented",
            rules=[
                rule("few", [condition("passes_segment", None, "few")]),
                rule("many", [condition("passes_segment", None, "many")], 80),
                rule("staff", [condition("fails_segment", None, "staff")], 50),
            ],
        ),
    )
    services.dynamic_config_create(
        actor=project_admin,
        project=project,
        document=config_document(
            rules=[
                rule(
                    "pro",
                    [condition("custom_field", "any", ["pro"], field="plan")],
                    70,
                    returnValue={"theme": "dark"},
                )
            ]
        ),
    )
    environment = Environment.objects.get(project=project, name="production")
    return build_spec(project, environment, time_ms=1_700_000_000_000)


def _id_lists(project):
    """What the SDKs download for each ID-list segment: the file's hashes."""
    return {
        segment.name: {line[1:] for line in "".join(segment_id_list_text(segment)).splitlines()}
        for segment in Segment.objects.filter(project=project, kind="id_list")
    }


def test_build_spec__every_condition_type_in_real_sdks__same_results_as_our_evaluator(
    project, spec
):
    # Given
    assert spec["id_lists"] == {"many": True}
    id_lists = {name: ids for name, ids in _id_lists(project).items() if name in spec["id_lists"]}
    users = generate_users(400, specs=spec["feature_gates"])
    names = {
        "gate": [g["name"] for g in spec["feature_gates"]],
        "config": [c["name"] for c in spec["dynamic_configs"]],
    }
    # When
    ours = ours_evaluate_all(spec, users, names, id_lists=id_lists)
    legacy = legacy_evaluate_all(spec, users, names, id_lists=id_lists)
    core = core_evaluate_all(to_v2(spec), users, names, id_lists=id_lists)
    # Then
    for kind, kind_names in names.items():
        for name in kind_names:
            mine = [row[:2] for row in ours[kind][name]]
            assert [row[:2] for row in legacy[kind][name]] == mine, f"legacy differs on {name}"
            assert [row[:2] for row in core[kind][name]] == mine, f"core differs on {name}"
    segmented = next(g for g in spec["feature_gates"] if g["name"] == "segmented")
    decided_by = {row[1] for row in ours["gate"]["segmented"]}
    # Every rule decided for someone: inline list, downloaded ID list, rule-based segment.
    assert {r["id"] for r in segmented["rules"]} <= decided_by
