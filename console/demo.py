"""Demo data: `manage.py demo_load` makes the demo projects, then hands each new project to the
loaders that domain apps register in AppConfig.ready() (console imports no domain app)."""

from __future__ import annotations

from collections.abc import Callable

from console.models import Project

DemoLoader = Callable[..., None]
LOADERS: list[DemoLoader] = []


def register(loader: DemoLoader) -> None:
    """`loader(*, project, actor)` fills a freshly created demo project through its services."""
    LOADERS.append(loader)


def load(*, project: Project, actor) -> None:
    for loader in LOADERS:
        loader(project=project, actor=actor)
