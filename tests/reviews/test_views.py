"""The review pages: who may see and do what, the queue's sections, the change set page
(readable diffs, approvals, comments, rebase with conflicts, break-glass, impact), the
review settings, rollback from the publishing history, escaping and query counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from console.models import AuditEvent, Membership, Role, RulesetVersion
from experiments.reviews import describe_experiment
from gates.documents import gate_to_document
from gates.models import FeatureGate
from gates.reviews import describe_dynamic_config, describe_gate
from reviews.models import (
    Approval,
    ChangeSet,
    ChangeSetState,
    Comment,
    EntityOwner,
    EnvironmentReviewRule,
    ReviewGroup,
    ReviewPolicy,
)
from reviews.services import (
    ChangeInput,
    EnvironmentRuleInput,
    changeset_approve,
    changeset_comment,
    changeset_edit,
    changeset_reject,
    changeset_schedule,
    review_group_save,
    review_policy_update,
)
from reviews.views import changeset as changeset_page
from tests.console.factories import UserFactory
from tests.gates.factories import condition, rule, segment_document
from tests.reviews.conftest import create_gate, submit

pytestmark = pytest.mark.django_db

ROLE_RANK = {None: 0, Role.VIEWER: 1, Role.MEMBER: 2, Role.ADMIN: 3}
XSS = "<script>alert(1)</script>"
S = ChangeSetState


def _url(name: str, project, *args) -> str:
    return reverse(name, args=[project.slug, *args])


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _member(project, name: str, role=Role.MEMBER):
    user = UserFactory(username=name, email=f"{name}@corp.example")
    Membership.objects.create(project=project, user=user, role=role)
    return user


@pytest.fixture
def in_review(project, reviewer):
    """Change set #1: rex (a member) creates a gate; production needs one approval."""
    return submit(reviewer, project, create_gate(), title="Create new_checkout")


# ---------------------------------------------------------------- permission matrix


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    needed: str
    data: dict = field(default_factory=dict)
    number: bool = False  # the URL takes the change set's number


CASES = [
    Case("changeset-list", "get", Role.VIEWER),
    Case("changeset-detail", "get", Role.VIEWER, number=True),
    Case("changeset-impact", "get", Role.VIEWER, number=True),
    Case("review-settings", "get", Role.VIEWER),
    Case("version-history", "get", Role.VIEWER),
    Case("changeset-comment", "post", Role.VIEWER, {"body": "Looks right"}, number=True),
    Case("changeset-approve", "post", Role.MEMBER, number=True),
    Case("changeset-reject", "post", Role.MEMBER, {"reason": "Not now"}, number=True),
    Case("review-group-create", "post", Role.ADMIN, {"new-name": "Payments"}),
    Case(
        "review-settings",
        "post",
        Role.ADMIN,
        {"apply_on_approval": "on", "allow_break_glass": "on"},
    ),
]
ACTORS = ["anonymous", "outsider", Role.VIEWER, Role.MEMBER, Role.ADMIN]


def _login(client, actor, request):
    users = {
        "outsider": "outsider",
        Role.VIEWER: "project_viewer",
        Role.MEMBER: "project_member",
        Role.ADMIN: "project_admin",
    }
    if actor != "anonymous":
        client.force_login(request.getfixturevalue(users[actor]))
    return actor if actor in ROLE_RANK else None


def _policy_data(project, **overrides):
    data = {"apply_on_approval": "on"}
    for env in project.environments.all():
        prefix = f"env-{env.pk}-"
        if env.tier == "production":
            data[f"{prefix}requires_review"] = "on"
        data[f"{prefix}approvals_required"] = "1"
    data.update(overrides)
    return data


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("case", CASES, ids=[f"{c.name}-{c.method}" for c in CASES])
def test_review_pages__each_role__get_the_expected_status(
    client, project, in_review, request, actor, case
):
    # Given change set #1 by rex in review, and someone (or nobody) signed in
    role = _login(client, actor, request)
    args = [in_review.number] if case.number else []
    url = _url(case.name, project, *args)
    data = dict(case.data)
    if case.name == "review-settings" and case.method == "post":
        data = _policy_data(project, **data)
    events = AuditEvent.objects.count()

    # When they open the page or send the form
    response = client.get(url) if case.method == "get" else client.post(url, data)

    # Then anonymous people sign in, outsiders are asked to request access, and the role
    # decides
    if actor == "anonymous":
        assert response.status_code == 302
        assert response.url.startswith(reverse("account_login"))
    elif actor == "outsider":
        assert response.status_code == 403
        assert "is a closed project" in response.content.decode()
    elif ROLE_RANK[role] < ROLE_RANK[case.needed]:
        assert response.status_code == 403
    elif case.method == "get":
        assert response.status_code == 200
    else:
        assert response.status_code == 302, response.content.decode()[:3000]
    allowed = role is not None and ROLE_RANK[role] >= ROLE_RANK[case.needed]
    if case.method == "post" and not allowed:
        assert AuditEvent.objects.count() == events
    elif case.method == "post":
        assert AuditEvent.objects.count() > events


def test_detail__viewer__reads_and_comments_but_has_no_review_buttons(
    client, project, in_review, project_viewer
):
    # Given a viewer
    client.force_login(project_viewer)

    # When they open the change set and comment
    url = _url("changeset-detail", project, in_review.number)
    html = client.get(url).content.decode()
    response = client.post(_url("changeset-comment", project, in_review.number), {"body": "Why?"})

    # Then they read it, see no Approve or Reject, and their comment is kept
    assert "new_checkout" in html
    assert ">Approve<" not in html
    assert ">Reject<" not in html
    assert 'name="body"' in html
    assert response.status_code == 302
    assert Comment.objects.get(change_set=in_review).body == "Why?"


def test_detail__author__sees_no_approve_but_can_cancel(client, project, in_review, reviewer):
    client.force_login(reviewer)
    html = client.get(_url("changeset-detail", project, in_review.number)).content.decode()
    assert ">Approve<" not in html
    assert ">Cancel<" in html


def test_detail__only_the_author_gets_an_edit_link_to_the_editor(
    client, project, in_review, reviewer, project_admin
):
    wanted = f'href="/p/payments/gates/new/?change_set={in_review.number}&amp;change=0"'
    client.force_login(reviewer)
    assert (
        wanted in client.get(_url("changeset-detail", project, in_review.number)).content.decode()
    )
    client.force_login(project_admin)
    assert (
        wanted
        not in client.get(_url("changeset-detail", project, in_review.number)).content.decode()
    )


def test_approve__author_of_the_change_set__refused_with_a_message(
    client, project, in_review, reviewer
):
    # Given the author
    client.force_login(reviewer)

    # When they post an approval of their own change set
    response = client.post(_url("changeset-approve", project, in_review.number))

    # Then it is refused with the reason, and nothing changed
    assert response.status_code == 302
    assert "Authors cannot approve their own change set." in _messages(response)
    in_review.refresh_from_db()
    assert in_review.state == S.IN_REVIEW
    assert not Approval.objects.exists()


def test_approve__member_on_someone_elses__applies_and_publishes(
    client, project, in_review, project_member
):
    # Given mia, a member who did not write change set #1
    client.force_login(project_member)
    page = client.get(_url("changeset-detail", project, in_review.number)).content.decode()
    assert "Approve and apply" in page  # hers is the approval that meets the policy

    # When she approves it from the page
    response = client.post(_url("changeset-approve", project, in_review.number), follow=True)

    # Then it is applied as ruleset version 1, and the page says so
    in_review.refresh_from_db()
    assert in_review.state == S.APPLIED
    assert FeatureGate.objects.filter(project=project, name="new_checkout").exists()
    version = RulesetVersion.objects.get(project=project)
    assert in_review.ruleset_version == version
    html = response.content.decode()
    assert "Approved and applied as version 1" in html
    assert "version 1</a>" in html


def test_detail__approval_of_an_older_content__shown_dismissed(
    client, project, project_admin, reviewer, project_member
):
    # Given two approvals needed, mia's approval, then an edit by the author
    review_policy_update(
        actor=project_admin,
        project=project,
        environments=[EnvironmentRuleInput("production", True, 2, ())],
    )
    change_set = submit(reviewer, project, create_gate())
    changeset_approve(actor=project_member, change_set=change_set)
    changeset_edit(
        actor=reviewer, change_set=change_set, changes=[create_gate(description="Edited")]
    )
    client.force_login(project_admin)

    # When the page is opened
    html = client.get(_url("changeset-detail", project, change_set.number)).content.decode()

    # Then mia's approval is listed as dismissed and no longer counts
    assert "mia.member@corp.example" in html
    assert "dismissed: content changed" in html
    assert "0 of 2 approvals" in html


def test_reject__without_a_reason__refused_and_nothing_changes(
    client, project, in_review, project_member
):
    client.force_login(project_member)
    response = client.post(_url("changeset-reject", project, in_review.number), {"reason": " "})
    assert "Say why you reject it." in _messages(response)
    in_review.refresh_from_db()
    assert in_review.state == S.IN_REVIEW


def test_reject__with_a_reason__rejected_and_the_reason_shown(
    client, project, in_review, project_member
):
    client.force_login(project_member)
    response = client.post(
        _url("changeset-reject", project, in_review.number),
        {"reason": "Roll out to 10% first"},
        follow=True,
    )
    in_review.refresh_from_db()
    assert in_review.state == S.REJECTED
    assert in_review.reject_reason == "Roll out to 10% first"
    assert "Roll out to 10% first" in response.content.decode()


def test_cancel__member_who_is_not_the_author__refused(client, project, in_review, project_member):
    client.force_login(project_member)
    response = client.post(_url("changeset-cancel", project, in_review.number))
    assert any("Only the author or a project admin" in m for m in _messages(response))
    in_review.refresh_from_db()
    assert in_review.state == S.IN_REVIEW


def test_cancel__author__cancelled(client, project, in_review, reviewer):
    client.force_login(reviewer)
    client.post(_url("changeset-cancel", project, in_review.number))
    in_review.refresh_from_db()
    assert in_review.state == S.CANCELLED


def test_draft__author_sends_it__in_review(client, project, reviewer):
    draft = submit(reviewer, project, create_gate(), draft=True)
    client.force_login(reviewer)
    html = client.get(_url("changeset-detail", project, draft.number)).content.decode()
    assert "Send for review" in html
    client.post(_url("changeset-send", project, draft.number))
    draft.refresh_from_db()
    assert draft.state == S.IN_REVIEW


def test_apply__approved_without_apply_on_approval__author_applies(
    client, project, project_admin, reviewer, project_member
):
    # Given a policy that leaves applying to the author, and an approved change set
    review_policy_update(actor=project_admin, project=project, apply_on_approval=False)
    change_set = submit(reviewer, project, create_gate())
    change_set = changeset_approve(actor=project_member, change_set=change_set)
    assert change_set.state == S.APPROVED
    client.force_login(reviewer)
    assert ">Apply<" in client.get(_url("changeset-detail", project, 1)).content.decode()

    # When the author applies it
    client.post(_url("changeset-apply", project, change_set.number))

    # Then it is applied
    change_set.refresh_from_db()
    assert change_set.state == S.APPLIED


def test_htmx_action__page_answer_carries_the_message_inside_the_swapped_part(
    client, project, in_review, project_member
):
    # Given mia, and the page's htmx comment form
    client.force_login(project_member)
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "changeset-page"}

    # When she posts with htmx and htmx follows the redirect
    response = client.post(
        _url("changeset-approve", project, in_review.number), follow=True, **headers
    )

    # Then the part htmx selects holds the page and the message
    html = response.content.decode()
    part = html[html.index('<div id="changeset-page">') :]
    assert "Approved and applied" in part


# ---------------------------------------------------------------- readable diffs


def test_describe_gate__rule__one_readable_line():
    doc = {
        "rules": [
            rule("Everyone", pass_percentage=5),
            rule(
                "Employees",
                [
                    condition("email", "str_ends_with_any", ["@corp.example"]),
                    condition("country", "any", ["US", "CA"]),
                ],
                environments=["production"],
            ),
        ]
    }
    lines = describe_gate(doc)
    assert lines[1] == (
        "Rule 2",
        "Employees · 100% pass · when Email ends with @corp.example AND Country is any of "
        "US, CA · in production only",
    )
    assert lines[0] == ("Rule 1", "Everyone · 5% pass · when Everyone")


def test_describe_config_and_experiment__values_and_groups_readable():
    config = describe_dynamic_config({"defaultValue": {"limit": 2}, "rules": []})
    assert ("Default value", '{\n  "limit": 2\n}') in config
    experiment = describe_experiment(
        {
            "status": "running",
            "allocation": 50,
            "layerID": None,
            "targetingGateID": "beta_users",
            "targetingConditions": [],
            "groups": [
                {"name": "Control", "size": 50, "parameterValues": {"color": "blue"}},
                {"name": "Test", "size": 50, "parameterValues": {"color": "green"}},
            ],
        }
    )
    assert ("Allocation", "50% of units") in experiment
    assert ("Targeting", "Units passing gate beta_users") in experiment
    assert ("Group Test", '50% · color = "green"') in experiment


def test_detail__update_of_a_percentage__changed_part_highlighted_side_by_side(
    client, project, live_gate, project_member, reviewer
):
    # Given mia proposes 10% → 50% on the live gate's rule
    document = gate_to_document(live_gate)
    document["rules"][0]["passPercentage"] = 50
    change_set = submit(
        project_member, project, ChangeInput("gate", "update", "new_checkout", document)
    )
    client.force_login(reviewer)

    # When rex opens it
    html = client.get(_url("changeset-detail", project, change_set.number)).content.decode()

    # Then both sides show the rule, the percentages marked, and the gate is linked
    assert "<mark>10% pass</mark>" in html
    assert "<mark>50% pass</mark>" in html
    assert reverse("gate-detail", args=[project.slug, live_gate.pk]) in html
    assert "1 line differs" in html


def test_detail__segment_ids_added__count_and_first_ids(
    client, project, project_member, project_admin
):
    # Given an ID-list segment, and mia adding twelve IDs to it
    created = submit(
        project_member,
        project,
        ChangeInput("segment", "create", "beta", segment_document("beta", type="id_list")),
    )
    if created.state != S.APPLIED:
        changeset_approve(actor=project_admin, change_set=created)
    ids = [f"user-{i}" for i in range(12)]
    change_set = submit(
        project_member, project, ChangeInput("segment", "ids_add", "beta", {"ids": ids})
    )
    client.force_login(project_member)

    # When she opens it
    html = client.get(_url("changeset-detail", project, change_set.number)).content.decode()

    # Then the page says how many and shows the first ones
    assert "Adds 12 IDs: user-0, user-1" in html
    assert "(+4 more)" in html


# ---------------------------------------------------------------- rebase


def _competing_edits(project, live_gate, author, other, admin):
    """The author and another member both change the live gate's percentage (20% and 30%);
    the other's change set is applied first, so the author's is stale."""
    mine = gate_to_document(live_gate)
    mine["rules"][0]["passPercentage"] = 20
    mine["description"] = "Twenty percent first"
    theirs = gate_to_document(live_gate)
    theirs["rules"][0]["passPercentage"] = 30
    stale = submit(author, project, ChangeInput("gate", "update", "new_checkout", mine))
    first = submit(other, project, ChangeInput("gate", "update", "new_checkout", theirs))
    changeset_approve(actor=admin, change_set=first)
    stale.refresh_from_db()
    assert stale.state == S.STALE
    return stale


def test_rebase__conflicting_edits__both_sides_shown_and_a_choice_applied(
    client, project, live_gate, project_member, reviewer, project_admin
):
    # Given mia's change set, stale since rex's edit of the same rule was applied
    stale = _competing_edits(project, live_gate, project_member, reviewer, project_admin)
    client.force_login(project_member)

    # When mia opens it
    html = client.get(_url("changeset-detail", project, stale.number)).content.decode()

    # Then the conflicting key shows base, theirs and mine, readably, with a choice
    assert "Rebase with these choices" in html
    assert "Everyone · 10% pass · when Everyone" in html  # base
    assert "Everyone · 30% pass · when Everyone" in html  # theirs
    assert "Everyone · 20% pass · when Everyone" in html  # mine
    assert 'name="resolve:0.rules"' in html

    # When she takes theirs
    response = client.post(
        _url("changeset-rebase", project, stale.number), {"resolve:0.rules": "theirs"}
    )

    # Then it is back in review with their percentage
    assert response.status_code == 302
    stale.refresh_from_db()
    assert stale.state == S.IN_REVIEW
    assert stale.changes.get().payload["rules"][0]["passPercentage"] == 30


def test_rebase__conflict_without_a_choice__refused_with_the_keys(
    client, project, live_gate, project_member, reviewer, project_admin
):
    stale = _competing_edits(project, live_gate, project_member, reviewer, project_admin)
    client.force_login(project_member)
    response = client.post(_url("changeset-rebase", project, stale.number))
    assert any("new_checkout.rules" in m for m in _messages(response))
    stale.refresh_from_db()
    assert stale.state == S.STALE


# ---------------------------------------------------------------- break-glass and impact


def test_break_glass__admin_author_when_allowed__applied_flagged_and_followed_up(
    client, project, project_admin
):
    # Given a policy allowing break-glass, and the admin's own change set in review
    review_policy_update(actor=project_admin, project=project, allow_break_glass=True)
    change_set = submit(project_admin, project, create_gate())
    client.force_login(project_admin)
    html = client.get(_url("changeset-detail", project, change_set.number)).content.decode()
    assert "Break glass" in html
    assert "follow-up review" in html

    # When they break the glass
    response = client.post(_url("changeset-break-glass", project, change_set.number), follow=True)

    # Then it is applied, flagged, and a follow-up review is open and linked
    change_set.refresh_from_db()
    assert change_set.state == S.APPLIED
    assert change_set.break_glass
    follow_up = ChangeSet.objects.get(follow_up_of=change_set)
    assert follow_up.state == S.IN_REVIEW
    html = response.content.decode()
    assert f"Follow-up review #{follow_up.number}" in html
    assert reverse("changeset-detail", args=[project.slug, follow_up.number]) in html


def test_break_glass__policy_does_not_allow__no_button(client, project, project_admin):
    change_set = submit(project_admin, project, create_gate())
    client.force_login(project_admin)
    html = client.get(_url("changeset-detail", project, change_set.number)).content.decode()
    assert "Break glass" not in html


def test_impact__preview__rendered_with_counts_and_examples(client, project, project_member):
    # Given a change set creating a gate that passes everyone
    change_set = submit(project_member, project, create_gate(rules=[rule(pass_percentage=100)]))
    client.force_login(project_member)

    # When the page loads the panel
    response = client.get(
        _url("changeset-impact", project, change_set.number), HTTP_HX_REQUEST="true"
    )

    # Then the counts (one item for the three environments) and example users are shown
    html = response.content.decode()
    assert "2,000</strong> of 2,000 users change (100%)" in html
    assert "impact-0-0" in html
    assert "<html" not in html  # the panel only


def test_impact__preview_error__shown_in_the_panel(
    client, project, in_review, project_member, monkeypatch
):
    preview = SimpleNamespace(sample_size=0, error="No users to sample yet.", entities=[])
    monkeypatch.setattr(changeset_page, "impact_preview", lambda cs: preview)
    client.force_login(project_member)
    html = client.get(
        _url("changeset-impact", project, in_review.number), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "No users to sample yet." in html


def test_detail__lazy_impact_panel_wired(client, project, in_review, project_member):
    client.force_login(project_member)
    html = client.get(_url("changeset-detail", project, in_review.number)).content.decode()
    assert f'hx-get="{_url("changeset-impact", project, in_review.number)}"' in html
    assert "hx-preserve" in html


# ---------------------------------------------------------------- the queue


def test_queue__sections__to_review_mine_applied_closed(
    client, project, project_member, reviewer, project_admin
):
    # Given rex's change set in review, one of mia's, one applied and one rejected
    waiting = submit(reviewer, project, create_gate("by_rex"), title="Rex's gate")
    mine = submit(project_member, project, create_gate("by_mia"), title="Mia's gate")
    applied = submit(reviewer, project, create_gate("applied_one"), title="Applied gate")
    changeset_approve(actor=project_admin, change_set=applied)
    rejected = submit(reviewer, project, create_gate("rejected_one"), title="Rejected gate")
    changeset_reject(actor=project_admin, change_set=rejected, reason="Duplicate")
    client.force_login(project_member)

    # When mia opens the queue
    response = client.get(_url("changeset-list", project))
    queue = response.context["queue"]

    # Then each change set is in its section
    assert [r.change_set.pk for r in queue.to_review] == [waiting.pk]
    assert [r.change_set.pk for r in queue.mine] == [mine.pk]
    assert [r.change_set.pk for r in queue.applied] == [applied.pk]
    assert [r.change_set.pk for r in queue.closed] == [rejected.pk]
    html = response.content.decode()
    assert "0 of 1 approval" in html
    assert "v1" in html  # the version
    assert "root@corp.example" in html  # who applied it
    assert "Duplicate" in html


def test_queue__groups_required__says_what_is_missing(
    client, project, project_admin, second_admin, project_member, reviewer
):
    # Given production needs two approvals including Payments-owners (ada)
    review_group_save(
        actor=project_admin, project=project, name="Payments-owners", members=[second_admin]
    )
    review_policy_update(
        actor=project_admin,
        project=project,
        environments=[EnvironmentRuleInput("production", True, 2, ("Payments-owners",))],
    )
    change_set = submit(reviewer, project, create_gate())
    changeset_approve(actor=project_member, change_set=change_set)
    client.force_login(project_admin)

    # When root (not in the group) opens the queue
    html = client.get(_url("changeset-list", project)).content.decode()

    # Then the row says what is still missing
    assert "1 of 2 approvals; needs Payments-owners" in html


def test_queue__filter_by_state__one_list(client, project, in_review, project_member, reviewer):
    rejected = submit(reviewer, project, create_gate("other"))
    changeset_reject(actor=project_member, change_set=rejected, reason="No")
    client.force_login(project_member)
    response = client.get(_url("changeset-list", project), {"state": "rejected"})
    assert [r.change_set.pk for r in response.context["queue"].filtered] == [rejected.pk]
    partial = client.get(
        _url("changeset-list", project), {"state": "in_review"}, HTTP_HX_REQUEST="true"
    )
    assert "<html" not in partial.content.decode()
    assert [r.change_set.pk for r in partial.context["queue"].filtered] == [in_review.pk]


def test_queue__viewer__nothing_to_review_and_told_why(client, project, in_review, project_viewer):
    client.force_login(project_viewer)
    response = client.get(_url("changeset-list", project))
    assert response.context["queue"].to_review == []
    assert "approving needs the member role" in response.content.decode()


def _queue_queries(client, project) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(_url("changeset-list", project))
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_queue__one_or_twenty_change_sets__same_number_of_queries(
    client, project, project_admin, second_admin, project_member, reviewer
):
    # Given a group requirement (so requirements read group members) and one change set
    review_group_save(actor=project_admin, project=project, name="Owners", members=[second_admin])
    review_policy_update(
        actor=project_admin,
        project=project,
        environments=[EnvironmentRuleInput("production", True, 2, ("Owners",))],
    )
    submit(reviewer, project, create_gate("gate_0"))
    client.force_login(project_member)
    _queue_queries(client, project)  # warm the caches of the first request
    one = _queue_queries(client, project)

    # When there are twenty, in every section, with approvals and schedules
    for i in range(1, 20):
        author = (reviewer, project_member)[i % 2]
        change_set = submit(author, project, create_gate(f"gate_{i}"))
        if i % 5 == 0:  # scheduled ones show their time
            at = timezone.now() + timedelta(hours=i)
            changeset_schedule(actor=author, change_set=change_set, at=at)
        if i % 3 == 0:
            changeset_reject(actor=project_admin, change_set=change_set, reason="No")
        elif i % 4 == 0 and author is reviewer:
            changeset_approve(actor=project_admin, change_set=change_set)
    many = _queue_queries(client, project)

    # Then the queue costs the same
    assert many == one


# ---------------------------------------------------------------- the change set page's queries


def _detail_queries(client, project, number) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(_url("changeset-detail", project, number))
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_detail__one_or_many_changes_approvals_comments__same_number_of_queries(
    client, project, project_admin, project_member, reviewer
):
    # Given production needs five approvals
    review_policy_update(
        actor=project_admin,
        project=project,
        environments=[EnvironmentRuleInput("production", True, 5, ())],
    )
    small = submit(reviewer, project, create_gate("small"))
    changeset_approve(actor=project_member, change_set=small)
    changeset_comment(actor=project_member, change_set=small, body="One")
    big = submit(reviewer, project, *[create_gate(f"big_{i}") for i in range(6)])
    for i in range(4):
        approver = _member(project, f"approver{i}")
        changeset_approve(actor=approver, change_set=big)
        changeset_comment(actor=approver, change_set=big, body=f"Comment {i}")
    client.force_login(project_admin)  # approved neither: the same buttons on both pages
    _detail_queries(client, project, small.number)

    # When each page is opened
    one = _detail_queries(client, project, small.number)
    many = _detail_queries(client, project, big.number)

    # Then they cost the same
    assert many == one


# ---------------------------------------------------------------- escaping


def test_escaping__script_in_title_and_comment__shown_as_text(
    client, project, reviewer, project_member
):
    change_set = submit(reviewer, project, create_gate(), title=XSS)
    changeset_comment(actor=project_member, change_set=change_set, body=XSS)
    client.force_login(project_member)
    for url in (
        _url("changeset-detail", project, change_set.number),
        _url("changeset-list", project),
    ):
        html = client.get(url).content.decode()
        assert XSS not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# ---------------------------------------------------------------- settings


def test_settings__admin_saves_the_policy(client, project, project_admin):
    client.force_login(project_admin)
    production = project.environments.get(name="production")
    group = review_group_save(actor=project_admin, project=project, name="Payments", members=[])
    data = _policy_data(project, allow_break_glass="on")
    data[f"env-{production.pk}-approvals_required"] = "3"
    data[f"env-{production.pk}-groups"] = ["Payments"]

    response = client.post(_url("review-settings", project), data)

    assert response.status_code == 302
    rule = EnvironmentReviewRule.objects.get(environment=production)
    assert (rule.requires_review, rule.approvals_required) == (True, 3)
    assert list(rule.groups.all()) == [group]
    assert ReviewPolicy.objects.get(project=project).allow_break_glass is True


@pytest.mark.parametrize("approvals", ["0", "6"])
def test_settings__approvals_out_of_range__form_error_and_nothing_changed(
    client, project, project_admin, approvals
):
    client.force_login(project_admin)
    production = project.environments.get(name="production")
    data = _policy_data(project, allow_break_glass="on")
    data[f"env-{production.pk}-approvals_required"] = approvals

    response = client.post(_url("review-settings", project), data)

    assert response.status_code == 400
    assert "Approvals required is a whole number from 1 to 5." in response.content.decode()
    assert not EnvironmentReviewRule.objects.exists()
    assert not ReviewPolicy.objects.filter(project=project, allow_break_glass=True).exists()


def test_settings__viewer_and_member__read_only(client, project, project_member):
    client.force_login(project_member)
    html = client.get(_url("review-settings", project)).content.decode()
    assert "Only project admins can change" in html
    assert "Save policy" not in html
    assert "production" in html


def test_settings__groups_created_renamed_deleted(client, project, project_admin, project_member):
    client.force_login(project_admin)
    client.post(
        _url("review-group-create", project),
        {"new-name": "Payments", "new-members": [str(project_member.pk)]},
    )
    group = ReviewGroup.objects.get(project=project)
    assert list(group.members.all()) == [project_member]

    prefix = f"group-{group.pk}"
    client.post(
        _url("review-group-update", project, group.pk),
        {f"{prefix}-name": "Payments-owners", f"{prefix}-members": [str(project_admin.pk)]},
    )
    group.refresh_from_db()
    assert group.name == "Payments-owners"
    assert list(group.members.all()) == [project_admin]

    client.post(_url("review-group-delete", project, group.pk))
    assert not ReviewGroup.objects.exists()


def test_settings__group_name_taken__form_error(client, project, project_admin):
    review_group_save(actor=project_admin, project=project, name="Payments", members=[])
    client.force_login(project_admin)
    response = client.post(_url("review-group-create", project), {"new-name": "payments"})
    assert response.status_code == 400
    assert "A review group named" in response.content.decode()


def test_settings__entity_owner_set_listed_and_removed(client, project, project_admin, live_gate):
    group = review_group_save(actor=project_admin, project=project, name="Payments", members=[])
    client.force_login(project_admin)

    client.post(
        _url("entity-owner-set", project),
        {"kind": "gate", "name": "new_checkout", "group": str(group.pk)},
    )
    owner = EntityOwner.objects.get()
    assert (owner.kind, owner.entity_id, owner.group) == ("gate", live_gate.pk, group)
    html = client.get(_url("review-settings", project)).content.decode()
    assert "new_checkout" in html

    client.post(_url("entity-owner-remove", project, owner.pk))
    assert not EntityOwner.objects.exists()


def test_settings__owner_of_an_unknown_entity__form_error(client, project, project_admin):
    group = review_group_save(actor=project_admin, project=project, name="Payments", members=[])
    client.force_login(project_admin)
    response = client.post(
        _url("entity-owner-set", project), {"kind": "gate", "name": "nope", "group": str(group.pk)}
    )
    assert response.status_code == 400
    assert "no feature gate named" in response.content.decode()


# ---------------------------------------------------------------- rollback


def test_rollback__from_the_history__preview_then_proposes_a_change_set(
    client, project, live_gate, project_member, project_admin
):
    # Given version 1 (the gate created) and version 2 (a development-only rule added)
    document = gate_to_document(live_gate)
    document["rules"].append(rule("Devs", environments=["development"]))
    change_set = submit(
        project_member, project, ChangeInput("gate", "update", "new_checkout", document)
    )
    assert change_set.state == S.APPLIED
    client.force_login(project_member)

    # When mia opens the history and follows "Roll back to v1"
    publishing = client.get(reverse("publishing", args=[project.slug])).content.decode()
    history = client.get(_url("version-history", project), HTTP_HX_REQUEST="true")
    preview = client.get(_url("changeset-rollback", project, 1))

    # Then the publishing page loads the history, which links each version's change set
    assert reverse("version-history", args=[project.slug]) in publishing
    html = history.content.decode()
    assert "Roll back to v1" in html
    assert reverse("changeset-detail", args=[project.slug, change_set.number]) in html
    # and the preview says, before anything is proposed, what each environment gets
    page = preview.content.decode()
    assert "Roll the project back to version 1" in page
    assert "a version is the whole project" in page.lower()
    development, staging, production = page.split('data-environment="')[1:4]
    assert development.startswith("development")
    assert "new_checkout</span> changes" in development
    assert "no change" in staging
    assert "no change" in production
    assert "Propose rollback: changes development" in page
    assert not ChangeSet.objects.filter(source="rollback").exists()

    # When she proposes it
    response = client.post(_url("changeset-rollback", project, 1))

    # Then the rollback is a change set restoring the gate, named for what it is, and only
    # development changes, so it applies without review
    rollback = ChangeSet.objects.get(source="rollback")
    assert rollback.title == "Roll the project back to version 1"
    assert response.url == reverse("changeset-detail", args=[project.slug, rollback.number])
    assert rollback.environments == ["development"]
    assert rollback.state == S.APPLIED
    assert len(rollback.changes.get().payload["rules"]) == 1


def test_rollback__preview_of_an_all_environment_change__every_environment_listed(
    client, project, live_gate, project_member, project_admin
):
    # Given version 2 changed the gate's rollout in every environment
    document = gate_to_document(live_gate)
    document["rules"][0]["passPercentage"] = 60
    changeset_approve(
        actor=project_admin,
        change_set=submit(
            project_member, project, ChangeInput("gate", "update", "new_checkout", document)
        ),
    )
    client.force_login(project_member)

    # When the rollback to version 1 is previewed
    page = client.get(_url("changeset-rollback", project, 1)).content.decode()

    # Then every environment says the gate changes, and the button says so too
    assert page.count("new_checkout</span> changes") == 3
    assert "Propose rollback: changes development, staging, production" in page


def test_rollback__nothing_since__message_and_nothing_proposed(
    client, project, live_gate, project_member
):
    client.force_login(project_member)
    response = client.get(_url("changeset-rollback", project, 1), follow=True)
    assert "Nothing changed through change sets since version 1." in response.content.decode()
    assert not ChangeSet.objects.filter(source="rollback").exists()


def test_rollback__viewer__forbidden(client, project, live_gate, project_viewer):
    client.force_login(project_viewer)
    preview = client.get(_url("changeset-rollback", project, 1))
    response = client.post(_url("changeset-rollback", project, 1))
    assert preview.status_code == 403
    assert response.status_code == 403
    assert not ChangeSet.objects.filter(source="rollback").exists()
