"""The results bench's copy of PostgreSQL's data into ClickHouse (bench/results_refresh.py's
COPY of the contract's columns, bench/results_clickhouse.py's INSERT ... FROM file): the
rows ClickHouse holds are the contract's, so the bench compares the engines on the same
data."""

import datetime as dt
import json

from django.db import connection

from bench.results_clickhouse import EVENTS, EXPOSURES, insert_from_file
from bench.results_refresh import CLICKHOUSE_EVENTS, CLICKHOUSE_EXPOSURES, _export
from metrics import partitions
from metrics.clickhouse import EVENT_COLUMNS, EXPOSURE_COLUMNS, event_row

AT = dt.datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=dt.UTC)


def _load(ch, tmp_path, sql: str, table: str, columns) -> None:
    path = tmp_path / f"{table}.tsv"
    with connection.cursor() as cursor:
        _export(cursor.cursor, sql, path, "text")
    ch.command(insert_from_file(table, columns, str(path)))


def test_exported_events_load_as_the_contracts_rows(db, ch, tmp_path):
    # Given two events stored in PostgreSQL: one with JSON of every kind (numbers, nulls,
    # nested objects, user.custom, texts with tabs, backslashes and quotes), one with
    # every nullable column null
    partitions.ensure_partition(AT.date())
    full = {
        "id": 2**63 - 1,
        "received_at": AT,
        "environment_id": 7,
        "time": AT - dt.timedelta(milliseconds=1),
        "client_time": 1_772_600_767_890,
        "event_name": "purchase",
        "user_id": "u\t1",
        "stable_id": "s\\1",
        "custom_ids": {"companyID": "c-9"},
        "value_text": "12.5",
        "value_num": 0.1 + 0.2,
        "metadata": {"plan": 'p"ro\\', "seats": 3, "ratio": 1e-7, "none": None, "é": [1, {}]},
        "user": {"userID": "u-1", "custom": {"tier": "gold", "age": 41, "gone": None}},
        "secondary_exposures": [{"gate": "g", "gateValue": "true", "ruleID": "r"}],
        "sdk_type": "py",
        "sdk_version": "1.0",
        "is_bot": False,
    }
    empty = {
        **full,
        "id": 2**63 - 2,
        "client_time": None,
        "custom_ids": {},
        "value_text": None,
        "value_num": None,
        "metadata": None,
        "user": None,
        "secondary_exposures": None,
        "is_bot": True,
    }
    json_columns = ("custom_ids", "metadata", "user", "secondary_exposures")
    names = ", ".join(f'"{c}"' for c in full)
    with connection.cursor() as cursor:
        for event in (full, empty):
            cursor.execute(
                f"INSERT INTO metrics_event ({names}) OVERRIDING SYSTEM VALUE "
                f"VALUES ({', '.join(['%s'] * len(event))})",
                [
                    json.dumps(v) if k in json_columns and v is not None else v
                    for k, v in event.items()
                ],
            )
    # When the bench exports them and loads the file into ClickHouse
    _load(ch, tmp_path, CLICKHOUSE_EVENTS, "events", EVENTS)
    # Then ClickHouse holds the contract's rows for them (maps of `->>` texts)
    # (its own rows: a real SDK's late batch may have reached the table meanwhile)
    rows = ch.query(
        f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE id >= {2**63 - 2} ORDER BY id"
    )
    assert rows == [event_row(**empty), event_row(**full)]


def test_exported_exposures_load_as_the_contracts_rows(db, ch, tmp_path):
    # Given a unit's first exposure in PostgreSQL, a crossover bot with user dimensions
    values = (7, "config", "exp", "userID", "u'1", "r", "B", AT, AT + dt.timedelta(hours=1))
    values += (3, True, True, "FR", "Firefox", "Linux", json.dumps({"tier": "gold"}))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO metrics_exposure ({', '.join(EXPOSURE_COLUMNS)}) "
            f"VALUES ({', '.join(['%s'] * len(values))})",
            values,
        )
    # When the bench exports it and loads the file into ClickHouse
    _load(ch, tmp_path, CLICKHOUSE_EXPOSURES, "exposures", EXPOSURES)
    # Then ClickHouse holds the same row, its custom dimensions as a map
    rows = ch.query(f"SELECT {', '.join(EXPOSURE_COLUMNS)} FROM exposures WHERE unit_id = 'u\\'1'")
    assert rows == [(*values[:-1], {"tier": "gold"})]
