"""metrics.clickhouse: the client on the embedded engine (chdb, for real), the server
client's connection settings, and the events' map conversion against PostgreSQL itself."""

import base64
import datetime as dt
import json
import struct
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import orjson
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from metrics import clickhouse as ch_module
from metrics.clickhouse import (
    EVENT_COLUMNS,
    ClickHouseError,
    clickhouse,
    connect_kwargs,
    ensure_schema,
    event_row,
    jsonb_text,
    text_map,
)

AT = dt.datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=dt.UTC)


def _event(**overrides):
    values = {
        "id": 2**64 - 1,
        "received_at": AT,
        "environment_id": 7,
        "time": AT - dt.timedelta(milliseconds=1),
        "client_time": 1_772_600_767_890,
        "event_name": "purchase",
        "user_id": "u-1",
        "stable_id": "",
        "custom_ids": {"companyID": "c-9"},
        "value_text": "12.5",
        "value_num": 0.1 + 0.2,
        "metadata": {"plan": "pro", "seats": 3, "ratio": 1e-7, "none": None},
        "user": {"userID": "u-1", "custom": {"tier": "gold", "age": 41}},
        "secondary_exposures": [{"gate": "g", "gateValue": "true", "ruleID": "r"}],
        "sdk_type": "py",
        "sdk_version": "1.0",
        "is_bot": False,
    }
    values.update(overrides)
    return event_row(**values)


def test_events_round_trip_with_exact_values(ch):
    # Given two events, one with every nullable column null and an extreme double
    first = _event()
    second = _event(
        id=1,
        client_time=None,
        value_text=None,
        value_num=None,
        metadata=None,
        user=None,
        secondary_exposures=None,
        is_bot=True,
        event_name="view",
    )
    third = _event(id=2, value_num=5e-324, event_name="tiny")
    # When they are inserted and read back
    ch.insert("events", EVENT_COLUMNS, [first, second, third])
    rows = ch.query(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events ORDER BY event_name")
    # Then each comes back as it went in: maps as dicts, times aware UTC, doubles bit-exact
    assert rows == [first, third, second]
    got = {row[5]: row for row in rows}
    assert got["purchase"][3].tzinfo is not None
    assert got["purchase"][1] == AT
    assert got["purchase"][1].utcoffset() == dt.timedelta(0)
    assert struct.pack("d", got["tiny"][10]) == struct.pack("d", 5e-324)
    assert got["purchase"][11] == {"plan": "pro", "seats": "3", "ratio": "0.0000001"}
    assert got["purchase"][13] == {"tier": "gold", "age": "41"}
    assert got["view"][12] == {}
    assert got["view"][14] == ""


def test_parameters_bind_on_the_server_side(ch):
    # Given an event
    ch.insert("events", EVENT_COLUMNS, [_event(user_id='it\'s \\ "é"\n')])
    # When it is found by parameters of several types
    rows = ch.query(
        "SELECT user_id, time FROM events WHERE user_id = {u:String} "
        "AND event_name IN {names:Array(String)} AND time = {t:DateTime64(3, 'UTC')} "
        "AND metadata = {m:Map(String, String)} AND is_bot = {bot:Bool}",
        {
            "u": 'it\'s \\ "é"\n',
            "names": ["purchase", "o'ther"],
            "t": AT - dt.timedelta(milliseconds=1),
            "m": {"plan": "pro", "seats": "3", "ratio": "0.0000001"},
            "bot": False,
        },
    )
    # Then the values are compared as sent (quotes, backslashes, milliseconds kept)
    assert rows == [('it\'s \\ "é"\n', AT - dt.timedelta(milliseconds=1))]
    # And results of other types come back as Python values
    assert ch.query(
        "SELECT toDate('2026-01-02'), [1, 2], CAST(NULL AS Nullable(String)), "
        "toUInt64(18446744073709551615), 1e300"
    ) == [(dt.date(2026, 1, 2), [1, 2], None, 2**64 - 1, 1e300)]
    assert ch.query("SELECT 1 WHERE 0") == []


def test_the_server_client_binds_the_same_parameter_texts_as_chdb():
    from clickhouse_connect.driver.binding import bind_query

    # Given parameters of every kind the readers use
    params = {
        "u": 'it\'s \\ "é"\n\t',
        "names": ["purchase", "o'ther"],
        "t": AT,
        "m": {"k": "v'"},
        "n": 7,
        "bot": False,
    }
    # When clickhouse-connect binds them for the server (its HTTP param_ values)
    query = "SELECT {u:String}, {names:Array(String)}, {t:DateTime64(3, 'UTC')}, "
    query += "{m:Map(String, String)}, {n:UInt8}, {bot:Bool}"
    _, sent = bind_query(query, ch_module._bound(params), dt.UTC)
    # Then it sends exactly the texts chdb is given
    assert sent == {f"param_{k}": str(v) for k, v in ch_module._bound(params).items()}
    assert sent["param_t"] == "2026-03-04 05:06:07.891000"


def test_a_dedupe_token_stores_a_retried_insert_once(ch):
    # Given a batch of exposures inserted with a token
    row = (3, "gate", "g", "userID", "u", "r", "pass", AT, AT, 2, False, False, "", "", "", {})
    columns = ch_module.EXPOSURE_COLUMNS
    ch.insert("exposures", columns, [row], dedupe_token="pending-41")
    # When the same batch is inserted again with the same token, and another with its own
    ch.insert("exposures", columns, [row], dedupe_token="pending-41")
    ch.insert("exposures", columns, [row], dedupe_token="pending-42")
    # Then the retry was stored once and the other batch on its own
    assert ch.query("SELECT count() FROM exposures") == [(2,)]


def test_schema_is_idempotent_and_the_client_is_one_per_process(ch):
    # Given the tables already exist; when the schema is ensured again
    ensure_schema()
    # Then nothing breaks and the same client is handed out
    assert clickhouse() is ch
    tables = ch.query("SELECT name FROM system.tables WHERE database = currentDatabase()")
    assert {"events", "exposures"} <= {name for (name,) in tables}


def test_a_refused_statement_is_a_clickhouse_error(ch):
    # When ClickHouse refuses a statement, then the caller gets ClickHouseError
    with pytest.raises(ClickHouseError, match="UNKNOWN_TABLE|does not exist"):
        ch.query("SELECT * FROM no_such_table")
    with pytest.raises(ClickHouseError):
        ch.insert("events", ("id", "nope"), [(1, 2)])


def test_the_url_gives_the_server_clients_settings():
    # Given URLs of each form; then clickhouse-connect gets host, port, TLS, user, database
    assert connect_kwargs("clickhouse://ana:p%40ss@ch.internal:8123/gatehouse") == {
        "host": "ch.internal",
        "port": 8123,
        "username": "ana",
        "password": "p@ss",
        "database": "gatehouse",
        "secure": False,
        "interface": "http",
    }
    tls = connect_kwargs("clickhouses://ana:x@ch.example.com/events")
    assert (tls["port"], tls["secure"], tls["interface"]) == (8443, True, "https")
    assert connect_kwargs("https://h:9443")["database"] == "default"
    assert connect_kwargs("http://h")["username"] == "default"
    with pytest.raises(ImproperlyConfigured, match="clickhouse://"):
        connect_kwargs("postgres://h/db")


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append(
            {"path": self.path, "headers": dict(self.headers), "body": body.decode("latin-1")}
        )
        self.send_response(500)
        self.send_header("Content-Type", "text/plain")
        message = b"Code: 516. DB::Exception: recorded (AUTHENTICATION_FAILED)"
        self.send_header("Content-Length", str(len(message)))
        self.end_headers()
        self.wfile.write(message)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


def test_the_server_client_sends_the_urls_credentials_and_database(settings):
    # Given an HTTP listener on loopback standing where a ClickHouse server would (no
    # server runs here: it records what clickhouse-connect sends and answers an error)
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings.GATEHOUSE_CLICKHOUSE_URL = (
            f"clickhouse://ana:s%3Acret@127.0.0.1:{server.server_port}/gatehouse"
        )
        # When the process-wide client is asked for
        with pytest.raises(ClickHouseError):
            clickhouse()
    finally:
        server.shutdown()
        server.server_close()
    # Then clickhouse-connect reached that host and port with the user and password (its
    # first request, the server's version, names no database: connect_kwargs's test covers it)
    assert _Recorder.seen
    headers = {k.lower(): v for k, v in _Recorder.seen[0]["headers"].items()}
    assert headers["host"] == f"127.0.0.1:{server.server_port}"
    basic = base64.b64decode(headers["authorization"].removeprefix("Basic ")).decode()
    assert basic == "ana:s:cret"


def test_an_unreachable_server_is_a_clickhouse_error(settings):
    # Given a URL where nothing listens; when the client is asked for, then ClickHouseError
    settings.GATEHOUSE_CLICKHOUSE_URL = "clickhouse://default@127.0.0.1:9/gatehouse"
    with pytest.raises(ClickHouseError, match="cannot be reached"):
        clickhouse()


# ---------------------------------------------------------------- ->> as PostgreSQL says

_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"))
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e300, -1e-300, 5e-324, 1e16, 1.5e-7, 123456.0, -0.0, 0.1 + 0.2])
    | _text
)
_json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)


def _as_stored(value) -> str:
    """The JSON text the intake COPYs (metrics.services: orjson, the standard encoder for
    integers past 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.JSONEncoder(ensure_ascii=False).encode(value)


@hypothesis_settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.dictionaries(_text, _json_values, max_size=6))
def test_maps_hold_what_postgresql_arrow_operator_gives(db, obj):
    # Given a JSON object as the intake stores it in a jsonb column
    stored = _as_stored(obj)
    # When PostgreSQL gives `->>` of each key
    with connection.cursor() as cursor:
        expected = {}
        for key in obj:
            cursor.execute("SELECT %s::jsonb ->> %s", [stored, key])
            (text,) = cursor.fetchone()
            if text is not None:
                expected[key] = text
        cursor.execute("SELECT %s::jsonb::text", [stored])
        (printed,) = cursor.fetchone()
    # Then the map holds the same texts, JSON nulls left out, and the whole prints the same
    assert text_map(obj) == expected
    assert jsonb_text(obj) == printed


def test_a_second_process_on_the_same_path__refused_with_a_sentence(ch, clickhouse_path):
    # Given this test process holds the embedded engine's path
    code = (
        "from metrics.clickhouse import ClickHouseError, Embedded\n"
        "try:\n"
        f"    Embedded({clickhouse_path!r})\n"
        "except ClickHouseError as exc:\n"
        "    print(exc)\n"
    )
    # When another process opens it
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Then it is told why and what to set
    assert "one process per path" in result.stdout, result.stderr[-2000:]
    assert "GATEHOUSE_CLICKHOUSE_URL" in result.stdout
