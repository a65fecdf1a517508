"""Incremental spec builds: a project's v1 and v2 download_config_specs (and their
checksums) assembled from cached per-entity fragments, byte-identical to a full build.

API (docs/architecture.md, "Incremental builds"):

    build(project, environment, *, time_ms, v2=True, v1=True) -> BuiltSpec
    build_all(project, [(environment, time_ms), ...], *, v2=True, v1=True) -> list[BuiltSpec]
        (the same, reading what does not depend on the environment once)
        BuiltSpec.v1_json  == spec_json(build_spec(project, environment, time_ms=time_ms))
        BuiltSpec.v2_json  == spec_json(to_v2(build_spec(...)))   ("" when v2=False)
        BuiltSpec.checksum == sha256(v1_json); content_checksum == spec_content_checksum(v1)
        (all three "" when v1=False: a dry run compares behaviour checksums only);
        behaviour_checksum == console.specs.behaviour.behaviour_checksum(v1)
        BuiltSpec.v1_chunks, v2_chunks: the bodies cut into the chunks they are stored as
        ("".join gives the body; Segments, CHUNK_MASK; console.publishing.bodies)
        BuiltSpec.fragments: every entity's Fragment; BuiltSpec.rebuilt: how many
        fragment units this build made (cache misses).
    build_all(..., behaviour_only=True): the behaviour checksums alone (v1 and v2 off), for
        a dry run; its fragments may carry their section, name, key and behaviour only
        (the units a process lacks come from the shared tier's behaviour records, a
        third of the units' size, and stay in a cache of their own).

A fragment is one entity's spec in one section, with its canonical v1 text, its dcs-v2
entry (conditions replaced by condition_map keys, and those conditions), and its behaviour
text (None when inert). Contributors (console.specs.registry, fragment form) give them in
units: `draft.reuse(keys)` takes the cached units of `keys` and returns the keys missing,
`draft.add(key, specs)` builds and caches a unit. A key is a content address: it is derived
from everything the unit's specs are built from (row content digests kept by PostgreSQL,
read in the same statement that reads the rows, the environment when the entity has
environment-scoped rules, the referenced entities' relevant state, and the contributor's
format version), never from a primary key or revision alone. So a unit built inside a
transaction that later rolls back is only ever served for that same content, which gives
the same bytes.

The cache is per process (an LRU of GATEHOUSE_SPEC_FRAGMENT_CACHE units), with a shared
tier in Redis behind it (console.specs.shared_fragments): `reuse` reads the units its
process lacks from there, and `build_all` stores there what it built once the
transaction commits.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from django.conf import settings
from django.db import transaction

from console.specs import shared_fragments
from console.specs.behaviour import behaviour_layers, entity_behaviour
from console.specs.builder import (
    DIAGNOSTICS,
    SPEC_SECTIONS,
    SpecDraft,
    SpecError,
    check_entity,
    condition_key,
    spec_json,
)
from console.specs.registry import Contributor, contributors, fragment_form

if TYPE_CHECKING:
    from console.models import Environment, Project


@dataclass(frozen=True)
class Fragment:
    section: str  # "feature_gates" | "dynamic_configs" | "layer_configs"
    name: str
    key: str  # content address: equal keys <=> byte-equal spec
    v1: str  # spec_json(spec)
    behaviour: str | None  # canonical text of what SDKs answer from it; None when inert
    v2: str  # its member of the dcs-v2 section object: "<name>":<entry without the name>
    conditions: tuple[tuple[str, str, str], ...]  # (condition_map key, ASCII blob, member)

    @cached_property
    def spec(self) -> dict[str, Any]:
        """The v1 spec dict, READ-ONLY, parsed from `v1` when first asked for (the cache
        keeps texts, not millions of small objects for the garbage collector to walk)."""
        spec: dict[str, Any] = json.loads(self.v1)
        return spec


@dataclass(frozen=True)
class BuiltSpec:
    environment_id: int
    time_ms: int
    v1_json: str
    v2_json: str
    # The bodies cut into the chunks they are stored as (console.publishing.bodies):
    # "".join(v1_chunks) == v1_json; each section's entities fall in chunks of their own,
    # so a change to one entity changes one chunk of each body.
    v1_chunks: tuple[str, ...]
    v2_chunks: tuple[str, ...]
    checksum: str
    content_checksum: str
    behaviour_checksum: str
    fragments: tuple[Fragment, ...]
    rebuilt: int = 0
    fetched: int = 0  # units taken from the shared tier


Unit = tuple[Fragment, ...]
T = TypeVar("T")
V = TypeVar("V")


class FragmentCache:
    """A thread-safe LRU of fragment units by key."""

    def __init__(self, size: int):
        self.size = size
        self._units: OrderedDict[str, Unit] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: Iterable[str]) -> tuple[list[Unit], list[str]]:
        """The cached units of `keys`, and the keys not cached (one lock for all)."""
        found: list[Unit] = []
        missing: list[str] = []
        with self._lock:
            units = self._units
            for key in keys:
                unit = units.get(key)
                if unit is None:
                    missing.append(key)
                else:
                    units.move_to_end(key)
                    found.append(unit)
        return found, missing

    def put(self, key: str, unit: Unit) -> None:
        with self._lock:
            self._units[key] = unit
            self._units.move_to_end(key)
            while len(self._units) > self.size:
                self._units.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._units.clear()

    def __len__(self) -> int:
        return len(self._units)


cache = FragmentCache(settings.GATEHOUSE_SPEC_FRAGMENT_CACHE)
# Units of behaviour-only fragments (`_decode_behaviour`), for behaviour-only builds only:
# never served to a build that needs the texts.
behaviour_cache = FragmentCache(settings.GATEHOUSE_SPEC_FRAGMENT_CACHE)


def clear_caches() -> None:
    """Empty this process's caches (as a new process starts): the shared tier stays."""
    cache.clear()
    behaviour_cache.clear()


def _fragments(key: str, specs: Iterable[tuple[str, dict[str, Any]]]) -> Unit:
    out = []
    for index, (section, spec) in enumerate(specs):
        if section not in SPEC_SECTIONS:
            raise SpecError(f"Unknown spec section {section!r}.")
        check_entity(section, spec)
        conditions: list[tuple[str, str, str]] = []
        rules = []
        for rule in spec["rules"]:
            keys = []
            for condition in rule["conditions"]:
                text = spec_json(condition)
                blob = (
                    text
                    if text.isascii()
                    else json.dumps(condition, sort_keys=True, separators=(",", ":"))
                )
                ckey = condition_key(blob)
                keys.append(ckey)
                conditions.append((ckey, blob, f'"{ckey}":{text}'))
            rules.append({**rule, "conditions": keys})
        entry = {k: v for k, v in spec.items() if k != "name"}
        entry["rules"] = rules
        out.append(
            Fragment(
                section=section,
                name=spec["name"],
                key=f"{key}#{index}",
                v1=spec_json(spec),
                behaviour=entity_behaviour(spec),
                v2=spec_json(spec["name"]) + ":" + spec_json(entry),
                conditions=tuple(conditions),
            )
        )
    return tuple(out)


# The shared tier's encoding of a unit: its fragments' fields joined by ASCII separators,
# which JSON text (v1, v2, behaviour, condition blobs and members) never holds unescaped. A
# unit whose other fields hold one anyway (a name, say) is not shared; a stored value that
# does not decode is a miss.
_UNIT, _FIELD, _CONDITION, _PART = "\x1d", "\x1e", "\x1c", "\x1f"
_SEPARATORS = re.compile("[\x1c-\x1f]")


def _encode(unit: Unit) -> bytes | None:
    texts = []
    for f in unit:
        fields = [f.section, f.name, f.key, f.v1, f.behaviour or "", f.v2]
        fields.append(_CONDITION.join(_PART.join(c) for c in f.conditions))
        if _SEPARATORS.search(f.section + f.name + f.key):
            return None
        texts.append(_FIELD.join(fields))
    return _UNIT.join(texts).encode()


# A unit's behaviour record in the shared tier, under its key with this suffix: its
# fragments' section, name, key and behaviour text, all a dry run reads of them.
BEHAVIOUR_SUFFIX = "/behaviour"


def _encode_behaviour(unit: Unit) -> bytes | None:
    texts = []
    for f in unit:
        if _SEPARATORS.search(f.section + f.name + f.key):
            return None
        texts.append(_FIELD.join([f.section, f.name, f.key, f.behaviour or ""]))
    return _UNIT.join(texts).encode()


def _records(key: str, value: bytes, width: int) -> list[list[str]] | None:
    """The fragments' fields (`width` each) that `value` encodes, if it is the unit of
    `key` (or its behaviour record)."""
    try:
        texts = value.decode().split(_UNIT)
    except UnicodeDecodeError:
        return None
    records = [text.split(_FIELD) for text in texts]
    for index, fields in enumerate(records):
        if len(fields) != width or fields[0] not in SPEC_SECTIONS or fields[2] != f"{key}#{index}":
            return None
    return records


def _decode_behaviour(key: str, value: bytes) -> Unit | None:
    """The behaviour-only unit `value` encodes, if it is one and the unit of `key`."""
    records = _records(key, value, 4)
    if records is None:
        return None
    return tuple(
        Fragment(section, name, fragment_key, "", behaviour or None, "", ())
        for section, name, fragment_key, behaviour in records
    )


def _decode(key: str, value: bytes) -> Unit | None:
    """The unit `value` encodes, if it is one and the unit of `key`."""
    records = _records(key, value, 7)
    if records is None:
        return None
    out = []
    for section, name, fragment_key, v1, behaviour, v2, held in records:
        conditions = tuple(tuple(c.split(_PART)) for c in held.split(_CONDITION) if held)
        if any(len(c) != 3 for c in conditions):
            return None
        out.append(
            Fragment(section, name, fragment_key, v1, behaviour or None, v2, conditions)  # type: ignore[arg-type]
        )
    return tuple(out)


class FragmentDraft:
    """What fragment contributors fill for one project and environment: fragment units,
    plus (as SpecDraft) `layers`, `experiment_to_layer` and `id_lists`."""

    def __init__(
        self,
        project: Project,
        environment: Environment,
        shared: dict[str, Any] | None = None,
        *,
        behaviour_only: bool = False,
    ):
        self.project = project
        self.environment = environment
        self._shared = {} if shared is None else shared
        self.behaviour_only = behaviour_only
        self.layers: dict[str, list[str]] = {}
        self.experiment_to_layer: dict[str, str] = {}
        self.id_lists: dict[str, bool] = {}
        self.units: list[Unit] = []
        self.rebuilt = 0
        self.fetched = 0  # units taken from the shared tier
        self.new: dict[str, Unit] = {}  # units this draft built, for the shared tier
        self.uncached = 0  # units of contributors without a fragment form

    def memo(self, name: str, read: Callable[[], T]) -> T:
        """`read()`, once for all the environments of one build_all: for reads that do not
        depend on the environment (rows and their digests, as read once)."""
        if name not in self._shared:
            self._shared[name] = read()
        value: T = self._shared[name]
        return value

    def reuse(self, keys: Iterable[str]) -> set[str]:
        """Take the cached units of `keys` into this build, from this process's cache or
        else the shared tier; return the keys found in neither (the contributor builds and
        `add`s those, keyed as read with their rows)."""
        found, missing = cache.get_many(keys)
        self.units += found
        if self.behaviour_only:
            found, missing = behaviour_cache.get_many(missing)
            self.units += found
            tier = shared_fragments.get_many([key + BEHAVIOUR_SUFFIX for key in missing])
            fetched = {k.removesuffix(BEHAVIOUR_SUFFIX): v for k, v in tier.items()}
            decode, into = _decode_behaviour, behaviour_cache
        else:
            fetched, decode, into = shared_fragments.get_many(missing), _decode, cache
        left = set(missing)
        for key, value in fetched.items():
            unit = decode(key, value)
            if unit is not None:
                into.put(key, unit)
                self.units.append(unit)
                self.fetched += 1
                left.discard(key)
        return left

    def add(self, key: str, specs: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Build the unit of `key` (its specs, as (section, v1 spec) pairs), cache it and
        take it into this build. `key` must address everything the specs are built from."""
        unit = _fragments(key, specs)
        cache.put(key, unit)
        self.units.append(unit)
        self.new[key] = unit
        self.rebuilt += 1

    def add_uncached(self, specs: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Take specs into this build without caching them (contributors without a
        fragment form)."""
        self.uncached += 1
        self.units.append(_fragments(f"uncached:{self.uncached}", specs))
        self.rebuilt += 1


def _plain(
    contribute: Contributor, project: Project, environment: Environment, draft: FragmentDraft
) -> None:
    spec_draft = SpecDraft(project=project, environment=environment)
    contribute(project, environment, spec_draft)
    for section in SPEC_SECTIONS:
        for spec in getattr(spec_draft, section):
            draft.add_uncached([(section, spec)])
    draft.layers.update(spec_draft.layers)
    draft.experiment_to_layer.update(spec_draft.experiment_to_layer)
    draft.id_lists.update(spec_draft.id_lists)


def _object_pieces(parts: Mapping[str, V], *, ascii_keys: bool = False) -> list[str | V]:
    """The pieces of a JSON object from already-serialised values, keys sorted as
    json.dumps does: "".join(pieces) is the object. Joined once, not piece by piece (the
    sections of a large project are tens of megabytes, and every copy counts)."""
    pieces: list[str | V] = ["{"]
    for key in sorted(parts):
        pieces += (json.dumps(key, ensure_ascii=ascii_keys), ":", parts[key], ",")
    if len(pieces) == 1:
        return ["{}"]
    pieces[-1] = "}"
    return pieces


def _object_segments(parts: dict[str, str | Segments]) -> list[str]:
    """The JSON object of `parts` (keys sorted as json.dumps sorts them) as the texts it is
    stored as: each Segments value's texts as they are, what lies between them joined."""
    out: list[str] = []
    glue: list[str] = []
    for piece in _object_pieces(parts):
        if isinstance(piece, Segments):
            out += ("".join(glue), *piece)
            glue = []
        else:
            glue.append(piece)
    out.append("".join(glue))
    return out


def _behaviour_dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def build(
    project: Project,
    environment: Environment,
    *,
    time_ms: int,
    v2: bool = True,
    v1: bool = True,
) -> BuiltSpec:
    """The spec of `project` for `environment`, from cached fragments where the content
    they were built from is unchanged. Raises SpecError as build_spec does. `v1=False`
    leaves out the v1 text and its two checksums (a dry run only compares behaviour
    checksums); `v2=False` the v2 text."""
    return build_all(project, [(environment, time_ms)], v2=v2, v1=v1)[0]


def build_all(
    project: Project,
    environments: Iterable[tuple[Environment, int]],
    *,
    v2: bool = True,
    v1: bool = True,
    behaviour_only: bool = False,
) -> list[BuiltSpec]:
    """`build` for several (environment, time_ms) of one project, in order; the reads that
    do not depend on the environment are done once (FragmentDraft.memo). `behaviour_only`:
    the behaviour checksums alone (the module's docstring)."""
    if behaviour_only:
        v1 = v2 = False
    shared: dict[str, Any] = {}
    new: dict[str, Unit] = {}
    built = [
        _build(project, environment, time_ms, v2, v1, shared, new, behaviour_only)
        for environment, time_ms in environments
    ]
    if new:
        # Stored once the transaction commits (no Redis I/O under the project's lock; a
        # rolled-back build's units stay in this process only).
        transaction.on_commit(lambda: _share(new))
    return built


def _share(units: dict[str, Unit]) -> None:
    def encoded() -> Iterator[tuple[str, bytes]]:
        for key, unit in units.items():
            full, behaviour = _encode(unit), _encode_behaviour(unit)
            if full is not None and behaviour is not None:
                yield key, full
                yield key + BEHAVIOUR_SUFFIX, behaviour

    shared_fragments.put_many(encoded())


@dataclass(frozen=True)
class _Texts:
    """What a build makes of its fragments, by section ("" or () where not asked for)."""

    v1: dict[str, Segments]  # "[<v1>,...]"
    behaviour: dict[str, str]  # "[<behaviour>,...]", inert ones left out
    inert: dict[str, set[str]]  # the names of the inert ones
    v2: dict[str, Segments]  # "{<name>:<entry>,...}"
    condition_map: Segments  # "{<key>:<condition>,...}", sorted by key


class Segments(tuple[str, ...]):
    """A JSON value as consecutive texts ("".join is the value) cut at content-defined
    places: the body's chunks (BuiltSpec.v1_chunks)."""

    __slots__ = ()


# A chunk ends after a member whose name's CRC-32 has these bits clear: one in 64 on
# average, wherever the member sits, so adding, removing or changing one entity changes
# the chunk holding it and leaves the others' bytes, and their digests, as they were.
CHUNK_MASK = 63


def _segments(open_: str, members: Iterable[tuple[str, str]], close: str) -> Segments:
    """`open_` + the members' texts joined by "," + `close`, cut after each member whose
    name (the first of each pair) meets CHUNK_MASK."""
    cut: list[str] = []
    run: list[str] = []
    for name, text in members:
        run.append(text)
        if not zlib.crc32(name.encode()) & CHUNK_MASK:
            cut.append(",".join(run))
            run = []
    if run or not cut:
        cut.append(",".join(run))
    last = len(cut) - 1
    return Segments(
        (open_ if i == 0 else ",") + text + (close if i == last else "")
        for i, text in enumerate(cut)
    )


def _assemble(sections: dict[str, list[Fragment]], *, v1: bool, v2: bool) -> _Texts:
    condition_map: dict[str, tuple[str, str]] = {}
    if v2:
        for fragments in sections.values():
            for fragment in fragments:
                for ckey, blob, member in fragment.conditions:
                    held = condition_map.get(ckey)
                    if held is None:
                        condition_map[ckey] = (blob, member)
                    elif held[0] != blob:
                        raise SpecError(f"Two different conditions hash to the key {ckey}.")
    return _Texts(
        v1={
            section: _segments("[", ((f.name, f.v1) for f in fragments), "]") if v1 else Segments()
            for section, fragments in sections.items()
        },
        behaviour={
            section: "[" + ",".join(f.behaviour for f in fragments if f.behaviour is not None) + "]"
            for section, fragments in sections.items()
        },
        inert={
            section: {f.name for f in fragments if f.behaviour is None}
            for section, fragments in sections.items()
        },
        # Fragments are sorted by name: the order json.dumps sorts an object's keys in.
        v2={
            section: _segments("{", ((f.name, f.v2) for f in fragments), "}") if v2 else Segments()
            for section, fragments in sections.items()
        },
        condition_map=_segments("{", ((k, condition_map[k][1]) for k in sorted(condition_map)), "}")
        if v2
        else Segments(),
    )


def _build(
    project: Project,
    environment: Environment,
    time_ms: int,
    v2: bool,
    v1: bool,
    shared: dict[str, Any],
    new: dict[str, Unit],
    behaviour_only: bool = False,
) -> BuiltSpec:
    if isinstance(time_ms, bool) or not isinstance(time_ms, int) or time_ms <= 0:
        raise SpecError("time_ms is a positive integer (epoch milliseconds).")
    if environment.project_id != project.pk:
        raise SpecError("The environment belongs to another project.")
    draft = FragmentDraft(project, environment, shared, behaviour_only=behaviour_only)
    for contribute in contributors():
        form = fragment_form(contribute)
        if form is None:
            _plain(contribute, project, environment, draft)
        else:
            form(project, environment, draft)
    new.update(draft.new)

    sections: dict[str, list[Fragment]] = {section: [] for section in SPEC_SECTIONS}
    for unit in draft.units:
        for fragment in unit:
            sections[fragment.section].append(fragment)
    for section, fragments in sections.items():
        fragments.sort(key=lambda f: f.name)
        for before, after in zip(fragments, fragments[1:], strict=False):
            if before.name == after.name:
                raise SpecError(f"Two specs in {section} are named {after.name!r}.")

    layers = {name: sorted(exps) for name, exps in sorted(draft.layers.items())}
    experiment_to_layer = dict(sorted(draft.experiment_to_layer.items()))
    small: dict[str, Any] = {
        "has_updates": True,
        "layers": layers,
        "experiment_to_layer": experiment_to_layer,
        "id_lists": dict.fromkeys(sorted(draft.id_lists), True),
        "diagnostics": dict(DIAGNOSTICS),
        "default_environment": environment.tier,
        "sdk_keys_to_app_ids": {},
        "hashed_sdk_keys_to_app_ids": {},
    }

    # v1, and its content checksum (the same text with time 0). `time` sorts last among
    # the top-level keys, so both texts share everything before its value: one join and
    # one hash pass over that prefix serve both.
    # Environments whose fragments are the same (no environment-scoped entity, or the same
    # ones) share the texts made from them: assembled once per build_all.
    texts = None
    if not draft.uncached:
        signature = (v1, v2, *(tuple(f.key for f in fs) for fs in sections.values()))
        assembled = shared.setdefault("incremental.assembled", {})
        texts = assembled.get(signature)
    if texts is None:
        texts = _assemble(sections, v1=v1, v2=v2)
        if not draft.uncached:
            assembled[signature] = texts

    parts: dict[str, str | Segments] = {key: spec_json(value) for key, value in small.items()}
    v1_chunks: list[str] = []
    v1_json = checksum = content_checksum = ""
    if v1:
        tail = str(time_ms)  # the value of "time", the last key
        v1_chunks = _object_segments({**parts, **texts.v1, "time": tail})
        v1_json = "".join(v1_chunks)
        encoded = memoryview(v1_json.encode())
        end = len(encoded) - len(tail) - 1  # the digits and "}" are ASCII
        hashed = hashlib.sha256(encoded[:end])
        content = hashed.copy()
        content.update(b"0}")
        hashed.update(encoded[end:])
        checksum, content_checksum = hashed.hexdigest(), content.hexdigest()

    # What SDKs answer (console.specs.behaviour): inert entities and bookkeeping left out.
    inert = texts.inert
    behaviour_small = {
        **small,
        "time": 0,
        "layers": behaviour_layers(layers, inert["dynamic_configs"], inert["layer_configs"]),
        "experiment_to_layer": {
            name: layer
            for name, layer in experiment_to_layer.items()
            if name not in inert["dynamic_configs"]
        },
    }
    behaviour_parts = {key: _behaviour_dumps(value) for key, value in behaviour_small.items()}
    behaviour_parts.update(texts.behaviour)
    behaviour = hashlib.sha256()
    for piece in _object_pieces(behaviour_parts, ascii_keys=True):
        behaviour.update(piece.encode())
    behaviour_checksum = behaviour.hexdigest()

    v2_chunks: list[str] = []
    if v2:
        v2_parts = dict(parts)  # (the sections are v2's own, below)
        del v2_parts["layers"]
        v2_parts.update(texts.v2)
        v2_parts["condition_map"] = texts.condition_map
        v2_parts["response_format"] = json.dumps("dcs-v2")
        v2_parts["time"] = str(time_ms)
        v2_chunks = _object_segments(v2_parts)

    return BuiltSpec(
        environment_id=environment.pk,
        time_ms=time_ms,
        v1_json=v1_json,
        v2_json="".join(v2_chunks),
        v1_chunks=tuple(v1_chunks),
        v2_chunks=tuple(v2_chunks),
        checksum=checksum,
        content_checksum=content_checksum,
        behaviour_checksum=behaviour_checksum,
        fragments=tuple(f for fragments in sections.values() for f in fragments),
        rebuilt=draft.rebuilt,
        fetched=draft.fetched,
    )
