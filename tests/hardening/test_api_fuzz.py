"""Schemathesis against a live server, from the console API's own OpenAPI document
(/console/v1/openapi.json), once per console key role: no answer is a 5xx, and every answer
is documented (status code, content type, body schema).

The project is seeded with one entity of each kind, so path parameters can name real objects:
each generated case keeps its generated path parameters or (as often) takes the seeded ones,
so operations are exercised past their 404. Writes are proposed as change sets under the
default review policy (production needs a review), as any key's writes are. The live server
runs in this process against the test database and this worker's own Redis DB (settings_test),
so nothing is published where other tests read.

Bounded and reproducible: GATEHOUSE_FUZZ_EXAMPLES cases per operation (default 3) from a
derandomized Hypothesis: positive data (the document's shapes) for each role, and negative
data (outside them: only "no 5xx" and the error shape are checked there) with the admin key.
GATEHOUSE_FUZZ_EXAMPLES=50 runs a deeper fuzz (with shrinking to a minimal failing case).
A failure names the operation and the curl command that reproduces it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import openapi
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from console import services as console_services
from console.models import ApiKey, Membership, Role, Tag
from console.webhooks.services import webhook_create, webhook_send_test
from experiments import services as experiment_services
from gates import services as gate_services
from reviews.models import ChangeSet
from tests.api_support import console_key
from tests.console.factories import UserFactory
from tests.experiments.factories import experiment_document, holdout_document, layer_document
from tests.gates.factories import config_document, gate_document, segment_document
from tests.metrics.catalog_factories import make_metric

EXAMPLES = int(os.environ.get("GATEHOUSE_FUZZ_EXAMPLES", "3"))
ROLES = (Role.ADMIN, Role.MEMBER, Role.VIEWER)


def error_shape(ctx, response, case) -> bool | None:
    """Every 4xx answers in the console API's error shape: {"message", "code"} (strings)."""
    if not 400 <= response.status_code < 500:
        return None
    where = f"{response.status_code} from {response.request.url}"
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"{where} is not JSON: {response.content[:300]!r}") from None
    assert isinstance(body, dict), f"{where} answered {body!r}"
    for name in ("message", "code"):
        assert isinstance(body.get(name), str), f"{where} has no {name}: {body!r}"
        assert body[name], f"{where} has an empty {name}"
    return True


POSITIVE_CHECKS = [
    not_a_server_error,
    error_shape,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class World:
    """The seeded project: what each path parameter may name, and what must survive the run."""

    keys: dict[str, str]
    path_values: dict[str, dict[str, object]] = field(default_factory=dict)
    # ids a fuzzed write must not hit: the role keys and their creators' memberships
    protected: dict[str, set[int]] = field(default_factory=dict)


def _seed(project, admin) -> dict[str, dict[str, object]]:
    """One entity of each kind in `project`; {path template: {parameter: value}}."""

    def make(service, document):
        return service(actor=admin, project=project, document=document)

    gate = make(gate_services.gate_create, gate_document("fuzz_gate"))
    segment = make(gate_services.segment_create, segment_document("fuzz_segment"))
    id_list = make(gate_services.segment_create, segment_document("fuzz_ids", type="id_list"))
    config = make(gate_services.dynamic_config_create, config_document("fuzz_config"))
    layer = make(experiment_services.layer_create, layer_document("fuzz_layer"))
    experiment = make(experiment_services.experiment_create, experiment_document("fuzz_exp"))
    holdout = make(experiment_services.holdout_create, holdout_document("fuzz_holdout"))
    metric = make_metric(admin, project, "fuzz_metric")
    hook = webhook_create(
        actor=admin, project=project, name="fuzz hook", url="https://hooks.example.com/in"
    )
    delivery = webhook_send_test(actor=admin, webhook=hook.webhook)
    spare_key = console_services.key_create(
        actor=admin, project=project, kind="console", role=Role.VIEWER, name="spare"
    )
    environment = project.environments.order_by("position").last()
    tag = Tag.objects.filter(project=project).first()
    change_set = ChangeSet.objects.filter(project=project).order_by("-number").first()
    v = "/console/v1"
    values: dict[str, dict[str, object]] = {
        f"{v}/gates/{{name}}": {"name": gate.name},
        f"{v}/segments/{{name}}": {"name": segment.name},
        f"{v}/segments/{{name}}/id_list": {"name": id_list.name},
        f"{v}/dynamic_configs/{{name}}": {"name": config.name},
        f"{v}/experiments/{{name}}": {"name": experiment.name},
        f"{v}/layers/{{name}}": {"name": layer.name},
        f"{v}/holdouts/{{name}}": {"name": holdout.name},
        f"{v}/metrics/{{metric_id}}": {"metric_id": metric.pk},
        f"{v}/webhooks/{{id}}": {"id": hook.webhook.pk},
        f"{v}/webhook_deliveries/{{id}}": {"id": delivery.pk},
        f"{v}/keys/{{id}}": {"id": spare_key.key.pk},
        f"{v}/environments/{{id}}": {"id": environment.pk},
        f"{v}/tags/{{id}}": {"id": tag.pk},
    }
    if change_set is not None:
        values[f"{v}/reviews/{{number}}"] = {"number": change_set.number}
    return values


@pytest.fixture
def world(transactional_db, live_server, project, project_admin):
    # An admin's keys, one per role (a key acts with the lower of its role and its creator's).
    keys = {role: console_key(project_admin, project, role) for role in ROLES}
    member = Membership.objects.create(
        project=project,
        user=UserFactory(username="spare", email="spare@corp.example"),
        role=Role.VIEWER,
    )
    values = _seed(project, project_admin)
    values["/console/v1/members/{id}"] = {"id": member.pk}
    return World(
        keys=keys,
        path_values=values,
        protected={
            "/console/v1/keys": set(
                ApiKey.objects.filter(project=project).values_list("pk", flat=True)
            )
            - {values["/console/v1/keys/{id}"]["id"]},
            "/console/v1/members": set(
                Membership.objects.filter(project=project, user=project_admin).values_list(
                    "pk", flat=True
                )
            ),
        },
    )


def _known(world: World, path: str) -> dict[str, object]:
    """The seeded values for `path`'s parameters (the longest template prefix that has them)."""
    best = ""
    for template in world.path_values:
        if path.startswith(template) and len(template) > len(best):
            best = template
    return dict(world.path_values.get(best, {}))


def _path_parameters(world: World, path: str, generated: dict, seeded: bool) -> dict:
    known = _known(world, path)
    params = {**generated, **known} if seeded else dict(generated)
    for prefix, ids in world.protected.items():
        if path.startswith(prefix + "/") and params.get("id") in ids:
            params["id"] = known["id"]
    return params


def _fuzz_operation(operation, world: World, role: str, session, base_url: str, mode) -> str:
    """Run one operation's cases; the failure report, or "" when every case passed."""
    label = f"{operation.method.upper()} {operation.path}"
    positive = mode == GenerationMode.POSITIVE
    checks = POSITIVE_CHECKS if positive else [not_a_server_error, error_shape]

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        # Shrinking (a minimal failing case) only in deeper runs: it costs minutes.
        phases=[Phase.explicit, Phase.generate] + ([Phase.shrink] if EXAMPLES > 10 else []),
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode), seeded=st.booleans())
    def run(case, seeded):
        if case.path_parameters:
            case.path_parameters = _path_parameters(
                world, operation.path, case.path_parameters, seeded
            )
        case.call_and_validate(
            base_url=base_url,
            session=session,
            headers={"STATSIG-API-KEY": world.keys[role]},
            checks=checks,
            timeout=30,
        )

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # this operation's failures, reproducible
        notes = "\n".join(getattr(exc, "__notes__", []))
        return f"--- {label} ({mode.value}, {role} key)\n{exc}\n{notes}"
    return ""


@pytest.mark.parametrize(
    ("role", "mode"),
    [(role, GenerationMode.POSITIVE) for role in ROLES]
    # Data outside the document's shapes (wrong types, missing fields, hostile strings): the
    # admin key reaches every view's validation.
    + [(Role.ADMIN, GenerationMode.NEGATIVE)],
)
def test_console_api__fuzzed_from_its_openapi_document__no_5xx_and_answers_as_documented(
    world, live_server, role, mode
):
    session = requests.Session()
    schema = openapi.from_url(
        live_server.url + "/console/v1/openapi.json",
        headers={"STATSIG-API-KEY": world.keys[role]},
    )
    base_url = live_server.url
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50, "the document lists the console API's operations"
    for operation in operations:
        report = _fuzz_operation(operation, world, role, session, base_url, mode)
        if report:
            failures.append(report)
    assert not failures, f"{len(failures)} operations failed:\n\n" + "\n\n".join(failures)
