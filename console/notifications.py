"""Emails about membership and access. Services enqueue them after commit; a worker sends them."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from console.models import AccessRequest, AccessRequestStatus, Membership, Role

logger = logging.getLogger(__name__)


def enqueue(kind: str, object_id: int) -> None:
    """Send notification `kind` about `object_id` once the current transaction commits."""
    from console.tasks import notification_send_task

    def _send() -> None:
        try:
            notification_send_task.delay(kind, object_id)
        except Exception:
            # The change itself is committed; a lost email must not turn it into an error page.
            logger.exception("notification.enqueue_failed kind=%s id=%s", kind, object_id)

    transaction.on_commit(_send)


def _absolute(path: str) -> str:
    return settings.GATEHOUSE_BASE_URL.rstrip("/") + path


def send(kind: str, object_id: int) -> bool:
    """Build and send one notification; False when its object is gone."""
    if kind == "member_added":
        membership = (
            Membership.objects.select_related("project", "user").filter(pk=object_id).first()
        )
        if membership is None:
            return False
        project = membership.project
        send_mail(
            f"You were added to {project.name} on Gatehouse",
            f"You are now {membership.get_role_display().lower()} of {project.name}.\n\n"
            f"Open it: {_absolute(reverse('project-home', args=[project.slug]))}\n"
            f"No password yet? Set one here: {_absolute(reverse('account_reset_password'))}\n",
            None,
            [membership.user.email],
        )
        return True
    access_request = (
        AccessRequest.objects.select_related("project", "user").filter(pk=object_id).first()
    )
    if access_request is None:
        return False
    project = access_request.project
    if kind == "access_requested":
        admins = list(
            Membership.objects.filter(project=project, role=Role.ADMIN).values_list(
                "user__email", flat=True
            )
        )
        send_mail(
            f"{access_request.user.email} asks to join {project.name}",
            f"{access_request.user.email} asked for access to {project.name}."
            + (f'\n\n"{access_request.message}"' if access_request.message else "")
            + f"\n\nDecide: {_absolute(reverse('project-members', args=[project.slug]))}\n",
            None,
            admins,
        )
        return True
    if kind == "access_decided":
        approved = access_request.status == AccessRequestStatus.APPROVED
        send_mail(
            f"Your request to join {project.name} was {access_request.status}",
            (
                f"You can now open {project.name}: "
                f"{_absolute(reverse('project-home', args=[project.slug]))}\n"
                if approved
                else f"An admin of {project.name} declined your request.\n"
            ),
            None,
            [access_request.user.email],
        )
        return True
    raise ValueError(f"Unknown notification kind {kind!r}")
