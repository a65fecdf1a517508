import math

import pytest

from console.models import Environment
from console.specs.builder import build_spec, to_v2
from console.specs.evaluator import Evaluator
from gates import services
from gates.documents import gate_to_document
from tests.gates.factories import condition, gate_document, rule

USERS = [{"userID": f"user-{n}"} for n in range(100_000)]


def _passing(spec: dict, name: str) -> set[str]:
    evaluator = Evaluator(spec)
    return {u["userID"] for u in USERS if evaluator.check_gate(u, name)}


@pytest.fixture
def production(project):
    return Environment.objects.get(project=project, name="production")


def _within_binomial(passed: int, share: float, n: int = len(USERS)) -> bool:
    """The share passing is the rule's, up to 5 standard deviations of a binomial draw
    (each project has its own salts): a false alarm once in millions of runs, where the
    former fixed half a point was 3.2 deviations at 40% (a failure every few hundred runs)."""
    return abs(passed / n - share) <= 5 * math.sqrt(share * (1 - share) / n)


def test_rollout__30_then_40_percent_of_100k_users__rate_as_set_and_nobody_dropped(
    project, project_admin, production
):
    # Given
    gate = services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document(rules=[rule("Rollout", pass_percentage=30)]),
    )
    at_30 = _passing(build_spec(project, production, time_ms=1), gate.name)
    # When
    document = gate_to_document(gate)
    document["rules"][0]["passPercentage"] = 40
    services.gate_update(actor=project_admin, gate=gate, document=document)
    at_40 = _passing(to_v2(build_spec(project, production, time_ms=2)), gate.name)
    # Then
    assert _within_binomial(len(at_30), 0.30)
    assert _within_binomial(len(at_40), 0.40)
    assert at_30 <= at_40


def test_rollout__override_and_segment__decide_before_the_rules(project, project_admin, production):
    # Given
    services.segment_create(
        actor=project_admin,
        project=project,
        document={"name": "staff", "type": "id_list", "idType": "userID"},
    )
    from gates.models import Segment

    services.segment_ids_add(
        actor=project_admin, segment=Segment.objects.get(name="staff"), ids=["user-7"]
    )
    services.gate_create(
        actor=project_admin,
        project=project,
        document=gate_document(
            rules=[
                rule("Staff", [condition("passes_segment", None, "staff")]),
                rule("Nobody else", pass_percentage=0),
            ],
            overrides=[
                {"environment": "production", "passingIDs": ["user-1"], "failingIDs": ["user-7"]}
            ],
        ),
    )
    evaluator = Evaluator(build_spec(project, production, time_ms=1))
    # When
    results = {
        uid: evaluator.check_gate({"userID": uid}, "new_checkout")
        for uid in ("user-1", "user-7", "user-8")
    }
    # Then
    assert results == {"user-1": True, "user-7": False, "user-8": False}
    assert evaluator.check_gate({"userID": "user-7"}, "segment:staff") is True
