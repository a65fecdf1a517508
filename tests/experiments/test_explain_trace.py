"""Test a user: in every step of every trace, the mark agrees with the words. Property-style:
many users through a set of scenarios (gates, configs, experiments with overrides, holdouts,
targeting and allocation, layers), each step checked against the same rules. Rule IDs show
by name where one exists."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.template.loader import render_to_string

from experiments import explain as experiments_explain
from experiments import services
from experiments.models import Experiment
from gates import explain as gates_explain
from gates.services import dynamic_config_create, gate_create, segment_create
from tests.experiments.factories import (
    experiment_document,
    holdout_document,
    layer_document,
    parameter,
)
from tests.gates.factories import condition, config_document, gate_document, rule

pytestmark = pytest.mark.django_db

USERS = [
    {
        "userID": f"u-{n}",
        "email": f"u{n}@{'corp.example' if n % 3 else 'gmail.com'}",
        "country": "US" if n % 2 else "DE",
    }
    for n in range(60)
] + [{"userID": "qa-1", "email": "qa@corp.example", "country": "US"}]

# Words that say the user was stopped, or that a condition does not hold.
NEGATIVE = re.compile(
    r": (not allocated|held out|not targeted)\.$| is not | does not |\bfails\b|missing|!="
)
KEEPER_BADGES = {"not allocated", "held out", "not targeted"}


@pytest.fixture
def scenarios(project, project_admin):
    """Every kind of step a trace can show."""
    segment_create(
        actor=project_admin,
        project=project,
        document={
            "name": "staff",
            "description": "",
            "type": "rule_based",
            "idType": "userID",
            "tags": [],
            "rules": [
                rule(
                    "Corp emails",
                    [condition("email", "str_ends_with_any", ["@corp.example"])],
                )
            ],
        },
    )
    gate = gate_create(
        actor=project_admin,
        project=project,
        document=gate_document(
            "new_checkout",
            rules=[
                rule("Staff", [condition("passes_segment", None, "staff")]),
                rule(
                    "Americans",
                    [condition("country", "any", ["US"])],
                    pass_percentage=50,
                ),
            ],
        ),
    )
    config = dynamic_config_create(
        actor=project_admin,
        project=project,
        document=config_document(
            rules=[
                rule(
                    "Americans",
                    [condition("country", "any", ["US"])],
                    pass_percentage=50,
                    returnValue={"theme": "dark"},
                ),
            ]
        ),
    )
    holdout = services.holdout_create(
        actor=project_admin,
        project=project,
        document=holdout_document("q3_holdout", passPercentage=20),
    )
    standalone = services.experiment_create(
        actor=project_admin,
        project=project,
        document=experiment_document(
            "checkout_button",
            allocation=50,
            targetingConditions=[condition("email", "str_ends_with_any", ["@corp.example"])],
            overrides=[{"group": "Test", "unitIDs": ["qa-1"], "segments": []}],
        ),
    )
    standalone = services.experiment_start(actor=project_admin, experiment=standalone)
    doc = {
        **holdout_document("q3_holdout", passPercentage=20),
        "experimentIDs": ["checkout_button"],
    }
    services.holdout_update(actor=project_admin, holdout=holdout, document=doc)
    layer = services.layer_create(
        actor=project_admin, project=project, document=layer_document("checkout_layer")
    )
    layered = services.experiment_create(
        actor=project_admin,
        project=project,
        document=experiment_document(
            "checkout_copy",
            layerID="checkout_layer",
            allocation=40,
            parameters=[parameter("color", "string", None)],
        ),
    )
    layered = services.experiment_start(actor=project_admin, experiment=layered)
    draft = services.experiment_create(
        actor=project_admin, project=project, document=experiment_document("next_up")
    )
    env = project.environments.get(name="production")
    return (
        env,
        gate,
        config,
        [Experiment.objects.get(pk=e.pk) for e in (standalone, layered, draft)],
        layer,
    )


def _check_experiment_trace(outcome: Any, html: str) -> set[str]:
    kinds = set()
    for step in outcome.rules:
        kinds.add(step.kind)
        for line in step.conditions:
            negative = bool(NEGATIVE.search(line.reason))
            assert line.passed is not negative, (step.label, line.reason, line.passed)
        marks = [line.passed for line in step.conditions]
        if step.state == "skipped":
            assert step.badge == "not reached"
            continue
        if step.kind in experiments_explain.KEEPERS:
            # decided: the user was stopped, and every mark says so; else one mark lets through
            assert (step.state == "decided") is (step.badge in KEEPER_BADGES)
            assert (step.tone == "fail") is (step.state == "decided")
            assert (step.state == "decided") is (not any(marks))
        elif step.state == "decided":
            assert all(marks), (step.label, step.conditions)
            assert step.badge == "decided"
        else:
            assert not all(marks)
            assert (step.badge, step.tone) == ("no match", "muted")
    if outcome.why == "not_allocated" and "allocation" in kinds:
        assert any(s.badge == "not allocated" for s in outcome.rules)
    if outcome.why == "in_experiment":
        assert outcome.group in outcome.rule_label
        assert all(s.badge != "not allocated" for s in outcome.rules)
        # the raw rule ID only as secondary detail, never as the rule's name
        assert html.count(outcome.rule_id) == 1
        assert f'title="The rule ID the SDKs report">{outcome.rule_id}<' in html
    return kinds


def test_trace__experiments_and_layers__every_mark_agrees_with_its_words(scenarios):
    # Given experiments (standalone with override, holdout, targeting, allocation; layered;
    # draft) and a layer
    env, _gate, _config, experiments, layer = scenarios
    seen_kinds: set[str] = set()
    seen_why: set[str] = set()

    # When many users are tested on each
    for user in USERS:
        for obj in [*experiments, layer]:
            run = (
                experiments_explain.explain_layer
                if obj is layer
                else experiments_explain.explain_experiment
            )
            outcome = run(obj, env, user)
            html = render_to_string("experiments/partials/_test_result.html", {"outcome": outcome})

            # Then every step's mark agrees with its words
            seen_kinds |= _check_experiment_trace(outcome, html)
            seen_why.add(outcome.why)

    # (and the scenarios did reach every kind of step and outcome)
    assert {"override", "holdout", "targeting", "allocation", "group", "prestart", "layer"} <= (
        seen_kinds
    )
    assert {
        "in_experiment",
        "held_out",
        "not_targeted",
        "not_allocated",
        "override",
        "prestart",
    } <= seen_why


def test_trace__gates_and_configs__every_mark_agrees_with_its_words(scenarios):
    env, gate, config, _experiments, _layer = scenarios
    rollouts = set()
    for user in USERS:
        for obj in (gate, config):
            outcome = gates_explain.explain_entity(obj, env, user)
            for step in outcome.rules:
                marks = [c.passed for c in step.conditions]
                for c in step.conditions:
                    assert c.passed is not bool(NEGATIVE.search(c.reason)), c.reason
                    # a nested gate or segment names its rule, never a raw ID
                    assert "rule '" not in c.reason, c.reason
                if step.state == "decided":
                    assert all(marks)
                elif step.state == "missed":
                    assert not all(marks)
                if step.decided and step.rollout and step.rollout.get("bucket") is not None:
                    inside = "inside" in step.rollout["reason"]
                    assert step.rollout["passed"] is inside
                    rollouts.add(inside)
            assert outcome.passed is (
                outcome.headline
                in ("Passes", "Gets the value of rule 2", "Gets the value of rule 1")
            )
    assert rollouts == {True, False}
