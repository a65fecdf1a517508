"""The project navigation. Domain apps register their section in AppConfig.ready(), so the
console's layout links to their pages without importing them; a section no app has registered
yet is shown as not available. A section may also register a badge: a count of work waiting
for the signed-in user there (change sets to review, access requests to decide)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# (project, user, role) → how many things wait for this user in the section (0: no badge).
# One query at most: it runs on every page of the project.
BadgeCount = Callable[[Any, Any, str | None], int]


@dataclass(frozen=True)
class Section:
    key: str
    label: str
    url_name: str | None = None  # reversed with the project's slug
    badge: BadgeCount | None = None
    badge_title: str = ""  # "change sets wait for your review"


SECTIONS: dict[str, Section] = {
    key: Section(key, label)
    for key, label in [
        ("gates", "Gates"),
        ("experiments", "Experiments"),
        ("segments", "Segments"),
        ("metrics", "Metrics"),
        ("reviews", "Reviews"),
    ]
}
SECTIONS["audit"] = Section("audit", "Audit log", "project-audit")
SECTIONS["settings"] = Section("settings", "Settings", "project-settings")


def register(
    key: str,
    label: str,
    url_name: str,
    *,
    badge: BadgeCount | None = None,
    badge_title: str = "",
) -> None:
    """Give a section its page: `url_name` takes the project slug as its only argument."""
    SECTIONS[key] = Section(key, label, url_name, badge, badge_title)
