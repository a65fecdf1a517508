"""Demo layer and experiments for `manage.py demo_load`, made the way every configuration
change is: proposed as change sets by the demo user and approved by a second demo admin, so
they are applied and published. One change (starting trust_badges) is left in review, so the
review queue has something to show."""

from __future__ import annotations

import json
import random
import time

from console.models import ConfigSpec, Environment, Membership, Role
from console.specs.evaluator import Evaluator
from experiments.models import Experiment
from experiments.results.services import results_request
from metrics.catalog.services import metric_create
from metrics.catalog.validation import MetricInput
from metrics.intake import Envelope, Limits, parse_batch
from metrics.services import events_store, exposures_apply
from reviews.demo import demo_apply, demo_propose
from reviews.services import ChangeInput

# The demo's shop: visitors of the checkout page, the share allocated to the button test
# exposed to it, and their purchases (Blue converts and spends a little more).
DEMO_VISITORS = 10_000
CONVERSION = {"Control": 0.30, "Blue": 0.33}
SPEND = {"Control": 42.0, "Blue": 43.0}


def _parameter(name, type_, default):
    return {"name": name, "type": type_, "defaultValue": default, "description": ""}


def _group(name, size, values):
    return {"name": name, "description": "", "size": size, "parameterValues": values}


PARAMETERS = [
    _parameter("button_color", "string", "grey"),
    _parameter("show_trust_badges", "boolean", False),
]

LAYER = {
    "name": "checkout_page",
    "description": "Mutually exclusive tests of the checkout page.",
    "idType": "userID",
    "parameters": PARAMETERS,
}

BUTTON_COLOR = {
    "name": "checkout_button_color",
    "hypothesis": "A blue pay button makes more people finish the checkout.",
    "description": "Grey (today) against blue.",
    "idType": "userID",
    "allocation": 40,
    "layerID": "checkout_page",
    "parameters": PARAMETERS,
    "groups": [
        _group("Control", 50, {"button_color": "grey", "show_trust_badges": False}),
        _group("Blue", 50, {"button_color": "blue", "show_trust_badges": False}),
    ],
    "tags": ["web"],
    "primaryMetrics": [{"name": "purchase", "type": "event_user"}],
    "secondaryMetrics": [{"name": "purchase", "type": "sum"}],
}

TRUST_BADGES = {
    "name": "trust_badges",
    "hypothesis": "Payment trust badges reduce drop-off at the card form.",
    "idType": "userID",
    "allocation": 30,
    "layerID": "checkout_page",
    "parameters": PARAMETERS,
    "groups": [
        _group("Control", 50, {"button_color": "grey", "show_trust_badges": False}),
        _group("Badges", 50, {"button_color": "grey", "show_trust_badges": True}),
    ],
}


def load(*, project, actor) -> None:
    if project.slug != "checkout":
        return
    # The scorecard's metrics: did a visitor buy (one-time), and how much they spent.
    for metric_type, description in (
        ("event_user", "Visitors who bought at least once."),
        ("sum", "What each visitor spent."),
    ):
        metric_create(
            actor=actor,
            project=project,
            data=MetricInput(
                name="purchase",
                metric_type=metric_type,
                description=description,
                event_name="purchase",
            ),
        )
    demo_apply(
        project=project,
        actor=actor,
        title="Checkout page layer with two experiments",
        changes=[
            ChangeInput("layer", "create", payload=LAYER),
            ChangeInput("experiment", "create", payload=BUTTON_COLOR),
            ChangeInput("experiment", "create", payload=TRUST_BADGES),
        ],
    )
    demo_apply(
        project=project,
        actor=actor,
        title="Start the blue button test",
        changes=[ChangeInput("experiment", "start", BUTTON_COLOR["name"])],
    )
    _measure(project, actor)
    # Left for a reviewer: the review queue's first entry, proposed by a member when the
    # project has one (so the demo admin finds it under "To review").
    member = (
        Membership.objects.filter(project=project, role=Role.MEMBER)
        .select_related("user")
        .order_by("pk")
        .first()
    )
    demo_propose(
        project=project,
        actor=member.user if member else actor,
        title="Start the trust badges test",
        changes=[ChangeInput("experiment", "start", TRUST_BADGES["name"])],
    )


def _measure(project, actor) -> None:
    """What production's SDKs would have sent since the button test started: each visitor
    evaluated on the published spec, the exposure of those in a group, their purchases;
    stored by the intake's own service, counted, and a results refresh queued."""
    production = Environment.objects.get(project=project, name="production")
    spec = ConfigSpec.objects.filter(environment=production).order_by("-time_ms").first()
    if spec is None:
        return
    evaluator = Evaluator(json.loads(spec.v1_json), {})
    rng = random.Random(2026)
    now = int(time.time() * 1000) + 1
    events: list[dict] = []
    for i in range(DEMO_VISITORS):
        user = {"userID": f"visitor-{i}"}
        result = evaluator.get_config(user, BUTTON_COLOR["name"])
        group = result.group_name
        if group not in CONVERSION:
            continue
        at = now  # the test started a moment ago: everything happened since
        meta = {"config": BUTTON_COLOR["name"], "ruleID": result.rule_id}
        events.append(
            {"eventName": "statsig::config_exposure", "user": user, "time": at, "metadata": meta}
        )
        if rng.random() < CONVERSION[group]:
            value = round(rng.expovariate(1 / SPEND[group]), 2)
            events.append({"eventName": "purchase", "user": user, "time": at, "value": value})
    for start in range(0, len(events), 1_000):
        envelope = Envelope(environment_id=production.pk, received_ms=now, sdk_type="demo")
        batch = parse_batch(
            {"events": events[start : start + 1_000]}, envelope, Limits(), lambda agent: False
        )
        events_store(envelope, batch)
    exposures_apply()
    experiment = Experiment.objects.get(project=project, name=BUTTON_COLOR["name"])
    results_request(actor=actor, experiment=experiment, environment=production)
