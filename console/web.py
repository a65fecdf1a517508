"""What every app's HTML views share: the project of the URL, htmx partials, calling a
write service from a page, list responses, the error summary above a form.

Views stay adapters: they check access with `project_for`, bind a form, call one service
through `call_on_form` (or `call_with_message` when there is no form) and render.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from console.exceptions import ApplicationError, NotAllowed
from console.models import Project, Role, User, role_at_least
from console.permissions import get_project_for_user, project_role


def project_for(request, slug: str, needed: str = Role.VIEWER) -> Project:
    """The project of the URL for this user (404 for non-members, 403 for too low a role)."""
    try:
        project = get_project_for_user(request.user, slug, needed=needed)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    request.project = project  # the layout's switcher and navigation read it
    return project


def signed_in_user(request) -> User:
    """The user of a request that must be signed in (views behind login_required, API
    views behind authentication): anyone else is refused."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Sign in first.")
    return user


def can_write(request, project: Project) -> bool:
    """Members and admins propose changes; viewers only look."""
    return role_at_least(project_role(request.user, project), Role.MEMBER)


def can_admin(request, project: Project) -> bool:
    return role_at_least(project_role(request.user, project), Role.ADMIN)


def is_partial(request) -> bool:
    """An htmx request for a part of the page (a history restore wants the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def call_on_form(form, service, /, **kwargs) -> tuple[bool, Any]:
    """Call a write service: (True, result), or (False, None) with its refusal on the form
    (on the field it names, else the form as a whole). NotAllowed is a 403."""
    try:
        return True, service(**kwargs)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except ApplicationError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return False, None


def call_with_message(request, service, /, **kwargs) -> bool:
    """Call a write service that has no form: a refusal becomes an error message."""
    try:
        service(**kwargs)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return False
    return True


def form_status(form_or_forms) -> int:
    """400 when a form on the page has errors, else 200."""
    forms = form_or_forms if isinstance(form_or_forms, list | tuple) else [form_or_forms]
    return 400 if any(f is not None and f.errors for f in forms) else 200


def list_response(request, *, template: str, partial: str, context: dict[str, Any]):
    """A list page, or only its results for htmx (filters and paging swap them in)."""
    response = render(request, partial if is_partial(request) else template, context)
    response["Vary"] = "HX-Request"
    return response


def quiet_form(form):
    """A bound form shown again without its errors (after an editor button)."""
    form.is_valid()
    form.errors.clear()
    return form


def safe_next(request, fallback: str) -> str:
    """The POSTed `next` URL when it stays on this site, else `fallback`."""
    target = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


@dataclass
class Problem:
    """One line of the summary above a refused form, linking to the field or row."""

    where: str
    message: str
    anchor: str = ""


def form_problems(form) -> list[Problem]:
    """The form's own errors, in field order: non-field errors first."""
    problems = [Problem("", e) for e in form.non_field_errors()]
    for name, errors in form.errors.items():
        if name != "__all__":
            label = str(form.fields[name].label or name.replace("_", " ").capitalize())
            problems += [Problem(label, e, f"id_{name}") for e in errors]
    return problems


def test_panel(url: str, hint: str, result_template: str) -> dict[str, str]:
    """The context of the "Test a user" panel every entity page shares
    (templates/gates/partials/_test_panel.html): where it posts, its hint, and the template
    of its result."""
    return {"test_url": url, "test_hint": hint, "test_result_template": result_template}
