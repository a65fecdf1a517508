import json
import statistics
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from console import services as console_services
from console.entities import new_salt
from console.specs.builder import build_spec, spec_json, to_v2
from gates.documents import new_rule_id
from gates.models import FeatureGate


def _rule(conditions, percentage=100):
    return {
        "id": new_rule_id(),
        "salt": new_salt(),
        "name": "rule",
        "passPercentage": percentage,
        "conditions": conditions,
        "environmentIds": None,
    }


def _condition(type_, operator, target, field=None):
    return {
        "type": type_,
        "operator": operator,
        "targetValue": target,
        "field": field,
        "customID": None,
    }


def bench_gates_create(project, count: int) -> list[FeatureGate]:
    """`count` gates of three rules each (country, app version, 30% public), bulk-inserted:
    the bench projects' data (also used by bench/publishing.py)."""
    return FeatureGate.objects.bulk_create(
        FeatureGate(
            project=project,
            name=f"gate_{n:06d}",
            rules=[
                _rule([_condition("country", "any", ["NZ", "AU"])]),
                _rule([_condition("app_version", "version_gte", "9.0.0")]),
                _rule([_condition("public", None, None)], 30),
            ],
        )
        for n in range(count)
    )


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = (
        "Measure build_spec for a throw-away project with N gates of three rules each "
        "(country, app version, 30% public), in a transaction that is rolled back."
    )

    def add_arguments(self, parser):
        parser.add_argument("--gates", type=int, default=10_000)
        parser.add_argument("--runs", type=int, default=3)
        parser.add_argument("--out", help="merge the figures into this JSON file, key spec_build")

    def handle(self, *args, **options):
        try:
            with transaction.atomic():
                figures = self._bench(options["gates"], options["runs"])
                raise _Rollback
        except _Rollback:
            pass
        if options["out"]:
            out = Path(options["out"])
            results = json.loads(out.read_text()) if out.exists() else {}
            results["spec_build"] = figures
            out.write_text(json.dumps(results, indent=2) + "\n")

    def _bench(self, count: int, runs: int) -> dict:
        user = get_user_model().objects.create(username="bench-spec", email="bench@spec.local")
        user.is_superuser = True
        project = console_services.project_create(actor=user, name="Bench", slug="bench-spec")
        environment = project.environments.get(name="production")
        started = time.perf_counter()
        bench_gates_create(project, count)
        self.stdout.write(f"created {count:,} gates in {time.perf_counter() - started:.2f} s")
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
            "gates": count,
            "seconds": {k: round(statistics.median(v), 4) for k, v in timings.items()},
            "queries_per_build": len(queries.captured_queries),
            "json_bytes": size,
        }
        self.stdout.write(json.dumps(figures))
        return figures
