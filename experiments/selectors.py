"""Reads of experiments, layers and holdouts for pages, the API and the spec contributor.
List selectors join what a list shows (owner, layer, targeting gate, tags) so their query
count does not grow with the number of rows."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q, QuerySet
from django.db.models.functions import Lower

from console.models import Project, Tag
from experiments.models import (
    LAYER_BUCKETS,
    Experiment,
    ExperimentStatus,
    Holdout,
    Layer,
    LayerBucket,
)

_TAGS = Prefetch("tags", queryset=Tag.objects.order_by("name"))


# ---------------------------------------------------------------- experiments


def experiment_list(
    *,
    project: Project,
    search: str = "",
    status: str = "",
    layer: Layer | None = None,
    tag: str = "",
    include_archived: bool = False,
) -> QuerySet[Experiment]:
    """The project's experiments by name, with owner, layer, targeting gate and tags."""
    qs = (
        Experiment.objects.filter(project=project)
        .select_related("owner", "layer", "targeting_gate")
        .prefetch_related(_TAGS)
    )
    if not include_archived and status != ExperimentStatus.ARCHIVED:
        qs = qs.filter(archived_at__isnull=True)
    if status:
        qs = qs.filter(status=status)
    if layer is not None:
        qs = qs.filter(layer=layer)
    if tag:
        qs = qs.filter(tags__name__iexact=tag)
    if search:
        qs = qs.filter(
            Q(name__icontains=search)
            | Q(description__icontains=search)
            | Q(hypothesis__icontains=search)
        )
    return qs.order_by(Lower("name"), "pk")


def experiment_get(*, project: Project, name: str) -> Experiment | None:
    """The live experiment of that name (any case), ready for experiment_to_document."""
    return (
        Experiment.objects.active()
        .filter(project=project, name__iexact=name)
        .select_related("project", "owner", "layer", "targeting_gate")
        .prefetch_related(_TAGS)
        .first()
    )


def holdouts_for_experiment(*, experiment: Experiment) -> QuerySet[Holdout]:
    """The live holdouts that apply to the experiment: global ones and those naming it."""
    return (
        Holdout.objects.active()
        .filter(project_id=experiment.project_id)
        .filter(Q(is_global=True) | Q(experiments=experiment))
        .distinct()
        .order_by(Lower("name"))
    )


# ---------------------------------------------------------------- layers


def layer_list(*, project: Project, include_archived: bool = False) -> QuerySet[Layer]:
    """Layers by name, each annotated with `experiment_count` (live experiments) and
    `used_buckets` (buckets owned by running experiments)."""
    qs = Layer.objects.filter(project=project).annotate(
        experiment_count=Count(
            "experiments", filter=Q(experiments__archived_at__isnull=True), distinct=True
        ),
        used_buckets=Count("buckets", distinct=True),
    )
    if not include_archived:
        qs = qs.filter(archived_at__isnull=True)
    return qs.order_by(Lower("name"), "pk")


def layer_get(*, project: Project, name: str) -> Layer | None:
    return (
        Layer.objects.active()
        .filter(project=project, name__iexact=name)
        .select_related("project")
        .first()
    )


@dataclass(frozen=True)
class LayerShare:
    """One experiment's part of a layer: buckets it owns (running) or asks for (draft)."""

    experiment: str
    status: str
    buckets: int

    @property
    def percent(self) -> float:
        return self.buckets * 100 / LAYER_BUCKETS


@dataclass(frozen=True)
class LayerAllocation:
    """Who owns a layer's 1,000 buckets: running experiments (`shares`), the free rest, and
    what draft experiments will ask for when they start (`pending`, not yet owned)."""

    layer: Layer
    shares: list[LayerShare]
    pending: list[LayerShare]
    free_buckets: int

    @property
    def free_percent(self) -> float:
        return self.free_buckets * 100 / LAYER_BUCKETS

    @property
    def used_buckets(self) -> int:
        return LAYER_BUCKETS - self.free_buckets


def layer_allocation(*, layer: Layer) -> LayerAllocation:
    """The layer's allocation (owner → share, free), in two queries."""
    owned = (
        LayerBucket.objects.filter(layer=layer)
        .values("experiment__name", "experiment__status")
        .annotate(n=Count("id"))
        .order_by("experiment__name")
    )
    shares = [
        LayerShare(row["experiment__name"], row["experiment__status"], row["n"]) for row in owned
    ]
    drafts = (
        Experiment.objects.active()
        .filter(layer=layer, status=ExperimentStatus.DRAFT)
        .order_by(Lower("name"))
        .only("name", "status", "allocation")
    )
    pending = [LayerShare(e.name, e.status, e.bucket_count) for e in drafts]
    return LayerAllocation(
        layer=layer,
        shares=shares,
        pending=pending,
        free_buckets=LAYER_BUCKETS - sum(s.buckets for s in shares),
    )


# ---------------------------------------------------------------- holdouts


def holdout_list(*, project: Project, include_archived: bool = False) -> QuerySet[Holdout]:
    """Holdouts by name with their experiments (for holdout_to_document)."""
    qs = Holdout.objects.filter(project=project).prefetch_related(
        Prefetch("experiments", queryset=Experiment.objects.order_by(Lower("name")))
    )
    if not include_archived:
        qs = qs.filter(archived_at__isnull=True)
    return qs.order_by(Lower("name"), "pk")


def holdout_get(*, project: Project, name: str) -> Holdout | None:
    return (
        Holdout.objects.active()
        .filter(project=project, name__iexact=name)
        .select_related("project")
        .prefetch_related("experiments")
        .first()
    )


# ---------------------------------------------------------------- for gates' rules (gates.hooks)


def name_taken(model, project: Project, lowered: str) -> bool:
    """A live experiment (or holdout) of the project has this name, in any case."""
    return (
        model.objects.active()
        .filter(project=project)
        .annotate(lname=Lower("name"))
        .filter(lname=lowered)
        .exists()
    )


_CONDITION_KINDS = {
    "gate": ("passes_gate", "fails_gate"),
    "segment": ("passes_segment", "fails_segment"),
}


def experiments_using(kind: str, entity) -> list[str]:
    """Labels of the live experiments that target the gate or segment `entity` (targeting
    gate, inline targeting conditions, or segment overrides)."""
    labels = []
    types = _CONDITION_KINDS.get(kind, ())
    for experiment in Experiment.objects.active().filter(project_id=entity.project_id):
        uses = (kind == "gate" and experiment.targeting_gate_id == entity.pk) or any(
            c.get("type") in types and c.get("targetValue") == entity.name
            for c in experiment.targeting_conditions
        )
        uses = uses or (
            kind == "segment"
            and any(entity.name in o.get("segments", []) for o in experiment.overrides)
        )
        if uses:
            labels.append(f"experiment {experiment.name}")
    return labels
