"""A small experiment world for the query plan's tests: exposures and events stored through
the intake's own service (metrics.services.events_store, then the worker's
exposures_apply), and the same rows kept in Python for the reference computation."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from console.models import Environment
from console.publishing.services import ruleset_version_create
from experiments import services as experiment_services
from metrics.intake import Envelope, Limits, parse_batch
from metrics.sdk_views import is_bot
from metrics.services import events_store, exposures_apply
from tests.experiments.factories import experiment_document, group
from tests.metrics.seed import group_rules

BOT_UA = "Googlebot/2.1 (+http://www.google.com/bot.html)"
EXPERIMENT = "pricing_page"
GROUPS = ("Control", "Cheaper", "Dearer")


def ms(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


@dataclass
class Ev:
    name: str
    time: dt.datetime
    user_id: str = ""
    stable_id: str = ""
    value: Any = None
    metadata: dict[str, Any] | None = None
    user: dict[str, Any] = field(default_factory=dict)

    def raw(self) -> dict[str, Any]:
        user: dict[str, Any] = dict(self.user)
        if self.user_id:
            user["userID"] = self.user_id
        if self.stable_id:
            user["customIDs"] = {"stableID": self.stable_id}
        out: dict[str, Any] = {"eventName": self.name, "user": user, "time": ms(self.time)}
        if self.value is not None:
            out["value"] = self.value
        if self.metadata is not None:
            out["metadata"] = self.metadata
        return out


@dataclass
class Unit:
    unit_id: str
    group: str
    first_at: dt.datetime
    crossover: bool = False
    bot: bool = False


def store(
    environment: Environment,
    events: list[dict],
    *,
    received: dt.datetime | None = None,
    user_agent: str = "",
) -> None:
    received_ms = ms(received) if received else ms(dt.datetime.now(dt.UTC))
    envelope = Envelope(
        environment_id=environment.pk, received_ms=received_ms, user_agent=user_agent
    )
    events_store(envelope, parse_batch({"events": events}, envelope, Limits(), is_bot))
    exposures_apply()


def start_experiment(project, site_admin) -> dict[str, str]:
    document = experiment_document(
        EXPERIMENT,
        groups=[group("Control", 40), group("Cheaper", 30), group("Dearer", 30)],
    )
    experiment = experiment_services.experiment_create(
        actor=site_admin, project=project, document=document
    )
    experiment_services.experiment_start(actor=site_admin, experiment=experiment)
    ruleset_version_create(actor=site_admin, project=project, reason="started")
    return {}


class World:
    """Units exposed between start and end (plus some before and after), crossovers, bots
    and their events; `units` is what the reference computation knows of exposures."""

    def __init__(self, environment: Environment, project, site_admin, *, seed: int = 7) -> None:
        self.environment = environment
        self.rng = random.Random(seed)
        today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        self.base = today - dt.timedelta(days=12)
        self.start = self.base + dt.timedelta(hours=6)
        self.end = self.base + dt.timedelta(days=6, hours=12)
        start_experiment(project, site_admin)
        self.rules = group_rules(environment, EXPERIMENT)
        self.units: dict[str, Unit] = {}
        self.events: list[Ev] = []

    # Exposures ------------------------------------------------------------------------

    def expose(
        self,
        unit_id: str,
        group_name: str,
        at: dt.datetime,
        *,
        bot: bool = False,
        received: dt.datetime | None = None,
    ):
        raw = {
            "eventName": "statsig::config_exposure",
            "user": {"userID": unit_id, **({"userAgent": BOT_UA} if bot else {})},
            "time": ms(at),
            "metadata": {"config": EXPERIMENT, "ruleID": self.rules[group_name]},
        }
        store(self.environment, [raw], received=received)
        unit = self.units.get(unit_id)
        if unit is None:
            self.units[unit_id] = Unit(unit_id, group_name, at, bot=bot)
            return
        unit.crossover = unit.crossover or unit.group != group_name
        unit.bot = unit.bot or bot
        if at < unit.first_at:
            unit.group, unit.first_at = group_name, at

    def expose_many(
        self,
        count: int,
        *,
        prefix: str = "u",
        since: dt.datetime | None = None,
        hours: int = 4 * 24,
        received: dt.datetime | None = None,
    ) -> list[str]:
        """`count` units in the groups in turn, first exposed within the first 4 days,
        stored in one batch."""
        raws, ids = [], []
        for i in range(count):
            unit_id = f"{prefix}{i}"
            group_name = GROUPS[i % len(GROUPS)]
            at = (since or self.start) + dt.timedelta(minutes=self.rng.randrange(0, hours * 60))
            at = at.replace(microsecond=self.rng.randrange(0, 1000) * 1000)
            raws.append(
                {
                    "eventName": "statsig::config_exposure",
                    "user": {"userID": unit_id},
                    "time": ms(at),
                    "metadata": {"config": EXPERIMENT, "ruleID": self.rules[group_name]},
                }
            )
            self.units[unit_id] = Unit(unit_id, group_name, at)
            ids.append(unit_id)
        store(self.environment, raws, received=received)
        return ids

    # Events ---------------------------------------------------------------------------

    def add(self, events: list[Ev], *, received: dt.datetime | None = None) -> None:
        store(self.environment, [e.raw() for e in events], received=received)
        self.events.extend(events)

    def around(self, unit: Unit, *, before_days: float = 9, after_days: float = 9) -> dt.datetime:
        """A time from `before_days` before the unit's exposure to `after_days` after,
        never in the future."""
        low = unit.first_at - dt.timedelta(days=before_days)
        span = (before_days + after_days) * 86400
        at = low + dt.timedelta(seconds=self.rng.uniform(0, span))
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)
        return min(at, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))


def _now(self) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)


World.now = _now  # type: ignore[attr-defined]
