"""Who hears about a change set, and what they read: emails sent by a worker after commit,
and signed webhooks (Slack-compatible) to the endpoints admins configure.

Services call `notify` inside their transaction; nothing is sent if it rolls back.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from console.exceptions import DomainError
from console.models import Membership, Role
from console.webhooks import slack
from console.webhooks.events import register_event
from console.webhooks.services import webhook_emit
from reviews import registry
from reviews.models import Change, ChangeSet, Comment

logger = logging.getLogger(__name__)

SUBJECTS = {
    "submitted": "waiting for your review",
    "approval_added": "approved by {actor}",
    "approved": "approved",
    "rejected": "rejected by {actor}",
    "applied": "applied",
    "apply_failed": "applying it was refused",
    "stale": "stale: rebase it",
    "commented": "new comment by {actor}",
}


WEBHOOK_EVENTS = {
    "submitted": "A change set waits for review",
    "approval_added": "Someone approved a change set",
    "approved": "A change set has all the approvals it needs",
    "rejected": "A reviewer rejected a change set",
    "applied": "A change set was applied (a new ruleset version)",
    "apply_failed": "The worker could not apply a change set (nothing changed)",
    "stale": "A change set went stale (an entity it changes moved on)",
    "commented": "Someone commented on a change set",
}


def register_webhook_events() -> None:
    for event, description in WEBHOOK_EVENTS.items():
        register_event(f"changeset.{event}", description)


def notify(change_set: ChangeSet, event: str, **extra) -> None:
    """Tell the people concerned about `event`: webhook deliveries are recorded now (in the
    caller's transaction) and emails are enqueued once it commits."""
    from reviews.tasks import changeset_notify_task

    _emit_webhooks(change_set, event, extra)

    def _enqueue() -> None:
        try:
            changeset_notify_task.delay(change_set.pk, event, extra)
        except Exception:
            # The change set is committed; a lost email must not turn it into an error.
            logger.exception("changeset.notify_enqueue_failed id=%s", change_set.pk)

    transaction.on_commit(_enqueue)


def _emit_webhooks(change_set: ChangeSet, event: str, extra: dict) -> None:
    actor = _actor_email(change_set, extra)
    headline = SUBJECTS[event].format(actor=actor)
    text = (
        f"*{slack.escape(change_set.project.name)}* "
        f"{slack.link(change_set_url(change_set), f'#{change_set.number} {change_set.title}')}"
        f" by {slack.escape(change_set.author.email)}: {slack.escape(headline)}"
    )
    webhook_emit(
        project=change_set.project,
        event=f"changeset.{event}",
        text=text,
        data={
            "changeSet": {
                "id": change_set.number,
                "title": change_set.title,
                "state": change_set.state,
                "author": change_set.author.email,
                "environments": change_set.environments,
                "url": change_set_url(change_set),
            },
            "actor": actor,
        },
    )


def entities_applied(change_set: ChangeSet, changes: list[Change], applier) -> None:
    """Announce each applied change to the webhooks subscribed to its entity's events
    ("gate.updated", "experiment.started"): recorded in the caller's transaction, sent by
    the worker after commit, signed and retried like the change sets' own events."""
    project = change_set.project
    version = change_set.ruleset_version.number if change_set.ruleset_version else None
    by = getattr(applier, "email", None) or change_set.author.email
    for change in changes:
        try:
            label = registry.get(change.kind).label
        except DomainError:  # a kind no app registers any more
            continue
        event = registry.entity_event(change.kind, change.action)
        verb = event.split(".")[1]
        text = (
            f"*{slack.escape(project.name)}* {slack.escape(label)} "
            f"`{slack.escape(change.entity_name)}` {verb} by "
            f"{slack.link(change_set_url(change_set), f'#{change_set.number} {change_set.title}')}"
            f" (applied by {slack.escape(by)})"
        )
        webhook_emit(
            project=project,
            event=event,
            text=text,
            data={
                "entity": {"kind": change.kind, "name": change.entity_name, "id": change.entity_id},
                "action": change.action,
                "changeSet": {
                    "id": change_set.number,
                    "title": change_set.title,
                    "author": change_set.author.email,
                    "url": change_set_url(change_set),
                },
                "rulesetVersion": version,
                "actor": by,
            },
        )


def _actor_email(change_set: ChangeSet, extra: dict) -> str:
    if not extra.get("actor_id"):
        return "someone"
    membership = change_set.project.memberships.filter(user_id=extra["actor_id"]).first()
    return membership.user.email if membership else "someone"


def change_set_url(change_set: ChangeSet) -> str:
    path = reverse("changeset-detail", args=[change_set.project.slug, change_set.number])
    return settings.GATEHOUSE_BASE_URL.rstrip("/") + path


def reviewers(change_set: ChangeSet) -> list[str]:
    """Who is asked to review: the required groups' members, else the project's admins
    (never the author)."""
    from reviews.services import change_set_requirements

    needs = change_set_requirements(change_set)
    if needs.groups:
        emails = {u.email for g in needs.groups for u in g.members.all()}
    else:
        emails = set(
            Membership.objects.filter(project=change_set.project, role=Role.ADMIN).values_list(
                "user__email", flat=True
            )
        )
    emails.discard(change_set.author.email)
    return sorted(e for e in emails if e)


def send(change_set_id: int, event: str, extra: dict) -> int:
    """Send the emails of one event; returns how many went out (0 if the set is gone)."""
    change_set = (
        ChangeSet.objects.select_related("project", "author").filter(pk=change_set_id).first()
    )
    if change_set is None:
        return 0
    actor_email = _actor_email(change_set, extra)
    if event == "submitted":
        recipients = reviewers(change_set)
    else:
        recipients = [change_set.author.email]
        if event == "commented":
            commenters = Comment.objects.filter(change_set=change_set).values_list(
                "author__email", flat=True
            )
            recipients = sorted({*recipients, *commenters})
    recipients = [r for r in recipients if r and r != actor_email]
    if not recipients:
        return 0
    headline = SUBJECTS[event].format(actor=actor_email)
    body = [
        f"{change_set.project.name} change set #{change_set.number}: {change_set.title}",
        f"By {change_set.author.email}; {headline}.",
    ]
    if event == "rejected":
        body.append(f"Reason: {change_set.reject_reason}")
    if event == "stale":
        body.append(change_set.stale_reason)
    if event == "apply_failed":
        body.append(f"{change_set.apply_error_message} Nothing was changed.")
    if event == "commented" and extra.get("comment_id"):
        comment = Comment.objects.filter(pk=extra["comment_id"]).first()
        if comment:
            body.append(f'"{comment.body}"')
    body.append(f"Open it: {change_set_url(change_set)}")
    send_mail(
        f"[{change_set.project.name}] #{change_set.number} {change_set.title}: {headline}",
        "\n\n".join(body) + "\n",
        None,
        recipients,
    )
    return len(recipients)
