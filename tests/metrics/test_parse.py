"""parse_batch on its own (plain Python): what is refused anywhere in an event is found
from its canonical JSON, and a text that only looks like a NUL is kept."""

from __future__ import annotations

import json

from metrics.intake import Envelope, Limits, parse_batch

ENVELOPE = Envelope(environment_id=1, received_ms=1_700_000_000_000)


def _parse(text: str, limits: Limits | None = None):
    return parse_batch(json.loads(text), ENVELOPE, limits or Limits(), lambda ua: False)


def _reasons(batch) -> list[str]:
    return [item.reason for item in batch.set_aside]


def test_parse__nul_lone_surrogate_nonfinite_anywhere__set_aside_with_reason():
    batch = _parse(
        '{"events": ['
        '{"eventName": "a", "user": {"custom": {"k": ["x\\u0000"]}}},'
        '{"eventName": "b", "metadata": {"\\ud800": "x"}},'
        '{"eventName": "c", "secondaryExposures": [{"n": 1e999}]},'
        '{"eventName": "d", "metadata": {"n": NaN}},'
        '{"eventName": "kept"}]}'
    )
    assert _reasons(batch) == ["invalid_text", "invalid_text", "non_finite", "non_finite"]
    assert [event.name for event in batch.events] == ["kept"]


def test_parse__escaped_backslash_before_u0000__kept_as_text():
    batch = _parse('{"events": [{"eventName": "path", "value": "C:\\\\u0000"}]}')
    assert _reasons(batch) == []
    assert batch.events[0].value_text == "C:\\u0000"


def test_parse__large_event_small_metadata__kept_large_metadata__set_aside():
    limits = Limits(max_metadata_bytes=100)
    batch = _parse(
        json.dumps(
            {
                "events": [
                    {"eventName": "big", "user": {"userID": "u" * 500}, "metadata": {"a": "b"}},
                    {"eventName": "big_meta", "metadata": {"a": "b" * 100}},
                ]
            }
        ),
        limits,
    )
    assert [event.name for event in batch.events] == ["big"]
    assert _reasons(batch) == ["metadata_too_large"]


def test_parse__same_event_twice__same_key__other_environment__other_key():
    text = '{"events": [{"eventName": "a", "time": 1}, {"time": 1, "eventName": "a"}]}'
    first, again = _parse(text).events
    other = parse_batch(
        json.loads(text), Envelope(environment_id=2, received_ms=1), Limits(), lambda ua: False
    ).events[0]
    assert first.key == again.key != other.key


def test_parse__decoded_by_orjson__same_keys_and_verdicts_as_the_standard_path():
    import orjson

    text = (
        '{"events": [{"eventName": "buy", "value": 3, "metadata": {"b": "é", "a": [1, 2.5]}},'
        '{"eventName": "nul", "metadata": {"k": "x\\u0000"}},'
        '{"eventName": "big", "value": 123456789012345678901234567890}]}'
    )
    huge = '{"events": [{"eventName": "huge", "value": 1' + "0" * 400 + "}]}"
    slow = parse_batch(json.loads(text), ENVELOPE, Limits(), lambda ua: False)
    fast = parse_batch(orjson.loads(text), ENVELOPE, Limits(), lambda ua: False, finite=True)
    assert _reasons(slow) == _reasons(fast) == ["invalid_text"]
    assert [e.name for e in fast.events] == ["buy", "big"]
    assert fast.events[0].key == slow.events[0].key
    assert slow.events[1].value_text == "123456789012345678901234567890"
    # An integer past any float (only the standard parser reads it) keeps its text alone.
    (event,) = parse_batch(json.loads(huge), ENVELOPE, Limits(), lambda ua: False).events
    assert (event.value_text, event.value_num) == ("1" + "0" * 400, None)
