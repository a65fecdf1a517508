"""The project as one document: stable (entities by name, keys in a fixed order) and free
of what changes by itself (times, revisions, who changed what, database ids), so two exports
of an unchanged project are byte for byte the same and a Git diff shows only real changes."""

from __future__ import annotations

from typing import Any

from console.models import Project, Tag
from experiments.models import Experiment, Holdout, Layer
from gates import selectors as gate_selectors
from gates.models import Segment, SegmentKind
from metrics.catalog.documents import metric_to_document
from metrics.catalog.selectors import metric_list
from reviews import registry
from reviews.services import review_policy_document

FORMAT_VERSION = 1

# (the document's section, the change-set kind), in the order an import applies them
# (a reference points to an earlier section; gates and segments are ordered among
# themselves by their conditions, importing.py).
SECTIONS = (
    ("segments", "segment"),
    ("gates", "gate"),
    ("dynamicConfigs", "dynamic_config"),
    ("layers", "layer"),
    ("experiments", "experiment"),
    ("holdouts", "holdout"),
)

# Keys an entity document may carry that are not its content (the console API's read-only
# metadata, counts): left out of the export and ignored on import.
VOLATILE = frozenset(
    {
        "createdTime",
        "lastModifiedTime",
        "lastModifierName",
        "lastModifierID",
        "lastModifierEmail",
        "creatorName",
        "creatorID",
        "creatorEmail",
        "revision",
        "count",
        "checksum",
    }
)
# A metric document's derived or constant keys (its id is name::type, its lineage follows
# from its definition).
METRIC_VOLATILE = VOLATILE | {
    "id",
    "isArchived",
    "isAuto",
    "isHidden",
    "isPermanent",
    "isReadOnly",
    "isVerified",
    "lineage",
    "metricComponentMetrics",
    "unitTypes",
}
# What the file adds beside an entity's document: how its spec hashes, its ID list.
EXTRA_KEYS = ("identity", "ids", "idsFile")


def sorted_keys(value: Any) -> Any:
    """Every object's keys in alphabetical order, lists left in their order (rules and
    groups are ordered)."""
    if isinstance(value, dict):
        return {key: sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sorted_keys(item) for item in value]
    return value


def content(document: Any, volatile: frozenset[str] = VOLATILE) -> dict[str, Any]:
    """A document without its volatile keys, keys sorted."""
    kept = {k: v for k, v in dict(document).items() if k not in volatile}
    return sorted_keys(kept)


def identity(entity: Any) -> dict[str, Any]:
    """What the entity's spec hashes with besides its document: salts, and rule ids where the
    document does not carry them (entities/imported_identity honours these on create)."""
    found: dict[str, Any] = {"salt": entity.salt}
    if isinstance(entity, Experiment):
        found["layerSalt"] = entity.layer_salt
        found["groups"] = True  # its groups' ids are in the document
    elif isinstance(entity, Holdout):
        found["ruleSalt"] = entity.rule_salt
    elif not isinstance(entity, Layer):
        found["rules"] = {rule["id"]: rule["salt"] for rule in entity.rules}
    return sorted_keys(found)


def segment_ids(segment: Segment) -> list[str]:
    return sorted(gate_selectors.segment_ids(segment=segment))


def _entities(project: Project, kind: str) -> list[dict[str, Any]]:
    handler = registry.get(kind)
    rows = handler.model._default_manager.filter(project=project, archived_at__isnull=True)
    out = []
    for entity in sorted(rows, key=lambda e: e.name.lower()):
        item = content(handler.to_document(entity))
        item["identity"] = identity(entity)
        if isinstance(entity, Segment) and entity.kind == SegmentKind.ID_LIST:
            item["ids"] = segment_ids(entity)
        out.append(item)
    return out


def metric_documents(project: Project) -> list[dict[str, Any]]:
    """The custom metrics of the catalog (auto metrics follow from events by themselves)."""
    return [
        content(metric_to_document(metric), METRIC_VOLATILE)
        for metric in metric_list(project=project)
        if not metric.is_auto
    ]


def tag_documents(project: Project) -> list[dict[str, str]]:
    tags = Tag.objects.filter(project=project).order_by("name")
    return [{"description": t.description, "name": t.name} for t in tags]


def project_document(project: Project) -> dict[str, Any]:
    """The project as code: `version` (the file format), the review policy, tags, metrics,
    then each entity section, entities by name, each its canonical document plus its
    `identity` (and `ids` for an ID-list segment)."""
    document: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "reviewPolicy": sorted_keys(review_policy_document(project)),
        "tags": tag_documents(project),
        "metrics": metric_documents(project),
    }
    for section, kind in SECTIONS:
        document[section] = _entities(project, kind)
    return document
