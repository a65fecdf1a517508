"""What every experiments service shares: the project lock, role and revision checks, and
the buckets running experiments own in named layers."""

from __future__ import annotations

import random

from django.db import connection

from console.exceptions import Conflict, DomainError
from console.models import Project, Role
from console.permissions import ensure_role
from experiments.models import (
    EXPERIMENT_TRANSITIONS,
    LAYER_BUCKETS,
    Experiment,
    ExperimentStatus,
    Layer,
    LayerBucket,
)

# First key of the advisory lock that serialises a project's experiment, layer and holdout
# writes ("EXPT" in ASCII); the second key is the project id.
_LOCK_CLASS = 0x45585054


def ensure_writer(actor, project: Project) -> None:
    """Members and admins write experiments, layers and holdouts; viewers only read."""
    ensure_role(actor, project, Role.MEMBER)


def lock_project(project: Project) -> None:
    """Serialise the project's experiment writes: names, layer buckets and holdout sets are
    read and changed together. Transaction-scoped, so the project row stays unlocked."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_CLASS, project.pk])


def ensure_transition(experiment: Experiment, target: str, verb: str) -> None:
    if target not in EXPERIMENT_TRANSITIONS[experiment.status]:
        raise DomainError(
            f"A {ExperimentStatus(experiment.status).label.lower()} experiment cannot be {verb}.",
            code="illegal_transition",
        )


# ---------------------------------------------------------------- layer buckets


def bucket_order(salt: str) -> list[int]:
    """The order in which an experiment takes free buckets of its layer: a shuffle seeded
    by its salt, so its buckets are scattered over the layer and the ones a raise adds are
    the next free ones in the same order (the earlier ones never move)."""
    order = list(range(LAYER_BUCKETS))
    random.Random(salt).shuffle(order)  # bucketing, not security
    return order


def free_buckets(layer: Layer, *, excluding: Experiment | None = None) -> int:
    """Buckets of the layer no running experiment (other than `excluding`) owns."""
    taken = LayerBucket.objects.filter(layer=layer)
    if excluding is not None:
        taken = taken.exclude(experiment=excluding)
    return LAYER_BUCKETS - taken.count()


def ensure_capacity(layer: Layer, buckets: int, *, excluding: Experiment | None = None) -> None:
    free = free_buckets(layer, excluding=excluding)
    if buckets > free:
        raise Conflict(
            f"The layer {layer.name!r} has {free / 10:g}% free; this experiment asks for "
            f"{buckets / 10:g}%. Lower the allocation or end another experiment of the layer.",
            code="layer_full",
            field="allocation",
        )


def allocate_buckets(experiment: Experiment) -> None:
    """Give a running experiment of a named layer `bucket_count` buckets, keeping the ones
    it has. Raises Conflict code="layer_full" when the layer has too few free."""
    layer = experiment.layer
    if layer is None:
        return  # implicit layer: buckets 0..n-1 of its own salt, no rows
    owned = set(LayerBucket.objects.filter(experiment=experiment).values_list("bucket", flat=True))
    need = experiment.bucket_count - len(owned)
    if need <= 0:
        return
    ensure_capacity(layer, experiment.bucket_count, excluding=experiment)
    taken = set(
        LayerBucket.objects.filter(layer=layer)
        .exclude(experiment=experiment)
        .values_list("bucket", flat=True)
    )
    chosen = [b for b in bucket_order(experiment.salt) if b not in taken and b not in owned]
    LayerBucket.objects.bulk_create(
        LayerBucket(layer=layer, experiment=experiment, bucket=b) for b in chosen[:need]
    )


def release_buckets(experiment: Experiment) -> None:
    LayerBucket.objects.filter(experiment=experiment).delete()
