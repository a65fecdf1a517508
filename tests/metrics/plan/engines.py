"""The same stored rows in both engines: PostgreSQL's metrics_event and metrics_exposure
copied into ClickHouse's `events` and `exposures` with the contract's conversion (each JSON
object a map of the text PostgreSQL's `->>` gives for its keys, JSON nulls left out),
computed by PostgreSQL itself so that the maps are exactly what `->>` reads there.

And the comparison of two PlanResults to a relative 1e-9 (counts exactly)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from typing import Any

from django.db import connection

from console.models import Environment
from metrics.clickhouse import EVENT_COLUMNS, EXPOSURE_COLUMNS, ClickHouse, exposure_row
from metrics.intake import Envelope, Limits, parse_batch
from metrics.models import PendingExposures
from metrics.sdk_views import is_bot
from metrics.services import events_store, exposures_apply


def _text_map(column: str) -> str:
    """SQL: the jsonb `column` (an object or anything else) as {key: `->>` text}."""
    return (
        f"(SELECT coalesce(jsonb_object_agg(k.key, k.value) FILTER (WHERE k.value IS NOT NULL),"
        f" '{{}}'::jsonb) FROM jsonb_each_text(CASE WHEN jsonb_typeof({column}) = 'object' "
        f"THEN {column} ELSE '{{}}'::jsonb END) AS k)"
    )


class Batches:
    """Batches stored through the intake (events_store, then the worker's exposures_apply),
    each batch's pending exposures kept as the `exposures` rows ClickHouse would get: one
    row per unit and batch, folded by the plan."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.exposure_rows: list[tuple[Any, ...]] = []

    def store(self, raws: list[dict[str, Any]], *, user_agent: str = "") -> None:
        received_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        envelope = Envelope(
            environment_id=self.environment.pk, received_ms=received_ms, user_agent=user_agent
        )
        events_store(envelope, parse_batch({"events": raws}, envelope, Limits(), is_bot))
        for pending in PendingExposures.objects.filter(environment=self.environment).order_by("pk"):
            self.exposure_rows += [
                exposure_row(self.environment.pk, u) for u in json.loads(pending.units)
            ]
        exposures_apply()


def copy_to_clickhouse(
    ch: ClickHouse, environment_id: int, exposure_rows: list[tuple[Any, ...]] | None = None
) -> tuple[int, int]:
    """Copy the environment's stored events, and its exposures (metrics_exposure's rows,
    one per unit, or `exposure_rows`); (events, exposures) copied."""
    user, custom = _text_map('e."user"'), _text_map("""e."user" -> 'custom'""")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT e.id, e.received_at, e.environment_id, e.time, e.client_time,
                   e.event_name, e.user_id, e.stable_id, {_text_map("e.custom_ids")},
                   e.value_text, e.value_num, {_text_map("e.metadata")}, {user}, {custom},
                   coalesce(e.secondary_exposures::text, ''), e.sdk_type, e.sdk_version,
                   e.is_bot
            FROM metrics_event e WHERE e.environment_id = %s ORDER BY e.id""",
            [environment_id],
        )
        events = cursor.fetchall()
        cursor.execute(
            f"""SELECT x.environment_id, x.kind, x.name, x.unit_type, x.unit_id, x.rule_id,
                   x.group_name, x.first_at, x.last_at, x.count, x.crossover, x.is_bot,
                   x.country, x.browser, x.os, {_text_map("x.custom")}
            FROM metrics_exposure x WHERE x.environment_id = %s ORDER BY x.id""",
            [environment_id],
        )
        exposures = cursor.fetchall()
    # Django's cursor gives jsonb as its text.
    events = [
        (*r[:8], json.loads(r[8]), *r[9:11], *map(json.loads, r[11:14]), *r[14:]) for r in events
    ]
    exposures = [(*r[:15], json.loads(r[15])) for r in exposures]
    if exposure_rows is not None:
        exposures = exposure_rows
    ch.insert("events", EVENT_COLUMNS, events)
    ch.insert("exposures", EXPOSURE_COLUMNS, exposures)
    return len(events), len(exposures)


def assert_same(a: Any, b: Any, path: str = "", rel: float = 1e-9) -> None:
    """`a` and `b` equal field by field: numbers to a relative `rel` (integers and texts
    exactly), dataclasses, tuples, lists and dicts recursively."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), f"{path}: {type(a)} != {type(b)}"
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}", rel)
    elif isinstance(a, dict):
        assert isinstance(b, dict), path
        assert set(a) == set(b), f"{path}: keys {set(a) ^ set(b)}"
        for key in a:
            assert_same(a[key], b[key], f"{path}[{key!r}]", rel)
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple), path
        assert len(a) == len(b), f"{path}: {a!r} != {b!r}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]", rel)
    elif isinstance(a, float) and not isinstance(b, bool) and isinstance(b, int | float):
        if math.isnan(a):
            assert math.isnan(b), f"{path}: {a} != {b}"
        else:
            assert math.isclose(a, b, rel_tol=rel, abs_tol=1e-12), f"{path}: {a!r} != {b!r}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"
