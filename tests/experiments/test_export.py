"""Exports of an experiment's and a holdout's assignments and results (docs/export.md): the
files read back (csv module, pyarrow) against the database and the stored payload; hostile
unit IDs neutralised in CSV and kept in Parquet; assignments streamed through a
server-side cursor a chunk at a time; the pages, the API and the command, with their
permissions and refusals."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.http import StreamingHttpResponse
from django.urls import reverse

from console.publishing.services import spec_publish
from experiments import services as experiment_services
from experiments.models import ExperimentResults
from experiments.results import export
from experiments.results.services import results_compute, results_request
from metrics.models import Exposure
from tests.api_support import api_url_for, assert_error, console_key, key_client
from tests.experiments.factories import holdout_document
from tests.experiments.results_seed import EXPERIMENT, seed_purchases
from tests.metrics.conftest import empty_event_table  # noqa: F401 (a fixture)
from tests.metrics.seed import exposure, gate_check, group_rules, store

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_event_table")]

api_url = api_url_for("experiments-api")
HOSTILE = ['=HYPERLINK("http://evil.example","x")', "+1+2", "-3+cmd|' /C calc'!A0", "@SUM(A1)"]
ODD = 'comma, "quote"\nand a new line'


@pytest.fixture
def production(project):
    return project.environments.get(name="production")


@pytest.fixture
def exposed(measured, production, site_admin):
    """600 units bought, four hostile unit IDs and one odd one in Test, results computed."""
    seed_purchases(production)
    rules = group_rules(production, EXPERIMENT)
    store(production, [exposure(EXPERIMENT, rules["Test"], unit) for unit in [*HOSTILE, ODD]])
    computed = results_compute(
        results_request(actor=site_admin, experiment=measured, environment=production).pk
    )
    assert computed is not None
    assert computed.state == "done", computed.error
    return computed


def _db_assignments(production) -> dict[str, tuple]:
    rows = Exposure.objects.filter(environment=production, kind="config", name=EXPERIMENT)
    return {
        e.unit_id: (e.group_name, e.rule_id, e.first_at, e.count, e.crossover, e.is_bot)
        for e in rows
    }


def _subject(production, measured) -> export.Subject:
    return export.Subject.of(production, experiment=measured)


def _bytes(subject: export.Subject, table: str, fmt: str) -> bytes:
    return b"".join(export.export_chunks(subject, table, fmt))


def test_assignments_csv__one_row_per_units_first_exposure__as_stored(
    production, measured, exposed
):
    # Given 605 exposed units
    stored = _db_assignments(production)

    # When the assignments are exported as CSV
    raw = _bytes(_subject(production, measured), "assignments", "csv")

    # Then the file is RFC 4180 (CRLF), with a header and a row per unit, as stored
    assert raw.startswith(b"project,environment,entity,experiment,unit_type,unit_id,group,")
    assert b"\r\n" in raw
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert len(rows) == len(stored) == 605
    plain = {r["unit_id"]: r for r in rows if r["unit_id"].startswith("u")}
    for unit, (group, rule_id, first_at, count, crossover, bot) in stored.items():
        if unit not in plain:
            continue
        row = plain[unit]
        assert (row["group"], row["rule_id"], row["exposures"]) == (group, rule_id, str(count))
        assert dt.datetime.fromisoformat(row["first_exposure_at"]) == first_at
        assert (row["crossover"], row["bot"]) == (str(crossover).lower(), str(bot).lower())
        assert (row["project"], row["environment"], row["entity"], row["experiment"]) == (
            "payments",
            "production",
            "experiment",
            EXPERIMENT,
        )
    assert len(plain) == 600
    firsts = [r["first_exposure_at"] for r in rows]
    assert firsts == sorted(firsts)  # oldest first


def test_assignments_parquet__typed_columns__same_rows_as_the_database(
    production, measured, exposed
):
    # Given
    stored = _db_assignments(production)

    # When
    table = pq.read_table(
        io.BytesIO(_bytes(_subject(production, measured), "assignments", "parquet"))
    )

    # Then timestamps are UTC timestamps, counts int64, flags booleans; the rows are stored's
    assert table.schema.field("first_exposure_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("exposures").type == pa.int64()
    assert table.schema.field("crossover").type == pa.bool_()
    got = {
        r["unit_id"]: (
            r["group"],
            r["rule_id"],
            r["first_exposure_at"],
            r["exposures"],
            r["crossover"],
            r["bot"],
        )
        for r in table.to_pylist()
    }
    assert got == stored


def test_results__a_row_per_metric_and_group__the_stored_comparison(production, measured, exposed):
    # Given the stored payload's one metric
    (metric,) = exposed.payload["metrics"]
    (comparison,) = metric["comparisons"]
    subject = _subject(production, measured)

    # When the results are exported both ways
    from_csv = list(csv.DictReader(io.StringIO(_bytes(subject, "results", "csv").decode())))
    from_parquet = pq.read_table(io.BytesIO(_bytes(subject, "results", "parquet")))

    # Then Control's row has its units and mean, Test's the comparison, in both files
    assert from_parquet.schema.field("units").type == pa.int64()
    assert from_parquet.schema.field("relative_change").type == pa.float64()
    assert from_parquet.schema.field("computed_at").type == pa.timestamp("us", tz="UTC")
    control, test = from_parquet.to_pylist()
    assert (control["group"], control["is_control"], test["group"]) == ("Control", True, "Test")
    assert control["units"] == metric["groups"][0]["units"] == 300
    assert control["relative_change"] is None
    assert test["units"] == metric["groups"][1]["units"]
    assert test["mean"] == comparison["treatment_mean"]
    assert test["control_mean"] == comparison["control_mean"]
    assert test["relative_change"] == comparison["relative"]["estimate"]
    assert [test["relative_low"], test["relative_high"]] == comparison["relative"]["interval"]
    assert [test["absolute_low"], test["absolute_high"]] == comparison["absolute"]["interval"]
    assert test["p_value"] == comparison["p_value"]
    assert test["sequential"] is True  # mSPRT bounds: the target date is far
    assert test["cuped"] is comparison["cuped"]["applied"]
    assert test["computed_at"] == dt.datetime.fromisoformat(exposed.payload["computedAt"])
    assert [r["group"] for r in from_csv] == ["Control", "Test"]
    assert float(from_csv[1]["relative_change"]) == comparison["relative"]["estimate"]
    assert float(from_csv[1]["p_value"]) == comparison["p_value"]
    assert from_csv[1]["sequential"] == "true"


def test_results__none_computed__the_header_alone(production, measured):
    # When nothing was computed yet
    raw = _bytes(_subject(production, measured), "results", "csv")
    table = pq.read_table(io.BytesIO(_bytes(_subject(production, measured), "results", "parquet")))

    # Then the files hold the columns and no row
    assert raw.decode().strip() == ",".join(export.RESULTS.names)
    assert table.num_rows == 0
    assert table.schema == export.RESULTS


def test_hostile_unit_ids__csv_neutralised__parquet_kept(production, measured, exposed):
    # When
    subject = _subject(production, measured)
    from_csv = list(csv.DictReader(io.StringIO(_bytes(subject, "assignments", "csv").decode())))
    parquet = pq.read_table(io.BytesIO(_bytes(subject, "assignments", "parquet")))

    # Then a cell a spreadsheet would run is text in CSV; the odd one survives quoting
    ids = {r["unit_id"] for r in from_csv}
    assert {"'" + h for h in HOSTILE} <= ids
    assert not ids & set(HOSTILE)
    assert ODD in ids
    assert set(HOSTILE) | {ODD} <= set(parquet.column("unit_id").to_pylist())


def test_csv_cell__numbers_stay_numbers__texts_that_lead_with_a_formula_sign_do_not():
    assert export.csv_cell(-1.5) == -1.5
    assert export.csv_cell("-1.5") == "'-1.5"
    assert export.csv_cell("\t=1") == "'\t=1"
    assert export.csv_cell("plain") == "plain"
    assert export.csv_cell(None) == ""


def test_assignments__streamed_through_a_server_side_cursor_chunk_by_chunk(
    client, production, measured, exposed, project_viewer, monkeypatch
):
    # Given chunks of 100 rows (5,000 in production)
    monkeypatch.setattr(export, "CHUNK_ROWS", 100)
    client.force_login(project_viewer)
    url = reverse("experiment-export", args=["payments", measured.pk, "assignments", "csv"])

    # When a viewer downloads the assignments and the first chunks are read
    response = client.get(url, {"env": "production"})
    chunks = iter(response.streaming_content)
    first = [next(chunks) for _ in range(3)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_cursors WHERE name LIKE '_django_curs_%%'")
        (open_cursors,) = cursor.fetchone()
    rest = list(chunks)

    # Then it is a stream read from a server-side cursor, 100 rows per chunk (memory is
    # bounded by the chunk, not the experiment's size)
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "checkout_button-production-assignments.csv" in response["Content-Disposition"]
    assert open_cursors == 1
    assert [c.count(b"\r\n") for c in first] == [1, 100, 100]  # the header, then chunks
    assert len(rest) == 5
    assert sum(c.count(b"\r\n") for c in rest) == 405
    text = b"".join(first + rest).decode()
    assert len(list(csv.DictReader(io.StringIO(text)))) == 605


def test_parquet__a_row_group_per_chunk(production, measured, exposed, monkeypatch):
    # Given
    monkeypatch.setattr(export, "CHUNK_ROWS", 100)

    # When
    chunks = list(export.export_chunks(_subject(production, measured), "assignments", "parquet"))

    # Then each row group went out as it was written, the footer last
    parquet = pq.ParquetFile(io.BytesIO(b"".join(chunks)))
    assert parquet.metadata.num_row_groups == 7
    assert parquet.metadata.num_rows == 605
    assert len(chunks) == 7


def test_pages__viewer_downloads__outsider_refused__unknown_table_404(
    client, production, measured, exposed, project_viewer, outsider
):
    # Given
    url = reverse("experiment-export", args=["payments", measured.pk, "results", "parquet"])
    bad = reverse("experiment-export", args=["payments", measured.pk, "events", "csv"])

    # When
    client.force_login(project_viewer)
    ok = client.get(url, {"env": "production"})
    unknown = client.get(bad, {"env": "production"})
    client.force_login(outsider)
    refused = client.get(url, {"env": "production"})

    # Then
    assert ok.status_code == 200
    assert ok["Content-Type"] == "application/vnd.apache.parquet"
    assert pq.read_table(io.BytesIO(b"".join(ok.streaming_content))).num_rows == 2
    assert unknown.status_code == 404
    assert refused.status_code == 403  # not a member: the page to ask to join
    assert not isinstance(refused, StreamingHttpResponse)


def test_results_csv_link__the_results_export(
    client, production, measured, exposed, project_viewer
):
    # When the scorecard's CSV (no breakdown) is downloaded
    client.force_login(project_viewer)
    response = client.get(
        reverse("experiment-results-csv", args=["payments", measured.pk]), {"env": "production"}
    )

    # Then it is the results export
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["group"] for r in rows] == ["Control", "Test"]


def test_api__viewer_key_downloads_both__refusals_are_json(
    production, measured, exposed, project, site_admin, project_viewer, outsider
):
    # Given a viewer's key
    client = key_client(console_key(site_admin, project, "viewer"))

    # When
    assignments = client.get(
        api_url("api-experiment-export-assignments", EXPERIMENT, environment="production")
    )
    results = client.get(
        api_url(
            "api-experiment-export-results", EXPERIMENT, environment="production", format="parquet"
        )
    )
    bad_format = client.get(api_url("api-experiment-export-results", EXPERIMENT, format="xlsx"))
    bad_environment = client.get(
        api_url("api-experiment-export-results", EXPERIMENT, environment="nope")
    )
    missing = client.get(api_url("api-experiment-export-results", "nope"))

    # Then
    assert assignments.status_code == 200
    assert assignments["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(b"".join(assignments.streaming_content).decode())))
    assert len(rows) == 605
    assert results.status_code == 200
    table = pq.read_table(io.BytesIO(b"".join(results.streaming_content)))
    assert table.column("group").to_pylist() == ["Control", "Test"]
    assert_error(bad_format, 400, "invalid", "format")
    assert_error(bad_environment, 400, "unknown_environment")
    assert_error(missing, 404)


def test_holdout__checks_and_results_exported(
    client, project, production, site_admin, project_viewer
):
    # Given a holdout two units were checked against, one held out, its results computed
    holdout = experiment_services.holdout_create(
        actor=site_admin, project=project, document=holdout_document("q3_holdout")
    )
    spec_publish(actor=None, project=project)
    store(production, [gate_check("q3_holdout", "h1", True), gate_check("q3_holdout", "h2", False)])
    results_compute(results_request(actor=site_admin, holdout=holdout, environment=production).pk)
    client.force_login(project_viewer)

    # When
    page = client.get(
        reverse("holdout-export", args=["payments", holdout.pk, "assignments", "csv"]),
        {"env": "production"},
    )
    api = key_client(console_key(site_admin, project, "viewer")).get(
        api_url("api-holdout-export-results", "q3_holdout", format="parquet")
    )

    # Then
    rows = list(csv.DictReader(io.StringIO(b"".join(page.streaming_content).decode())))
    assert {(r["unit_id"], r["group"], r["entity"]) for r in rows} == {
        ("h1", "pass", "holdout"),
        ("h2", "fail", "holdout"),
    }
    assert api.status_code == 200
    assert pq.read_table(io.BytesIO(b"".join(api.streaming_content))).schema == export.RESULTS
    text = io.StringIO()
    call_command("experiment_export", "payments", "q3_holdout", "--holdout", stdout=text)
    assert sorted(r["unit_id"] for r in csv.DictReader(io.StringIO(text.getvalue()))) == [
        "h1",
        "h2",
    ]


def test_command__writes_the_file__refuses_clearly(tmp_path, production, measured, exposed):
    # When
    output = tmp_path / "out" / "assignments.parquet"
    call_command(
        "experiment_export", "payments", EXPERIMENT, "--format", "parquet", "--output", str(output)
    )
    text = io.StringIO()
    call_command("experiment_export", "payments", EXPERIMENT, "--table", "results", stdout=text)

    # Then
    assert pq.read_table(output).num_rows == 605
    assert [r["group"] for r in csv.DictReader(io.StringIO(text.getvalue()))] == ["Control", "Test"]
    for args, message in (
        (["nope", EXPERIMENT], "no active project"),
        (["payments", "nope"], "no experiment named"),
        (["payments", EXPERIMENT, "--environment", "moon"], "no environment named"),
        (["payments", EXPERIMENT, "--format", "parquet"], "Parquet is binary"),
    ):
        with pytest.raises(CommandError, match=message):
            call_command("experiment_export", *args, stdout=io.StringIO())
    assert ExperimentResults.objects.count() == 1  # exports change nothing


def test_results__a_metric_without_data__one_row_with_its_message(production, measured):
    # Given a payload whose metric the catalog lost
    payload = {
        "computedAt": "2026-12-01T10:00:00+00:00",
        "range": {"start": "2026-11-01T00:00:00+00:00", "end": "2026-12-01T10:00:00+00:00"},
        "metrics": [
            {
                "id": "gone::sum",
                "name": "gone",
                "type": "sum",
                "role": "secondary",
                "groups": [],
                "message": "This metric is no longer in the catalog.",
            }
        ],
    }

    # When its rows are written as Parquet
    rows = export.payload_rows(_subject(production, measured), payload)
    table = pq.read_table(io.BytesIO(b"".join(export.parquet_chunks(export.RESULTS, rows))))

    # Then one row names the metric and says why, its numbers empty
    (row,) = table.to_pylist()
    assert (row["metric_id"], row["group"], row["units"]) == ("gone::sum", None, None)
    assert row["message"] == "This metric is no longer in the catalog."
    assert row["range_start"] == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
