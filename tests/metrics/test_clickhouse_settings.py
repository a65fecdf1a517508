"""Starting with ClickHouse as the events engine: a wrong engine name stops the settings; a
console without a ClickHouse server URL (the embedded engine opens its path in one process
only) or with a malformed one fails manage.py's checks, so `make run` stops before starting."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from tests.console.test_settings import _start


def test_settings__unknown_engine__refuses_with_a_sentence():
    result = _start({"GATEHOUSE_EVENTS_ENGINE": "mysql"})
    assert result.returncode != 0
    assert "GATEHOUSE_EVENTS_ENGINE is 'mysql': 'postgres' or 'clickhouse'." in result.stderr


def test_check__clickhouse_without_url__error_naming_the_setting(settings):
    # Given ClickHouse as the engine and no server URL
    settings.GATEHOUSE_EVENTS_ENGINE = "clickhouse"
    settings.GATEHOUSE_CLICKHOUSE_URL = ""
    # When manage.py's checks run, then they fail with what to set
    with pytest.raises(SystemCheckError, match=r"metrics\.E001.*GATEHOUSE_CLICKHOUSE_URL"):
        call_command("check")


def test_check__malformed_url__error(settings):
    settings.GATEHOUSE_EVENTS_ENGINE = "clickhouse"
    settings.GATEHOUSE_CLICKHOUSE_URL = "mysql://h/db"
    with pytest.raises(SystemCheckError, match=r"metrics\.E002"):
        call_command("check")


@pytest.mark.parametrize(
    ("engine", "url"),
    [("postgres", ""), ("clickhouse", "clickhouses://ana:secret@ch.example.com/gatehouse")],
)
def test_check__postgres_or_a_server_url__passes(settings, engine, url):
    settings.GATEHOUSE_EVENTS_ENGINE = engine
    settings.GATEHOUSE_CLICKHOUSE_URL = url
    call_command("check")
