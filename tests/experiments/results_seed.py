"""Exposures and purchases of checkout_button for the results tests, stored as the intake
stores them: `units` units alternately in Test and Control, first exposed over the last
three days, each buying 0 to 3 times, Test about 10% more (seeded)."""

from __future__ import annotations

import random

from console.models import Environment
from tests.metrics.seed import DAY_MS, event, exposure, group_rules, now_ms, store

EXPERIMENT = "checkout_button"


def seed_purchases(environment: Environment, *, units: int = 600, seed: int = 7) -> None:
    rules = group_rules(environment, EXPERIMENT)
    rng = random.Random(seed)
    batch = []
    for i in range(units):
        group = "Control" if i % 2 else "Test"
        at = now_ms() - DAY_MS * (3 - i % 3)
        batch.append(exposure(EXPERIMENT, rules[group], f"u{i}", at=at))
        for _ in range(rng.randint(0, 3)):
            value = rng.gauss(20 * (1.1 if group == "Test" else 1.0), 6)
            batch.append(event("purchase", f"u{i}", at=at + 60_000, value=round(value, 2)))
    store(environment, batch)
