"""The reviews console API: change sets, approvals by session and by console key, policy."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.models import Role, RulesetVersion
from gates.models import FeatureGate
from reviews.models import ChangeSet, ChangeSetState
from tests.api_support import api_url_for, assert_error, console_key, key_client, session_client
from tests.gates.factories import gate_document, rule

pytestmark = pytest.mark.django_db
api_url = api_url_for("reviews-api")


def _create_body(**fields):
    return {
        "title": "Launch new checkout",
        "changes": [
            {
                "kind": "gate",
                "action": "create",
                "payload": gate_document("new_checkout", rules=[rule(pass_percentage=25)]),
            }
        ],
        **fields,
    }


def test_a_change_needing_review_answers_202_then_approval_by_key_applies(
    project, project_member, second_admin
):
    response = session_client(project_member).post(
        api_url("api-review-list"), _create_body(), format="json"
    )
    assert response.status_code == 202, response.json()
    data = response.json()["data"]
    assert data["state"] == "in_review"
    assert data["review"]["approvalsRequired"] == 1
    assert data["changes"][0]["after"]["rules"][0]["passPercentage"] == 25
    assert not FeatureGate.objects.filter(project=project).exists()

    admin_key = key_client(console_key(second_admin, project, Role.ADMIN))
    approved = admin_key.post(api_url("api-review-approve", data["id"], project=None))
    assert approved.status_code == 200, approved.json()
    assert approved.json()["data"]["state"] == "applied"
    assert approved.json()["data"]["rulesetVersion"] == 1
    assert FeatureGate.objects.filter(project=project, name="new_checkout").exists()


def test_a_key_acts_as_its_creator_so_the_author_cannot_approve_by_key(project, project_admin):
    response = session_client(project_admin).post(
        api_url("api-review-list"), _create_body(), format="json"
    )
    number = response.json()["data"]["id"]
    own_key = key_client(console_key(project_admin, project, Role.ADMIN))
    refused = own_key.post(api_url("api-review-approve", number, project=None))
    assert_error(refused, 403, "permission_denied")
    assert ChangeSet.objects.get(number=number).approvals.count() == 0


def test_a_viewer_cannot_approve_and_a_viewer_key_cannot_either(
    project, project_member, project_viewer, second_admin
):
    number = (
        session_client(project_member)
        .post(api_url("api-review-list"), _create_body(), format="json")
        .json()["data"]["id"]
    )
    assert_error(session_client(project_viewer).post(api_url("api-review-approve", number)), 403)
    viewer_key = key_client(console_key(second_admin, project, Role.VIEWER))
    assert_error(viewer_key.post(api_url("api-review-approve", number, project=None)), 403)
    assert ChangeSet.objects.get(number=number).state == ChangeSetState.IN_REVIEW


def test_reject_needs_a_reason_then_rejects(project, project_member, second_admin):
    number = (
        session_client(project_member)
        .post(api_url("api-review-list"), _create_body(), format="json")
        .json()["data"]["id"]
    )
    admin = session_client(second_admin)
    assert_error(
        admin.post(api_url("api-review-reject", number), {"reason": " "}, format="json"),
        400,
        "required",
        "reason",
    )
    rejected = admin.post(
        api_url("api-review-reject", number), {"reason": "Too wide"}, format="json"
    )
    assert rejected.json()["data"]["state"] == "rejected"
    assert rejected.json()["data"]["rejectReason"] == "Too wide"
    assert_error(admin.post(api_url("api-review-approve", number)), 409, "changeset_rejected")


def test_list_filters_by_state_with_constant_queries(
    project, project_member, django_assert_max_num_queries
):
    client = session_client(project_member)
    for i in range(3):
        body = _create_body()
        body["changes"][0]["payload"] = gate_document(f"gate_{i}", rules=[rule()])
        client.post(api_url("api-review-list"), body, format="json")
    client.post(api_url("api-review-list"), _create_body(draft=True), format="json")
    listed = client.get(api_url("api-review-list", state="in_review")).json()
    assert [d["state"] for d in listed["data"]] == ["in_review"] * 3
    assert client.get(api_url("api-review-list", state="draft")).json()["data"][0]["state"] == (
        "draft"
    )
    with CaptureQueriesContext(connection) as few:
        client.get(api_url("api-review-list"))
    few_queries = len(few)  # read now: the connection's query log is a bounded deque
    assert few_queries <= 12
    for i in range(3, 15):
        body = _create_body()
        body["changes"][0]["payload"] = gate_document(f"gate_{i}", rules=[rule()])
        client.post(api_url("api-review-list"), body, format="json")
    with django_assert_max_num_queries(few_queries):
        client.get(api_url("api-review-list"))


def test_edit_after_approval_drops_it(project, project_member, second_admin, project_admin):
    from reviews.services import EnvironmentRuleInput, review_policy_update

    review_policy_update(
        actor=project_admin,
        project=project,
        environments=[EnvironmentRuleInput("production", True, 2)],
    )
    client = session_client(project_member)
    number = client.post(api_url("api-review-list"), _create_body(), format="json").json()["data"][
        "id"
    ]
    first = session_client(second_admin).post(api_url("api-review-approve", number)).json()
    assert first["data"]["review"]["approvals"] == [second_admin.email]
    body = _create_body()
    body["changes"][0]["payload"] = gate_document("new_checkout", rules=[rule(pass_percentage=5)])
    edited = client.patch(
        api_url("api-review-detail", number), {"changes": body["changes"]}, format="json"
    ).json()["data"]
    assert edited["review"]["approvals"] == []
    assert edited["state"] == "in_review"


def test_policy_get_and_patch_for_admins_only(project, project_admin, project_member):
    admin = session_client(project_admin)
    policy = admin.get(api_url("api-review-policy")).json()["data"]
    production = next(e for e in policy["environments"] if e["environment"] == "production")
    assert production == {
        "environment": "production",
        "requiresReview": True,
        "approvalsRequired": 1,
        "groups": [],
    }
    assert_error(session_client(project_member).get(api_url("api-review-policy")), 403)
    bad = admin.patch(
        api_url("api-review-policy"),
        {
            "environments": [
                {"environment": "production", "requiresReview": True, "approvalsRequired": 6}
            ]
        },
        format="json",
    )
    assert_error(bad, 400, "invalid")
    assert admin.get(api_url("api-review-policy")).json()["data"] == policy
    changed = admin.patch(
        api_url("api-review-policy"),
        {
            "allowBreakGlass": True,
            "environments": [
                {"environment": "staging", "requiresReview": True, "approvalsRequired": 2}
            ],
        },
        format="json",
    ).json()["data"]
    assert changed["allowBreakGlass"] is True
    staging = next(e for e in changed["environments"] if e["environment"] == "staging")
    assert staging["approvalsRequired"] == 2
    assert staging["requiresReview"] is True


def test_break_glass_by_api_applies_flags_and_opens_a_follow_up(project, project_admin):
    from reviews.services import review_policy_update

    admin = session_client(project_admin)
    number = admin.post(api_url("api-review-list"), _create_body(), format="json").json()["data"][
        "id"
    ]
    assert_error(
        admin.post(api_url("api-review-apply", number), {"breakGlass": True}, format="json"),
        403,
    )
    review_policy_update(actor=project_admin, project=project, allow_break_glass=True)
    applied = admin.post(
        api_url("api-review-apply", number), {"breakGlass": True}, format="json"
    ).json()["data"]
    assert applied["state"] == "applied"
    assert applied["breakGlass"] is True
    follow_up = ChangeSet.objects.get(follow_up_of__number=number)
    assert follow_up.state == ChangeSetState.IN_REVIEW
    assert RulesetVersion.objects.filter(project=project).count() == 1
    from console.models import AuditEvent

    assert AuditEvent.objects.filter(action="changeset.break_glass_applied").count() == 1


# ------------------------------------------------ a console key acts with no more than its role
# The author-or-admin checks (cancel, apply someone else's approved change set, break glass)
# read the role a caller acts with: an admin's member-role key is a member there.


def _in_review_by(author, project) -> int:
    response = session_client(author).post(
        api_url("api-review-list"), _create_body(), format="json"
    )
    assert response.status_code == 202, response.json()
    return response.json()["data"]["id"]


@pytest.mark.parametrize(
    ("key_role", "allowed"),
    [(Role.ADMIN, True), (Role.MEMBER, False), (Role.VIEWER, False)],
)
def test_cancelling_another_members_change_set_by_an_admins_key_needs_the_admin_role(
    project, project_member, second_admin, key_role, allowed
):
    # Given a member's change set in review, and a key of the admin's with `key_role`
    number = _in_review_by(project_member, project)
    client = key_client(console_key(second_admin, project, key_role))
    # When the key cancels it
    response = client.post(api_url("api-review-cancel", number, project=None))
    # Then only the admin-role key may
    state = ChangeSet.objects.get(project=project, number=number).state
    if allowed:
        assert response.status_code == 200, response.json()
        assert state == ChangeSetState.CANCELLED
    else:
        assert_error(response, 403, "permission_denied")
        assert state == ChangeSetState.IN_REVIEW


@pytest.mark.parametrize(
    ("key_role", "allowed"),
    [(Role.ADMIN, True), (Role.MEMBER, False), (Role.VIEWER, False)],
)
def test_applying_another_members_approved_change_set_by_an_admins_key_needs_the_admin_role(
    project, project_member, project_admin, second_admin, key_role, allowed
):
    from reviews.services import changeset_approve, review_policy_update

    # Given a member's change set approved (not yet applied), and a key of an admin's
    review_policy_update(actor=project_admin, project=project, apply_on_approval=False)
    number = _in_review_by(project_member, project)
    changeset_approve(
        actor=second_admin, change_set=ChangeSet.objects.get(project=project, number=number)
    )
    client = key_client(console_key(project_admin, project, key_role))
    # When the key applies it
    response = client.post(api_url("api-review-apply", number, project=None))
    # Then only the admin-role key may; nothing reaches the gates otherwise
    applied = FeatureGate.objects.filter(project=project, name="new_checkout").exists()
    if allowed:
        assert response.status_code == 200, response.json()
        assert applied
    else:
        assert_error(response, 403, "permission_denied")
        assert not applied
        assert ChangeSet.objects.get(number=number).state == ChangeSetState.APPROVED


def test_break_glass_by_an_admins_member_key_is_refused(project, project_admin):
    from reviews.services import review_policy_update

    review_policy_update(actor=project_admin, project=project, allow_break_glass=True)
    number = _in_review_by(project_admin, project)
    member_key = key_client(console_key(project_admin, project, Role.MEMBER))
    refused = member_key.post(
        api_url("api-review-apply", number, project=None), {"breakGlass": True}, format="json"
    )
    assert_error(refused, 403, "permission_denied")
    assert not FeatureGate.objects.filter(project=project).exists()
