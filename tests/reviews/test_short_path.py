"""Change sets that are never empty, never dead ends, and the short path: what changes no
SDK answer applies at once, what does waits for review."""

import pytest

from console.exceptions import Conflict, DomainError
from console.models import AuditEvent, RulesetVersion
from gates import services as gate_services
from gates.models import FeatureGate
from reviews import registry
from reviews.models import Change, ChangeSet, ChangeSetSource
from reviews.models import ChangeSetState as S
from reviews.services import (
    ChangeInput,
    changeset_approve,
    changeset_edit,
    changeset_rebase,
    changeset_rollback,
    changeset_send,
)
from tests.experiments.factories import experiment_document
from tests.gates.factories import config_document, gate_document, rule, segment_document
from tests.reviews.conftest import create_gate, submit

# ---------------------------------------------------------------- a save that changes nothing


def _counts(project):
    return (
        ChangeSet.objects.filter(project=project).count(),
        RulesetVersion.objects.filter(project=project).count(),
        AuditEvent.objects.count(),
    )


@pytest.mark.parametrize(
    ("kind", "document"),
    [
        ("gate", gate_document("promo", rules=[rule(pass_percentage=10)])),
        ("segment", segment_document("staff", rules=[rule()])),
        ("dynamic_config", config_document("theme")),
        ("experiment", experiment_document("button")),
    ],
)
def test_submit__document_as_it_is__refused_and_nothing_recorded(
    project, project_admin, second_admin, project_member, kind, document
):
    # Given a live entity of each kind (created, through review where it needs one)
    created = submit(project_admin, project, ChangeInput(kind, "create", "", document))
    if created.state == S.IN_REVIEW:
        changeset_approve(actor=second_admin, change_set=created)
    handler = registry.get(kind)
    entity = handler.find(project, document["name"])
    before = _counts(project)

    # When a member saves it unchanged
    with pytest.raises(DomainError) as refused:
        submit(
            project_member,
            project,
            ChangeInput(kind, "update", entity.name, dict(handler.to_document(entity))),
        )

    # Then it is refused, clearly, and there is no change set, no version, no audit event
    assert refused.value.code == "unchanged"
    assert "Nothing to save" in refused.value.message
    assert _counts(project) == before
    assert handler.find(project, document["name"]).revision == entity.revision


def test_edit__proposal_back_to_the_live_document__refused(project, live_gate, project_member):
    # Given a proposal raising the rollout
    document = registry.get("gate").to_document(live_gate)
    raised = {**document, "rules": [{**document["rules"][0], "passPercentage": 50}]}
    change_set = submit(
        project_member, project, ChangeInput("gate", "update", live_gate.name, raised)
    )

    # When its author edits it back to what is live
    with pytest.raises(DomainError) as refused:
        changeset_edit(
            actor=project_member,
            change_set=change_set,
            changes=[ChangeInput("gate", "update", live_gate.name, dict(document))],
        )

    # Then the edit is refused and the proposal stays as it was
    assert refused.value.code == "unchanged"
    assert Change.objects.get(change_set=change_set).payload["rules"][0]["passPercentage"] == 50


def test_rollback__entity_changed_and_changed_back__nothing_to_roll_back(
    project, live_gate, project_admin, second_admin
):
    # Given version 1 (the gate created), then its description changed and changed back
    version = RulesetVersion.objects.get(project=project, number=1)
    document = registry.get("gate").to_document(live_gate)
    for text in ("Edited", document["description"]):
        submit(
            project_admin,
            project,
            ChangeInput("gate", "update", live_gate.name, {**document, "description": text}),
        )

    # When someone proposes rolling back to version 1
    with pytest.raises(DomainError) as refused:
        changeset_rollback(actor=project_admin, version=version)

    # Then there is nothing to roll back, and no change set is made
    assert refused.value.code == "nothing_to_roll_back"
    assert not ChangeSet.objects.filter(project=project, source=ChangeSetSource.ROLLBACK).exists()


# ---------------------------------------------------------------- the short path


@pytest.mark.parametrize(
    ("kind", "document"),
    [
        ("gate", gate_document("quiet")),
        ("gate", gate_document("zero", rules=[rule(pass_percentage=0)])),
        ("gate", gate_document("off", isEnabled=False, rules=[rule()])),
        ("segment", segment_document("nobody_yet")),
        ("dynamic_config", config_document("empty", defaultValue={})),
        ("experiment", experiment_document("draft_button")),
    ],
    ids=[
        "gate-no-rule",
        "gate-zero-percent",
        "gate-disabled",
        "segment-empty",
        "config-empty",
        "experiment-draft",
    ],
)
def test_submit__create_that_changes_no_sdk_answer__applied_without_review(
    project, project_member, kind, document
):
    # When a member creates an entity SDKs answer for as if it did not exist
    change_set = submit(project_member, project, ChangeInput(kind, "create", "", document))

    # Then it is applied at once (production needs review, but nothing it receives changes)
    assert change_set.state == S.APPLIED
    assert change_set.environments == []
    assert registry.get(kind).find(project, document["name"]) is not None


@pytest.mark.parametrize(
    ("kind", "document"),
    [
        ("gate", gate_document("some", rules=[rule(pass_percentage=1)])),
        ("segment", segment_document("staff", rules=[rule()])),
        ("dynamic_config", config_document("themed")),  # its default is not `{}`
        (
            "experiment",
            experiment_document(
                "forced", overrides=[{"group": "Test", "unitIDs": ["u1"], "segments": []}]
            ),
        ),
    ],
    ids=["gate-passing-rule", "segment-with-members", "config-default", "experiment-override"],
)
def test_submit__create_that_changes_answers__waits_for_review(
    project, project_member, kind, document
):
    change_set = submit(project_member, project, ChangeInput(kind, "create", "", document))
    assert change_set.state == S.IN_REVIEW
    assert "production" in change_set.environments
    assert registry.get(kind).find(project, document["name"]) is None


def test_update__quiet_gate_gets_a_passing_rule__waits_for_review(project, project_member):
    # Given a gate created without review (no rule)
    quiet = submit(project_member, project, create_gate("quiet", rules=[]))
    assert quiet.state == S.APPLIED

    # When a rule that passes someone is added
    change_set = submit(
        project_member,
        project,
        ChangeInput(
            "gate", "update", "quiet", gate_document("quiet", rules=[rule(pass_percentage=5)])
        ),
    )

    # Then review starts: something users receive changes
    assert change_set.state == S.IN_REVIEW
    assert "production" in change_set.environments


# ---------------------------------------------------------------- conflicts between change sets


def test_submit__same_name_as_an_open_create__second_refused(project, project_member, reviewer):
    # Given mia's change set creating 'promo', in review
    first = submit(project_member, project, create_gate("promo"))
    assert first.state == S.IN_REVIEW

    # When rex submits another creating 'Promo'
    with pytest.raises(Conflict) as refused:
        submit(reviewer, project, create_gate("Promo"))

    # Then it is refused, naming the first, and nothing is saved
    assert refused.value.code == "conflicting_change_set"
    assert f"#{first.number}" in refused.value.message
    assert ChangeSet.objects.filter(project=project).count() == 1


def test_submit__config_named_as_an_open_experiment__refused(project, project_member):
    # Given an experiment in review (it shares the SDKs' namespace with configs)
    overrides = [{"group": "Test", "unitIDs": ["u1"], "segments": []}]
    submit(
        project_member,
        project,
        ChangeInput("experiment", "create", "", experiment_document("hero", overrides=overrides)),
    )

    with pytest.raises(Conflict) as refused:
        submit(
            project_member,
            project,
            ChangeInput("dynamic_config", "create", "", config_document("hero")),
        )
    assert refused.value.code == "conflicting_change_set"


def test_send__draft_creating_a_name_another_set_creates__refused(
    project, project_member, reviewer
):
    draft = submit(project_member, project, create_gate("promo"), draft=True)
    submit(reviewer, project, create_gate("promo"))
    with pytest.raises(Conflict) as refused:
        changeset_send(actor=project_member, change_set=draft)
    assert refused.value.code == "conflicting_change_set"
    draft.refresh_from_db()
    assert draft.state == S.DRAFT


def test_submit__edit_of_a_gate_an_open_set_archives__refused(
    project, live_gate, project_member, reviewer
):
    archiving = submit(project_member, project, ChangeInput("gate", "archive", live_gate.name))
    assert archiving.state == S.IN_REVIEW
    with pytest.raises(Conflict) as refused:
        submit(
            reviewer,
            project,
            ChangeInput(
                "gate",
                "update",
                live_gate.name,
                gate_document(live_gate.name, rules=[rule(pass_percentage=50)]),
            ),
        )
    assert refused.value.code == "conflicting_change_set"
    assert "archives" in refused.value.message


def test_apply__another_set_created_the_name_first__stale_with_reason_then_renamed(
    project, project_member, reviewer, project_admin
):
    # Given two change sets in review creating 'promo' (the second from before conflicts
    # were caught at submit: made under another name, then renamed in the database)
    first = submit(project_member, project, create_gate("promo"))
    second = submit(reviewer, project, create_gate("promo_b"))
    Change.objects.filter(change_set=second).update(entity_name="promo")

    # When the first is approved and applied
    changeset_approve(actor=project_admin, change_set=first)

    # Then the second goes stale at once, with the reason and the way out
    second.refresh_from_db()
    assert second.state == S.STALE
    assert f"#{first.number} created the feature gate 'promo' first" in second.stale_reason
    assert "another name" in second.stale_reason
    # and renaming it (an edit) sends it back to review
    edited = changeset_edit(actor=reviewer, change_set=second, changes=[create_gate("promo_2")])
    assert edited.state == S.IN_REVIEW
    assert edited.stale_reason == ""


def test_approve__name_taken_since__stale_not_left_approved(
    project, project_member, reviewer, project_admin
):
    # Given a change set creating 'promo', and the name taken meanwhile by a direct write
    change_set = submit(project_member, project, create_gate("promo"))
    gate_services.gate_create(actor=project_admin, project=project, document=gate_document("promo"))

    # When it is approved (which applies it)
    result = changeset_approve(actor=reviewer, change_set=change_set)

    # Then applying is refused and it is stale with the reason, never "approved"
    assert result.apply_error is not None
    change_set.refresh_from_db()
    assert change_set.state == S.STALE
    assert "promo" in change_set.stale_reason
    assert FeatureGate.objects.filter(project=project, name="promo").count() == 1
    # and once the name is free, a rebase checks it again and sends it back to review
    FeatureGate.objects.filter(project=project, name="promo").delete()
    rebased = changeset_rebase(actor=project_member, change_set=change_set)
    assert rebased.state == S.IN_REVIEW
