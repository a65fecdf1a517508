"""Spec bodies stored as content-addressed chunks (console.models.SpecChunk).

A ConfigSpec holds the digests of its v1 and v2 bodies' chunks, in order
(`v1_chunks`, `v2_chunks`); each chunk is stored once per project, whichever of its
versions and environments hold it. The builder cuts the bodies where the content says
(console.specs.incremental, `Segments`), so a change to one entity changes one chunk of
each body: a publish after one gate changed on a 10,000-gate project stores 88,333
characters, not its three environments' whole bodies again (81 million; bench/spec_scale.py).
Chunks are never changed, nor deleted while a spec lists them.

    chunk_rows(texts) -> list of digests, and {digest: text}    (what a spec will list)
    store(project_id, chunks)   insert those the project lacks (the caller's transaction,
                                which holds the project's row lock)
    forget_unlisted(project_id) delete the project's chunks no spec of it lists (under
                                the project's row lock: an environment deleted)
    text(digests) -> str     one body;  texts([digests, ...]) -> [str, ...]  several
                             (a process keeps the chunks it read: an LRU of
                             GATEHOUSE_SPEC_CHUNK_CACHE_MB, by characters)
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence

import psycopg
from django.conf import settings
from django.db import connection

from console.models import ConfigSpec, Environment, SpecChunk


class ChunkMissing(LookupError):
    """A spec lists a chunk that is not stored (the database lost rows)."""


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def chunk_rows(texts: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """The digests of `texts` in order, and each distinct chunk by digest."""
    order: list[str] = []
    chunks: dict[str, str] = {}
    for piece in texts:
        key = digest(piece)
        order.append(key)
        chunks[key] = piece
    return order, chunks


def store(project_id: int, chunks: dict[str, str]) -> None:
    """Insert the chunks the project does not hold yet, in the caller's transaction. The
    bodies are bound server-side (a psycopg cursor of the same connection): the console's
    cursors quote parameters into the SQL text in Python, several times the database's
    own work for megabytes."""
    if not chunks:
        return
    table = SpecChunk._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT digest FROM {table} WHERE digest = ANY(%s) AND project_id = %s",
            [list(chunks), project_id],
        )
        stored = {row[0] for row in cursor.fetchall()}
    missing = [(project_id, key, body) for key, body in chunks.items() if key not in stored]
    if not missing:
        return
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.executemany(
            f"INSERT INTO {table} (project_id, digest, body) VALUES (%s, %s, %s)"
            " ON CONFLICT (digest, project_id) DO NOTHING",
            missing,
        )


def forget_unlisted(project_id: int) -> int:
    """Delete the project's chunks that none of its specs lists; how many. The caller holds
    the project's row lock, as every publish of it does, so no publish can be about to
    list one of them."""
    table = SpecChunk._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            # NOT EXISTS, not NOT IN: an anti-join, which spills to disk for a long
            # history where NOT IN would compare every chunk with every listed digest.
            f"""WITH listed AS (
                SELECT unnest(spec.v1_chunks || spec.v2_chunks) AS digest
                FROM {ConfigSpec._meta.db_table} AS spec
                JOIN {Environment._meta.db_table} AS environment
                    ON environment.id = spec.environment_id
                WHERE environment.project_id = %s)
            DELETE FROM {table} AS chunk WHERE chunk.project_id = %s
                AND NOT EXISTS (SELECT 1 FROM listed WHERE listed.digest = chunk.digest)""",
            [project_id, project_id],
        )
        return cursor.rowcount


class _Cache:
    """A thread-safe LRU of chunks by digest, bounded by their characters. Chunks never
    change, so whatever it holds is right."""

    def __init__(self) -> None:
        self._chunks: OrderedDict[str, str] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        found = {}
        with self._lock:
            for key in keys:
                body = self._chunks.get(key)
                if body is not None:
                    self._chunks.move_to_end(key)
                    found[key] = body
        return found

    def put_many(self, chunks: dict[str, str]) -> None:
        limit = settings.GATEHOUSE_SPEC_CHUNK_CACHE_MB * 1_000_000
        with self._lock:
            for key, body in chunks.items():
                if len(body) > limit or key in self._chunks:
                    continue
                self._chunks[key] = body
                self._size += len(body)
            while self._size > limit:
                _key, body = self._chunks.popitem(last=False)
                self._size -= len(body)

    def clear(self) -> None:
        with self._lock:
            self._chunks.clear()
            self._size = 0


cache = _Cache()


def texts(lists: Sequence[Sequence[str]]) -> list[str]:
    """The bodies made of each list of chunk digests (one query for the chunks this
    process does not hold). Raises ChunkMissing."""
    wanted = {key for keys in lists for key in keys}
    found = cache.get_many(wanted)
    missing = wanted - found.keys()
    if missing:
        # By digest alone: every project's copy of a digest is the same text.
        read = dict(
            SpecChunk.objects.filter(digest__in=missing)
            .order_by("digest")
            .distinct("digest")
            .values_list("digest", "body")
        )
        if len(read) != len(missing):
            raise ChunkMissing(f"Spec chunks are missing: {sorted(missing - read.keys())[:3]}")
        cache.put_many(read)
        found.update(read)
    return ["".join([found[key] for key in keys]) for keys in lists]


def text(digests: Sequence[str]) -> str:
    return texts([digests])[0]
