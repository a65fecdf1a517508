"""Stored events for the page and API tests, written the way the intake writes them
(metrics.services.events_store, then the worker's exposures_apply), never by inserting
rows into its tables."""

from __future__ import annotations

import json
import time
from typing import Any

from console.models import ConfigSpec, Environment
from metrics.intake import Envelope, Limits, parse_batch
from metrics.sdk_views import is_bot
from metrics.services import Stored, events_store, exposures_apply

DAY_MS = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


def store(
    environment: Environment, events: list[Any], *, user_agent: str = "", counted: bool = True
) -> Stored:
    """Store `events` as the intake does and, unless not `counted`, count their exposures
    as the worker does moments after the intake's commit."""
    envelope = Envelope(environment_id=environment.pk, received_ms=now_ms(), user_agent=user_agent)
    stored = events_store(envelope, parse_batch({"events": events}, envelope, Limits(), is_bot))
    if counted:
        exposures_apply()
    return stored


def event(name: str, user: str = "u1", *, at: int | None = None, **fields) -> dict:
    return {"eventName": name, "user": {"userID": user}, "time": at or now_ms(), **fields}


def gate_check(gate: str, user: str, passed: bool, *, at: int | None = None, **user_fields):
    meta = {"gate": gate, "gateValue": "true" if passed else "false", "ruleID": "r"}
    ev = event("statsig::gate_exposure", user, at=at, metadata=meta)
    ev["user"].update(user_fields)
    return ev


def group_rules(environment: Environment, experiment: str) -> dict[str, str]:
    """Group name -> rule ID of an experiment, in the environment's latest published spec."""
    spec = ConfigSpec.objects.filter(environment=environment).order_by("-time_ms").first()
    assert spec is not None
    for config in json.loads(spec.v1_json)["dynamic_configs"]:
        if config["name"] == experiment:
            return {r["groupName"]: r["id"] for r in config["rules"] if r.get("isExperimentGroup")}
    raise AssertionError(f"{experiment} is not in the spec")


def exposure(experiment: str, rule_id: str, user: str, *, at: int | None = None, **user_fields):
    meta = {"config": experiment, "ruleID": rule_id}
    ev = event("statsig::config_exposure", user, at=at, metadata=meta)
    ev["user"].update(user_fields)
    return ev
