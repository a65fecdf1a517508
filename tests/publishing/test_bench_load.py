"""bench/publishing.py's load generator (wrk): a rate only when every answer was a 2xx of the
expected size, an error otherwise."""

import os
import sys

import pytest

from bench import publishing
from bench.publishing import WRK_SUMMARY, load


@pytest.fixture
def static(tmp_path):
    """The bench's static server on a free port, serving a 1,000-byte file."""
    (tmp_path / "a.json").write_bytes(b"x" * 1000)
    port = publishing._free_port()
    argv = [sys.executable, publishing.__file__, "--static-server", str(tmp_path), str(port)]
    with publishing._process(argv, dict(os.environ), None) as process:
        publishing._wait_until(lambda: publishing._get(port, "/a.json"), "static", process, None)
        yield port


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "wrk.lua"
    path.write_text(WRK_SUMMARY)
    return path


def test_load__right_answers__a_rate(static, script):
    rate = load(static, "/a.json", connections=2, seconds=1, script=script, length=1000)
    assert rate > 50


def test_load__answers_of_another_size__refused(static, script):
    with pytest.raises(RuntimeError, match="bytes for"):
        load(static, "/a.json", connections=2, seconds=1, script=script, length=5000)


def test_load__not_found__refused(static, script):
    with pytest.raises(RuntimeError, match="'status': [1-9]"):
        load(static, "/nope.json", connections=2, seconds=1, script=script, length=0)
