import json
import statistics
import time
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from console import services as console_services
from console.specs.builder import build_spec, spec_json, to_v2
from experiments.models import (
    LAYER_BUCKETS,
    Experiment,
    ExperimentStatus,
    Holdout,
    Layer,
    LayerBucket,
)
from gates.documents import new_rule_id

PARAMETERS = [
    {"name": "color", "type": "string", "defaultValue": "grey", "description": ""},
    {"name": "discount", "type": "number", "defaultValue": 0, "description": ""},
]
# Share of each layer given to each of its running experiments.
LAYER_SHARE = 20


def _groups(n: int) -> list[dict]:
    """n groups splitting 100% (33.33/33.33/33.34 for three)."""
    size = (Decimal(100) / n).quantize(Decimal("0.01"))
    sizes = [size] * (n - 1) + [Decimal(100) - size * (n - 1)]
    return [
        {
            "id": new_rule_id(),
            "name": f"Group {i}",
            "description": "",
            "size": float(share),
            "parameterValues": {"color": f"c{i}", "discount": i * 5},
        }
        for i, share in enumerate(sizes)
    ]


def bench_experiments_create(project, count: int, layer_count: int) -> int:
    """`count` experiments (two or three groups, an override; running ones fill layers of
    LAYER_SHARE% each, the rest is unlayered in mixed states) over `layer_count` layers, a
    global and a chosen holdout, bulk-inserted: the bench projects' data (also used by
    bench/publishing.py). Returns the number of layer buckets."""
    layers = Layer.objects.bulk_create(
        Layer(project=project, name=f"layer_{n:04d}", parameters=PARAMETERS)
        for n in range(layer_count)
    )
    per_layer = 100 // LAYER_SHARE
    statuses = [ExperimentStatus.RUNNING] * 6 + [
        ExperimentStatus.DRAFT,
        ExperimentStatus.SHIPPED,
        ExperimentStatus.ABANDONED,
    ]
    experiments = []
    for n in range(count):
        layer = layers[n // per_layer] if n < layer_count * per_layer else None
        status = ExperimentStatus.RUNNING if layer else statuses[n % len(statuses)]
        groups = _groups(2 + n % 2)
        experiments.append(
            Experiment(
                project=project,
                name=f"experiment_{n:06d}",
                layer=layer,
                status=status,
                allocation=Decimal(LAYER_SHARE if layer else 50),
                parameters=(
                    [{**p, "defaultValue": None} for p in PARAMETERS] if layer else PARAMETERS
                ),
                groups=groups,
                overrides=[{"groupId": groups[1]["id"], "unitIDs": [f"qa-{n}"], "segments": []}],
                launched_group_id=(groups[1]["id"] if status == ExperimentStatus.SHIPPED else ""),
            )
        )
    experiments = Experiment.objects.bulk_create(experiments)
    buckets = []
    slot: dict[int, int] = {}
    for experiment in experiments:
        if experiment.layer_id is None:
            continue
        first = slot.get(experiment.layer_id, 0)
        width = LAYER_SHARE * LAYER_BUCKETS // 100
        slot[experiment.layer_id] = first + width
        buckets += [
            LayerBucket(layer_id=experiment.layer_id, experiment=experiment, bucket=b)
            for b in range(first, first + width)
        ]
    LayerBucket.objects.bulk_create(buckets, batch_size=10_000)
    Holdout.objects.create(project=project, name="global_holdout", percentage=2, is_global=True)
    chosen = Holdout.objects.create(project=project, name="some_holdout", percentage=10)
    chosen.experiments.set(experiments[::10])
    return len(buckets)


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = (
        "Measure build_spec for a throw-away project with N experiments (two or three "
        "groups, overrides) over L layers plus unlayered ones, a global and a chosen "
        "holdout, in a transaction that is rolled back."
    )

    def add_arguments(self, parser):
        parser.add_argument("--experiments", type=int, default=1_000)
        parser.add_argument("--layers", type=int, default=50)
        parser.add_argument("--runs", type=int, default=3)
        parser.add_argument(
            "--out", help="merge the figures into this JSON file, key experiments_spec_build"
        )

    def handle(self, *args, **options):
        try:
            with transaction.atomic():
                figures = self._bench(options["experiments"], options["layers"], options["runs"])
                raise _Rollback
        except _Rollback:
            pass
        if options["out"]:
            out = Path(options["out"])
            results = json.loads(out.read_text()) if out.exists() else {}
            results["experiments_spec_build"] = figures
            out.write_text(json.dumps(results, indent=2) + "\n")

    def _bench(self, count: int, layer_count: int, runs: int) -> dict:
        user = get_user_model().objects.create(
            username="bench-experiments", email="bench@experiments.local"
        )
        user.is_superuser = True
        project = console_services.project_create(
            actor=user, name="Bench experiments", slug="bench-experiments"
        )
        environment = project.environments.get(name="production")
        started = time.perf_counter()
        buckets = bench_experiments_create(project, count, layer_count)
        self.stdout.write(
            f"created {count:,} experiments, {layer_count} layers, {buckets:,} layer "
            f"buckets in {time.perf_counter() - started:.2f} s"
        )
        timings: dict[str, list[float]] = {
            "build_spec (v1)": [],
            "to_v2": [],
            "spec_json v1+v2": [],
        }
        for _ in range(runs):
            with CaptureQueriesContext(connection) as queries:
                t0 = time.perf_counter()
                v1 = build_spec(project, environment, time_ms=1_700_000_000_000)
                t1 = time.perf_counter()
            v2 = to_v2(v1)
            t2 = time.perf_counter()
            size = len(spec_json(v1)) + len(spec_json(v2))
            t3 = time.perf_counter()
            timings["build_spec (v1)"].append(t1 - t0)
            timings["to_v2"].append(t2 - t1)
            timings["spec_json v1+v2"].append(t3 - t2)
        for name, values in timings.items():
            self.stdout.write(f"{name:<18} median {statistics.median(values):.3f} s")
        self.stdout.write(f"queries per build: {len(queries.captured_queries)}")
        self.stdout.write(f"JSON bytes (v1+v2): {size:,}")
        figures = {
            "experiments": count,
            "layers": layer_count,
            "layer_buckets": buckets,
            "specs": {
                "dynamic_configs": len(v1["dynamic_configs"]),
                "layer_configs": len(v1["layer_configs"]),
                "feature_gates": len(v1["feature_gates"]),
            },
            "seconds": {k: round(statistics.median(v), 4) for k, v in timings.items()},
            "queries_per_build": len(queries.captured_queries),
            "json_bytes": size,
        }
        self.stdout.write(json.dumps(figures))
        return figures
