"""The Console API with bodies written as Statsig's documentation writes them: experiments
created with only the groups' parameterValues, Statsig's statuses and field names, the
read-only metadata (accepted and ignored on input), and the real SDKs on the result."""

from __future__ import annotations

import pytest

from console.api.documents import READ_ONLY_KEYS
from console.models import Environment, Role
from console.specs.builder import build_spec
from experiments.models import Experiment
from tests.api_support import api_url_for, assert_error, console_key, key_client
from tests.specs.sdks import core_evaluate_all, legacy_evaluate_all, to_v2

pytestmark = pytest.mark.usefixtures("no_review")

api_url = api_url_for("experiments-api")

# Statsig's "Create Experiment" example body (docs.statsig.com, Console API, experiments):
# groups carry parameterValues; no parameter list is declared.
STATSIG_CREATE = {
    "name": "a_test_experiment",
    "description": "A short description of what this Experiment is used for.",
    "idType": "userID",
    "hypothesis": "",
    "groups": [
        {"name": "Control", "size": 50, "parameterValues": {"a_string": "control_value"}},
        {"name": "Test", "size": 50, "parameterValues": {"a_string": "test_value"}},
    ],
    "allocation": 100,
    "primaryMetrics": [],
    "primaryMetricTags": [],
    "secondaryMetrics": [],
    "secondaryMetricTags": [],
    "tags": [],
    "duration": 14,
    "targetingGateID": "",
    "defaultConfidenceInterval": "95",
    "bonferroniCorrection": False,
}

USERS = [{"userID": f"user-{i}"} for i in range(400)]


@pytest.fixture
def client(project, project_admin):
    return key_client(console_key(project_admin, project, Role.MEMBER))


def _spec(project):
    environment = Environment.objects.get(project=project, name="production")
    return build_spec(project, environment, time_ms=1_700_000_000_000)


def _sdk_values(project) -> dict[str, list[tuple]]:
    """What the legacy and the core Python SDKs give every user for a_test_experiment."""
    spec = _spec(project)
    names = {"config": ["a_test_experiment"]}
    legacy = legacy_evaluate_all(spec, USERS, names)["config"]["a_test_experiment"]
    core = core_evaluate_all(to_v2(spec), USERS, names)["config"]["a_test_experiment"]
    return {"legacy": [row[:3] for row in legacy], "core": [row[:3] for row in core]}


def test_create__statsig_body_without_parameters__parameters_inferred_and_sdks_get_values(
    client, project
):
    # When
    created = client.post(api_url("api-experiment-list"), STATSIG_CREATE, format="json")

    # Then: the parameter is typed from its values, with no default
    assert created.status_code == 201, created.content
    data = created.json()["data"]
    assert data["parameters"] == [
        {"name": "a_string", "type": "string", "defaultValue": None, "description": ""}
    ]
    assert [g["parameterValues"] for g in data["groups"]] == [
        {"a_string": "control_value"},
        {"a_string": "test_value"},
    ]
    assert (data["status"], data["launchedGroupID"], data["id"]) == (
        "setup",
        None,
        "a_test_experiment",
    )
    # Before it starts, the SDKs get the default: empty, since none was set
    before = _sdk_values(project)
    assert {row[0].__repr__() for rows in before.values() for row in rows} == {"{}"}

    # When it starts
    started = client.put(api_url("api-experiment-start", "a_test_experiment"))

    # Then both SDKs give every user their group's value, and both groups are used
    assert started.status_code == 200, started.content
    assert started.json()["data"]["status"] == "active"
    running = _sdk_values(project)
    assert running["legacy"] == running["core"]
    values = {"Control": {"a_string": "control_value"}, "Test": {"a_string": "test_value"}}
    for value, _rule, group_name in running["core"]:
        assert value == values[group_name]
    assert {row[2] for row in running["core"]} == {"Control", "Test"}


def test_create__group_without_a_value__that_group_gets_no_value(client, project):
    # Given: Test sets a number Control leaves unset (null or absent: both unset)
    body = {
        **STATSIG_CREATE,
        "groups": [
            {"name": "Control", "size": 50, "parameterValues": {"a_string": "c", "n": None}},
            {"name": "Test", "size": 50, "parameterValues": {"a_string": "t", "n": 2.5}},
        ],
    }

    # When
    created = client.post(api_url("api-experiment-list"), body, format="json")
    client.put(api_url("api-experiment-start", "a_test_experiment"))

    # Then
    assert created.status_code == 201, created.content
    data = created.json()["data"]
    assert [(p["name"], p["type"]) for p in data["parameters"]] == [
        ("a_string", "string"),
        ("n", "number"),
    ]
    assert [g["parameterValues"] for g in data["groups"]] == [
        {"a_string": "c"},
        {"a_string": "t", "n": 2.5},
    ]
    values = {"Control": {"a_string": "c"}, "Test": {"a_string": "t", "n": 2.5}}
    for value, _rule, group_name in _sdk_values(project)["legacy"]:
        assert value == values[group_name]


@pytest.mark.parametrize(
    ("groups", "code", "field"),
    [
        (
            [
                {"name": "Control", "size": 50, "parameterValues": {"x": "text"}},
                {"name": "Test", "size": 50, "parameterValues": {"x": 3}},
            ],
            "parameter_type_conflict",
            "groups[1].parameterValues.x",
        ),
        (
            [
                {"name": "Control", "size": 50, "parameterValues": {"x": [1, 2]}},
                {"name": "Test", "size": 50, "parameterValues": {}},
            ],
            "invalid_type",
            "groups[0].parameterValues.x",
        ),
        (
            [
                {"name": "Control", "size": 50, "parameterValues": {"9lives": True}},
                {"name": "Test", "size": 50, "parameterValues": {}},
            ],
            "invalid_name",
            "groups[0].parameterValues.9lives",
        ),
    ],
)
def test_create__inferred_parameters_disagree__400_with_path_and_nothing_created(
    client, project, groups, code, field
):
    # When
    response = client.post(
        api_url("api-experiment-list"), {**STATSIG_CREATE, "groups": groups}, format="json"
    )

    # Then
    assert_error(response, 400, code, field)
    assert not Experiment.objects.filter(project=project).exists()


def test_get_edit_post__answer_sent_back_with_its_metadata__only_the_edit_applies(client, project):
    # Given
    client.post(api_url("api-experiment-list"), STATSIG_CREATE, format="json")
    fetched = client.get(api_url("api-experiment-detail", "a_test_experiment")).json()["data"]
    assert READ_ONLY_KEYS - {"lastModifierID", "lastModifierName", "lastModifierEmail"} <= set(
        fetched
    )
    assert isinstance(fetched["createdTime"], int)

    # When: the whole answer goes back with one change and stale read-only values
    body = {**fetched, "description": "Edited.", "createdTime": 1, "creatorName": "Someone"}
    updated = client.post(api_url("api-experiment-detail", "a_test_experiment"), body, "json")

    # Then
    assert updated.status_code == 200, updated.content
    data = updated.json()["data"]
    assert data["description"] == "Edited."
    assert data["createdTime"] == fetched["createdTime"]
    assert data["creatorName"] == fetched["creatorName"]
    assert data["parameters"] == fetched["parameters"]


@pytest.mark.parametrize("status", ["setup", "draft"])
def test_update__status_unchanged_by_either_name__accepted(client, status):
    # Given
    client.post(api_url("api-experiment-list"), STATSIG_CREATE, format="json")

    # When
    response = client.patch(
        api_url("api-experiment-detail", "a_test_experiment"),
        {"status": status, "hypothesis": "Tests win."},
        format="json",
    )

    # Then
    assert response.status_code == 200, response.content
    assert response.json()["data"]["status"] == "setup"
    assert response.json()["data"]["hypothesis"] == "Tests win."


@pytest.mark.parametrize("status", ["active", "running", "decision_made"])
def test_update__status_changed__refused(client, status):
    # Given
    client.post(api_url("api-experiment-list"), STATSIG_CREATE, format="json")

    # When
    response = client.patch(
        api_url("api-experiment-detail", "a_test_experiment"), {"status": status}, format="json"
    )

    # Then
    assert_error(response, 400, "status_read_only", "status")


def test_list__status_filter__statsig_names_and_ours(client):
    # Given
    client.post(api_url("api-experiment-list"), STATSIG_CREATE, format="json")
    other = {**STATSIG_CREATE, "name": "another_experiment"}
    client.post(api_url("api-experiment-list"), other, format="json")
    client.put(api_url("api-experiment-start", "another_experiment"))

    def names(status):
        response = client.get(api_url("api-experiment-list", status=status))
        assert response.status_code == 200, response.content
        return [e["name"] for e in response.json()["data"]]

    # Then
    assert names("active") == names("running") == ["another_experiment"]
    assert names("setup") == names("draft") == ["a_test_experiment"]
