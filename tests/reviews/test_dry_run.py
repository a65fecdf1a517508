"""The dry run's answer: which environments a change set touches (what SDKs would answer
differently there, against what is published now). Each case is one where comparing
checksums could answer otherwise than comparing the specs themselves: entities SDKs answer
as if absent, ID lists served as files beside the spec, a rule limited to one environment,
rollout schedules, an environment never published."""

from __future__ import annotations

import pytest

from console.models import ConfigSpec
from console.publishing.services import spec_publish
from console.services.environments import environment_create
from gates import services
from gates.documents import gate_to_document
from gates.models import FeatureGate
from gates.specs import INLINE_ID_LIMIT
from reviews.services import ChangeInput
from tests.gates.factories import condition, gate_document, rule, segment_document
from tests.reviews.conftest import create_gate, submit

pytestmark = pytest.mark.django_db
EVERY = ["development", "staging", "production"]


def touched(actor, project, *changes) -> list[str]:
    """The environments a draft of `changes` touches (a draft is never applied)."""
    return submit(actor, project, *changes, draft=True).environments


@pytest.fixture
def live(project, project_admin):
    """A gate passing 10% of everyone, made by the services and published."""
    gate = services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document("new_checkout", rules=[rule(pass_percentage=10)]),
    )
    spec_publish(actor=project_admin, project=project, reason="baseline")
    return gate


def update(gate: FeatureGate, **fields) -> ChangeInput:
    gate.refresh_from_db()
    return ChangeInput("gate", "update", gate.name, {**gate_to_document(gate), **fields})


# ---------------------------------------------------------------- answers as if absent


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"isEnabled": False}, []),
        ({"rules": [rule(pass_percentage=0)]}, []),
        ({"rules": []}, []),
        ({}, EVERY),
    ],
    ids=["disabled", "zero-percent", "no-rule", "passes-everyone"],
)
def test_created_gate__touches_only_where_it_can_pass(
    project, project_member, live, fields, expected
):
    assert touched(project_member, project, create_gate("fresh", **fields)) == expected


def test_archived_gate__nobody_passed__touches_nothing(project, project_admin, project_member):
    services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document("dormant", rules=[rule(pass_percentage=0)]),
    )
    spec_publish(actor=project_admin, project=project, reason="baseline")
    change = ChangeInput("gate", "archive", "dormant", {})
    assert touched(project_member, project, change) == []


def test_archived_gate__some_passed__touches_every_environment(project, project_member, live):
    change = ChangeInput("gate", "archive", live.name, {})
    assert touched(project_member, project, change) == EVERY


def test_description_only__touches_nothing(project, project_member, live):
    assert touched(project_member, project, update(live, description="Better words")) == []


def test_disabling_then_enabling_again__back_to_what_is_published__touches_nothing(
    project, project_admin, project_member, live
):
    services.gate_update(
        actor=project_admin, gate=live, document={**gate_to_document(live), "isEnabled": False}
    )
    live.refresh_from_db()
    # The configuration moved on without a publish: the dry run compares with what SDKs have.
    assert touched(project_member, project, update(live, isEnabled=True)) == []


# ---------------------------------------------------------------- one environment


def test_rule_limited_to_one_environment__touches_only_it(project, project_member, live):
    document = gate_to_document(live)
    document["rules"].append(rule("Devs", environments=["staging"]))
    assert touched(project_member, project, update(live, rules=document["rules"])) == ["staging"]


def test_rollout_schedule_on_a_staging_rule__touches_staging_though_nothing_moves_now(
    project, project_admin, project_member
):
    gate = services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document(
            "staged", rules=[rule("QA", pass_percentage=5, environments=["staging"])]
        ),
    )
    spec_publish(actor=project_admin, project=project, reason="baseline")
    document = gate_to_document(gate)
    document["rules"][0]["rolloutSchedule"] = [
        {"passPercentage": 5, "afterSeconds": 60},
        {"passPercentage": 50, "afterSeconds": 60},
    ]
    assert touched(project_member, project, update(gate, rules=document["rules"])) == ["staging"]


def test_environment_never_published__compared_with_the_configuration_now(
    project, project_admin, project_member, live
):
    environment_create(actor=project_admin, project=project, name="qa", tier="development")
    assert touched(project_member, project, update(live, description="Better words")) == []
    assert touched(project_member, project, update(live, isEnabled=False)) == [*EVERY, "qa"]


# ---------------------------------------------------------------- what is published


def test_published_spec__its_stored_behaviour_checksum_is_what_is_compared(
    project, project_member, live
):
    # Production's row says it serves something else: its SDKs would see a change.
    ConfigSpec.objects.filter(environment__project=project, environment__name="production").update(
        behaviour_checksum="0" * 64
    )
    assert touched(project_member, project, update(live, description="Better words")) == [
        "production"
    ]


def test_published_before_behaviour_checksums__the_spec_is_read_instead(
    project, project_member, live
):
    ConfigSpec.objects.filter(environment__project=project).update(behaviour_checksum="")
    assert touched(project_member, project, update(live, description="Better words")) == []
    assert touched(project_member, project, update(live, isEnabled=False)) == EVERY


# ---------------------------------------------------------------- segments and ID lists


@pytest.fixture
def id_list(project, project_admin):
    """An ID-list segment that a published gate passes: large (served as a file beside the
    spec, not inline) when the test asks for it."""

    def make(size):
        segment = services.segment_create(
            actor=project_admin, project=project, document=segment_document("beta", type="id_list")
        )
        services.segment_ids_add(
            actor=project_admin, segment=segment, ids=[f"u-{n}" for n in range(size)]
        )
        services.gate_create(
            actor=project_admin,
            project=project,
            document=gate_document(
                "beta_only", rules=[rule(conditions=[condition("passes_segment", None, "beta")])]
            ),
        )
        spec_publish(actor=project_admin, project=project, reason="baseline")
        return segment

    return make


@pytest.mark.parametrize("size", [3, INLINE_ID_LIMIT + 1], ids=["inline", "file"])
def test_ids_added_to_a_segment_a_gate_passes__touches_every_environment(
    project, project_member, id_list, size
):
    id_list(size)
    change = ChangeInput("segment", "ids_add", "beta", {"ids": ["newcomer"]})
    assert touched(project_member, project, change) == EVERY


@pytest.mark.parametrize("size", [3, INLINE_ID_LIMIT + 1], ids=["inline", "file"])
def test_ids_removed_from_a_segment_a_gate_passes__touches_every_environment(
    project, project_member, id_list, size
):
    id_list(size)
    change = ChangeInput("segment", "ids_remove", "beta", {"ids": ["u-0"]})
    assert touched(project_member, project, change) == EVERY


def test_segment_rules_changed__a_gate_passing_it_moves__touches_every_environment(
    project, project_admin, project_member
):
    services.segment_create(
        actor=project_admin,
        project=project,
        document=segment_document("employees", rules=[rule(pass_percentage=10)]),
    )
    services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document(
            "staff_only", rules=[rule(conditions=[condition("passes_segment", None, "employees")])]
        ),
    )
    spec_publish(actor=project_admin, project=project, reason="baseline")
    change = ChangeInput(
        "segment",
        "update",
        "employees",
        segment_document("employees", rules=[rule(pass_percentage=20)]),
    )
    assert touched(project_member, project, change) == EVERY
