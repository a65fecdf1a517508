"""Heavy change sets (a large ID list) are applied by the worker: the request that approves
or applies them only marks them applying; the task applies them through the same service,
streaming the IDs from the stored change, with progress on the change set's page; a
refusal changes nothing and sends the change set back with the reason.

The task runs in-process here (its function called as the worker calls it); the real
worker process is in tests/publishing/test_apply_worker.py."""

from __future__ import annotations

import tracemalloc
from datetime import timedelta

import pytest
import redis
from django.conf import settings as django_settings
from django.core import mail
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from console.exceptions import Conflict
from console.models import AuditEvent, RulesetVersion
from console.specs.builder import build_spec
from gates import services as gate_services
from gates.models import FeatureGate, Segment, SegmentID
from reviews import selectors
from reviews import services as review_services
from reviews.models import Change, ChangeSet, ChangeSetState
from reviews.notifications import send
from reviews.services import (
    ChangeInput,
    applying,
    changeset_apply,
    changeset_approve,
    changeset_cancel,
    changeset_edit,
    changeset_rebase,
    changeset_reject,
)
from reviews.tasks import changeset_apply_requeue_task, changeset_apply_task
from tests.gates.factories import condition, gate_document, rule, segment_document
from tests.reviews.conftest import submit

pytestmark = pytest.mark.django_db
S = ChangeSetState
LIMIT = 1_000


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.GATEHOUSE_APPLY_IN_WORKER_WEIGHT = LIMIT


@pytest.fixture
def vips(project, project_admin) -> Segment:
    return gate_services.segment_create(
        actor=project_admin, project=project, document=segment_document("vips", type="id_list")
    )


def _ids(n: int, prefix: str = "user") -> list[str]:
    return [f"{prefix}-{i:07d}" for i in range(n)]


def _add_ids(project, author, ids, *extra):
    return submit(author, project, ChangeInput("segment", "ids_add", "vips", {"ids": ids}), *extra)


def _stored(segment) -> int:
    return SegmentID.objects.filter(segment=segment).count()


def test_approve__heavy_change_set__applying_and_nothing_written_until_the_task_runs(
    project, project_member, reviewer, vips
):
    # Given
    change_set = _add_ids(project, project_member, _ids(LIMIT + 1))
    versions = RulesetVersion.objects.filter(project=project).count()
    # When
    change_set = changeset_approve(actor=reviewer, change_set=change_set)
    # Then
    assert change_set.state == S.APPLYING
    assert _stored(vips) == 0
    assert RulesetVersion.objects.filter(project=project).count() == versions
    assert selectors.apply_progress(change_set)["phase"] == "Waiting for a worker"
    # When the worker runs
    assert changeset_apply_task(change_set.pk) == S.APPLIED
    # Then
    change_set.refresh_from_db()
    assert change_set.state == S.APPLIED
    assert change_set.applied_by == reviewer
    assert change_set.ruleset_version.number == versions + 1
    assert _stored(vips) == LIMIT + 1
    vips.refresh_from_db()
    assert vips.id_count == LIMIT + 1
    assert selectors.apply_progress(change_set) is None
    actions = list(
        AuditEvent.objects.filter(target_id=str(change_set.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions[-2:] == ["changeset.apply_queued", "changeset.applied"]


def test_approve__change_set_at_the_limit__applied_in_the_request(
    project, project_member, reviewer, vips
):
    change_set = _add_ids(project, project_member, _ids(LIMIT))
    change_set = changeset_approve(actor=reviewer, change_set=change_set)
    assert change_set.state == S.APPLIED
    assert _stored(vips) == LIMIT


def test_submit__heavy_and_no_review_needed__applying_then_applied_by_the_task(
    project, project_member, no_review, vips
):
    change_set = _add_ids(project, project_member, _ids(LIMIT + 5))
    assert change_set.state == S.APPLYING
    changeset_apply_task(change_set.pk)
    change_set.refresh_from_db()
    assert change_set.state == S.APPLIED
    assert _stored(vips) == LIMIT + 5


def test_task__delivered_twice__applies_once(project, project_member, reviewer, vips):
    change_set = changeset_approve(
        actor=reviewer, change_set=_add_ids(project, project_member, _ids(LIMIT + 1))
    )
    assert changeset_apply_task(change_set.pk) == S.APPLIED
    assert changeset_apply_task(change_set.pk) == "skipped"
    assert RulesetVersion.objects.filter(project=project).count() == 1
    assert _stored(vips) == LIMIT + 1


def test_task__name_taken_meanwhile__nothing_changes_and_stale_with_the_reason(
    project, project_member, reviewer, project_admin, vips
):
    # Given a heavy change set that also creates a gate, approved and waiting for the worker
    change_set = _add_ids(
        project,
        project_member,
        _ids(LIMIT + 1),
        ChangeInput("gate", "create", "promo", {**gate_document("promo")}),
    )
    change_set = changeset_approve(actor=reviewer, change_set=change_set)
    assert change_set.state == S.APPLYING
    # and someone takes the gate's name before the worker starts
    gate_services.gate_create(actor=project_admin, project=project, document=gate_document("promo"))
    # When
    result = changeset_apply_task(change_set.pk)
    # Then nothing of it is applied: no IDs, one gate (the other one), no version; it is
    # stale (applying again cannot succeed), with the reason and a way out
    assert result == S.STALE
    change_set.refresh_from_db()
    assert change_set.state == S.STALE
    assert "promo" in change_set.stale_reason
    assert change_set.apply_error_code
    assert "promo" in change_set.apply_error_message
    assert _stored(vips) == 0
    assert FeatureGate.objects.filter(project=project, name="promo").count() == 1
    assert change_set.ruleset_version is None
    assert AuditEvent.objects.filter(action="changeset.apply_failed").count() == 1
    # and the author is told why
    assert send(change_set.pk, "apply_failed", {}) == 1
    assert mail.outbox[-1].to == [project_member.email]
    assert "applying it was refused" in mail.outbox[-1].subject
    assert change_set.apply_error_message in mail.outbox[-1].body
    # When the name is free again, its author rebases it (checked again: back to review),
    # it is approved again and applied, and the reason goes away
    FeatureGate.objects.filter(project=project, name="promo").delete()
    change_set = changeset_rebase(actor=project_member, change_set=change_set)
    assert (change_set.state, change_set.stale_reason) == (S.IN_REVIEW, "")
    change_set = changeset_approve(actor=reviewer, change_set=change_set)
    assert change_set.state == S.APPLYING
    assert change_set.apply_error_message == ""
    changeset_apply_task(change_set.pk)
    change_set.refresh_from_db()
    assert (change_set.state, _stored(vips)) == (S.APPLIED, LIMIT + 1)


def test_task__segment_changed_meanwhile__stale_with_the_reason(
    project, project_member, reviewer, project_admin, vips
):
    change_set = changeset_approve(
        actor=reviewer, change_set=_add_ids(project, project_member, _ids(LIMIT + 1))
    )
    gate_services.segment_ids_add(actor=project_admin, segment=vips, ids=["early-bird"])
    assert changeset_apply_task(change_set.pk) == S.STALE
    change_set.refresh_from_db()
    assert change_set.state == S.STALE
    assert change_set.apply_error_code == "stale"
    assert "vips" in change_set.stale_reason
    assert _stored(vips) == 1


def test_task__worker_fails_unexpectedly__rolled_back_and_can_be_applied_again(
    project, project_member, reviewer, vips, monkeypatch
):
    # Given the database goes away just as the version is recorded
    change_set = changeset_approve(
        actor=reviewer, change_set=_add_ids(project, project_member, _ids(LIMIT + 1))
    )

    def lost(**_kwargs):
        raise ConnectionError("server closed the connection unexpectedly")

    monkeypatch.setattr(applying, "ruleset_version_create", lost)
    # When
    with pytest.raises(ConnectionError):
        changeset_apply_task(change_set.pk)
    # Then
    change_set.refresh_from_db()
    assert change_set.state == S.APPROVED
    assert change_set.apply_error_code == "apply_interrupted"
    assert "ConnectionError" in change_set.apply_error_message
    assert _stored(vips) == 0


def test_applying__every_other_action_refused(project, project_member, reviewer, vips):
    change_set = changeset_approve(
        actor=reviewer, change_set=_add_ids(project, project_member, _ids(LIMIT + 1))
    )
    for action in (
        lambda: changeset_cancel(actor=project_member, change_set=change_set),
        lambda: changeset_apply(actor=project_member, change_set=change_set),
        lambda: changeset_edit(
            actor=project_member,
            change_set=change_set,
            changes=[ChangeInput("segment", "ids_add", "vips", {"ids": ["x"]})],
        ),
        lambda: changeset_reject(actor=reviewer, change_set=change_set, reason="no"),
        lambda: changeset_approve(actor=reviewer, change_set=change_set),
    ):
        with pytest.raises(Conflict):
            action()
    assert ChangeSet.objects.get(pk=change_set.pk).state == S.APPLYING


def test_task__progress__reported_per_chunk_and_cleared_at_the_end(
    project, project_member, reviewer, vips, monkeypatch
):
    # Given every report is written (no throttling) and recorded as the page would read it
    seen: list[dict] = []
    writer = applying._ProgressWriter
    monkeypatch.setattr(writer, "INTERVAL", 0.0)
    original = writer.__call__

    def spy(self, step, done, total):
        original(self, step, done, total)
        seen.append(dict(cache.get(self.key)))

    monkeypatch.setattr(writer, "__call__", spy)
    monkeypatch.setattr("gates.idlists._COPY_CHUNK", 500)
    change_set = changeset_approve(
        actor=reviewer, change_set=_add_ids(project, project_member, _ids(1_750))
    )
    # When
    changeset_apply_task(change_set.pk)
    # Then
    loading = [(s["done"], s["total"]) for s in seen if s["step"] == "IDs loaded"]
    assert loading == [(500, 1_750), (1_000, 1_750), (1_500, 1_750), (1_750, 1_750)]
    assert {s["phase"] for s in seen if s["step"]} == {"Added IDs to segment vips"}
    assert seen[-1]["phase"] == "Recording the new ruleset version"
    assert cache.get(selectors.apply_progress_key(change_set.pk)) is None


def test_task__memory__one_chunk_not_the_whole_list(project, project_member, reviewer, vips):
    # Given 200,000 IDs: as a Python list they take about 15 MB
    ids = _ids(200_000)
    change_set = changeset_approve(
        actor=reviewer, change_set=_add_ids(project, project_member, ids)
    )
    whole_list = _traced_size(lambda: list(_ids(200_000)))
    del ids
    # When
    tracemalloc.start()
    try:
        changeset_apply_task(change_set.pk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Then
    assert _stored(vips) == 200_000
    assert peak < whole_list / 3, f"peak {peak / 1e6:.1f} MB, the list {whole_list / 1e6:.1f} MB"


def _traced_size(make) -> int:
    tracemalloc.start()
    try:
        value = make()
        size, _ = tracemalloc.get_traced_memory()
        del value
    finally:
        tracemalloc.stop()
    return size


def test_requeue__applying_longer_than_the_limit__sent_to_the_broker_again(
    project, project_member, reviewer, vips, django_capture_on_commit_callbacks
):
    # Given one change set applying for an hour (its task lost) and one just queued
    lost = changeset_approve(
        actor=reviewer, change_set=_add_ids(project, project_member, _ids(LIMIT + 1))
    )
    ChangeSet.objects.filter(pk=lost.pk).update(apply_queued_at=timezone.now() - timedelta(hours=1))
    fresh = _add_ids(project, project_member, _ids(LIMIT + 1, "other"))
    ChangeSet.objects.filter(pk=fresh.pk).update(state=S.APPLYING, apply_queued_at=timezone.now())
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    queued = broker.llen("celery")
    # When
    with django_capture_on_commit_callbacks(execute=True):
        assert changeset_apply_requeue_task() == 1
    # Then one task message more waits for a worker, and the next beat sends none
    assert broker.llen("celery") == queued + 1
    with django_capture_on_commit_callbacks(execute=True):
        assert changeset_apply_requeue_task() == 0
    assert broker.llen("celery") == queued + 1


def test_requeue__registered_with_beat():
    from console.celery import app

    entry = app.conf.beat_schedule["changeset-apply-requeue"]
    assert entry["task"] == changeset_apply_requeue_task.name


def test_weight__stored_per_change(project, project_member, reviewer, vips):
    change_set = _add_ids(project, project_member, _ids(7))
    assert list(Change.objects.filter(change_set=change_set).values_list("weight", flat=True)) == [
        7
    ]


# ---------------------------------------------------------------- the page and the API


def test_page__applying__progress_panel_polls_and_reloads_when_done(
    client, project, project_member, reviewer, vips
):
    change_set = changeset_approve(
        actor=reviewer, change_set=_add_ids(project, project_member, _ids(LIMIT + 1))
    )
    cache.set(
        selectors.apply_progress_key(change_set.pk),
        {"phase": "Added IDs to segment vips", "step": "IDs loaded", "done": 300, "total": 1001},
    )
    client.force_login(project_member)
    page = client.get(reverse("changeset-detail", args=[project.slug, change_set.number]))
    progress_url = reverse("changeset-progress", args=[project.slug, change_set.number])
    html = page.content.decode()
    assert 'data-testid="state">Applying<' in html
    assert f'hx-get="{progress_url}"' in html
    assert 'IDs loaded <span class="num">300</span> of <span class="num">1,001</span>' in html
    # While applying the panel answers itself; once applied, htmx reloads the page
    assert (
        'hx-trigger="every 1s"' in client.get(progress_url, HTTP_HX_REQUEST="true").content.decode()
    )
    changeset_apply_task(change_set.pk)
    done = client.get(progress_url, HTTP_HX_REQUEST="true")
    assert (done.status_code, done["HX-Refresh"]) == (204, "true")


def test_page__refused_apply__reason_shown(
    client, project, project_member, reviewer, project_admin, vips
):
    change_set = changeset_approve(
        actor=reviewer, change_set=_add_ids(project, project_member, _ids(LIMIT + 1))
    )
    gate_services.segment_archive(actor=project_admin, segment=vips)
    changeset_apply_task(change_set.pk)
    client.force_login(project_member)
    page = client.get(reverse("changeset-detail", args=[project.slug, change_set.number]))
    assert "The last apply was refused:" in page.content.decode()


# ---------------------------------------------------------------- the dry run's preview


@pytest.mark.parametrize(
    ("start", "action", "ids"),
    [
        (1_500, "ids_add", [f"user-{i:07d}" for i in range(1_000, 3_000)]),  # file to file
        (10, "ids_add", [f"user-{i:07d}" for i in range(1_200)]),  # inline to file
        (1_500, "ids_remove", [f"user-{i:07d}" for i in range(1_000)]),  # file to inline
        (1_500, "ids_remove", [f"user-{i:07d}" for i in range(200)]),  # file to file
        (1_500, "ids_replace", [f"user-{i:07d}" for i in range(700, 2_900)]),
        (1_500, "ids_replace", ["only-one"]),  # file to inline
    ],
)
def test_dry_run__ids_counted_not_written__same_documents_environments_and_specs_as_applying(
    project, project_member, project_admin, reviewer, vips, start, action, ids
):
    # Given a segment with `start` IDs used by a gate, so every environment's spec holds it
    if start:
        gate_services.segment_ids_add(actor=project_admin, segment=vips, ids=_ids(start))
    gate_services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document(
            "vip_feature", rules=[rule("VIPs", [condition("passes_segment", None, "vips")])]
        ),
    )
    environments = list(project.environments.order_by("pk"))
    # When a change set is submitted (a dry run that previews the IDs) and its specs-after
    # computed (another preview)
    change_set = _add_ids_as(project, project_member, action, ids)
    previewed = review_services.changeset_specs_after(change_set, environments)
    documents = list(Change.objects.filter(change_set=change_set).values_list("after", flat=True))
    # Then applying for real gives the same documents and specs, and touched what it said
    change_set = changeset_approve(actor=reviewer, change_set=change_set)
    if change_set.state == S.APPLYING:
        changeset_apply_task(change_set.pk)
    assert ChangeSet.objects.get(pk=change_set.pk).state == S.APPLIED
    applied = {e.name: build_spec(project, e, time_ms=1) for e in environments}
    assert list(Change.objects.filter(change_set=change_set).values_list("after", flat=True)) == (
        documents
    )
    assert previewed == applied
    assert change_set.environments == [e.name for e in environments]


def _add_ids_as(project, author, action, ids):
    return submit(author, project, ChangeInput("segment", action, "vips", {"ids": ids}))
