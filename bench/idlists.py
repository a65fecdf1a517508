"""A large ID list through the review path: upload, approval, the worker's apply, the push.

    .venv/bin/python bench/idlists.py [--ids 1000000] [--out bench/results.json]
        [--database gatehouse_bench_ids] [--redis-url redis://127.0.0.1:6379/12]

In a database and a redis-server of its own (as bench/publishing.py), one project with an
ID-list segment used by a gate; a member uploads a CSV of ``--ids`` IDs through the
segment page (Django's test client, so the view, form and service run as in a request),
an admin approves it the same way, the worker's task applies it (in this process), and
each environment's spec is pushed with its ID-list file. Each step's time and its peak of
traced Python memory are recorded, and, as the baseline of the same run, the time of
COPYing the same IDs into a bare table (what moving them into PostgreSQL costs at least):
the steps are reported as multiples of it.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import merge_results  # noqa: E402
from bench.publishing import isolated  # noqa: E402


def _measure(fn) -> tuple[object, float, float]:
    """(result, seconds, peak traced MB)."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = fn()
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, seconds, peak / 1e6


def run(count: int) -> dict:
    import django

    django.setup()
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from console import services
    from console.models import ConfigSpec, Membership, Role, User
    from console.publishing.services import config_spec_push
    from gates import services as gate_services
    from gates.models import SegmentID
    from reviews.models import ChangeSet
    from reviews.tasks import changeset_apply_task

    call_command("migrate", verbosity=0, interactive=False)
    admin = User.objects.create(username="admin", email="admin@bench.example", is_superuser=True)
    member = User.objects.create(username="member", email="member@bench.example")
    project = services.project_create(actor=admin, name="ID lists", slug="ids")
    Membership.objects.create(project=project, user=member, role=Role.MEMBER)
    segment = gate_services.segment_create(
        actor=admin,
        project=project,
        document={
            "name": "vips",
            "description": "",
            "type": "id_list",
            "idType": "userID",
            "tags": [],
            "owner": None,
            "rules": [],
        },
    )
    body = "".join(f"user-{n:08d}\n" for n in range(count)).encode()

    def copy_baseline() -> None:
        with connection.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE bench_ids (unit_id varchar(256))")
            with cursor.copy("COPY bench_ids (unit_id) FROM STDIN") as copy:
                copy.write(body)
            cursor.execute("DROP TABLE bench_ids")

    figures: dict = {"ids": count, "file_mb": round(len(body) / 1e6, 1)}
    _, seconds, peak = _measure(copy_baseline)
    figures["copy_baseline"] = {"s": round(seconds, 2), "peak_mb": round(peak, 1)}

    def step(name: str, fn) -> object:
        result, seconds, peak = _measure(fn)
        figures[name] = {
            "s": round(seconds, 2),
            "x_copy": round(seconds / figures["copy_baseline"]["s"], 1),
            "peak_mb": round(peak, 1),
        }
        return result

    author, approver = Client(), Client()
    author.force_login(member)
    approver.force_login(admin)
    upload = reverse("segment-ids-upload", args=[project.slug, segment.pk])
    response = step(
        "upload_request",
        lambda: author.post(
            upload, {"file": SimpleUploadedFile("ids.csv", body, "text/csv"), "mode": "add"}
        ),
    )
    assert response.status_code == 302, response.content[:500]
    change_set = ChangeSet.objects.get(project=project)
    approve = reverse("changeset-approve", args=[project.slug, change_set.number])
    response = step("approve_request", lambda: approver.post(approve))
    assert response.status_code == 302
    change_set.refresh_from_db()
    assert change_set.state == "applying", change_set.state
    assert step("worker_apply", lambda: changeset_apply_task(change_set.pk)) == "applied"
    assert SegmentID.objects.filter(segment=segment).count() == count
    spec = ConfigSpec.objects.filter(environment__project=project).latest("pk")
    pushed = step("push_one_environment", lambda: config_spec_push(spec_id=spec.pk))
    assert pushed.state == "pushed"
    return figures


def render(figures: dict) -> str:
    lines = [f"ID lists: {figures['ids']:,} IDs ({figures['file_mb']} MB of CSV)"]
    for name, row in figures.items():
        if isinstance(row, dict):
            ratio = f"  {row['x_copy']:>5}x COPY" if "x_copy" in row else ""
            lines.append(f"  {name:<22} {row['s']:>7.2f} s  peak {row['peak_mb']:>6.1f} MB{ratio}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=1_000_000)
    parser.add_argument("--database", default="gatehouse_bench_ids")
    parser.add_argument("--redis-url", help="a Redis DB to use (emptied!)")
    parser.add_argument("--out", type=Path, help="merge the figures into this JSON file")
    args = parser.parse_args()
    if "bench" not in args.database:
        parser.error("the bench drops its database: give it a name containing 'bench'")
    # Django's test client, in this process, asks for host "testserver".
    # The worker applies it however few IDs the run asks for.
    with isolated(
        args.database,
        args.redis_url,
        "bench-idlists-",
        ALLOWED_HOSTS="testserver",
        GATEHOUSE_APPLY_IN_WORKER_WEIGHT=str(max(1, args.ids // 2)),
    ):
        from django.db import connections

        try:
            figures = run(args.ids)
        finally:
            connections.close_all()
    print(render(figures))  # noqa: T201
    if args.out:
        merge_results(args.out, "idlists", figures)


if __name__ == "__main__":
    main()
