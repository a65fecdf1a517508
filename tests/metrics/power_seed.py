"""Seeded events and exposures for the power calculator's tests, stored through the
intake's own service (tests/metrics/seed.py), with the same rows kept in Python so the
tests can recompute every window by hand."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from tests.metrics.seed import DAY_MS, event, exposure, gate_check, now_ms, store

BOT_UA = "Googlebot/2.1 (+http://www.google.com/bot.html)"
GATE = "new_checkout"
EXPERIMENT = "checkout_button"


@dataclass
class Seeded:
    now_ms: int
    # (unit as "u:<id>"/"s:<id>", name, time ms, value or None)
    events: list[tuple[str, str, int, object]] = field(default_factory=list)
    # unit -> [(time ms, passed)]
    gate_checks: dict[str, list[tuple[int, bool]]] = field(default_factory=dict)
    # unit -> [time ms]
    exposures: dict[str, list[int]] = field(default_factory=dict)

    def since_ms(self, weeks: int) -> int:
        return self.now_ms - weeks * 7 * DAY_MS


def _when(rng: random.Random, base: int) -> int:
    """A time in the last 27.9 days, at least 30 minutes from a week's boundary."""
    while True:
        days = rng.uniform(0.02, 27.9)
        if all(abs(days - 7 * k) > 0.03 for k in (1, 2, 3, 4)):
            return base - int(days * DAY_MS)


def seed_power(environment, rules: dict[str, str] | None = None, *, seed: int = 7) -> Seeded:
    """40 users with visits and purchases (values, some not numbers) over the last four
    weeks, one stableID-only visitor, an event 30 days old, a bot; gate checks for u0..u24
    (passing 60% of the time); with `rules` (group -> rule ID), exposures of u10..u34 to
    the experiment."""
    rng = random.Random(seed)
    base = now_ms() - 60_000
    data = Seeded(now_ms=base)
    batch: list[dict] = []
    for i in range(40):
        user = f"u{i}"
        for _ in range(rng.randint(0, 6)):
            at = _when(rng, base)
            batch.append(event("visit", user, at=at))
            data.events.append((f"u:{user}", "visit", at, None))
        for _ in range(rng.randint(0, 4)):
            at = _when(rng, base)
            value: object = rng.randint(1, 50) if rng.random() > 0.1 else "abc"
            batch.append(event("purchase", user, at=at, value=value))
            data.events.append((f"u:{user}", "purchase", at, value))
    at = _when(rng, base)
    batch.append({"eventName": "visit", "user": {"customIDs": {"stableID": "s1"}}, "time": at})
    data.events.append(("s:s1", "visit", at, None))
    batch.append(event("visit", "old", at=base - 30 * DAY_MS))  # before the 4 weeks
    for i in range(25):
        user = f"u{i}"
        for _ in range(rng.randint(1, 3)):
            at, passed = _when(rng, base), rng.random() < 0.6
            batch.append(gate_check(GATE, user, passed, at=at))
            data.gate_checks.setdefault(user, []).append((at, passed))
    if rules:
        for i in range(10, 35):
            user = f"u{i}"
            group = "Control" if i % 2 else "Test"
            for _ in range(rng.randint(1, 2)):
                at = _when(rng, base)
                batch.append(exposure(EXPERIMENT, rules[group], user, at=at))
                data.exposures.setdefault(user, []).append(at)
    store(environment, batch)
    bot = [event("purchase", "bot", at=base - DAY_MS, value=1000), gate_check(GATE, "bot", True)]
    store(environment, bot, user_agent=BOT_UA)
    return data


def at(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
