"""Shapes of the JSON this app reads and writes.

Documents (`*Document`) are the canonical, Statsig Console API v1 shaped form of an entity:
what `gates.documents.<entity>_to_document` returns, what `validate_<entity>_document`
accepts and cleans, and what the services take. Stored shapes (`Stored*`) are what the
JSON columns hold: the document's rules plus salts, with environments by id (so renaming
an environment keeps its rules).
"""

# No `from __future__ import annotations`: with it, Python 3.11 cannot tell NotRequired keys
# at runtime (__required_keys__ lists them), and the OpenAPI document is derived from these
# classes (console/api/schema.py).
from typing import Any, Literal, NotRequired, TypedDict

from console.targeting.conditions import ConditionDoc

JSON = Any


class RolloutStepDoc(TypedDict):
    """One step of a gate rule's rollout schedule: the pass percentage the worker sets, at
    a time (`at`, ISO 8601 with a timezone) or `afterSeconds` after the step before it was
    applied (the first: after the schedule was approved and applied)."""

    passPercentage: float | int
    at: NotRequired[str]
    afterSeconds: NotRequired[int]


class RuleDoc(TypedDict):
    id: NotRequired[str]  # absent for a new rule; kept (with its salt) when it exists
    name: str
    passPercentage: float | int  # 0..100, at most two decimals
    conditions: list[ConditionDoc]  # AND-ed, at least one
    # Environment names the rule applies in; None: every environment; []: none (paused).
    environments: list[str] | None
    returnValue: NotRequired[dict[str, JSON]]  # dynamic configs only
    # Gates only, a Gatehouse extension: raise passPercentage step by step (gates/rollouts.py).
    rolloutSchedule: NotRequired[list[RolloutStepDoc]]


class OverrideDoc(TypedDict):
    environment: str | None  # None: every environment (an environment's own entry wins)
    passingIDs: list[str]
    failingIDs: list[str]


class GateDocument(TypedDict):
    id: NotRequired[str]  # the name again, as Statsig's Console API sends it
    name: str
    description: str
    idType: str
    isEnabled: bool
    status: Literal["in_progress", "launched", "disabled", "archived"]
    isPermanent: bool
    tags: list[str]
    owner: str | None  # email of a project member
    rules: list[RuleDoc]
    overrides: list[OverrideDoc]


class SegmentDocument(TypedDict):
    id: NotRequired[str]  # the name again, as Statsig's Console API sends it
    name: str
    description: str
    type: Literal["rule_based", "id_list"]
    idType: str
    tags: list[str]
    owner: str | None
    rules: list[RuleDoc]  # rule_based only (an id_list segment has [])
    count: NotRequired[int]  # id_list only, read-only: IDs change through their services


class DynamicConfigDocument(TypedDict):
    id: NotRequired[str]  # the name again, as Statsig's Console API sends it
    name: str
    description: str
    idType: str
    isEnabled: bool
    tags: list[str]
    owner: str | None
    defaultValue: dict[str, JSON]
    schema: dict[str, JSON] | None
    rules: list[RuleDoc]  # each with a returnValue


class StoredRule(TypedDict):
    id: str
    salt: str
    name: str
    passPercentage: float | int
    conditions: list[ConditionDoc]  # cleaned document conditions
    environmentIds: list[int] | None
    rolloutSchedule: NotRequired[list[RolloutStepDoc]]
    returnValue: NotRequired[dict[str, JSON]]


class StoredOverride(TypedDict):
    environmentId: int | None
    passingIDs: list[str]
    failingIDs: list[str]
