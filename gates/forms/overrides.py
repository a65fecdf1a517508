"""The overrides editor of a gate: forced passing and failing IDs per environment."""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as _field

from gates.idlists import parse_pasted_ids

# ---------------------------------------------------------------- overrides


@dataclass
class OverrideRow:
    """Forced results for one environment (key "all": every environment)."""

    key: str
    label: str
    environment: str | None  # the document's environment name
    passing: str = ""
    failing: str = ""
    errors: list[str] = _field(default_factory=list)


def override_rows(environments, overrides: list[dict] | None = None, data=None):
    by_env = {o.get("environment"): o for o in overrides or []}
    rows = []
    for key, label, env_name in [("all", "Every environment", None)] + [
        (str(e.pk), e.name, e.name) for e in environments
    ]:
        row = OverrideRow(key=key, label=label, environment=env_name)
        if data is not None:
            row.passing = data.get(f"override-{key}-pass", "")
            row.failing = data.get(f"override-{key}-fail", "")
        elif env_name in by_env or (env_name is None and None in by_env):
            entry = by_env[env_name]
            row.passing = "\n".join(entry.get("passingIDs") or [])
            row.failing = "\n".join(entry.get("failingIDs") or [])
        rows.append(row)
    return rows


def overrides_document(rows: list[OverrideRow]) -> tuple[list[dict], list[OverrideRow]]:
    """The document's `overrides` (entries with IDs only) and the row of each entry, so
    that `overrides[i]` errors land on the right row."""
    out, order = [], []
    for row in rows:
        passing, failing = parse_pasted_ids(row.passing), parse_pasted_ids(row.failing)
        if passing or failing:
            out.append(
                {"environment": row.environment, "passingIDs": passing, "failingIDs": failing}
            )
            order.append(row)
    return out, order


_OVERRIDE_PATH = re.compile(r"^overrides\[(\d+)\]")


def attach_override_error(order: list[OverrideRow], path: str | None, message: str) -> bool:
    m = _OVERRIDE_PATH.match(path or "")
    if not m or int(m.group(1)) >= len(order):
        return False
    order[int(m.group(1))].errors.append(message)
    return True
