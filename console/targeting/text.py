"""Condition values as people type and read them in the console: lists in one box, times,
JSON text boxes. Shared by every app whose pages edit or show conditions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from console.http_input import JsonRefused, load_json


def split_values(text: str) -> list[str]:
    """A list typed in one box: one value per line if there are several lines, else
    comma separated. Empty items are dropped."""
    text = (text or "").strip()
    if not text:
        return []
    parts = text.splitlines() if "\n" in text else text.split(",")
    return [p.strip() for p in parts if p.strip()]


def join_values(values: list[Any]) -> str:
    texts = [str(v) for v in values]
    return "\n".join(texts) if any("," in t for t in texts) else ", ".join(texts)


def show_time(epoch_ms: Any) -> str:
    """A stored condition time (epoch ms) as the text a PM would type."""
    if not isinstance(epoch_ms, int) or isinstance(epoch_ms, bool):
        return "" if epoch_ms is None else str(epoch_ms)
    if epoch_ms % 60_000:
        return str(epoch_ms)
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    if moment.hour == moment.minute == 0:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def json_error(exc: json.JSONDecodeError) -> str:
    return f"This is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}."


def parse_json_object(text: str, *, what: str) -> tuple[Any, str | None]:
    """(value, None) or (None, error message) for a JSON text box."""
    try:
        value = load_json(text)
    except json.JSONDecodeError as exc:
        return None, json_error(exc)
    except (JsonRefused, ValueError) as exc:
        return None, getattr(exc, "message", str(exc))
    if not isinstance(value, dict):
        return None, f'{what} is a JSON object, in braces: {{"key": "value"}}.'
    return value, None


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
