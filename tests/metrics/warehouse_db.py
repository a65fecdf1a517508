"""The customer's warehouse for the warehouse-native tests: a PostgreSQL database of its own
(`<test database>_warehouse`, made and dropped per test session and xdist worker) with a
read-only role, reached through a WarehouseConnection like any customer's."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection as django_connection
from psycopg import sql

from metrics.models import WarehouseConnection
from metrics.warehouse.services import ConnectionInput, warehouse_connection_create

READER_PASSWORD = "reader-password-1"


@contextlib.contextmanager
def admin_connection(dbname: str) -> Iterator[psycopg.Connection]:
    params = django_connection.settings_dict
    with psycopg.connect(
        host=params["HOST"] or "127.0.0.1",
        port=params["PORT"] or 5432,
        user=params["USER"],
        password=params["PASSWORD"] or None,
        dbname=dbname,
        autocommit=True,
    ) as conn:
        yield conn


class Warehouse:
    """The warehouse database: its name, its reader role, and a way to load tables."""

    def __init__(self, name: str, reader: str) -> None:
        self.name = name
        self.reader = reader

    def execute(self, statement: str, params=None) -> None:
        with admin_connection(self.name) as conn:
            conn.execute(statement, params)

    def load(self, table: str, columns: dict[str, str], rows: list[tuple]) -> None:
        """(Re)create `table` (column -> type) with `rows`, readable by the reader role."""
        with admin_connection(self.name) as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
            conn.execute(
                sql.SQL("CREATE TABLE {} ({})").format(
                    sql.Identifier(table),
                    sql.SQL(", ").join(
                        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind))
                        for name, kind in columns.items()
                    ),
                )
            )
            with (
                conn.cursor() as cursor,
                cursor.copy(
                    sql.SQL("COPY {} ({}) FROM STDIN").format(
                        sql.Identifier(table),
                        sql.SQL(", ").join(map(sql.Identifier, columns)),
                    )
                ) as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            conn.execute(
                sql.SQL("GRANT SELECT ON {} TO {}").format(
                    sql.Identifier(table), sql.Identifier(self.reader)
                )
            )
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))


@pytest.fixture(scope="session")
def warehouse(django_db_setup, django_db_blocker) -> Iterator[Warehouse]:
    """A separate database for the customer's tables, with a role that can only read."""
    with django_db_blocker.unblock():
        name = django_connection.settings_dict["NAME"] + "_warehouse"
    reader = name + "_reader"
    with admin_connection("postgres") as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(reader)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(reader), sql.Literal(READER_PASSWORD)
            )
        )
    yield Warehouse(name, reader)
    with admin_connection("postgres") as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(reader)))


@pytest.fixture
def warehouse_allowed(settings):
    """The test warehouse is on 127.0.0.1: the operator allows it, as a deployment would."""
    settings.GATEHOUSE_WAREHOUSE_ALLOWED_HOSTS = ["127.0.0.1"]


def connection_input(warehouse: Warehouse, **overrides) -> ConnectionInput:
    params = django_connection.settings_dict
    fields = {
        "name": "Customer warehouse",
        "kind": "postgres",
        "host": params["HOST"] or "127.0.0.1",
        "port": int(params["PORT"] or 5432),
        "database": warehouse.name,
        "user": warehouse.reader,
        "password": READER_PASSWORD,
        "schema": "gatehouse",
        "sslmode": "disable",
        "statement_timeout_seconds": 30,
        **overrides,
    }
    return ConnectionInput(**fields)


@pytest.fixture
def warehouse_connection(warehouse, warehouse_allowed, project, site_admin) -> WarehouseConnection:
    return warehouse_connection_create(
        actor=site_admin, project=project, data=connection_input(warehouse)
    )
