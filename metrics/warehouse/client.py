"""Talking to a customer's warehouse: read-only sessions with a statement timeout, and every
failure turned into one sentence (docs/warehouse.md).

PostgreSQL and Redshift are both reached with psycopg (Redshift speaks PostgreSQL's
protocol). A session is read-only twice over: `default_transaction_read_only` at startup
(PostgreSQL; Redshift takes no startup options) and every transaction begun READ ONLY,
which both accept. The statement timeout is set per session. The host is resolved once,
checked against the outbound address policy (console.netguard: no private, loopback or
reserved address unless GATEHOUSE_WAREHOUSE_ALLOWED_HOSTS names the host) and connected to
by that address, so a name cannot resolve elsewhere between the check and the connection.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from django.conf import settings
from psycopg import sql as pgsql

from console import netguard
from console.exceptions import DomainError
from console.secretbox import SecretBox, SecretUnreadable
from metrics.warehouse.models import WarehouseConnection, WarehouseKind

logger = logging.getLogger(__name__)

_PASSWORDS = SecretBox(
    salt=b"gatehouse.warehouse",
    info=b"warehouse password encryption v1",
    unreadable="The warehouse password cannot be decrypted (SECRET_KEY changed): enter it again.",
)
MESSAGE_MAX = 300


def encrypt_password(password: str) -> str:
    return _PASSWORDS.encrypt(password)


def password_hint(password: str) -> str:
    return "…" + password[-2:] if len(password) >= 8 else ""


class WarehouseError(DomainError):
    """The warehouse could not be reached or refused a query. `code` says which:
    unreachable, forbidden_address, bad_credentials, timeout, bad_sql, missing_column,
    wrong_type, permission, password_unreadable, warehouse_error."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to connect: a saved connection, or the form's values before saving."""

    kind: str
    host: str
    port: int
    database: str
    user: str
    password: str
    sslmode: str
    statement_timeout_seconds: int

    @classmethod
    def of(cls, connection: WarehouseConnection) -> Target:
        try:
            password = (
                _PASSWORDS.decrypt(connection.password_encrypted)
                if connection.password_encrypted
                else ""
            )
        except SecretUnreadable as exc:
            raise WarehouseError(str(exc), code="password_unreadable", field="password") from exc
        return cls(
            kind=connection.kind,
            host=connection.host,
            port=connection.port,
            database=connection.database,
            user=connection.user,
            password=password,
            sslmode=connection.sslmode,
            statement_timeout_seconds=connection.statement_timeout_seconds,
        )


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:MESSAGE_MAX]


def explain(error: psycopg.Error, target: Target) -> WarehouseError:
    """The sentence for a psycopg error, with a stable code."""
    detail = _first_line(error)
    state = error.sqlstate or ""
    if state == "57014":  # query_canceled
        return WarehouseError(
            f"The warehouse stopped the query after {target.statement_timeout_seconds} s "
            "(the connection's statement timeout).",
            code="timeout",
        )
    if state == "42703":  # undefined_column
        return WarehouseError(f"A column is missing: {detail}", code="missing_column")
    if state == "42501":  # insufficient_privilege
        return WarehouseError(f"The warehouse user may not read this: {detail}", code="permission")
    if state == "25006":  # read_only_sql_transaction
        return WarehouseError(
            "Warehouse queries are read-only: the SQL tried to write.", code="bad_sql"
        )
    if state.startswith("28"):  # invalid authorization specification, invalid password
        return WarehouseError(
            "The warehouse refused the user name or password.", code="bad_credentials"
        )
    if state.startswith(("42", "22")):  # syntax or access rule, data exception
        return WarehouseError(f"The warehouse refused the SQL: {detail}", code="bad_sql")
    if isinstance(error, psycopg.OperationalError):
        lowered = str(error).lower()
        # libpq's text: "connection to server at ..., port ... failed: FATAL:  <reason>".
        detail = detail.rpartition(" failed: ")[2].removeprefix("FATAL:").strip() or detail
        if (
            "password" in lowered
            or "authentication" in lowered
            or ("role " in lowered and "does not exist" in lowered)
        ):
            return WarehouseError(
                "The warehouse refused the user name or password.", code="bad_credentials"
            )
        if "database" in lowered and "does not exist" in lowered:
            return WarehouseError(
                f"The warehouse has no database named {target.database!r}.", code="unreachable"
            )
        return WarehouseError(
            f"The warehouse at {target.host}:{target.port} could not be reached ({detail}).",
            code="unreachable",
        )
    return WarehouseError(f"The warehouse answered with an error: {detail}", code="warehouse_error")


def _address(target: Target) -> str:
    allowed = getattr(settings, "GATEHOUSE_WAREHOUSE_ALLOWED_HOSTS", ())
    if isinstance(allowed, str):
        allowed = allowed.split(",")
    try:
        addresses = netguard.resolve_host(
            target.host, target.port, allowed=allowed, what="Warehouses"
        )
    except netguard.UnsafeURL as exc:
        raise WarehouseError(exc.message, code="forbidden_address", field="host") from exc
    except OSError as exc:
        raise WarehouseError(
            f"The warehouse host {target.host!r} could not be found ({_first_line(exc)}).",
            code="unreachable",
            field="host",
        ) from exc
    return str(addresses[0])


@contextlib.contextmanager
def session(target: Target) -> Iterator[psycopg.Connection[Any]]:
    """A read-only connection to the warehouse, closed afterwards; WarehouseError when it
    cannot be opened."""
    params: dict[str, Any] = {
        "host": target.host,
        "hostaddr": _address(target),
        "port": target.port,
        "dbname": target.database,
        "user": target.user,
        "password": target.password,
        "sslmode": target.sslmode,
        "connect_timeout": settings.GATEHOUSE_WAREHOUSE_CONNECT_TIMEOUT,
        "application_name": "gatehouse",
    }
    if target.kind == WarehouseKind.POSTGRES:
        timeout_ms = target.statement_timeout_seconds * 1000
        params["options"] = f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}"
    try:
        connection = psycopg.connect(**params)
    except psycopg.Error as exc:
        raise explain(exc, target) from exc
    try:
        connection.read_only = True
        with connection.cursor() as cursor:
            cursor.execute(
                pgsql.SQL("SET statement_timeout TO {}").format(
                    pgsql.Literal(target.statement_timeout_seconds * 1000)
                )
            )
            # A timestamp without a time zone means UTC (docs/warehouse.md).
            cursor.execute("SET timezone TO 'UTC'")
        connection.commit()
        yield connection
    except psycopg.Error as exc:
        raise explain(exc, target) from exc
    finally:
        connection.close()


def fetch(
    target: Target, sql: str, params: dict[str, Any] | Sequence[Any] | None = None
) -> tuple[list[tuple[str, int]], list[tuple[Any, ...]]]:
    """Run one read-only statement: the columns (name, type OID) and the rows."""
    with session(target) as connection, connection.cursor() as cursor:
        cursor.execute(sql, params)
        description = cursor.description or []
        columns = [(column.name, column.type_code) for column in description]
        rows = cursor.fetchall() if description else []
        connection.rollback()
    return columns, rows
