"""Races between real database sessions (threads, each with its own connection)."""

import threading

import pytest
from django.db import connection

from console.exceptions import ApplicationError
from console.models import RulesetVersion
from reviews.models import ChangeSetState
from reviews.services import (
    EnvironmentRuleInput,
    changeset_apply,
    changeset_approve,
    review_policy_update,
)
from tests.reviews.conftest import create_gate, submit

pytestmark = pytest.mark.django_db(transaction=True)


def _race(*calls):
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            outcomes[i] = call()
        except ApplicationError as exc:
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


def test_two_admins_approving_at_once_create_exactly_one_version(
    project, project_member, project_admin, second_admin
):
    change_set = submit(project_member, project, create_gate())
    _race(
        lambda: changeset_approve(actor=project_admin, change_set=change_set),
        lambda: changeset_approve(actor=second_admin, change_set=change_set),
    )
    change_set.refresh_from_db()
    assert change_set.state == ChangeSetState.APPLIED
    assert RulesetVersion.objects.filter(project=project).count() == 1


def test_two_admins_applying_at_once_create_exactly_one_version(
    project, project_member, project_admin, second_admin
):
    review_policy_update(
        actor=project_admin,
        project=project,
        apply_on_approval=False,
        environments=[EnvironmentRuleInput("production", True, 1)],
    )
    change_set = changeset_approve(
        actor=second_admin, change_set=submit(project_member, project, create_gate())
    )
    assert change_set.state == ChangeSetState.APPROVED
    outcomes = _race(
        lambda: changeset_apply(actor=project_admin, change_set=change_set),
        lambda: changeset_apply(actor=second_admin, change_set=change_set),
    )
    refused = [o for o in outcomes if isinstance(o, ApplicationError)]
    assert [e.code for e in refused] == ["already_applied"]
    assert RulesetVersion.objects.filter(project=project).count() == 1
