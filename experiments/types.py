"""Shapes of the JSON this app reads and writes.

Documents (`*Document`) are the canonical, Statsig Console API v1 shaped form of an entity:
what `experiments.documents.<entity>_to_document` returns, what `validate_<entity>_document`
accepts and cleans, and what the services take. Stored shapes (`Stored*`) are what the
JSON columns hold.
"""

# No `from __future__ import annotations`: with it, Python 3.11 cannot tell NotRequired keys
# at runtime (__required_keys__ lists them), and the OpenAPI document is derived from these
# classes (console/api/schema.py).
from typing import Any, Literal, NotRequired, TypedDict

from console.targeting.conditions import ConditionDoc

JSON = Any
ParameterType = Literal["string", "number", "boolean", "object"]


class ParameterDoc(TypedDict):
    name: str
    type: ParameterType
    # A layered experiment's defaults are its layer's: optional there, and must match.
    defaultValue: JSON
    description: str


class GroupDoc(TypedDict):
    id: NotRequired[str]  # absent for a new group; kept (with its bucket range) when known
    name: str
    description: str
    size: float | int  # percent of the allocated units, at most two decimals
    # Every parameter's value in this group (missing ones are filled with the default).
    parameterValues: dict[str, JSON]


class OverrideDoc(TypedDict):
    group: str  # a group's name
    unitIDs: list[str]  # IDs of the experiment's unit type forced into the group
    segments: list[str]  # segment names whose members are forced into the group


class MetricRef(TypedDict):
    name: str  # a catalog metric's name
    type: str  # its metrics.definitions.MetricType


class ScorecardDocument(TypedDict):
    """What an experiment measures and how (experiments/documents/scorecard.py)."""

    primaryMetrics: list[MetricRef]
    secondaryMetrics: list[MetricRef]
    primaryMetricTags: list[str]  # tag names: their metrics join the primary ones
    secondaryMetricTags: list[str]
    duration: int  # target days
    defaultConfidenceInterval: str  # "80", "90", "95", "98" or "99"
    bonferroniCorrection: bool
    benjaminiHochbergCorrection: bool
    sequentialTesting: bool
    cuped: bool
    # Only when set: a warehouse assignment source's name (docs/warehouse.md).
    assignmentSource: NotRequired[str]


class ExperimentDocument(ScorecardDocument):
    name: str
    description: str
    hypothesis: str
    idType: str
    # Statsig's names (experiments.models.STATSIG_STATUS; ours accepted as aliases on input).
    # Read-only here: changed by experiment_start / _ship / _abandon / _reset / _archive.
    status: Literal["setup", "active", "decision_made", "abandoned", "archived"]
    allocation: float | int  # percent of the layer's units, one decimal
    layerID: str | None  # a layer's name
    targetingGateID: str | None  # a gate's name; exclusive with targetingConditions
    targetingConditions: list[ConditionDoc]  # AND-ed, from console.targeting.conditions
    parameters: list[ParameterDoc]
    groups: list[GroupDoc]
    overrides: list[OverrideDoc]
    tags: list[str]
    owner: str | None  # email of a project member
    launchedGroupID: str | None  # read-only: the shipped group's id (one of groups[].id)


class LayerDocument(TypedDict):
    name: str
    description: str
    idType: str
    parameters: list[ParameterDoc]


class HoldoutDocument(TypedDict):
    name: str
    description: str
    idType: str
    passPercentage: float | int  # percent of units held out, at most two decimals
    isGlobal: bool  # applies to every experiment and layer of the project
    experimentIDs: list[str]  # experiment names; [] when global


class StoredParameter(TypedDict):
    name: str
    type: ParameterType
    defaultValue: JSON  # a layered experiment stores None: the layer's default applies
    description: str


class StoredGroup(TypedDict):
    id: str  # rule id and rule salt of the group's spec rule
    name: str
    description: str
    size: float | int
    parameterValues: dict[str, JSON]


class StoredOverride(TypedDict):
    groupId: str
    unitIDs: list[str]
    segments: list[str]
