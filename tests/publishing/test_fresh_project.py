"""A freshly created project serves a valid empty spec to every SDK endpoint (timed at its
environment's creation, so the first publish is newer), and SDKs pointed at it initialize
instead of meeting a 404; an environment added to a published project is published at once."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from console import services
from console.models import RulesetVersion
from console.publishing.services import ruleset_version_create
from gates import services as gate_services
from tests.gates.factories import gate_document
from tests.metrics.test_sdks import run_node_sdk
from tests.publishing.conftest import core_sdk


def _keys(project, actor, environment):
    server = services.key_create(
        actor=actor, project=project, kind="server", environment=environment, name="server"
    )
    client = services.key_create(
        actor=actor, project=project, kind="client", environment=environment, name="client"
    )
    return server.secret, client.secret


def _assert_empty_answers(http: Client, server: str, client: str) -> None:
    for path in (
        f"/v1/download_config_specs/{server}.json",
        f"/v2/download_config_specs/{server}.json",
    ):
        response = http.get(path)
        assert response.status_code == 200, (path, response.content)
        body = response.json()
        assert body["has_updates"] is True
        assert body["time"] > 0
        for section in ("feature_gates", "dynamic_configs", "layer_configs"):
            assert not body[section], (path, section, body[section])
    header = http.get("/v1/download_config_specs", HTTP_STATSIG_API_KEY=server)
    assert header.status_code == 200
    assert not header.json()["feature_gates"]
    id_lists = http.post(
        "/v1/get_id_lists", "{}", content_type="application/json", HTTP_STATSIG_API_KEY=server
    )
    assert id_lists.status_code == 200
    assert id_lists.json() == {}
    initialize = http.post(
        "/v1/initialize",
        json.dumps({"user": {"userID": "u1"}}),
        content_type="application/json",
        HTTP_STATSIG_API_KEY=client,
    )
    assert initialize.status_code == 200, initialize.content
    payload = initialize.json()
    assert payload["has_updates"] is True
    assert payload["feature_gates"] == {}
    assert payload["dynamic_configs"] == {}
    assert payload["layer_configs"] == {}


@pytest.mark.django_db
def test_fresh_project__first_publish__is_newer_than_the_empty_spec(site_admin):
    # Given a new project: nothing published, yet production answers an empty spec
    project = services.project_create(actor=site_admin, name="Fresh", slug="fresh")
    production = project.environments.get(name="production")
    server, _ = _keys(project, site_admin, production)
    http = Client()
    assert not RulesetVersion.objects.filter(project=project).exists()
    empty = http.get(f"/v1/download_config_specs/{server}.json").json()

    # When the first version is published
    ruleset_version_create(actor=site_admin, project=project, reason="first")

    # Then an SDK holding the empty spec gets the new one at its next poll
    polled = http.get(f"/v1/download_config_specs/{server}.json?sinceTime={empty['time']}")
    assert polled.status_code == 200
    assert polled.json()["has_updates"] is True
    assert polled.json()["time"] > empty["time"]
    again = http.get(f"/v1/download_config_specs/{server}.json?sinceTime={empty['time']}")
    assert again.json()["time"] == polled.json()["time"]


@pytest.mark.django_db
def test_fresh_project__every_sdk_endpoint__answers_200_with_an_empty_spec(site_admin):
    # Given
    project = services.project_create(actor=site_admin, name="Fresh", slug="fresh")
    production = project.environments.get(name="production")
    server, client = _keys(project, site_admin, production)
    # Then
    _assert_empty_answers(Client(), server, client)


@pytest.mark.django_db
def test_environment_create__the_new_environment__answers_200_with_the_spec(site_admin):
    # Given
    project = services.project_create(actor=site_admin, name="Fresh", slug="fresh")
    # When
    environment = services.environment_create(
        actor=site_admin, project=project, name="qa", tier="staging"
    )
    # Then it answers the empty spec too (nothing was ever published)
    assert not RulesetVersion.objects.filter(project=project).exists()
    server, client = _keys(project, site_admin, environment)
    _assert_empty_answers(Client(), server, client)


@pytest.mark.django_db
def test_environment_create__in_a_published_project__serves_the_applied_configuration(
    site_admin,
):
    # Given a project with a gate on for everyone, published
    project = services.project_create(actor=site_admin, name="Fresh", slug="fresh")
    gate_services.gate_create(actor=site_admin, project=project, document=gate_document("on"))
    ruleset_version_create(actor=site_admin, project=project, reason="gate")

    # When an environment is added
    environment = services.environment_create(
        actor=site_admin, project=project, name="qa", tier="staging"
    )

    # Then it is published at once with the project's gates
    version = RulesetVersion.objects.filter(project=project).latest("number")
    assert version.reason == "Environment qa created"
    spec = json.loads(version.config_specs.get(environment=environment).v1_json)
    assert [g["name"] for g in spec["feature_gates"]] == ["on"]


# ---------------------------------------------------------------- the real SDKs


@pytest.fixture
def fresh(transactional_db, live_server, site_admin):
    project = services.project_create(actor=site_admin, name="Fresh", slug="fresh")
    server, client = _keys(project, site_admin, project.environments.get(name="production"))
    return live_server.url, server, client


def test_fresh_project__legacy_python_sdk__initializes_and_unknown_gate_is_false(fresh):
    import logging

    from statsig.statsig_options import StatsigOptions
    from statsig.statsig_server import StatsigServer
    from statsig.statsig_user import StatsigUser

    url, server_key, _ = fresh
    logging.getLogger("statsig.sdk").setLevel(logging.CRITICAL)
    sdk = StatsigServer()
    details = sdk.initialize(
        server_key,
        StatsigOptions(
            api=f"{url}/v1",
            disable_diagnostics=True,
            disable_all_logging=True,
            rulesets_sync_interval=3600,
            idlists_sync_interval=3600,
            init_timeout=10,
        ),
    )
    try:
        assert details.init_success, details.error
        assert details.source == "Network", details.source
        assert sdk.check_gate(StatsigUser(user_id="u1"), "no_such_gate") is False
    finally:
        sdk.shutdown()


def test_fresh_project__python_core_sdk__initializes_and_unknown_gate_is_false(fresh):
    import statsig_python_core as core

    url, server_key, _ = fresh
    sdk = core_sdk(server_key, url)
    try:
        details = sdk.initialize_with_details().result()
        assert details.is_config_spec_ready, details.source
        assert details.source == "Network", details.source
        assert sdk.check_gate(core.StatsigUser(user_id="u1"), "no_such_gate") is False
    finally:
        sdk.shutdown().wait()


@pytest.mark.parametrize("sdk", ["statsig-node", "statsig-node-core"])
def test_fresh_project__node_sdks__initialize_and_unknown_gate_is_false(fresh, sdk):
    url, server_key, _ = fresh
    payload = {
        "sdk": sdk,
        "key": server_key,
        "api": f"{url}/v1",
        "users": [{"userID": "u1"}],
        "gates": ["no_such_gate"],
        "layer": "no_such_layer",
        "params": [],
        "events": [],
    }
    out = run_node_sdk(payload)
    assert out["rows"][0]["gates"]["no_such_gate"][0] is False
