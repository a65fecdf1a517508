"""Which group an exposure's rule ID stands for, read from the specs we published.

Exposure events carry the rule that served the value, never the group. The published
download_config_specs of the environment says, per config, its unit type (`idType`) and,
per experiment group rule (`isExperimentGroup`), its `groupName`. Rule IDs outlive a spec
(a stopped group's exposures still arrive from SDKs holding the older spec), so the index
merges the environment's recent specs, newest first. It is kept per process and rebuilt
when the environment publishes a newer spec.

Client SDKs name an experiment by the name /v1/initialize gave them: @statsig/js-client's
layer exposures carry `allocatedExperiment` hashed (djb2 by default, sha256 for older
clients), so the index also knows each config by its hashed names.

Holdouts are gates with `entity: "holdout"`. The SDKs report a holdout check only among the
secondary exposures of the experiment or layer exposure that evaluated it (pass_gate), so
the index knows them by name and, as client SDKs report secondary exposures, hashed.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

from console.models import ConfigSpec
from console.publishing import bodies
from console.publishing.client_init import hash_name

# How many of an environment's latest specs the index reads.
SPECS_READ = 20


@dataclass(slots=True)
class SpecIndex:
    time_ms: int | None = None
    # (kind, name) -> idType; kind is "gate" or "config".
    id_types: dict[tuple[str, str], str] = field(default_factory=dict)
    # (config name, rule ID) -> group name, experiment group rules only.
    groups: dict[tuple[str, str], str] = field(default_factory=dict)
    # A config's name hashed as /v1/initialize hashes it (djb2, sha256) -> the name.
    hashed: dict[str, str] = field(default_factory=dict)
    # A holdout's name, and its name hashed as /v1/initialize hashes it -> its name.
    holdouts: dict[str, str] = field(default_factory=dict)

    def config_name(self, name: str) -> str:
        """The config that `name` stands for: itself when a config has that name, else the
        config whose hashed name it is (as js-client reports a layer's allocated experiment),
        else `name` as it came."""
        if ("config", name) in self.id_types:
            return name
        return self.hashed.get(name, name)

    def id_type(self, kind: str, name: str) -> str:
        return self.id_types.get((kind, name), "userID")

    def group(self, kind: str, name: str, rule_id: str, gate_value: str | None) -> str:
        if kind == "gate":
            return "pass" if gate_value == "true" else "fail"
        return self.groups.get((name, rule_id), "")


_lock = threading.Lock()
_cache: dict[int, SpecIndex] = {}


def spec_index(environment_id: int) -> SpecIndex:
    latest = (
        ConfigSpec.objects.filter(environment_id=environment_id)
        .order_by("-time_ms")
        .values_list("time_ms", flat=True)
        .first()
    )
    with _lock:
        cached = _cache.get(environment_id)
    if cached is not None and cached.time_ms == latest:
        return cached
    index = SpecIndex(time_ms=latest)
    chunk_lists = (
        ConfigSpec.objects.filter(environment_id=environment_id)
        .order_by("-time_ms")
        .values_list("v1_chunks", flat=True)[:SPECS_READ]
    )
    for body in bodies.texts(list(chunk_lists)):
        _merge(index, json.loads(body))
    with _lock:
        _cache[environment_id] = index
    return index


def _merge(index: SpecIndex, spec: dict) -> None:
    """Add what `spec` knows and the index does not yet (newer specs are merged first)."""
    for kind, section in (("gate", "feature_gates"), ("config", "dynamic_configs")):
        for config in spec.get(section) or []:
            name = config.get("name")
            if not isinstance(name, str):
                continue
            index.id_types.setdefault((kind, name), config.get("idType") or "userID")
            if kind == "gate" and config.get("entity") == "holdout":
                index.holdouts.setdefault(name, name)
                for algorithm in ("djb2", "sha256"):
                    index.holdouts.setdefault(hash_name(name, algorithm), name)
            if kind != "config":
                continue
            for algorithm in ("djb2", "sha256"):
                index.hashed.setdefault(hash_name(name, algorithm), name)
            for rule in config.get("rules") or []:
                if rule.get("isExperimentGroup") and rule.get("groupName"):
                    index.groups.setdefault((name, rule.get("id")), rule["groupName"])
