"""Reading one batch of SDK events: plain Python, no Django (docs/events.md).

`parse_batch` turns the decoded JSON body that a Statsig SDK posts to /v1/log_event or
/v1/rgstr into events ready to store, and sets aside, with a reason, each event that cannot
be stored: one bad event never costs the good ones beside it. Exposure events
(`statsig::gate_exposure`, `statsig::config_exposure`, `statsig::layer_exposure`) are
events too; `exposure_of` reads what they say about a unit's assignment.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

GATE_EXPOSURE = "statsig::gate_exposure"
CONFIG_EXPOSURE = "statsig::config_exposure"
LAYER_EXPOSURE = "statsig::layer_exposure"
EXPOSURE_EVENTS = (GATE_EXPOSURE, CONFIG_EXPOSURE, LAYER_EXPOSURE)

# Why an event was set aside; the events page shows these words.
REASONS = {
    "not_an_object": "The event is not a JSON object.",
    "missing_name": "The event has no eventName.",
    "name_too_long": "The eventName is longer than the limit.",
    "value_too_long": "The value is longer than the limit.",
    "metadata_too_large": "The metadata is larger than the limit.",
    "non_finite": "A number is NaN or infinite.",
    "invalid_text": "Text holds a NUL character or a lone surrogate.",
    "bad_field": "A field has the wrong type (user, value, metadata or customIDs).",
}
DUPLICATE = "duplicate"
# Event times are epoch milliseconds up to the last one of year 9999 (Python's datetime):
# a time outside them is no time (the event then happened when it arrived).
MAX_TIME_MS = 253_402_300_799_999


@dataclass(frozen=True, slots=True)
class Limits:
    max_name: int = 128
    max_value: int = 1024
    max_metadata_bytes: int = 16 * 1024


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the request says about all its events."""

    environment_id: int
    received_ms: int
    # The SDK's clock when it sent the batch (STATSIG-CLIENT-TIME, or js-client's `t`).
    client_sent_ms: int | None = None
    sdk_type: str = ""
    sdk_version: str = ""
    # The request's own User-Agent, for browser SDKs whose user object carries none.
    user_agent: str = ""


@dataclass(slots=True)
class Event:
    name: str
    time_ms: int
    client_time_ms: int | None
    user_id: str
    stable_id: str
    custom_ids: dict[str, str]
    value_text: str | None
    value_num: float | None
    metadata: dict[str, Any] | None
    user: dict[str, Any] | None
    secondary_exposures: list[Any] | None
    user_agent: str
    key: bytes
    is_bot: bool = False


@dataclass(slots=True)
class SetAside:
    reason: str
    raw: Any


@dataclass(slots=True)
class Batch:
    events: list[Event] = field(default_factory=list)
    set_aside: list[SetAside] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Exposure:
    """What one exposure event says: `kind` is gate, config or layer; `name` the gate or
    config (for a layer exposure that counts, the allocated experiment)."""

    kind: str
    name: str
    rule_id: str
    gate_value: str | None


class Refused(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(REASONS[reason])
        self.reason = reason


def parse_batch(
    data: Any,
    envelope: Envelope,
    limits: Limits,
    is_bot: Callable[[str], bool],
    *,
    finite: bool = False,
) -> Batch:
    """The events of a decoded body `{"events": [...], "statsigMetadata": {...}}`. A body
    that is a bare list is read as the events themselves. `finite`: the decoder refused
    NaN and Infinity, so no number needs checking."""
    raw_events = data.get("events") if isinstance(data, dict) else data
    batch = Batch()
    if not isinstance(raw_events, list):
        return batch
    metadata = data.get("statsigMetadata") if isinstance(data, dict) else None
    fallback_stable_id = ""
    if isinstance(metadata, dict):
        fallback_stable_id = storable(_text(metadata.get("stableID")))
    skew = 0
    if envelope.client_sent_ms is not None:
        skew = envelope.received_ms - envelope.client_sent_ms
    for raw in raw_events:
        try:
            event = _parse_event(raw, envelope, limits, skew, fallback_stable_id, finite)
        except Refused as refused:
            batch.set_aside.append(SetAside(refused.reason, raw))
            continue
        event.is_bot = bool(event.user_agent) and is_bot(event.user_agent)
        batch.events.append(event)
    return batch


def _parse_event(
    raw: Any, envelope: Envelope, limits: Limits, skew: int, fallback_stable_id: str, finite: bool
) -> Event:
    if not isinstance(raw, dict):
        raise Refused("not_an_object")
    canonical = _checked_canonical(raw, finite)
    name = raw.get("eventName")
    if not isinstance(name, str) or not name.strip():
        raise Refused("missing_name")
    if len(name) > limits.max_name:
        raise Refused("name_too_long")
    value_text, value_num = _value(raw.get("value"), limits)
    metadata = raw.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise Refused("bad_field")
    # The metadata's canonical JSON is part of the event's: only a large event can hold
    # metadata too large.
    if (
        metadata
        and len(canonical) > limits.max_metadata_bytes
        and len(_canonical(metadata)) > limits.max_metadata_bytes
    ):
        raise Refused("metadata_too_large")
    user = raw.get("user")
    if user is not None and not isinstance(user, dict):
        raise Refused("bad_field")
    user = {k: v for k, v in (user or {}).items() if k != "privateAttributes"} or None
    custom_ids = _custom_ids((user or {}).get("customIDs"))
    client_time = epoch_ms(raw.get("time"))
    time_ms = envelope.received_ms if client_time is None else client_time + skew
    if time_ms < 0:
        time_ms = envelope.received_ms  # a clock corrected to before 1970 is no clock
    secondary = raw.get("secondaryExposures")
    return Event(
        name=name,
        # An event from the future is a wrong clock: it happened when it arrived at the latest.
        time_ms=min(time_ms, envelope.received_ms),
        client_time_ms=client_time,
        user_id=_text((user or {}).get("userID")),
        stable_id=custom_ids.get("stableID") or fallback_stable_id,
        custom_ids=custom_ids,
        value_text=value_text,
        value_num=value_num,
        metadata=metadata or None,
        user=user,
        secondary_exposures=secondary if isinstance(secondary, list) and secondary else None,
        user_agent=_text((user or {}).get("userAgent")) or envelope.user_agent,
        key=event_key(envelope.environment_id, canonical),
    )


def event_key(environment_id: int, canonical: bytes) -> bytes:
    """The idempotency key, from the event's canonical JSON: the same event resent (an SDK
    retrying a batch) has the same."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(str(environment_id).encode())
    digest.update(canonical)
    return digest.digest()


# One encoder for every event (json.dumps with options builds one per call).
_canonical = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def _checked_canonical(raw: dict[str, Any], finite: bool) -> bytes:
    """The event's canonical JSON (its key is hashed from it), refusing non-finite numbers,
    lone surrogates and NUL characters anywhere in it. orjson writes it when the numbers
    are known finite (`finite`: the body's decoder refused NaN and Infinity; orjson would
    write them as null) and refuses lone surrogates itself; otherwise, and for integers
    past 64 bits, the standard encoder does, and refuses non-finite numbers. NUL is written
    as \\u0000: only then is the event walked, as that may be an escaped backslash."""
    text: bytes | None = None
    if finite:
        try:
            text = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            text = None
    if text is None:
        try:
            text = _canonical(raw).encode("utf-8")
        except UnicodeEncodeError as exc:  # a ValueError too: first
            raise Refused("invalid_text") from exc
        except ValueError as exc:
            raise Refused("non_finite") from exc
    if b"\\u0000" in text:
        _check_tree(raw)
    return text


def _check_tree(value: Any) -> None:
    """Refuse what PostgreSQL cannot store (NUL, lone surrogates) and non-finite numbers,
    anywhere in the event. The body's depth is bounded before parsing."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise Refused("non_finite")
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key)
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise Refused("invalid_text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Refused("invalid_text") from exc


def storable(text: str) -> str:
    """`text`, or "" when PostgreSQL could not store it (a NUL, a lone surrogate): for what
    a request says beside its events (statsigMetadata, headers, query), which is optional."""
    try:
        _check_text(text)
    except Refused:
        return ""
    return text


def _value(value: Any, limits: Limits) -> tuple[str | None, float | None]:
    if value is None:
        return None, None
    if isinstance(value, dict | list):
        raise Refused("bad_field")
    if isinstance(value, bool):
        return ("true" if value else "false"), None
    if isinstance(value, int | float):
        text = _number_text(value)
        if len(text) > limits.max_value:
            raise Refused("value_too_long")
        try:
            return text, float(value)
        except OverflowError:  # an integer beyond any float: kept as text
            return text, None
    text = str(value)
    if len(text) > limits.max_value:
        raise Refused("value_too_long")
    try:
        number = float(text)
    except ValueError:
        return text, None
    return text, number if math.isfinite(number) else None


def _number_text(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def epoch_ms(value: Any) -> int | None:
    """Epoch milliseconds from a number or a digit string, None when it is none or out of
    range (0 to MAX_TIME_MS)."""
    if isinstance(value, bool):
        return None
    number: int | None = None
    digits = isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 20
    if isinstance(value, int):
        number = value
    elif (isinstance(value, float) and math.isfinite(value)) or digits:
        number = int(value)
    return number if number is not None and 0 <= number <= MAX_TIME_MS else None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number_text(value)
    return ""


def _custom_ids(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Refused("bad_field")
    return {str(k): _text(v) for k, v in value.items() if _text(v)}


def exposure_of(event: Event) -> Exposure | None:
    """The assignment an exposure event reports, or None (not an exposure, or a layer
    exposure that counts for no experiment: only explicit parameters allocate one)."""
    if event.name not in EXPOSURE_EVENTS:
        return None
    meta = event.metadata or {}
    rule_id = _text(meta.get("ruleID"))
    if event.name == GATE_EXPOSURE:
        name = _text(meta.get("gate"))
        return Exposure("gate", name, rule_id, _text(meta.get("gateValue"))) if name else None
    if event.name == CONFIG_EXPOSURE:
        name = _text(meta.get("config"))
        return Exposure("config", name, rule_id, None) if name else None
    allocated = _text(meta.get("allocatedExperiment"))
    if _text(meta.get("isExplicitParameter")) != "true" or not allocated:
        return None
    return Exposure("config", allocated, rule_id, None)


def unit_id(event: Event, id_type: str) -> str:
    """The event's unit of `id_type` (userID, stableID or a custom ID), "" when absent.
    Custom ID types are matched without regard to case, as the SDKs evaluate them."""
    if id_type.lower() == "userid":
        return event.user_id
    wanted = id_type.lower()
    for key, value in event.custom_ids.items():
        if key.lower() == wanted:
            return value
    return event.stable_id if wanted == "stableid" else ""


# What an exposure keeps of its user for breakdowns (docs/results-computation.md): short
# scalar texts only, so one unit's row stays small whatever the SDK sends.
MAX_DIMENSION = 200
MAX_CUSTOM_KEYS = 20
MAX_CUSTOM_KEY = 100


@dataclass(frozen=True, slots=True)
class UserDimensions:
    """The user's country, browser and OS families and custom fields at an exposure."""

    country: str = ""
    browser: str = ""
    os: str = ""
    custom: dict[str, str] = field(default_factory=dict)


def _dimension_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return storable(str(value))[:MAX_DIMENSION]
    return ""


def user_dimensions(
    event: Event, browser_and_os: Callable[[str], tuple[str, str]]
) -> UserDimensions:
    """What `event`'s user says about the dimensions results break down by: `user.country`,
    the user agent's browser and OS (`browser_and_os`), `user.custom`'s scalar fields."""
    user = event.user or {}
    custom: dict[str, str] = {}
    raw = user.get("custom")
    if isinstance(raw, dict):
        for key, value in raw.items():
            if len(custom) >= MAX_CUSTOM_KEYS:
                break
            name = storable(key) if isinstance(key, str) and len(key) <= MAX_CUSTOM_KEY else ""
            text = _dimension_text(value)
            if name and text:
                custom[name] = text
    browser, os = browser_and_os(event.user_agent)
    return UserDimensions(_dimension_text(user.get("country")), browser, os, custom)
