"""What a change does to the SDKs: which environments' evaluations it changes, and for how
many users (the review page's impact preview)."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from console.models import ConfigSpec, Environment, Project
from console.publishing import bodies
from console.publishing.idlists import id_list_files
from console.specs.behaviour import behaviour_checksum
from console.specs.evaluator import Evaluator
from console.specs.incremental import build_all


def _fingerprint(behaviour: str, project: Project, environment: Environment) -> str:
    """What SDKs answer in `environment`: its spec's behaviour checksum
    (console.specs.behaviour) and, as large ID lists are files beside the spec, theirs."""
    files = sorted((f.name, f.file_id, f.size) for f in id_list_files(project, environment))
    text = json.dumps([behaviour, files], separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _built_behaviours(project: Project, environments: list[Environment]) -> list[str]:
    built = build_all(
        project, [(environment, 1) for environment in environments], behaviour_only=True
    )
    return [spec.behaviour_checksum for spec in built]


def specs_now(project: Project, environments: list[Environment]) -> dict[str, dict[str, Any]]:
    """The v1 spec of each environment (by name) as the configuration stands in the current
    transaction (`time` 1, as build_spec gives it): incremental builds, parsed."""
    built = build_all(project, [(environment, 1) for environment in environments], v2=False)
    return {
        environment.name: json.loads(spec.v1_json)
        for environment, spec in zip(environments, built, strict=True)
    }


def environment_fingerprints(project: Project) -> dict[str, str]:
    """A checksum per environment of what its spec makes SDKs answer, as the configuration
    stands in the current transaction (after a change set's dry run): incremental builds
    (console.specs.incremental), which reuse every fragment the change left alone."""
    environments = list(Environment.objects.filter(project=project).order_by("pk"))
    return {
        environment.name: _fingerprint(checksum, project, environment)
        for environment, checksum in zip(
            environments, _built_behaviours(project, environments), strict=True
        )
    }


def published_fingerprints(project: Project) -> dict[str, str]:
    """The same checksums of what SDKs get now: each environment's newest published spec's
    stored behaviour checksum (neither parsed nor rebuilt; a row published before the
    column had it is parsed once), or the configuration as it stands for an environment
    never published."""
    environments = list(Environment.objects.filter(project=project).order_by("pk"))
    newest = {
        spec.environment_id: spec
        for spec in ConfigSpec.objects.filter(environment__in=environments)
        .order_by("environment_id", "-time_ms")
        .distinct("environment_id")
        .only("environment_id", "behaviour_checksum")
    }
    unpublished = [e for e in environments if e.pk not in newest]
    built = dict(zip(unpublished, _built_behaviours(project, unpublished), strict=True))
    fingerprints = {}
    for environment in environments:
        spec = newest.get(environment.pk)
        if spec is None:
            checksum = built[environment]
        elif spec.behaviour_checksum:
            checksum = spec.behaviour_checksum
        else:
            spec.refresh_from_db(fields=["v1_chunks"])
            checksum = behaviour_checksum(json.loads(spec.v1_json))
        fingerprints[environment.name] = _fingerprint(checksum, project, environment)
    return fingerprints


# ---------------------------------------------------------------- impact preview

SAMPLE_SIZE = 2000
# The sample is the same in every view of every change set: reviewers compare counts.
SEED = 0
_TOP_LEVEL_FIELDS = {"userID", "email", "ip", "userAgent", "country", "locale", "appVersion"}
_DOMAINS = ("corp.example", "gmail.com", "example.org", "yahoo.co.jp")
_COUNTRIES = ("US", "CA", "GB", "DE", "FR", "JP", "BR", "IN", "NZ")
# Where each kind lives in a spec: (evaluator kind, name prefix)
_SPEC_PLACE = {
    "gate": ("gate", ""),
    "segment": ("gate", "segment:"),
    "holdout": ("gate", ""),
    "dynamic_config": ("config", ""),
    "experiment": ("config", ""),
    "layer": ("layer", ""),
}


def spec_name(kind: str, name: str) -> tuple[str, str]:
    """Where an entity of `kind` named `name` lives in the SDKs' namespace: (evaluator
    kind, name in the spec), case folded. Experiments and dynamic configs share one, as do
    gates and holdouts; segments have their prefix."""
    place, prefix = _SPEC_PLACE.get(kind, (kind, ""))
    return place, (prefix + name).lower()


@dataclass
class EntityImpact:
    kind: str
    name: str
    environments: list[str]  # those where the sample changed alike
    changed: int
    sample: int
    examples: list[dict[str, Any]]

    @property
    def percent(self) -> float:
        return 100.0 * self.changed / self.sample if self.sample else 0.0


@dataclass
class Impact:
    sample_size: int
    entities: list[EntityImpact] = field(default_factory=list)
    error: str | None = None


def _targets(spec_entry: Mapping | None) -> list[tuple[str | None, str | None, Any]]:
    """(field, idType, value) of the conditions that read user data, for synthetic users
    that land on both sides of them."""
    found = []
    for rule in (spec_entry or {}).get("rules", []):
        for condition in rule.get("conditions", []):
            if condition.get("type") not in ("user_field", "unit_id"):
                continue
            values = condition.get("targetValue")
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                    field_name = (
                        condition.get("field") if condition["type"] == "user_field" else None
                    )
                    found.append((field_name, condition.get("idType"), value))
    return found


def synthetic_users(n: int, targets: list[tuple], seed: int) -> list[dict[str, Any]]:
    """`n` users: random IDs, emails and countries, half of them carrying a value some
    condition of the change looks for (so both sides of each rule are sampled)."""
    rng = random.Random(seed)
    users = []
    for i in range(n):
        user: dict[str, Any] = {
            "userID": f"impact-{seed}-{i}",
            "email": f"user{i}@{rng.choice(_DOMAINS)}",
            "country": rng.choice(_COUNTRIES),
            "custom": {},
            "customIDs": {},
        }
        if targets and rng.random() < 0.5:
            field_name, id_type, value = rng.choice(targets)
            if field_name is None:
                if id_type in (None, "", "userID"):
                    user["userID"] = str(value)
                else:
                    user["customIDs"][id_type] = str(value)
            elif field_name in _TOP_LEVEL_FIELDS:
                user[field_name] = value
            elif isinstance(value, str) and field_name.lower() == "email":
                user["email"] = value
            else:
                user["custom"][field_name] = value
        users.append(user)
    return users


def _entry(spec: Mapping, kind: str, name: str) -> Mapping | None:
    section = {"gate": "feature_gates", "config": "dynamic_configs", "layer": "layer_configs"}
    for entry in spec.get(section[kind], []):
        if entry.get("name") == name:
            return entry
    return None


# What an experiment answers a user it holds in no group (draft, not targeted, not
# allocated, held out, abandoned, missing): its defaults, which the app's code holds too
# (the SDKs' `get(name, fallback)`), so the parameter values are not compared.
DEFAULTS = "defaults"


def answer(evaluator: Evaluator, user: dict, kind: str, name: str) -> Any:
    """What the SDK returns `user` for one entity, as the app sees it: a gate's value
    (False when the gate is missing or archived), a config's value ({} when missing), an
    experiment's group and values, or DEFAULTS when it holds the user in no group."""
    eval_kind, prefix = _SPEC_PLACE[kind]
    result = evaluator.evaluate(user, prefix + name, eval_kind)
    if eval_kind == "gate":
        return result.value
    if kind == "experiment":
        if result.group_name is None:
            return DEFAULTS
        return {"group": result.group_name, "value": result.value}
    if result.group_name:  # a layer answering through one of its experiments
        return {"group": result.group_name, "value": result.value}
    return result.value


def sample_for(
    before: Mapping[str, Mapping],
    after: Mapping[str, Mapping],
    entities: list[tuple[str, str]],
    sample_size: int,
) -> list[dict[str, Any]]:
    """One fixed sample for a whole preview: the same users for every entity and
    environment, drawn with a constant seed from the values every changed entity's
    conditions look for, before and after (so a change set previewed while open and once
    applied samples the same users)."""
    targets: set[tuple] = set()
    for specs in (before, after):
        for spec in specs.values():
            for kind, name in entities:
                eval_kind, prefix = _SPEC_PLACE[kind]
                for target in _targets(_entry(spec or {}, eval_kind, prefix + name)):
                    targets.add((target[0] or "", target[1] or "", str(target[2]), target))
    ordered = [t[3] for t in sorted(targets, key=lambda t: t[:3])]
    return synthetic_users(sample_size, ordered, SEED)


def compare_specs(
    before: Mapping[str, Mapping],
    after: Mapping[str, Mapping],
    entities: list[tuple[str, str]],
    *,
    sample_size: int = SAMPLE_SIZE,
) -> list[EntityImpact]:
    """For each environment (name → spec before and after) and changed entity (kind, name):
    how many users of one fixed sample get another answer from the SDK, with a few
    examples. Environments where an entity's answers changed alike share one item."""
    users = sample_for(before, after, entities, sample_size)
    impacts: list[EntityImpact] = []
    for env_name in after:
        old, new = Evaluator(before.get(env_name) or {}), Evaluator(after[env_name])
        for kind, name in entities:
            changed = 0
            examples: list[dict[str, Any]] = []
            for user in users:
                was = answer(old, user, kind, name)
                now = answer(new, user, kind, name)
                if was != now:
                    changed += 1
                    if len(examples) < 5:
                        examples.append({"user": user, "before": was, "after": now})
            same = next(
                (
                    i
                    for i in impacts
                    if (i.kind, i.name, i.changed, i.examples) == (kind, name, changed, examples)
                ),
                None,
            )
            if same is not None:
                same.environments.append(env_name)
            else:
                impacts.append(EntityImpact(kind, name, [env_name], changed, len(users), examples))
    return sorted(impacts, key=lambda i: entities.index((i.kind, i.name)))


def impact_preview(change_set, *, sample_size: int = SAMPLE_SIZE) -> Impact:
    """How many of `sample_size` synthetic users each changed entity answers differently,
    per touched environment: an open change set against the configuration now (by a dry
    run), an applied one against the version before it."""
    from console.exceptions import ApplicationError
    from console.models import ConfigSpec
    from reviews.services import changeset_specs_after

    impact = Impact(sample_size)
    project = change_set.project
    changes = list(change_set.changes.all())
    entities = [(c.kind, c.entity_name) for c in changes if c.kind in _SPEC_PLACE]
    environments = list(
        Environment.objects.filter(project=project, name__in=change_set.environments)
    )
    if not entities or not environments:
        return impact
    version = change_set.ruleset_version
    if version is not None:
        rows = list(
            ConfigSpec.objects.filter(
                environment__in=environments,
                ruleset_version__number__in=[version.number - 1, version.number],
            ).select_related("environment", "ruleset_version")
        )
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for row, body in zip(rows, bodies.texts([row.v1_chunks for row in rows]), strict=True):
            side = after if row.ruleset_version_id == version.pk else before
            side[row.environment.name] = json.loads(body)
    else:
        before = specs_now(project, environments)
        try:
            after = changeset_specs_after(change_set, environments)
        except ApplicationError as exc:
            impact.error = exc.message
            return impact
    impact.entities = compare_specs(before, after, entities, sample_size=sample_size)
    return impact
