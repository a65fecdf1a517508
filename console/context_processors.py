"""The layout's data: the project switcher and the navigation of the current project.

Views put the project they work on in `request.project`; everything here is computed once
per request and only when a template uses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from console.models import Project
from console.navigation import SECTIONS
from console.permissions import project_role


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    url: str | None  # None: the section has no page yet
    badge: int = 0  # things waiting for the user there
    badge_title: str = ""


def _switcher_projects(request) -> list[Project]:
    """The user's projects for the switcher, in one query, cached on the request."""
    cached = getattr(request, "_switcher_projects", None)
    if cached is None:
        cached = request._switcher_projects = list(
            Project.objects.active().for_user(request.user).only("name", "slug").order_by("name")
        )
    return cached


def _nav_items(project: Project, user, role: str | None) -> list[NavItem]:
    items = []
    for section in SECTIONS.values():
        count = section.badge(project, user, role) if section.badge else 0
        items.append(
            NavItem(
                section.key,
                section.label,
                reverse(section.url_name, args=[project.slug]) if section.url_name else None,
                count,
                f"{count} {section.badge_title}" if count else "",
            )
        )
    return items


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    project = getattr(request, "project", None)
    role = project_role(user, project) if project else None
    return {
        "current_project": project,
        "current_role": role,
        "switcher_projects": SimpleLazyObject(lambda: _switcher_projects(request)),
        "nav_items": SimpleLazyObject(lambda: _nav_items(project, user, role) if project else []),
    }
