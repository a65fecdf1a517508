"""The project navigation. Domain apps register their section in AppConfig.ready(), so the
console's layout links to their pages without importing them; a section no app has registered
yet is shown as not available."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    key: str
    label: str
    url_name: str | None = None  # reversed with the project's slug


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


def register(key: str, label: str, url_name: str) -> None:
    """Give a section its page: `url_name` takes the project slug as its only argument."""
    SECTIONS[key] = Section(key, label, url_name)
