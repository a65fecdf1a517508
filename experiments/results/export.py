"""Exports of an experiment's or a holdout's data in one environment (docs/export.md): its
assignments (each unit's first exposure, from metrics_exposure) and its newest results (a
row per metric and group, from the stored payload), as CSV or Parquet.

Assignments can be millions of rows: they are read through a server-side cursor a chunk at
a time and written as they come (CSV lines, Parquet row groups), so a download or a file
never holds more than one chunk in memory. The same rows feed the warehouse export
(experiments/results/warehouse.py).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from console.exceptions import DomainError
from console.models import Environment
from experiments.models import Experiment, Holdout
from experiments.results.selectors import latest_results
from metrics.models import Exposure, ExposureKind

# Rows read from the database, and written as one CSV chunk or Parquet row group, at a time.
CHUNK_ROWS = 5000

TABLES = ("assignments", "results")
FORMATS = ("csv", "parquet")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}

_TEXT, _INT, _FLOAT, _BOOL = pa.string(), pa.int64(), pa.float64(), pa.bool_()
_TIME = pa.timestamp("us", tz="UTC")

ASSIGNMENTS = pa.schema(
    [
        ("project", _TEXT),
        ("environment", _TEXT),
        ("entity", _TEXT),
        ("experiment", _TEXT),
        ("unit_type", _TEXT),
        ("unit_id", _TEXT),
        ("group", _TEXT),
        ("rule_id", _TEXT),
        ("first_exposure_at", _TIME),
        ("last_exposure_at", _TIME),
        ("exposures", _INT),
        ("crossover", _BOOL),
        ("bot", _BOOL),
        ("country", _TEXT),
        ("browser", _TEXT),
        ("os", _TEXT),
    ]
)

RESULTS = pa.schema(
    [
        ("project", _TEXT),
        ("environment", _TEXT),
        ("entity", _TEXT),
        ("experiment", _TEXT),
        ("computed_at", _TIME),
        ("range_start", _TIME),
        ("range_end", _TIME),
        ("metric_id", _TEXT),
        ("metric", _TEXT),
        ("metric_type", _TEXT),
        ("role", _TEXT),
        ("group", _TEXT),
        ("is_control", _BOOL),
        ("units", _INT),
        ("mean", _FLOAT),
        ("control_units", _INT),
        ("control_mean", _FLOAT),
        ("absolute_change", _FLOAT),
        ("absolute_low", _FLOAT),
        ("absolute_high", _FLOAT),
        ("relative_change", _FLOAT),
        ("relative_low", _FLOAT),
        ("relative_high", _FLOAT),
        ("p_value", _FLOAT),
        ("adjusted_p_value", _FLOAT),
        ("alpha", _FLOAT),
        ("significant", _BOOL),
        ("test", _TEXT),
        ("sequential", _BOOL),
        ("cuped", _BOOL),
        ("chance_to_beat", _FLOAT),
        ("message", _TEXT),
    ]
)

SCHEMAS = {"assignments": ASSIGNMENTS, "results": RESULTS}


@dataclass(frozen=True)
class Subject:
    """What is exported: an experiment (its config exposures) or a holdout (its checks,
    exposures to its gate), in one environment."""

    entity: str  # "experiment" or "holdout"
    name: str
    exposure_kind: str
    experiment: Experiment | None
    holdout: Holdout | None
    environment: Environment

    @classmethod
    def of(
        cls,
        environment: Environment,
        *,
        experiment: Experiment | None = None,
        holdout: Holdout | None = None,
    ) -> Subject:
        if experiment is not None:
            return cls(
                "experiment", experiment.name, ExposureKind.CONFIG, experiment, None, environment
            )
        if holdout is not None:
            return cls("holdout", holdout.name, ExposureKind.GATE, None, holdout, environment)
        raise ValueError("an export of an experiment or a holdout")

    @property
    def lead(self) -> tuple[str, str, str, str]:
        """The columns every row starts with: project, environment, entity, name."""
        return (self.environment.project.slug, self.environment.name, self.entity, self.name)

    def file_name(self, table: str, fmt: str) -> str:
        return _safe_name(f"{self.name}-{self.environment.name}-{table}.{fmt}")


def check_choice(table: str, fmt: str) -> None:
    """A clear refusal of an unknown table or format (field `table` or `format`)."""
    if table not in TABLES:
        raise DomainError("The export is assignments or results.", code="invalid", field="table")
    if fmt not in FORMATS:
        raise DomainError("The format is csv or parquet.", code="invalid", field="format")


def assignment_rows(subject: Subject) -> Iterator[tuple]:
    """Each unit's first exposure, oldest first (the exposures' (environment, kind, name,
    first_at) index gives that order), through a server-side cursor CHUNK_ROWS at a time."""
    rows = (
        Exposure.objects.filter(
            environment_id=subject.environment.pk, kind=subject.exposure_kind, name=subject.name
        )
        .order_by("first_at", "id")
        .values_list(
            "unit_type",
            "unit_id",
            "group_name",
            "rule_id",
            "first_at",
            "last_at",
            "count",
            "crossover",
            "is_bot",
            "country",
            "browser",
            "os",
        )
    )
    lead = subject.lead
    for row in rows.iterator(chunk_size=CHUNK_ROWS):
        yield (*lead, *row)


def result_rows(subject: Subject) -> list[tuple]:
    """The newest finished results: a row per metric and group, the comparison with control
    on each test group's row (a metric without groups gets one row saying why)."""
    latest = latest_results(
        subject.environment, experiment=subject.experiment, holdout=subject.holdout
    )
    return payload_rows(subject, latest.payload)


def payload_rows(subject: Subject, payload: dict[str, Any]) -> list[tuple]:
    lead = (
        *subject.lead,
        _when(payload.get("computedAt")),
        _when((payload.get("range") or {}).get("start")),
        _when((payload.get("range") or {}).get("end")),
    )
    rows: list[tuple] = []
    for metric in payload.get("metrics") or []:
        head = (metric["id"], metric["name"], metric["type"], metric["role"])
        groups = metric.get("groups") or []
        if not groups:
            message = metric.get("message") or "No data for this metric yet."
            blanks = [None] * (len(RESULTS) - len(lead) - len(head) - 1)
            rows.append((*lead, *head, *blanks, message))
            continue
        control = groups[0]
        by_group = {c["group"]: c for c in metric.get("comparisons") or []}
        for at, group in enumerate(groups):
            rows.append(
                (
                    *lead,
                    *head,
                    group["name"],
                    at == 0,
                    group.get("units"),
                    group.get("mean"),
                    *_comparison(control, by_group.get(group["name"]) if at else None),
                )
            )
    return rows


# The results' columns from control_units to message.
_COMPARED = len(RESULTS) - RESULTS.get_field_index("control_units")


def _comparison(control: dict[str, Any], c: dict[str, Any] | None) -> tuple:
    """control_units … message of one test group's row (control's: its own units only)."""
    if c is None:
        return (control.get("units"), control.get("mean"), *([None] * (_COMPARED - 2)))
    absolute, relative = c.get("absolute") or {}, c.get("relative") or {}
    method = c.get("method") or {}
    a_low, a_high = absolute.get("interval") or (None, None)
    r_low, r_high = relative.get("interval") or (None, None)
    return (
        control.get("units"),
        control.get("mean"),
        absolute.get("estimate"),
        a_low,
        a_high,
        relative.get("estimate"),
        r_low,
        r_high,
        c.get("p_value"),
        c.get("adjusted_p_value"),
        c.get("alpha"),
        bool(c.get("significant")),
        method.get("test"),
        method.get("sequential") is not None if method else None,
        bool((c.get("cuped") or {}).get("applied")),
        (c.get("bayesian") or {}).get("chance_to_beat_control"),
        c.get("message"),
    )


def _when(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value).astimezone(dt.UTC) if value else None


def _safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)[:150]


# ------------------------------------------------------------------------------ writing


# A spreadsheet runs a text cell that starts with one of these as a formula (CSV injection,
# OWASP): such a cell gets a leading apostrophe, which spreadsheets show as text.
_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """`value` as a CSV cell: times in ISO 8601 (UTC), None empty, texts that a spreadsheet
    would run as a formula neutralised. Numbers stay numbers (-1.5 is no formula)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_LEADS):
        return "'" + value
    return value


class _Lines:
    """A file that hands back what the csv module writes to it."""

    def write(self, text: str) -> str:
        return text


def csv_chunks(schema: pa.Schema, rows: Iterable[tuple]) -> Iterator[bytes]:
    """RFC 4180 CSV (CRLF line ends, quotes doubled), UTF-8, with a header: one chunk of
    bytes per CHUNK_ROWS rows."""
    writer = csv.writer(_Lines())
    yield writer.writerow(schema.names).encode()
    lines: list[str] = []
    for row in rows:
        lines.append(writer.writerow([csv_cell(v) for v in row]))
        if len(lines) >= CHUNK_ROWS:
            yield "".join(lines).encode()
            lines = []
    if lines:
        yield "".join(lines).encode()


class _Sink(io.RawIOBase):
    """The bytes pyarrow's Parquet writer writes, taken out as they come."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        chunk = bytes(data)
        self.parts.append(chunk)
        self.position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.position

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


def parquet_chunks(schema: pa.Schema, rows: Iterable[tuple]) -> Iterator[bytes]:
    """A Parquet file with typed columns (UTC timestamps, int64 counts, float64 numbers),
    one row group per CHUNK_ROWS rows, given back as each row group is written."""
    sink = _Sink()
    writer = pq.ParquetWriter(pa.PythonFile(sink, mode="w"), schema, compression="zstd")
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= CHUNK_ROWS:
            writer.write_batch(_batch(schema, batch))
            batch = []
            yield sink.take()
    if batch:
        writer.write_batch(_batch(schema, batch))
    writer.close()
    yield sink.take()


def _batch(schema: pa.Schema, rows: list[tuple]) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.RecordBatch.from_arrays(
        [pa.array(list(values), type=f.type) for values, f in zip(columns, schema, strict=True)],
        schema=schema,
    )


def export_chunks(subject: Subject, table: str, fmt: str) -> Iterator[bytes]:
    """The export as bytes, chunk by chunk (check_choice first)."""
    check_choice(table, fmt)
    rows: Iterable[tuple] = (
        assignment_rows(subject) if table == "assignments" else result_rows(subject)
    )
    write = csv_chunks if fmt == "csv" else parquet_chunks
    return write(SCHEMAS[table], rows)


@dataclass(frozen=True)
class Download:
    """An export as the pages and the API stream it."""

    chunks: Iterator[bytes]
    content_type: str
    file_name: str


def download(subject: Subject, table: str, fmt: str) -> Download:
    chunks = export_chunks(subject, table, fmt)
    return Download(chunks, CONTENT_TYPES[fmt], subject.file_name(table, fmt))
