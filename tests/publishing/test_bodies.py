"""console.publishing.bodies: spec bodies as content-addressed chunks, read once per
process."""

from __future__ import annotations

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


def _stored(*texts: str) -> list[str]:
    order, chunks = bodies.chunk_rows(texts)
    bodies.store(chunks)
    return order


def test_texts__stored_chunks__joined_in_order_and_read_once(db):
    # Given
    first = _stored('{"a":[1', ",2", ",1", "]}")
    second = _stored('{"a":[1', ",3]}")
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


def test_store__chunks_held__sends_only_the_new_ones(db):
    # Given
    order = _stored("x" * 10, "y" * 10)
    # When
    with CaptureQueriesContext(connection) as queries:
        bodies.store(bodies.chunk_rows(["x" * 10, "y" * 10])[1])
    _stored("y" * 10, "z" * 10)
    # Then
    assert len(queries) == 1  # the lookup; nothing to insert
    assert set(SpecChunk.objects.values_list("digest", flat=True)) == {
        *order,
        bodies.digest("z" * 10),
    }


def test_texts__cache_bound__oldest_chunks_read_again(db, settings):
    # Given: room for two chunks of 400,000 characters
    settings.GATEHOUSE_SPEC_CHUNK_CACHE_MB = 1
    a, b, c = (_stored(letter * 400_000) for letter in "abc")
    bodies.texts([a, b])
    bodies.texts([c])  # evicts a, the least recently read
    # When
    with CaptureQueriesContext(connection) as held:
        assert bodies.texts([b, c]) == ["b" * 400_000, "c" * 400_000]
    with CaptureQueriesContext(connection) as evicted:
        assert bodies.text(a) == "a" * 400_000
    # Then
    assert (len(held), len(evicted)) == (0, 1)


def test_text__chunk_missing__raises(db):
    # Given
    order = _stored("kept")
    # When / Then
    with pytest.raises(bodies.ChunkMissing):
        bodies.text([*order, bodies.digest("never stored")])
    assert bodies.text([]) == ""
