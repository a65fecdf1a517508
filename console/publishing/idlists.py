"""ID-list files for the SDKs (docs/statsig-spec.md §8), supplied by the apps that own them.

console cannot import the apps above it, so an app registers an IdListProvider in its
AppConfig.ready() (gates: large ID-list segments). The manifest of `POST /v1/get_id_lists`
is the union of the providers' files for the key's environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class IdListFile:
    """One list: `file_id` changes when the file is rewritten (SDKs then reset the list);
    otherwise the file only grows, and SDKs fetch the new tail with Range."""

    name: str
    file_id: str
    size: int
    creation_time: int  # epoch ms, never lower for a newer file_id of the same list


class IdListProvider(Protocol):
    def files(self, project: Any, environment: Any) -> list[IdListFile]: ...

    def lines(self, project: Any, file_id: str) -> Iterator[str] | None:
        """The file's text ("+<hash>\\n" per ID) in pieces of whole lines, or None if
        `file_id` is not this provider's."""


_providers: list[IdListProvider] = []


def register_id_list_provider(provider: IdListProvider) -> IdListProvider:
    if provider not in _providers:
        _providers.append(provider)
    return provider


def unregister_id_list_provider(provider: IdListProvider) -> None:
    if provider in _providers:
        _providers.remove(provider)


def id_list_files(project, environment) -> list[IdListFile]:
    return [f for provider in _providers for f in provider.files(project, environment)]


def id_list_body(project, file_id: str) -> bytes | None:
    for provider in _providers:
        lines = provider.lines(project, file_id)
        if lines is not None:
            return "".join(lines).encode()
    return None
