"""The "Use it in code" panel: every gate, config and experiment page shows SDK snippets with its
name and this console's URLs, and the Python snippet, run as shown, reads the gate."""

from __future__ import annotations

import pytest
from django.urls import reverse

from console import services as console_services
from console.snippets import sdk_snippets
from experiments.models import Experiment
from gates.models import DynamicConfig, FeatureGate
from reviews.services import ChangeInput, changeset_submit
from tests.experiments.factories import experiment_document
from tests.gates.factories import config_document, gate_document, rule

pytestmark = pytest.mark.django_db


def _create(project, actor, kind, document):
    changeset_submit(
        actor=actor,
        project=project,
        changes=[ChangeInput(kind, "create", document["name"], document)],
    )


def test_gate_page__shows_snippets_with_its_name_and_our_urls(
    client, no_review, project_admin, project_viewer, settings
):
    # Given a gate, and the console served at its public address
    settings.GATEHOUSE_BASE_URL = "https://flags.corp.example/"
    _create(no_review, project_admin, "gate", gate_document("new_checkout"))
    gate = FeatureGate.objects.get(name="new_checkout")

    # When a viewer opens its page
    client.force_login(project_viewer)
    html = client.get(reverse("gate-detail", args=[no_review.slug, gate.pk])).content.decode()

    # Then the three SDKs' snippets read it from this console
    assert "Use it in code" in html
    assert "statsig.check_gate(user, &quot;new_checkout&quot;)" in html
    assert "Statsig.checkGate(user, &quot;new_checkout&quot;)" in html
    assert "client.checkGate(&quot;new_checkout&quot;)" in html
    assert "https://flags.corp.example/v2/download_config_specs" in html
    assert "api: &#x27;https://flags.corp.example/v1&#x27;" in html
    assert 'data-copy="#snippet-python"' in html


def test_config_and_experiment_pages__read_their_first_key(client, no_review, project_admin):
    # Given a config with a default value and an experiment with a parameter
    _create(
        no_review,
        project_admin,
        "dynamic_config",
        config_document("checkout_settings", defaultValue={"currency": "EUR"}),
    )
    _create(no_review, project_admin, "experiment", experiment_document("blue_button"))
    config = DynamicConfig.objects.get(name="checkout_settings")
    experiment = Experiment.objects.get(name="blue_button")
    param = experiment.parameters[0]["name"]
    client.force_login(project_admin)

    # When their pages are opened
    config_html = client.get(
        reverse("config-detail", args=[no_review.slug, config.pk])
    ).content.decode()
    experiment_html = client.get(
        reverse("experiment-detail", args=[no_review.slug, experiment.pk])
    ).content.decode()

    # Then each reads its value the way its SDK does
    assert "statsig.get_dynamic_config(user, &quot;checkout_settings&quot;)" in config_html
    assert "config.get(&quot;currency&quot;, None)" in config_html
    assert "Statsig.getConfig(user, &quot;checkout_settings&quot;)" in config_html
    assert "client.getDynamicConfig(&quot;checkout_settings&quot;)" in config_html
    assert "statsig.get_experiment(user, &quot;blue_button&quot;)" in experiment_html
    assert f"experiment.get(&quot;{param}&quot;, None)" in experiment_html
    assert "client.getExperiment(&quot;blue_button&quot;)" in experiment_html


def test_python_snippet__run_as_shown__reads_the_gate_from_this_console(
    live_server, no_review, project_admin, settings
):
    # Given a gate passing everyone in production, and a production server key
    _create(no_review, project_admin, "gate", gate_document("new_checkout", rules=[rule()]))
    production = no_review.environments.get(name="production")
    key = console_services.key_create(
        actor=project_admin, project=no_review, kind="server", environment=production, name="api"
    )
    settings.GATEHOUSE_BASE_URL = live_server.url

    # When the page's Python snippet runs with the key filled in
    [python, _, _] = sdk_snippets(kind="gate", name="new_checkout")
    code = python.code.replace("YOUR_SERVER_SECRET_KEY", key.secret)
    code = code.replace("    ...  # the feature is on", "    passed = True")
    scope: dict = {"passed": False}
    try:
        exec(code, scope)  # noqa: S102 - our own snippet, the point of the test

        # Then the real SDK read the gate from this console, and the user passes
        assert scope["passed"] is True
    finally:
        if "statsig" in scope:
            scope["statsig"].shutdown().wait()
