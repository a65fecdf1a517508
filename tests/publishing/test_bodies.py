"""console.publishing.bodies: spec bodies as content-addressed chunks, read once per
process."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.models import SpecChunk
from console.publishing import bodies


@pytest.fixture(autouse=True)
def _empty_cache():
    bodies.cache.clear()
    yield
    bodies.cache.clear()


def _stored(project, *texts: str) -> list[str]:
    order, chunks = bodies.chunk_rows(texts)
    bodies.store(project.pk, chunks)
    return order


def test_texts__stored_chunks__joined_in_order_and_read_once(project):
    # Given
    first = _stored(project, '{"a":[1', ",2", ",1", "]}")
    second = _stored(project, '{"a":[1', ",3]}")
    assert SpecChunk.objects.count() == 5  # '{"a":[1' is stored once
    # When
    with CaptureQueriesContext(connection) as queries:
        joined = bodies.texts([first, second])
    with CaptureQueriesContext(connection) as again:
        assert bodies.text(second) == '{"a":[1,3]}'
    # Then
    assert joined == ['{"a":[1,2,1]}', '{"a":[1,3]}']
    assert len(queries) == 1
    assert len(again) == 0  # every chunk of it is held by the process


def test_store__chunks_held__sends_only_the_new_ones(project):
    # Given
    order = _stored(project, "x" * 10, "y" * 10)
    # When
    with CaptureQueriesContext(connection) as queries:
        bodies.store(project.pk, bodies.chunk_rows(["x" * 10, "y" * 10])[1])
    _stored(project, "y" * 10, "z" * 10)
    # Then
    assert len(queries) == 1  # the lookup; nothing to insert
    assert set(SpecChunk.objects.values_list("digest", flat=True)) == {
        *order,
        bodies.digest("z" * 10),
    }


def test_texts__cache_bound__oldest_chunks_read_again(project, settings):
    # Given: room for two chunks of 400,000 characters
    settings.GATEHOUSE_SPEC_CHUNK_CACHE_MB = 1
    a, b, c = (_stored(project, letter * 400_000) for letter in "abc")
    for body in (a, b, c):
        bodies.text(body)  # c evicts a, the least recently read
    # When
    with CaptureQueriesContext(connection) as held:
        assert bodies.texts([b, c]) == ["b" * 400_000, "c" * 400_000]
    with CaptureQueriesContext(connection) as evicted:
        assert bodies.text(a) == "a" * 400_000
    # Then
    assert (len(held), len(evicted)) == (0, 1)


def test_text__chunk_missing__raises(project):
    # Given
    order = _stored(project, "kept")
    # When / Then
    with pytest.raises(bodies.ChunkMissing):
        bodies.text([*order, bodies.digest("never stored")])
    assert bodies.text([]) == ""


def test_environment_delete__chunks_only_it_listed__deleted(
    project, project_admin, make_gate, site_admin
):
    """Its specs go with a deleted environment, and so do the chunks no other spec of the
    project lists (each environment's top-level text names its tier); every other chunk,
    and another project's copy of the same text, stays."""
    # Given
    from console.models import ConfigSpec, Environment
    from console.publishing.services import spec_publish
    from console.services import environment_delete, project_create

    other_project = project_create(actor=site_admin, name="Other", slug="other")
    make_gate()
    spec_publish(actor=project_admin, project=project)
    staging = Environment.objects.get(project=project, name="staging")
    specs = {s.environment_id: s for s in ConfigSpec.objects.filter(environment__project=project)}
    listed = {e: {*s.v1_chunks, *s.v2_chunks} for e, s in specs.items()}
    others = set().union(*(d for e, d in listed.items() if e != staging.pk))
    only_staging = listed[staging.pk] - others
    copied = next(iter(only_staging))
    bodies.store(other_project.pk, {copied: bodies.text([copied])})
    # When
    environment_delete(actor=project_admin, environment=staging)
    # Then
    assert only_staging
    assert set(SpecChunk.objects.filter(project=project).values_list("digest", flat=True)) == (
        others
    )
    assert SpecChunk.objects.filter(project=other_project, digest=copied).exists()
    bodies.cache.clear()
    for spec in ConfigSpec.objects.filter(environment__project=project):
        assert bodies.digest(spec.v1_json) == spec.checksum  # whole, as published
        assert json.loads(spec.v2_json)["time"] == spec.time_ms


@pytest.mark.django_db(transaction=True)
def test_migration_0008__whole_bodies_to_chunks_and_back(project, project_admin, make_gate):
    """console 0008 backward joins each spec's bodies into the columns they had, and
    forward stores each as one chunk: the same bytes either way."""
    from django.db.migrations.executor import MigrationExecutor

    from console.models import ConfigSpec
    from console.publishing.services import spec_publish

    # Given published specs (cut into chunks)
    make_gate()
    spec_publish(actor=project_admin, project=project)
    published = {s.pk: (s.v1_json, s.v2_json) for s in ConfigSpec.objects.all()}
    assert all(len(s.v1_chunks) > 1 for s in ConfigSpec.objects.all())
    # When the console goes back to whole bodies
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate([("console", "0007_configspec_lz4_bodies")])
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, v1_json, v2_json FROM console_configspec")
        whole = {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
    # and forward again
    executor = MigrationExecutor(connection)
    executor.migrate(leaves)
    # Then
    assert whole == published
    bodies.cache.clear()
    specs = list(ConfigSpec.objects.all())
    assert {s.pk: (s.v1_json, s.v2_json) for s in specs} == published
    assert {(len(s.v1_chunks), len(s.v2_chunks)) for s in specs} == {(1, 1)}
