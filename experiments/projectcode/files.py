"""The project document as text: written as YAML or JSON, read back with hostile input
bounded (size, YAML's safe loader without aliases, nesting depth), and ID lists kept in
files beside it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from console.exceptions import DomainError
from console.http_input import check_strings

FORMATS = ("yaml", "json")
# The largest document an import reads (the API's request body, the command's file).
MAX_IMPORT_BYTES = 50 * 1024 * 1024
# No configuration nests deeper (a condition's value in a rule in a document is ~8 levels).
MAX_DEPTH = 64
ID_LIST_DIR = "id-lists"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def bad(message: str, field: str | None = None, code: str = "invalid_document") -> DomainError:
    return DomainError(message, code=code, field=field)


def dump_document(document: dict[str, Any], fmt: str = "yaml") -> str:
    """The document as text, keys in the document's order (stable: project_document fixes
    it), UTF-8, a final newline."""
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )


def id_list_files(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The document with each ID list moved to a file beside it: the segment's `ids` become
    `idsFile: id-lists/<name>.txt` (relative to the document), and {that path: one ID a
    line}."""
    document = copy.deepcopy(document)
    files: dict[str, str] = {}
    for segment in document.get("segments", []):
        ids = segment.pop("ids", None)
        if ids is None:
            continue
        path = f"{ID_LIST_DIR}/{segment['name']}.txt"
        files[path] = "".join(f"{unit_id}\n" for unit_id in ids)
        segment["idsFile"] = path
    return document, files


def read_id_files(document: dict[str, Any], base: Path) -> dict[str, Any]:
    """The document with every segment's `idsFile` (a path relative to `base`, inside it)
    read into `ids`. DomainError naming the segment when a file is outside `base`, missing
    or unreadable."""
    root = base.resolve()
    segments = document.get("segments")
    if not isinstance(segments, list):
        return document
    for i, segment in enumerate(segments):
        if not isinstance(segment, dict) or "idsFile" not in segment:
            continue
        field = f"segments[{i}].idsFile"
        name = segment.pop("idsFile")
        if not isinstance(name, str) or not name:
            raise bad("'idsFile' is a path relative to the document.", field)
        path = (root / name).resolve()
        if not path.is_relative_to(root):
            raise bad("An ID-list file lies beside the document (in its folder).", field)
        try:
            if path.stat().st_size > MAX_IMPORT_BYTES:
                raise bad("The ID-list file is too large.", field, "too_large")
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise bad(f"Cannot read the ID-list file {name}: {exc}", field) from exc
        segment["ids"] = [line.strip() for line in text.splitlines() if line.strip()]
    return document


def _line(event: yaml.Event) -> str:
    mark = event.start_mark
    return f" (line {mark.line + 1})" if mark is not None else ""


def _check_yaml_events(text: str) -> None:
    """Refuse aliases (the "billion laughs": a few lines that expand to gigabytes) and
    nesting deeper than MAX_DEPTH before anything is built."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            raise bad(
                f"Aliases (*name) are not accepted{_line(event)}: write the value out.",
                code="invalid_yaml",
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise bad(
                    f"The document nests deeper than {MAX_DEPTH} levels{_line(event)}.",
                    code="too_deep",
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _depth_ok(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        if isinstance(item, dict):
            stack += [(v, depth + 1) for v in item.values()]
        elif isinstance(item, list):
            stack += [(v, depth + 1) for v in item]
    return True


def parse_document(data: bytes | str, fmt: str = "yaml") -> dict[str, Any]:
    """The document in `data` (YAML, of which JSON is a subset, or JSON). DomainError with a
    sentence (and the line) when it is too large, not UTF-8, malformed, hostile or not an
    object."""
    if fmt not in FORMATS:
        raise bad(f"The format is one of: {', '.join(FORMATS)} (not '{fmt}').", "format")
    if len(data) > MAX_IMPORT_BYTES:
        raise bad(
            f"The document is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB.",
            code="too_large",
        )
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise bad("The document is not UTF-8 text.", code="invalid_encoding") from exc
    try:
        if fmt == "json":
            document = json.loads(data)
            if not _depth_ok(document):
                raise bad(f"The document nests deeper than {MAX_DEPTH} levels.", code="too_deep")
        else:
            _check_yaml_events(data)
            document = yaml.load(data, Loader=_Loader)  # noqa: S506 (a safe loader)
    except json.JSONDecodeError as exc:
        raise bad(
            f"The JSON is malformed at line {exc.lineno}, column {exc.colno}: {exc.msg}.",
            code="invalid_json",
        ) from exc
    except RecursionError as exc:
        raise bad(f"The document nests deeper than {MAX_DEPTH} levels.", code="too_deep") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise bad(f"The YAML is malformed{where}: {problem}.", code="invalid_yaml") from exc
    if not isinstance(document, dict):
        raise bad("The document is an object with a 'version' and the entity sections.")
    # A NUL or a lone surrogate ("\\ud800" in JSON or YAML) could be stored or echoed in an
    # error nowhere: refused here, as in every JSON body.
    check_strings(document)
    return document
