"""Drive the real Statsig server SDKs, fully offline, over many users at once.

One SDK instance per spec evaluates every user for every name:

* ``legacy_*``: ``statsig`` 0.72.1 with ``bootstrap_values`` + ``local_mode`` (no network at
  all); ID lists are put straight into its spec store (local mode never fetches them).
* ``core_*``: ``statsig-python-core`` 0.24.0 reading the v2 JSON from a ``DataStore``;
  every URL points at a closed loopback port, except the ID-list manifest and files, which a
  throw-away loopback server serves when lists are given.
* ``node_*``: ``statsig-node`` 6.5.2 in one ``node tests/specs/node_eval.js`` subprocess
  (``localMode`` + a data adapter that also serves the ID lists).

Specs may be given in v1 or v2 form; each helper converts to what its SDK reads. Users are
dicts in the Statsig user shape. ``*_results(spec, users, names, kind="gate")`` return
``{name: [(value, rule_id), ...]}`` in user order; ``*_evaluate_all(spec, users,
{kind: names})`` return ``{kind: {name: [(value, rule_id, group_name), ...]}}`` where kind is
"gate", "config" (dynamic configs and experiments) or "layer".
"""

from __future__ import annotations

import copy
import json
import logging
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from console.specs.hashing import djb2
from console.specs.payload import v1_condition

REPO = Path(__file__).resolve().parents[2]
NODE_SCRIPT = Path(__file__).resolve().parent / "node_eval.js"
SDK_KEY = "secret-gatehouse-conformance"
CLOSED_URL = "http://127.0.0.1:9"  # discard port: nothing listens, requests fail fast
DIAGNOSTICS_OFF = {"initialize": 0, "dcs": 0, "idlist": 0, "logevent": 0, "api_call": 0}
KINDS = ("gate", "config", "layer")
SECTIONS = {"gate": "feature_gates", "config": "dynamic_configs", "layer": "layer_configs"}

Results = dict[str, list[tuple[Any, ...]]]


# ---------------------------------------------------------------- spec formats


def is_v2(spec: Mapping) -> bool:
    return "condition_map" in spec or isinstance(spec.get("feature_gates"), Mapping)


def to_v1(spec: Mapping) -> dict:
    """A v1 payload (lists of specs, inline conditions) from a v1 or v2 one."""
    spec = copy.deepcopy(dict(spec))
    if not is_v2(spec):
        return spec
    conditions = spec.pop("condition_map", {})
    out = {k: v for k, v in spec.items() if k not in SECTIONS.values()}
    for section in SECTIONS.values():
        entries = []
        for name, entity in (spec.get(section) or {}).items():
            entity = {"name": name, **entity}
            for rule in entity.get("rules", []):
                rule["conditions"] = [
                    v1_condition(conditions[key]) for key in rule.get("conditions", [])
                ]
            entries.append(entity)
        out[section] = entries
    layers: dict[str, list[str]] = {}
    for experiment, layer in (spec.get("experiment_to_layer") or {}).items():
        layers.setdefault(layer, []).append(experiment)
    out.setdefault("layers", layers)
    return out


def to_v2(spec: Mapping) -> dict:
    """A dcs-v2 payload (name-keyed specs, shared ``condition_map``) from a v1 or v2 one."""
    spec = copy.deepcopy(dict(spec))
    if is_v2(spec):
        return spec
    condition_map: dict[str, Any] = {}
    out = {k: v for k, v in spec.items() if k not in (*SECTIONS.values(), "layers")}
    for section in SECTIONS.values():
        entities = {}
        for entity in spec.get(section) or []:
            entity = dict(entity)
            name = entity.pop("name")
            for rule in entity.get("rules", []):
                keys = []
                for condition in rule.get("conditions", []):
                    key = djb2(json.dumps(condition, sort_keys=True, separators=(",", ":")))
                    condition_map[key] = condition
                    keys.append(key)
                rule["conditions"] = keys
            entities[name] = entity
        out[section] = entities
    out["condition_map"] = condition_map
    if "experiment_to_layer" not in out:
        out["experiment_to_layer"] = {
            experiment: layer
            for layer, experiments in (spec.get("layers") or {}).items()
            for experiment in experiments
        }
    out.setdefault("has_updates", True)
    return out


def _offline(spec: Mapping) -> dict:
    """The payload with SDK diagnostics sampling switched off (docs/statsig-spec.md §12.9)."""
    return {**spec, "diagnostics": dict(DIAGNOSTICS_OFF), "has_updates": True}


def _names(names: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    return {kind: list(names.get(kind, ())) for kind in KINDS}


def _experiments(spec_v1: Mapping) -> set[str]:
    return {
        entity["name"]
        for entity in spec_v1.get("dynamic_configs", [])
        if entity.get("entity") == "experiment"
    }


# ---------------------------------------------------------------- legacy (statsig 0.72.1)


def _legacy_user(user: Mapping):
    from statsig.statsig_user import StatsigUser

    return StatsigUser(
        user_id=user.get("userID"),
        email=user.get("email"),
        ip=user.get("ip"),
        user_agent=user.get("userAgent"),
        country=user.get("country"),
        locale=user.get("locale"),
        app_version=user.get("appVersion"),
        custom=user.get("custom"),
        private_attributes=user.get("privateAttributes"),
        custom_ids=user.get("customIDs"),
        _statsig_environment=user.get("statsigEnvironment"),
    )


def legacy_evaluate_all(
    spec: Mapping,
    users: list[Mapping],
    names: Mapping[str, Iterable[str]],
    *,
    id_lists: Mapping[str, Iterable[str]] | None = None,
    environment: str | None = None,
    exposures: bool = False,
) -> dict[str, Results]:
    """Legacy results through its public API; with ``exposures``, through the evaluator that
    API wraps (same values, plus the secondary and undelegated secondary exposures)."""
    from statsig.statsig_options import StatsigOptions
    from statsig.statsig_server import StatsigServer

    spec_v1 = _offline(to_v1(spec))
    logging.getLogger("statsig.sdk").setLevel(logging.ERROR)
    server = StatsigServer()
    options = StatsigOptions(
        bootstrap_values=json.dumps(spec_v1),
        local_mode=True,
        api=CLOSED_URL,
        disable_diagnostics=True,
        tier=environment,
    )
    server.initialize(SDK_KEY, options)
    for name, ids in (id_lists or {}).items():
        server._spec_store._id_lists[name] = {"ids": set(ids)}
    experiments = _experiments(spec_v1)
    sdk_users = [_legacy_user(user) for user in users]
    normalize = server._StatsigServer__normalize_user
    evaluator = server._evaluator
    inner = {"gate": evaluator.check_gate, "config": evaluator.get_config}
    inner["layer"] = evaluator.get_layer
    out: dict[str, Results] = {kind: {} for kind in KINDS}
    try:
        for kind, kind_names in _names(names).items():
            for name in kind_names:
                rows = []
                for user in sdk_users:
                    if exposures:
                        # The evaluator under the public API: it also exposes the exposures.
                        raw = inner[kind](normalize(user), name)
                        value = raw.boolean_value if kind == "gate" else raw.json_value
                        rows.append(
                            (
                                value,
                                raw.rule_id,
                                raw.group_name,
                                raw.secondary_exposures,
                                raw.undelegated_secondary_exposures,
                            )
                        )
                    elif kind == "gate":
                        result = server.get_feature_gate(user, name, log_exposure=False)
                        rows.append((result.value, result.rule_id, result.group_name))
                    elif kind == "config":
                        get = server.get_experiment if name in experiments else server.get_config
                        result = get(user, name, log_exposure=False)
                        rows.append((result.get_value(), result.rule_id, result.group_name))
                    else:
                        result = server.get_layer(user, name, log_exposure=False)
                        rows.append((result._Layer__value, result.rule_id, result.group_name))
                out[kind][name] = rows
    finally:
        server.shutdown()
    return out


def legacy_results(spec: Mapping, users: list[Mapping], names: Iterable[str], kind="gate", **kw):
    """``{name: [(value, rule_id), ...]}`` from the legacy ``statsig`` SDK."""
    result = legacy_evaluate_all(spec, users, {kind: names}, **kw)[kind]
    return {name: [row[:2] for row in rows] for name, rows in result.items()}


# ---------------------------------------------------------------- statsig-python-core


class _IdListServer:
    """Loopback ID-list manifest (POST) and files (GET, honouring Range) for python-core."""

    def __init__(self, id_lists: Mapping[str, Iterable[str]]):
        self.bodies = {
            name: "".join(f"+{entry}\n" for entry in ids).encode() for name, ids in id_lists.items()
        }
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.close_connection = True
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self._send(200, json.dumps(outer.manifest()).encode(), "application/json")

            do_PUT = do_POST

            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                if not self.path.startswith("/files/") or name not in outer.bodies:
                    if "id_lists" in self.path:
                        return self.do_POST()
                    return self._send(404, b"{}", "application/json")
                body = outer.bodies[name]
                ranged = self.headers.get("Range")
                start = int(ranged.split("=", 1)[1].split("-", 1)[0] or 0) if ranged else 0
                return self._send(206 if ranged else 200, body[start:], "text/plain")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def manifest(self) -> dict:
        return {
            name: {
                "name": name,
                "size": len(body),
                "url": f"http://127.0.0.1:{self.port}/files/{name}",
                "creationTime": 1,
                "fileID": f"file-{name}",
            }
            for name, body in self.bodies.items()
        }

    def __enter__(self) -> _IdListServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _core_user(user: Mapping):
    from statsig_python_core import StatsigUser

    return StatsigUser(
        user_id=user.get("userID"),
        email=user.get("email"),
        ip=user.get("ip"),
        country=user.get("country"),
        locale=user.get("locale"),
        app_version=user.get("appVersion"),
        user_agent=user.get("userAgent"),
        custom=user.get("custom"),
        custom_ids=user.get("customIDs"),
        private_attributes=user.get("privateAttributes"),
        statsig_environment=user.get("statsigEnvironment"),
    )


def core_client(spec: Mapping, *, id_lists_url: str | None = None, environment=None):
    """An initialised python-core client reading ``spec`` (v1 or v2) from a DataStore."""
    import statsig_python_core as core

    payload = json.dumps(_offline(to_v2(spec)))

    class Store(core.DataStore):
        def get(self, key: str):
            if "download_config_specs" in key:
                return core.DataStoreResponse(result=payload, time=None)
            return core.DataStoreResponse(result=None, time=None)

    options = core.StatsigOptions(
        data_store=Store(),
        specs_url=f"{CLOSED_URL}/v2/download_config_specs",
        log_event_url=f"{CLOSED_URL}/v1/log_event",
        id_lists_url=id_lists_url or f"{CLOSED_URL}/v1/get_id_lists",
        enable_id_lists=id_lists_url is not None,
        fallback_to_statsig_api=False,
        disable_all_logging=True,
        wait_for_country_lookup_init=True,
        wait_for_user_agent_init=True,
        environment=environment,
        output_log_level="none",
        init_timeout_ms=5000,
    )
    client = core.Statsig(SDK_KEY, options)
    details = client.initialize_with_details().result()
    return client, details


def core_evaluate_all(
    spec: Mapping,
    users: list[Mapping],
    names: Mapping[str, Iterable[str]],
    *,
    id_lists: Mapping[str, Iterable[str]] | None = None,
    environment: str | None = None,
) -> dict[str, Results]:
    """python-core results (it is given the v2 form of ``spec``)."""
    spec_v1 = to_v1(spec)
    experiments = _experiments(spec_v1)
    sdk_users = [_core_user(user) for user in users]
    out: dict[str, Results] = {kind: {} for kind in KINDS}

    def run(id_lists_url: str | None) -> None:
        client, details = core_client(spec, id_lists_url=id_lists_url, environment=environment)
        try:
            if not details.is_config_spec_ready:
                raise RuntimeError(f"python-core rejected the spec (source {details.source})")
            if id_lists_url is not None:
                _wait_for_id_lists(details)
            for kind, kind_names in _names(names).items():
                for name in kind_names:
                    rows = []
                    for user in sdk_users:
                        if kind == "gate":
                            result = client.get_feature_gate(user, name)
                            rows.append((result.value, result.rule_id, None))
                        elif kind == "config" and name in experiments:
                            result = client.get_experiment(user, name)
                            rows.append((result.value, result.rule_id, result.group_name))
                        elif kind == "config":
                            result = client.get_dynamic_config(user, name)
                            rows.append((result.value, result.rule_id, None))
                        else:
                            result = client.get_layer(user, name)
                            rows.append((result.get_value(), result.rule_id, result.group_name))
                    out[kind][name] = rows
        finally:
            client.shutdown().wait()

    if id_lists:
        with _IdListServer(id_lists) as server:
            run(f"http://127.0.0.1:{server.port}/v1/get_id_lists")
    else:
        run(None)
    return out


def _wait_for_id_lists(details: Any) -> None:
    # Initialisation normally waits for them; give a late background sync a moment.
    if details.is_id_list_ready is False:
        time.sleep(1.0)


def core_results(spec: Mapping, users: list[Mapping], names: Iterable[str], kind="gate", **kw):
    """``{name: [(value, rule_id), ...]}`` from statsig-python-core."""
    result = core_evaluate_all(spec, users, {kind: names}, **kw)[kind]
    return {name: [row[:2] for row in rows] for name, rows in result.items()}


# ---------------------------------------------------------------- statsig-node


class NodeRun:
    """A running ``node_eval.js`` subprocess; ``result()`` waits for and parses its output.
    Starting it before the Python SDKs run lets the two work in parallel."""

    def __init__(
        self,
        spec: Mapping,
        users: list[Mapping],
        names: Mapping[str, Iterable[str]],
        *,
        id_lists: Mapping[str, Iterable[str]] | None = None,
        environment: str | None = None,
    ):
        payload = {
            "spec": _offline(to_v1(spec)),
            "users": list(users),
            "names": _names(names),
            "id_lists": {name: list(ids) for name, ids in (id_lists or {}).items()},
            "environment": environment,
        }
        self._tmp = tempfile.TemporaryDirectory()
        self._source = Path(self._tmp.name, "in.json")
        self._target = Path(self._tmp.name, "out.json")
        self._source.write_text(json.dumps(payload))
        env = {**os.environ, "NODE_PATH": str(REPO / "node_modules")}
        self._process = subprocess.Popen(
            ["node", str(NODE_SCRIPT), str(self._source), str(self._target)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def result(self, timeout: float = 180) -> dict[str, Results]:
        try:
            _, stderr = self._process.communicate(timeout=timeout)
            if self._process.returncode != 0:
                raise RuntimeError(f"node_eval.js failed: {stderr[-2000:]}")
            result = json.loads(self._target.read_text())
        finally:
            if self._process.poll() is None:
                self._process.kill()
            self._tmp.cleanup()
        if not result["init"]["success"]:
            raise RuntimeError(f"statsig-node did not initialise: {result['init']}")
        return {
            kind: {name: [tuple(row) for row in rows] for name, rows in result[kind].items()}
            for kind in KINDS
        }


def node_evaluate_all(
    spec: Mapping,
    users: list[Mapping],
    names: Mapping[str, Iterable[str]],
    *,
    id_lists: Mapping[str, Iterable[str]] | None = None,
    environment: str | None = None,
) -> dict[str, Results]:
    """statsig-node results from one ``node node_eval.js`` subprocess."""
    return NodeRun(spec, users, names, id_lists=id_lists, environment=environment).result()


def node_results(spec: Mapping, users: list[Mapping], names: Iterable[str], kind="gate", **kw):
    """``{name: [(value, rule_id), ...]}`` from statsig-node."""
    result = node_evaluate_all(spec, users, {kind: names}, **kw)[kind]
    return {name: [row[:2] for row in rows] for name, rows in result.items()}


# ---------------------------------------------------------------- ours


def ours_evaluate_all(
    spec: Mapping,
    users: list[Mapping],
    names: Mapping[str, Iterable[str]],
    *,
    id_lists: Mapping[str, Iterable[str]] | None = None,
    environment: str | None = None,
    exposures: bool = False,
) -> dict[str, Results]:
    """The same shape from ``console.specs.evaluator`` (an SDK option ``environment`` is
    given to our evaluator as each user's ``statsigEnvironment``)."""
    from console.specs.evaluator import Evaluator

    evaluator = Evaluator(spec, id_lists)
    if environment is not None:
        users = [{**user, "statsigEnvironment": {"tier": environment}} for user in users]
    out: dict[str, Results] = {kind: {} for kind in KINDS}
    for kind, kind_names in _names(names).items():
        for name in kind_names:
            rows = []
            for user in users:
                result = evaluator.evaluate(user, name, kind)
                row: tuple = (result.value, result.rule_id, result.group_name)
                if exposures:
                    row = (
                        *row,
                        result.secondary_exposures,
                        result.undelegated_secondary_exposures,
                    )
                rows.append(row)
            out[kind][name] = rows
    return out
