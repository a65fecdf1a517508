"""Who may see and change a project: the one place the role rules live."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404

from console.context import current_api_key
from console.exceptions import NotAllowed
from console.models import ROLE_RANK, Membership, Project, Role, role_at_least

ROLE_NEEDED_MESSAGE = {
    Role.VIEWER: "You need to be a member of this project.",
    Role.MEMBER: "Viewers have read-only access: ask an admin for the member role.",
    Role.ADMIN: "Only project admins can do this.",
}


def capped_role(role: str | None, key) -> str | None:
    """A console key never acts with more than its own role, nor more than its creator's."""
    if role is None or key is None:
        return role
    return min(role, key.role, key=lambda r: ROLE_RANK[Role(r)])


def project_role(user, project: Project) -> str | None:
    """The role the caller acts with in the project, or None for non-members (and anonymous
    users): the one answer every permission check reads.

    It is the user's membership role, capped by the console key the request authenticated
    with (console.context): a key acts as its creator, in its own project only, and with no
    more than the key's role, whatever the creator could do signed in.
    """
    if not getattr(user, "is_authenticated", False):
        return None
    cache = getattr(user, "_project_roles", None)
    if cache is None:
        cache = user._project_roles = {}
    if project.pk not in cache:
        cache[project.pk] = (
            Membership.objects.filter(project=project, user=user)
            .values_list("role", flat=True)
            .first()
        )
    key = current_api_key()
    if key is None or key.created_by_id != user.pk:
        return cache[project.pk]
    if key.project_id != project.pk:
        return None
    return capped_role(cache[project.pk], key)


def forget_roles(user) -> None:
    """Drop the per-request role cache after a membership change."""
    if hasattr(user, "_project_roles"):
        del user._project_roles


def ensure_role(user, project: Project, needed: str) -> str:
    """Raise NotAllowed unless the user holds `needed` (or higher) in the project."""
    role = project_role(user, project)
    if role is None or not role_at_least(role, needed):
        raise NotAllowed(ROLE_NEEDED_MESSAGE[Role(needed)])
    return role


class NotAMember(Http404):
    """A signed-in employee asked for a project they are not in: still a 404 for the API, but
    the console's pages answer with a prompt to join it (open) or to request access (closed),
    console.middleware.JoinPromptMiddleware."""

    def __init__(self, project: Project) -> None:
        super().__init__("No such project.")
        self.project = project


def get_project_for_user(user, slug: str, *, needed: str = Role.VIEWER) -> Project:
    """The project a page or endpoint works on: 404 for non-members (NotAMember when a
    signed-in user may join or ask), 403 for too low a role."""
    project = Project.objects.active().filter(slug=slug).first()
    if project is None:
        raise Http404("No such project.")
    if project_role(user, project) is None:
        if getattr(user, "is_authenticated", False) and current_api_key() is None:
            raise NotAMember(project)
        raise Http404("No such project.")
    ensure_role(user, project, needed)
    return project


def can_create_projects(user) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return user.is_superuser or settings.GATEHOUSE_PROJECT_CREATORS == "everyone"
