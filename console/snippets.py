"""How to read a gate, dynamic config or experiment from code: snippets for the SDKs the
console serves (statsig-python-core, statsig-node, @statsig/js-client), pointed at this
console's own endpoints (docs/statsig-spec.md §1), with the entity's name filled in.

Plain text in, plain text out: the pages render them in <pre> blocks with a copy button.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings

Kind = Literal["gate", "dynamic_config", "experiment"]


@dataclass(frozen=True)
class Snippet:
    key: str  # "python", "node", "js": the element ids of the page
    label: str  # "Python (statsig-python-core)"
    install: str  # the install command
    code: str


def _literal(value: Any) -> str:
    """A name as a string literal both Python and JavaScript accept."""
    return json.dumps(value)


def _python(kind: Kind, name: str, param: str | None, base: str) -> str:
    if kind == "gate":
        read = f"if statsig.check_gate(user, {_literal(name)}):\n    ...  # the feature is on"
    else:
        call = "get_dynamic_config" if kind == "dynamic_config" else "get_experiment"
        var = "config" if kind == "dynamic_config" else "experiment"
        read = f"{var} = statsig.{call}(user, {_literal(name)})\n"
        read += (
            f"value = {var}.get({_literal(param)}, None)"
            if param
            else f"values = {var}.get_value()"
        )
    return (
        "from statsig_python_core import Statsig, StatsigOptions, StatsigUser\n\n"
        "options = StatsigOptions(\n"
        f'    specs_url="{base}/v2/download_config_specs",\n'
        f'    log_event_url="{base}/v1/log_event",\n'
        f'    id_lists_url="{base}/v1/get_id_lists",\n'
        "    enable_id_lists=True,\n"
        ")\n"
        'statsig = Statsig("YOUR_SERVER_SECRET_KEY", options)  # Settings → Keys\n'
        "statsig.initialize().wait()\n\n"
        'user = StatsigUser(user_id="user-123", email="ada@example.com")\n'
        f"{read}\n"
    )


def _read_js(
    kind: Kind, name: str, param: str | None, receiver: str, first: str, config_call: str
) -> str:
    """JavaScript reading the entity: `receiver` and `first` are what the calls start with
    ("Statsig." and "user, " for statsig-node; "client." and "" for js-client)."""
    if kind == "gate":
        return f"if ({receiver}checkGate({first}{_literal(name)})) {{\n  // the feature is on\n}}"
    call = config_call if kind == "dynamic_config" else "getExperiment"
    var = "config" if kind == "dynamic_config" else "experiment"
    read = f"const {var} = {receiver}{call}({first}{_literal(name)});\n"
    return read + (
        f"const value = {var}.get({_literal(param)}, null);"
        if param
        else f"const values = {var}.value;"
    )


def _node(kind: Kind, name: str, param: str | None, base: str) -> str:
    read = _read_js(kind, name, param, "Statsig.", "user, ", "getConfig")
    return (
        "const Statsig = require('statsig-node');\n\n"
        "await Statsig.initialize('YOUR_SERVER_SECRET_KEY', {  // Settings → Keys\n"
        f"  api: '{base}/v1',\n"
        "});\n\n"
        "const user = { userID: 'user-123', email: 'ada@example.com' };\n"
        f"{read}\n"
    )


def _js(kind: Kind, name: str, param: str | None, base: str) -> str:
    read = _read_js(kind, name, param, "client.", "", "getDynamicConfig")
    return (
        "import { StatsigClient } from '@statsig/js-client';\n\n"
        "const client = new StatsigClient(\n"
        "  'YOUR_CLIENT_KEY',  // Settings → Keys: a client key, safe in the browser\n"
        "  { userID: 'user-123' },\n"
        f"  {{ networkConfig: {{ api: '{base}/v1' }} }},\n"
        ");\n"
        "await client.initializeAsync();\n\n"
        f"{read}\n"
    )


def sdk_snippets(*, kind: Kind, name: str, param: str | None = None) -> list[Snippet]:
    """The three snippets for one entity; `param` is a key of its value to read (a config's
    first key, an experiment's first parameter), or None to read the whole value."""
    base = settings.GATEHOUSE_BASE_URL.rstrip("/")
    return [
        Snippet(
            "python",
            "Python",
            "pip install statsig-python-core",
            _python(kind, name, param, base),
        ),
        Snippet("node", "Node", "npm install statsig-node", _node(kind, name, param, base)),
        Snippet(
            "js",
            "JavaScript (browser)",
            "npm install @statsig/js-client",
            _js(kind, name, param, base),
        ),
    ]
