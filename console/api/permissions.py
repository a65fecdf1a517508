"""Which project an API request works on, and with which role: the one check every view makes.

A session acts with the user's membership role in the project named by `?project=<slug>`.
A console key works on its own project only, with the lower of its role and its creator's
current role there (console.permissions.project_role decides both). Non-members get 404
(the project's existence is not revealed), members whose role is too low get 403.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Manager, Model, QuerySet

from console.exceptions import DomainError, NotAllowed, NotFound
from console.models import ApiKey, Project, Role, role_at_least
from console.permissions import ROLE_NEEDED_MESSAGE, ensure_role, get_project_for_user, project_role

_M = TypeVar("_M", bound=Model)

PROJECT_PARAM = "project"


def request_key(request) -> ApiKey | None:
    """The console key the request authenticated with, or None for a session."""
    return request.auth if isinstance(request.auth, ApiKey) else None


def require_role(role: str | None, needed: str) -> None:
    if not role_at_least(role, needed):
        raise NotAllowed(ROLE_NEEDED_MESSAGE[Role(needed)])


def resolve_project(request, needed: str = Role.VIEWER) -> tuple[Project, str]:
    """The project the request works on and the role it acts with there.

    Raises NotFound for non-members (and keys naming another project), NotAllowed when the
    role is below `needed`, DomainError `project_required` when a session names no project.
    """
    slug = request.query_params.get(PROJECT_PARAM, "").strip()
    key = request_key(request)
    if key is None:
        if not slug:
            raise DomainError(
                "Name the project: add ?project=<slug> to the URL.",
                code="project_required",
                field=PROJECT_PARAM,
            )
        # get_project_for_user gives 404 to non-members and 403 to too low a role.
        project = get_project_for_user(request.user, slug, needed=needed)
        return project, ensure_role(request.user, project, needed)
    project = key.project
    if slug and slug != project.slug:
        raise NotFound("No such project.")
    role = project_role(request.user, project)
    if role is None:
        # The key's creator left the project: the key is as good as an outsider's.
        raise NotFound("No such project.")
    require_role(role, needed)
    return project, role


def get_in_project(
    queryset: QuerySet[_M] | Manager[_M], project: Project, pk: Any, *, what: str
) -> _M:
    """The object `pk` of `queryset` if it belongs to `project`; NotFound otherwise."""
    obj = queryset.filter(project=project, pk=pk).first()
    if obj is None:
        raise NotFound(f"No such {what} in this project.")
    obj.project = project  # type: ignore[attr-defined]  # every _M has a project FK: the services read it, spare them a query
    return obj
