"""Every rule of the review policy, through the services."""

import json

import pytest

from console.exceptions import Conflict, NotAllowed
from console.models import AuditEvent, ConfigSpec, Environment, RulesetVersion
from gates.documents import gate_to_document
from gates.models import FeatureGate
from reviews.models import ChangeSet, ChangeSetState
from reviews.services import (
    ChangeInput,
    EnvironmentRuleInput,
    change_set_requirements,
    changeset_apply,
    changeset_approve,
    changeset_rollback,
    entity_owner_set,
    review_group_save,
    review_policy_update,
    rollback_plan,
)
from tests.gates.factories import rule
from tests.reviews.conftest import create_gate, submit, update_gate

pytestmark = pytest.mark.django_db
S = ChangeSetState


def test_nothing_requires_review_applies_at_once(project, project_member, no_review):
    change_set = submit(project_member, project, create_gate())
    assert change_set.state == S.APPLIED
    assert change_set.results[0] == FeatureGate.objects.get(name="new_checkout")
    assert change_set.ruleset_version.number == 1


def test_two_approvals_required(project, project_member, project_admin, second_admin, reviewer):
    review_policy_update(
        actor=project_admin,
        project=project,
        environments=[EnvironmentRuleInput("production", True, 2)],
    )
    change_set = submit(project_member, project, create_gate())
    change_set = changeset_approve(actor=reviewer, change_set=change_set)
    assert change_set.state == S.IN_REVIEW
    with pytest.raises(Conflict) as exc:
        changeset_apply(actor=project_admin, change_set=change_set)
    assert exc.value.code == "not_approved"
    assert changeset_approve(actor=second_admin, change_set=change_set).state == S.APPLIED


def test_a_required_review_group_must_approve(
    project, project_member, project_admin, second_admin, reviewer
):
    group = review_group_save(
        actor=project_admin, project=project, name="Payments owners", members=[reviewer]
    )
    review_policy_update(
        actor=project_admin,
        project=project,
        environments=[EnvironmentRuleInput("production", True, 1, ("Payments owners",))],
    )
    change_set = submit(project_member, project, create_gate())
    change_set = changeset_approve(actor=second_admin, change_set=change_set)
    assert change_set.state == S.IN_REVIEW  # one approval, but not from the group
    assert group.members.filter(pk=reviewer.pk).exists()
    assert changeset_approve(actor=reviewer, change_set=change_set).state == S.APPLIED


def test_an_entitys_owning_group_must_approve_its_changes(
    project, live_gate, project_member, project_admin, second_admin, reviewer
):
    group = review_group_save(
        actor=project_admin, project=project, name="Checkout team", members=[reviewer]
    )
    entity_owner_set(
        actor=project_admin, project=project, kind="gate", name="new_checkout", group=group
    )
    change_set = submit(project_member, project, update_gate("new_checkout", isEnabled=False))
    assert changeset_approve(actor=second_admin, change_set=change_set).state == S.IN_REVIEW
    assert changeset_approve(actor=reviewer, change_set=change_set).state == S.APPLIED


def test_another_entitys_owning_group_is_not_asked(
    project, live_gate, project_member, project_admin, second_admin, reviewer
):
    group = review_group_save(
        actor=project_admin, project=project, name="Checkout team", members=[reviewer]
    )
    entity_owner_set(
        actor=project_admin, project=project, kind="gate", name="new_checkout", group=group
    )
    change_set = submit(project_member, project, create_gate("other_gate"))
    assert change_set_requirements(change_set).groups == []
    assert changeset_approve(actor=second_admin, change_set=change_set).state == S.APPLIED


def test_only_project_members_join_review_groups(project, project_admin, outsider):
    from console.exceptions import DomainError

    with pytest.raises(DomainError) as exc:
        review_group_save(actor=project_admin, project=project, name="Ops", members=[outsider])
    assert exc.value.code == "not_a_member"


def test_approvals_required_are_1_to_5_and_members_cannot_change_policy(
    project, project_admin, project_member
):
    from console.exceptions import DomainError

    for bad in (0, 6):
        with pytest.raises(DomainError):
            review_policy_update(
                actor=project_admin,
                project=project,
                environments=[EnvironmentRuleInput("production", True, bad)],
            )
    with pytest.raises(NotAllowed):
        review_policy_update(actor=project_member, project=project, allow_break_glass=True)


def test_a_viewer_cannot_approve_or_propose(project, project_member, project_viewer):
    change_set = submit(project_member, project, create_gate())
    with pytest.raises(NotAllowed):
        changeset_approve(actor=project_viewer, change_set=change_set)
    with pytest.raises(NotAllowed):
        submit(project_viewer, project, create_gate("other"))


def test_break_glass_is_off_by_default_and_only_for_admins_own_change(
    project, project_admin, project_member, second_admin
):
    own = submit(project_admin, project, create_gate())
    with pytest.raises(NotAllowed):
        changeset_apply(actor=project_admin, change_set=own, break_glass=True)
    review_policy_update(actor=project_admin, project=project, allow_break_glass=True)
    theirs = submit(project_member, project, create_gate("members_gate"))
    with pytest.raises(NotAllowed):
        changeset_apply(actor=project_admin, change_set=theirs, break_glass=True)
    applied = changeset_apply(actor=project_admin, change_set=own, break_glass=True)
    assert applied.break_glass
    follow_up = ChangeSet.objects.get(follow_up_of=applied)
    with pytest.raises(NotAllowed):
        changeset_approve(actor=project_admin, change_set=follow_up)
    assert changeset_approve(actor=second_admin, change_set=follow_up).state == S.APPROVED
    assert RulesetVersion.objects.filter(project=project).count() == 1


def test_rollback_restores_the_versions_content_through_review(
    project, live_gate, project_member, project_admin, second_admin
):
    production = Environment.objects.get(project=project, name="production")
    v1 = live_gate.project.ruleset_versions.get(number=1)
    old = ConfigSpec.objects.get(environment=production, ruleset_version=v1)
    document = gate_to_document(live_gate)
    document["rules"].append(rule("Staff", pass_percentage=100))
    changeset_approve(
        actor=second_admin,
        change_set=submit(
            project_member, project, ChangeInput("gate", "update", "new_checkout", document)
        ),
    )
    changeset_approve(
        actor=second_admin, change_set=submit(project_member, project, create_gate("extra"))
    )
    rollback = changeset_rollback(actor=project_member, version=v1)
    assert rollback.state == S.IN_REVIEW
    assert {(c.action, c.entity_name) for c in rollback.changes.all()} == {
        ("update", "new_checkout"),
        ("archive", "extra"),
    }
    applied = changeset_approve(actor=project_admin, change_set=rollback)
    new = ConfigSpec.objects.get(environment=production, ruleset_version=applied.ruleset_version)
    assert new.time_ms > old.time_ms

    from reviews.impact import environment_fingerprints  # noqa: F401  (same measure)

    def gates(spec):
        return {
            g["name"]: {k: v for k, v in g.items() if k != "version"}
            for g in json.loads(spec.v1_json)["feature_gates"]
        }

    assert gates(new) == gates(old)


def test_a_large_id_list_change_needs_review_like_any_other(project, project_admin, reviewer):
    from gates import services as gate_services
    from gates.specs import INLINE_ID_LIMIT
    from tests.gates.factories import segment_document

    segment = gate_services.segment_create(
        actor=project_admin, project=project, document=segment_document("vips", type="id_list")
    )
    gate_services.segment_ids_add(
        actor=project_admin, segment=segment, ids=[f"u{i}" for i in range(INLINE_ID_LIMIT + 1)]
    )
    change_set = submit(
        reviewer, project, ChangeInput("segment", "ids_add", "vips", {"ids": ["x"]})
    )
    assert change_set.state == S.IN_REVIEW
    assert "production" in change_set.environments


def test_rollback_plan__per_environment_shifts__and_nothing_kept(
    project, live_gate, project_member, second_admin
):
    # Given version 2 added a development-only rule and a new gate everywhere
    document = gate_to_document(live_gate)
    document["rules"].append(rule("Devs", environments=["development"]))
    changeset_approve(
        actor=second_admin,
        change_set=submit(
            project_member,
            project,
            ChangeInput("gate", "update", "new_checkout", document),
            create_gate("extra"),
        ),
    )
    v1 = project.ruleset_versions.get(number=1)
    counts = (ChangeSet.objects.count(), AuditEvent.objects.count(), FeatureGate.objects.count())

    # When the rollback to version 1 is planned
    plan = rollback_plan(actor=project_member, version=v1)

    # Then it restores the gate and archives the new one; development sees both change,
    # staging and production only the new gate going away
    assert [(c.action, c.entity_name) for c in plan.changes] == [
        ("update", "new_checkout"),
        ("archive", "extra"),
    ]
    shifts = {
        env.name: [(s.label, s.name, s.how) for s in found] for env, found in plan.environments
    }
    assert shifts == {
        "development": [("gate", "extra", "goes away"), ("gate", "new_checkout", "changes")],
        "staging": [("gate", "extra", "goes away")],
        "production": [("gate", "extra", "goes away")],
    }
    assert plan.touched == ["development", "staging", "production"]
    # and planning kept nothing
    assert counts == (
        ChangeSet.objects.count(),
        AuditEvent.objects.count(),
        FeatureGate.objects.count(),
    )
    assert len(FeatureGate.objects.get(name="new_checkout").rules) == 2


def test_rollback_plan__viewer__refused(project, live_gate, project_viewer):
    with pytest.raises(NotAllowed):
        rollback_plan(actor=project_viewer, version=project.ruleset_versions.get(number=1))
