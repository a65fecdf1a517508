"""Incremental spec builds (console.specs.incremental): byte-identical to a full build on a
generated project with every entity shape, and a change rebuilds only the fragments of
what it touched."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.db import connection, transaction
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.test import TestCase
from django.utils import timezone

from console.models import ConfigSpec, Environment, SpecChunk
from console.publishing.services import spec_content_checksum, spec_publish
from console.specs import incremental
from console.specs.behaviour import behaviour_checksum
from console.specs.builder import SpecError, build_spec, spec_json, to_v2
from console.specs.registry import register_contributor, unregister_contributor
from experiments import services as experiment_services
from experiments.documents import layer_to_document
from experiments.management.commands.experiments_bench_spec import bench_experiments_create
from experiments.models import Experiment, Layer
from gates import services as gate_services
from gates.documents import gate_to_document
from gates.management.commands.gates_bench_spec import bench_gates_create
from gates.models import FeatureGate, Segment
from gates.specs import DIGESTED, INLINE_ID_LIMIT, digest_sql, digest_trigger_sql
from tests.experiments.factories import experiment_document, holdout_document, layer_document
from tests.gates.factories import (
    condition,
    config_document,
    gate_document,
    rule,
    segment_document,
)

TIME = 1_700_000_000_000

pytestmark = pytest.mark.usefixtures("redis_flushed")


class _Rollback(Exception):
    pass


@pytest.fixture(autouse=True)
def _cold_cache():
    incremental.clear_caches()
    yield
    incremental.clear_caches()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _environments(project) -> list[Environment]:
    return list(Environment.objects.filter(project=project).order_by("pk"))


def _both_ways(project, *, compare: bool = True) -> int:
    """Build every environment both ways and compare (by checksum: the bodies are megabytes);
    returns how many fragment units the incremental builds made. `compare=False`: the
    incremental builds only (the reference build of a large project takes seconds)."""
    rebuilt = 0
    environments = _environments(project)
    with TestCase.captureOnCommitCallbacks(execute=True):  # (units stored on commit)
        every = incremental.build_all(project, [(e, TIME) for e in environments])
    if not compare:
        return sum(built.rebuilt for built in every)
    for environment, built in zip(environments, every, strict=True):
        v1 = build_spec(project, environment, time_ms=TIME)
        assert _sha(built.v1_json) == _sha(spec_json(v1)), environment.name
        assert _sha(built.v2_json) == _sha(spec_json(to_v2(v1))), environment.name
        assert built.checksum == _sha(spec_json(v1))
        assert "".join(built.v1_chunks) == built.v1_json  # what is stored: the same bytes
        assert "".join(built.v2_chunks) == built.v2_json
        assert built.content_checksum == spec_content_checksum(v1)
        assert built.behaviour_checksum == behaviour_checksum(v1)
        assert [f.name for f in built.fragments if f.section == "feature_gates"] == [
            s["name"] for s in v1["feature_gates"]
        ]
        rebuilt += built.rebuilt
    # A dry run's build (checksums of behaviour only) agrees, from the fragments just made.
    light = incremental.build_all(
        project, [(environment, TIME) for environment in environments], v1=False, v2=False
    )
    for built, only in zip(every, light, strict=True):
        assert (only.v1_json, only.checksum, only.content_checksum) == ("", "", "")
        assert only.behaviour_checksum == built.behaviour_checksum
    return rebuilt


def _generated(project, actor, gates):
    """`gates` bench gates and a tenth as many bench experiments over layers (with a global
    and a chosen holdout), plus one of every other shape: environment-scoped rules and
    overrides, launched and disabled gates, segments of both kinds (inline and file ID
    lists), a dynamic config, experiments targeting a gate, inline conditions and a
    segment override."""
    bench_gates_create(project, gates)
    bench_experiments_create(project, max(gates // 10, 20), max(gates // 200, 1))
    create = gate_services.gate_create
    create(
        actor=actor,
        project=project,
        document=gate_document(
            "scoped",
            rules=[rule("prod only", environments=["production"]), rule(pass_percentage=40)],
            overrides=[
                {"environment": None, "passingIDs": ["a", "b"], "failingIDs": ["c"]},
                {"environment": "production", "passingIDs": ["c"], "failingIDs": ["d"]},
            ],
        ),
    )
    create(actor=actor, project=project, document=gate_document("launched", status="launched"))
    create(actor=actor, project=project, document=gate_document("off", isEnabled=False))
    create(actor=actor, project=project, document=gate_document("beta", rules=[rule()]))
    segment = gate_services.segment_create
    segment(
        actor=actor,
        project=project,
        document=segment_document("staff", rules=[rule(environments=["development"])]),
    )
    small = segment(
        actor=actor, project=project, document=segment_document("small", type="id_list")
    )
    large = segment(
        actor=actor, project=project, document=segment_document("large", type="id_list")
    )
    gate_services.segment_ids_add(actor=actor, segment=small, ids=["b", "a"])
    gate_services.segment_ids_add(
        actor=actor, segment=large, ids=[f"u{n}" for n in range(INLINE_ID_LIMIT + 1)]
    )
    create(
        actor=actor,
        project=project,
        document=gate_document(
            "staff_only", rules=[rule(conditions=[condition("passes_segment", target="staff")])]
        ),
    )
    gate_services.dynamic_config_create(
        actor=actor,
        project=project,
        document=config_document(
            "prices", rules=[rule(environments=["staging"], returnValue={"p": 1})]
        ),
    )
    for document in (
        experiment_document("targeted", targetingGateID="beta"),
        experiment_document(
            "inline",
            targetingConditions=[condition("passes_segment", target="staff")],
            overrides=[{"group": "Test", "unitIDs": ["u1"], "segments": ["staff"]}],
        ),
    ):
        experiment = experiment_services.experiment_create(
            actor=actor, project=project, document=document
        )
        experiment_services.experiment_start(actor=actor, experiment=experiment)
    experiment_services.holdout_create(
        actor=actor, project=project, document=holdout_document(experimentIDs=["targeted"])
    )
    # A layer no experiment is in yet: its spec still serves its defaults.
    experiment_services.layer_create(
        actor=actor, project=project, document=layer_document("zz_empty_layer")
    )


def _changes_rebuild_only_what_they_touch(project, actor, *, compare_each: bool = True):
    """Each change rebuilds only what it touches; the builds equal the reference build at
    the start and the end, and after each change unless `compare_each` is false."""
    environments = len(_environments(project))
    assert _both_ways(project) > 0
    assert _both_ways(project, compare=compare_each) == 0  # warm: every fragment reused

    # One gate (not environment-scoped: one fragment serves every environment).
    gate = FeatureGate.objects.get(project=project, name="gate_000007")
    document = gate_to_document(gate)
    document["rules"][2]["passPercentage"] = 55
    gate_services.gate_update(actor=actor, gate=gate, document=document)
    assert _both_ways(project, compare=compare_each) == 1

    # One environment-scoped gate: its fragment per environment.
    gate = FeatureGate.objects.get(project=project, name="scoped")
    document = gate_to_document(gate)
    document["rules"][1]["passPercentage"] = 41
    gate_services.gate_update(actor=actor, gate=gate, document=document)
    assert _both_ways(project, compare=compare_each) == environments

    # One ID-list segment's IDs.
    small = Segment.objects.get(project=project, name="small")
    gate_services.segment_ids_add(actor=actor, segment=small, ids=["c"])
    assert _both_ways(project, compare=compare_each) == 1

    # One layer: the layer and the experiments in it (their defaults are the layer's).
    layer = Layer.objects.filter(project=project).order_by("name")[0]
    document = layer_to_document(layer)
    document["parameters"][0]["defaultValue"] = "changed"
    experiment_services.layer_update(actor=actor, layer=layer, document=document)
    members = Experiment.objects.filter(layer=layer, archived_at__isnull=True).count()
    assert _both_ways(project, compare=compare_each) == 1 + members

    # A layer without experiments: the layer alone.
    empty = Layer.objects.get(project=project, name="zz_empty_layer")
    document = layer_to_document(empty)
    document["parameters"][0]["defaultValue"] = "changed"
    experiment_services.layer_update(actor=actor, layer=empty, document=document)
    assert _both_ways(project, compare=compare_each) == 1

    # A gate an experiment targets, archived (behind the services' back: they refuse while
    # it is in use): the gate goes, the experiment is rebuilt (it now targets nobody).
    FeatureGate.objects.filter(project=project, name="beta").update(
        archived_at=timezone.now(), status="archived"
    )
    assert _both_ways(project, compare=compare_each) == 1

    # The same for a segment an experiment's inline targeting and override name.
    Segment.objects.filter(project=project, name="staff").update(archived_at=timezone.now())
    assert _both_ways(project, compare=compare_each) == 1

    # A process that has built nothing yet (its own cache empty) takes every unit from the
    # shared tier (Redis): nothing is rebuilt, and the bytes are the same.
    incremental.clear_caches()
    assert _both_ways(project) == 0


def test_build__generated_project__identical_and_rebuilds_only_changes(project, project_admin):
    _generated(project, project_admin, 300)
    _changes_rebuild_only_what_they_touch(project, project_admin)


@pytest.mark.slow
def test_build__10000_gates__identical_and_rebuilds_only_changes(project, project_admin):
    _generated(project, project_admin, 10_000)
    _changes_rebuild_only_what_they_touch(project, project_admin, compare_each=False)


def test_spec_digest__kept_by_trigger__is_the_digest_of_the_codes_columns(project, project_admin):
    # Given every shape of gate, segment and config, some changed behind the services' back
    _generated(project, project_admin, 30)
    FeatureGate.objects.filter(project=project, name="gate_000003").update(salt="moved")
    for model, (columns, scoped) in DIGESTED.items():
        table = model._meta.db_table
        # Then the installed trigger is the one the code writes (a column added to the
        # spec without a migration that re-creates the trigger fails here)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT prosrc FROM pg_proc WHERE proname = %s", [f"{table}_spec_digest"]
            )
            (source,) = cursor.fetchone()
        assert source in digest_trigger_sql(table, columns, scoped)
        # And every row's stored digest and scoping are what its columns give now
        rows = list(
            model.objects.filter(project=project)
            .annotate(
                fresh=RawSQL(digest_sql(columns, f'"{table}"'), ()),
                fresh_scoped=RawSQL(scoped.format(t=f'"{table}"'), (), output_field=BooleanField()),
            )
            .values_list("spec_digest", "fresh", "spec_scoped", "fresh_scoped")
        )
        assert rows
        assert all(len(digest) == 64 and digest == fresh for digest, fresh, _, _ in rows)
        assert all(stored is fresh for _, _, stored, fresh in rows)
    assert FeatureGate.objects.get(project=project, name="scoped").spec_scoped
    assert not FeatureGate.objects.get(project=project, name="beta").spec_scoped


def test_build__rolled_back_change__its_fragment_never_served(project, project_admin):
    # Given a built project, and a change built and then rolled back
    _generated(project, project_admin, 20)
    _both_ways(project)
    gate = FeatureGate.objects.get(project=project, name="gate_000003")
    document = gate_to_document(gate)
    document["rules"][0]["passPercentage"] = 1

    def change_and_build():
        with transaction.atomic():
            gate_services.gate_update(actor=project_admin, gate=gate, document=document)
            assert _both_ways(project) == 1
            raise _Rollback

    with pytest.raises(_Rollback):
        change_and_build()
    # When / Then: the committed content is served, from its own (still cached) fragment
    assert _both_ways(project) == 0
    rules = next(
        s["rules"]
        for s in json.loads(
            incremental.build(project, _environments(project)[0], time_ms=TIME).v1_json
        )["feature_gates"]
        if s["name"] == "gate_000003"
    )
    assert rules[0]["passPercentage"] == 100


def test_build__contributor_without_fragment_form__included_uncached(project, project_admin):
    # Given
    _generated(project, project_admin, 5)

    def extra(project, environment, draft):
        draft.feature_gates.append(
            {
                "name": "zz_extra",
                "type": "feature_gate",
                "entity": "feature_gate",
                "salt": "s",
                "enabled": False,
                "defaultValue": False,
                "idType": "userID",
                "rules": [],
            }
        )
        draft.id_lists["extra_list"] = True

    register_contributor(extra)
    try:
        # When / Then
        _both_ways(project)
        assert _both_ways(project) == len(_environments(project))
        built = incremental.build(project, _environments(project)[0], time_ms=TIME)
        assert "zz_extra" in {f.name for f in built.fragments}
    finally:
        unregister_contributor(extra)


def test_build__publisher_rules__refused_both_ways(project, project_admin):
    # Given a contributor that repeats a name, then one that breaks a spec rule
    _generated(project, project_admin, 5)
    environment = _environments(project)[0]

    def spec(name: str, salt: str | None) -> dict:
        return {
            "name": name,
            "type": "feature_gate",
            "entity": "feature_gate",
            "salt": salt,
            "enabled": True,
            "defaultValue": False,
            "idType": "userID",
            "rules": [],
        }

    def duplicate(project, environment, draft):
        draft.feature_gates.append(spec("beta", "s"))

    def broken(project, environment, draft):
        draft.feature_gates.append(spec("broken", None))

    for contributor, message in ((duplicate, "named 'beta'"), (broken, "salt is a string")):
        register_contributor(contributor)
        try:
            with pytest.raises(SpecError, match=message):
                incremental.build(project, environment, time_ms=TIME)
            with pytest.raises(SpecError):
                build_spec(project, environment, time_ms=TIME)
        finally:
            unregister_contributor(contributor)


def test_publish__stores_incremental_bodies_and_behaviour_checksum(project, project_admin):
    # Given
    _generated(project, project_admin, 10)
    # When
    version = spec_publish(actor=project_admin, project=project)
    again = spec_publish(actor=project_admin, project=project)
    # Then
    assert version.was_created
    assert not again.was_created
    for spec in ConfigSpec.objects.filter(ruleset_version=version).select_related("environment"):
        v1 = build_spec(project, spec.environment, time_ms=spec.time_ms)
        assert spec.v1_json == spec_json(v1)
        assert spec.v2_json == spec_json(to_v2(v1))
        assert spec.content_checksum == spec_content_checksum(v1)
        assert spec.behaviour_checksum == behaviour_checksum(v1)


def test_publish__one_gate_changed__stores_its_chunks_only(project, project_admin):
    """A version stores the chunks no earlier version holds: after a change to one gate,
    the chunk holding it and the top-level texts (which hold `time`) per body, not the
    environments' whole bodies again; environments share the chunks they have in common."""
    # Given
    _generated(project, project_admin, 300)
    first = spec_publish(actor=project_admin, project=project)
    specs = list(ConfigSpec.objects.filter(ruleset_version=first))
    listed = {d for spec in specs for d in (*spec.v1_chunks, *spec.v2_chunks)}
    assert SpecChunk.objects.count() == len(listed) > 6 * len(specs)  # cut, and shared
    gate = FeatureGate.objects.get(project=project, name="gate_000007")
    document = gate_to_document(gate)
    document["rules"][2]["passPercentage"] = 55
    gate_services.gate_update(actor=project_admin, gate=gate, document=document)
    before = set(SpecChunk.objects.values_list("digest", flat=True))
    # When
    second = spec_publish(actor=project_admin, project=project)
    # Then
    new = SpecChunk.objects.exclude(digest__in=before)
    stored = sum(len(chunk.body) for chunk in new)
    total = sum(
        len(spec.v1_json) + len(spec.v2_json)
        for spec in ConfigSpec.objects.filter(ruleset_version=second)
    )
    # Per environment: the gate's v1 and v2 chunks, its conditions' chunks of the
    # condition map, and each body's top-level text; environments share the gate's.
    assert 0 < new.count() <= 3 + 3 * len(specs)
    assert stored < total / 20
    for spec in ConfigSpec.objects.filter(ruleset_version=second).select_related("environment"):
        v1 = build_spec(project, spec.environment, time_ms=spec.time_ms)
        assert spec.v1_json == spec_json(v1)
        assert spec.v2_json == spec_json(to_v2(v1))
