"""spec_publish: versions, times, audit, on_commit enqueue, identical content."""

from __future__ import annotations

import json
from unittest import mock

import pytest

from console.exceptions import NotAllowed
from console.models import AuditEvent, ConfigSpec, ConfigSpecState, RulesetVersion
from console.publishing import services, store
from console.publishing.services import spec_publish
from tests.publishing.conftest import queued_pushes


def test_spec_publish__first__version_1_with_a_pending_spec_per_environment(
    project, site_admin, make_gate, django_capture_on_commit_callbacks
):
    # Given
    make_gate()
    # When
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        version = spec_publish(actor=site_admin, project=project, reason="first")
    # Then
    assert version.was_created
    assert version.number == 1
    assert version.reason == "first"
    specs = list(version.config_specs.order_by("environment__pk"))
    assert [s.environment.name for s in specs] == ["development", "staging", "production"]
    assert all(s.state == ConfigSpecState.PENDING for s in specs)
    assert len(callbacks) == 2  # the pushes, and the build's units for the shared tier
    # production's push is queued (on the real broker) alone, the others to follow it
    assert queued_pushes() == [(specs[2].pk, sorted([specs[0].pk, specs[1].pk]))]
    for spec in specs:
        v1, v2 = json.loads(spec.v1_json), json.loads(spec.v2_json)
        assert v1["time"] == v2["time"] == spec.time_ms
        assert [g["name"] for g in v1["feature_gates"]] == ["new_checkout"]
        assert "new_checkout" in v2["feature_gates"]
        assert "condition_map" in v2
    events = AuditEvent.objects.filter(action="ruleset.published")
    assert events.count() == 1
    assert events.get().after["number"] == 1


def test_spec_publish__changes__numbers_and_times_strictly_increase(
    project, site_admin, make_gate, django_capture_on_commit_callbacks
):
    # Given
    gate = make_gate()
    first = spec_publish(actor=None, project=project)
    # When: a change, then a forced publish of identical content, in the same millisecond
    from tests.publishing.conftest import set_gate_emails

    set_gate_emails(gate, site_admin, ["bob@corp.example"])
    with mock.patch.object(services, "_now_ms", return_value=1):
        second = spec_publish(actor=None, project=project)
        third = spec_publish(actor=None, project=project, force=True)
    # Then
    assert [first.number, second.number, third.number] == [1, 2, 3]
    for environment in project.environments.all():
        times = list(
            ConfigSpec.objects.filter(environment=environment)
            .order_by("ruleset_version__number")
            .values_list("time_ms", flat=True)
        )
        assert times == sorted(set(times))
        assert len(times) == 3
    assert AuditEvent.objects.filter(action="ruleset.published").count() == 3


def test_spec_publish__identical_content__no_new_version_unless_forced(
    project, make_gate, django_capture_on_commit_callbacks
):
    # Given
    make_gate()
    first = spec_publish(actor=None, project=project)
    # When
    with django_capture_on_commit_callbacks() as callbacks:
        again = spec_publish(actor=None, project=project)
    # Then: nothing recorded, nothing enqueued, no audit
    assert again.pk == first.pk
    assert again.was_created is False
    assert callbacks == []
    assert RulesetVersion.objects.filter(project=project).count() == 1
    assert AuditEvent.objects.filter(action="ruleset.published").count() == 1
    forced = spec_publish(actor=None, project=project, force=True)
    assert forced.was_created
    assert forced.number == 2


def test_spec_publish__member__not_allowed(project, project_member):
    with pytest.raises(NotAllowed):
        spec_publish(actor=project_member, project=project)
    assert not RulesetVersion.objects.exists()


@pytest.fixture
def broker_down():
    """The Celery app's broker at an address nothing listens on (then back)."""
    from console.celery import app

    def use(url: str) -> None:
        # Forget the app's pools (as Celery does after a fork): the next send connects anew.
        app.conf.broker_url = url
        app._pool = None
        app.amqp._producer_pool = None

    url = app.conf.broker_url
    use("redis://127.0.0.1:1/0")
    yield
    use(url)


def test_spec_publish__enqueue_fails__committed_and_pending(
    project, make_gate, broker_down, django_capture_on_commit_callbacks, caplog
):
    # Given: the broker is down
    make_gate()
    with django_capture_on_commit_callbacks(execute=True):
        version = spec_publish(actor=None, project=project)
    # Then: nothing lost, and said
    assert version.config_specs.filter(state=ConfigSpecState.PENDING).count() == 3
    assert "spec.enqueue_failed" in caplog.text


def test_sdk_key_b64__from_stored_hex__equals_base64_of_sha256_of_the_key():
    import base64
    import hashlib

    from console.models import hash_key

    raw = "secret-abc123"
    expected = base64.b64encode(hashlib.sha256(raw.encode()).digest()).decode()
    assert store.sdk_key_b64(hash_key(raw)) == expected


def test_spec_publish_command__prints_version(project, make_gate):
    from io import StringIO

    from django.core.management import call_command

    make_gate()
    out = StringIO()
    call_command("spec_publish", project.slug, "--reason", "cli", stdout=out)
    assert "version 1" in out.getvalue()
    call_command("spec_publish", project.slug, stdout=out)
    assert "nothing changed since version 1" in out.getvalue()
    assert RulesetVersion.objects.get().reason == "cli"


def test_spec_publish__chunks_stored_with_lz4(project, project_admin):
    """Spec body chunks are compressed with lz4, not pglz: inserting a large project's
    specs costs a quarter of the time (console migrations 0007, 0008)."""
    from django.db import connection

    from tests.gates.factories import FeatureGateFactory

    FeatureGateFactory.create_batch(50, project=project)
    spec_publish(actor=project_admin, project=project, reason="bodies")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT pg_column_compression(body) FROM console_specchunk"
            " WHERE length(body) > 4000"
        )
        assert cursor.fetchall() == [("lz4",)]
