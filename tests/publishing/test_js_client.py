"""The real @statsig/js-client (npm, pinned in package.json) in Chromium against our
`POST /v1/initialize`: the values it reads for gates, a dynamic config, experiments and a
layer equal our evaluator's on the published v1 spec, for users on both sides of every
rule; asking again for the same user gets 204 and the client keeps its values; after a new
publish it gets the new ones. The page and the bundle are served by the test itself
(`page.route`) on the product's own origin, and no request leaves for statsig.com.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route

from console import services as core_services
from console.publishing.services import spec_publish
from console.specs.evaluator import Evaluator
from experiments import services as experiment_services
from gates import services as gate_services
from gates.models import FeatureGate
from tests.experiments.factories import experiment_document, group, layer_document, parameter
from tests.gates.factories import condition, config_document, gate_document, rule

BUNDLE = (
    Path(__file__).resolve().parents[2]
    / "node_modules/@statsig/js-client/build/statsig-js-client.min.js"
)
# The product's web app, a loopback origin other than the live server's (localhost):
# cross-origin, so the endpoint's CORS headers are exercised too.
APP = "http://127.0.0.1:9"
STAFF = "@corp.example"
GATES = ("staff_tools", "new_search")
CONFIGS = ("checkout_settings",)
EXPERIMENTS = ("blue_button", "device_banner")
LAYERS = {"checkout_layer": ("color", "discount")}

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>shop</title>
<script src="/statsig-js-client.min.js"></script></head><body>shop</body></html>"""

# Runs in the page: one StatsigClient (initialized for a first visitor), updated to each
# user in turn; each read is what an app would call. Events and SDK exceptions go to the
# app origin, where the test counts them.
READ_USERS = """
async ({sdkKey, api, app, users, gates, configs, experiments, layers}) => {
  if (!window.client) {
    window.client = new window.Statsig.StatsigClient(sdkKey, {userID: 'visitor'}, {
      networkConfig: {api, logEventUrl: app + '/rgstr', sdkExceptionUrl: app + '/sdk_exception'},
      loggingEnabled: 'disabled',
    });
    const init = await window.client.initializeAsync();
    if (!init.success) { throw new Error('initializeAsync failed: ' + String(init.error)); }
  }
  const c = window.client;
  const out = [];
  for (const user of users) {
    const details = await c.updateUserAsync(user);
    const row = {success: details.success, error: details.error ? String(details.error) : null,
                 stableID: c.getContext().stableID, gates: {}, configs: {}, experiments: {},
                 layers: {}, reasons: []};
    for (const name of gates) {
      const g = c.getFeatureGate(name);
      row.gates[name] = {value: c.checkGate(name), ruleID: g.ruleID};
      row.reasons.push(g.details.reason);
    }
    for (const name of configs) {
      const d = c.getDynamicConfig(name);
      row.configs[name] = {value: d.value, ruleID: d.ruleID};
      row.reasons.push(d.details.reason);
    }
    for (const name of experiments) {
      const e = c.getExperiment(name);
      row.experiments[name] = {value: e.value, ruleID: e.ruleID, groupName: e.groupName};
      row.reasons.push(e.details.reason);
    }
    for (const [name, params] of Object.entries(layers)) {
      const l = c.getLayer(name);
      const values = {};
      for (const p of params) { values[p] = l.get(p); }
      row.layers[name] = {values, ruleID: l.ruleID, groupName: l.groupName};
      row.reasons.push(l.details.reason);
    }
    out.push(row);
  }
  return out;
}
"""


def _build_project(project, actor) -> None:
    """Two gates (an email-domain rule, a 50% rollout), a config, a layer with an
    experiment in it (60% allocated) and a stableID experiment, made through the services."""
    staff = [condition("email", "str_ends_with_any", [STAFF])]
    gate_services.gate_create(
        actor=actor,
        project=project,
        document=gate_document("staff_tools", rules=[rule("Staff", staff)]),
    )
    gate_services.gate_create(
        actor=actor,
        project=project,
        document=gate_document("new_search", rules=[rule("Half", [condition("public")], 50)]),
    )
    gate_services.dynamic_config_create(
        actor=actor,
        project=project,
        document=config_document(
            "checkout_settings",
            defaultValue={"theme": "light", "limit": 1},
            rules=[rule("Dark for staff", staff, returnValue={"theme": "dark", "limit": 5})],
        ),
    )
    experiment_services.layer_create(actor=actor, project=project, document=layer_document())
    for document in (
        experiment_document(
            "blue_button",
            allocation=60,
            layerID="checkout_layer",
            parameters=[{"name": "color", "type": "string"}],
        ),
        experiment_document(
            "device_banner",
            idType="stableID",
            parameters=[parameter("banner", "string", "none")],
            groups=[group("Control", 50, {"banner": "none"}), group("Big", 50, {"banner": "big"})],
        ),
    ):
        experiment = experiment_services.experiment_create(
            actor=actor, project=project, document=document
        )
        experiment_services.experiment_start(actor=actor, experiment=experiment)


def _published_v1(project) -> dict:
    version = spec_publish(actor=None, project=project)
    return json.loads(version.config_specs.get(environment__name="production").v1_json)


def _expected(spec: dict, user: dict, stable_id: str) -> dict:
    """What a client should read for `user`, from our evaluator on the published spec (with
    the device's stableID, as the endpoint evaluates it)."""
    evaluator = Evaluator(spec, {})
    unit = {**user, "customIDs": {**user.get("customIDs", {}), "stableID": stable_id}}
    layer_defaults = {s["name"]: s["defaultValue"] for s in spec["layer_configs"]}
    configs = {s["name"]: s for s in spec["dynamic_configs"]}
    out: dict = {"gates": {}, "configs": {}, "experiments": {}, "layers": {}}
    for name in GATES:
        r = evaluator.get_feature_gate(unit, name)
        out["gates"][name] = {"value": r.value, "ruleID": r.rule_id}
    for name in CONFIGS:
        r = evaluator.get_config(unit, name)
        out["configs"][name] = {"value": r.value, "ruleID": r.rule_id}
    for name in EXPERIMENTS:
        r = evaluator.get_config(unit, name)
        value = r.value
        # docs/statsig-spec.md §11: a layered experiment has the layer defaults under it
        if configs[name].get("hasSharedParams"):
            value = {**layer_defaults[spec["experiment_to_layer"][name]], **r.value}
        out["experiments"][name] = {"value": value, "ruleID": r.rule_id, "groupName": r.group_name}
    for name, params in LAYERS.items():
        r = evaluator.get_layer(unit, name)
        out["layers"][name] = {
            "values": {p: r.value.get(p) for p in params},
            "ruleID": r.rule_id,
            "groupName": r.group_name,
        }
    return out


def _pick_users(spec: dict) -> list[dict]:
    """Users covering both sides of each gate and every arm of the layered experiment
    (either group, or not allocated): picked from a pool by our evaluator, as the salts are
    random per project."""
    evaluator = Evaluator(spec, {})
    pool = [
        {"userID": f"user-{i}", "email": f"u{i}{STAFF if i % 3 else '@mail.example'}"}
        for i in range(60)
    ]
    pool.insert(0, {"userID": "no-email"})
    pool.insert(1, {"userID": "shouty", "email": f"SHOUTY{STAFF.upper()}"})
    seen: set = set()
    chosen = []
    for user in pool:
        outcome = {
            ("staff_tools", evaluator.get_feature_gate(user, "staff_tools").value),
            ("new_search", evaluator.get_feature_gate(user, "new_search").value),
            ("blue_button", evaluator.get_config(user, "blue_button").group_name),
        }
        if not outcome <= seen or len(chosen) < 2:
            chosen.append(user)
            seen |= outcome
    return chosen


def _serve_app(page: Page, live_server_url: str) -> dict[str, list]:
    """Route every request of the page: the app origin serves the page and the bundle
    (and counts events / SDK exceptions), the live server is reached for real, and anything
    else (statsig.com and friends) is refused and recorded."""
    seen: dict[str, list] = {"initialize": [], "events": [], "exceptions": [], "stray": []}
    bundle = BUNDLE.read_bytes()

    def handle(route: Route) -> None:
        url = route.request.url
        if url.startswith(live_server_url + "/"):
            route.continue_()
        elif url == APP + "/":
            route.fulfill(status=200, content_type="text/html", body=PAGE)
        elif url == APP + "/statsig-js-client.min.js":
            route.fulfill(status=200, content_type="application/javascript", body=bundle)
        elif url.startswith(APP + "/rgstr"):
            seen["events"].append(route.request.post_data)
            route.fulfill(status=202, body="{}")
        elif url.startswith(APP + "/sdk_exception"):
            seen["exceptions"].append(route.request.post_data)
            route.fulfill(status=202, body="{}")
        else:
            seen["stray"].append(url)
            route.abort()

    def on_response(response) -> None:
        if urlsplit(response.url).path == "/v1/initialize":
            seen["initialize"].append(response.status)

    # Chromium asks before a page reaches a loopback server (Local Network Access); a real
    # console is not on loopback, here the user says yes.
    page.context.grant_permissions(["local-network-access"], origin=APP)
    page.route("**/*", handle)
    page.on("response", on_response)
    return seen


@pytest.mark.django_db(transaction=True)
def test_js_client__initialize_endpoint__reads_what_our_evaluator_computes(
    page: Page, live_server, project, site_admin
):
    # Given a project published through the services, and a client key for production
    assert BUNDLE.exists(), "run `npm ci` (make install): @statsig/js-client is a devDependency"
    _build_project(project, site_admin)
    spec = _published_v1(project)
    production = project.environments.get(name="production")
    key = core_services.key_create(
        actor=site_admin, project=project, kind="client", environment=production, name="web"
    )
    users = _pick_users(spec)
    seen = _serve_app(page, live_server.url)
    page.set_default_timeout(15_000)
    page.goto(APP + "/")
    args = {
        "sdkKey": key.secret,
        "api": live_server.url + "/v1",
        "app": APP,
        "gates": GATES,
        "configs": CONFIGS,
        "experiments": EXPERIMENTS,
        "layers": LAYERS,
    }

    # When the app's client is updated to each user in turn
    rows = page.evaluate(READ_USERS, {**args, "users": users})

    # Then it reads, for each user, exactly what our evaluator computes
    stable_id = rows[0]["stableID"]
    assert stable_id
    for user, row in zip(users, rows, strict=True):
        assert (row["success"], row["error"]) == (True, None), user
        assert set(row["reasons"]) == {"Network:Recognized"}, user
        assert row["stableID"] == stable_id
        got = {k: row[k] for k in ("gates", "configs", "experiments", "layers")}
        assert got == _expected(spec, user, stable_id), user
    # ...with users on both sides of each gate and in every arm of the experiment
    for name in GATES:
        assert {row["gates"][name]["value"] for row in rows} == {True, False}, name
    assert {row["experiments"]["blue_button"]["groupName"] for row in rows} == {
        "Control",
        "Test",
        None,
    }
    assert {row["configs"]["checkout_settings"]["value"]["theme"] for row in rows} == {
        "dark",
        "light",
    }
    assert seen["initialize"] == [200] * (len(users) + 1)  # the visitor, then each user

    # When the same user is asked for twice (the first may still be cached by the client)
    off = next(u for u, r in zip(users, rows, strict=True) if not r["gates"]["new_search"]["value"])
    rows = page.evaluate(READ_USERS, {**args, "users": [off, off]})

    # Then, nothing having changed, the endpoint says 204 and the client keeps its values
    assert seen["initialize"][-1] == 204
    assert (rows[1]["success"], rows[1]["error"]) == (True, None)
    assert set(rows[1]["reasons"]) == {"NetworkNotModified:Recognized"}
    assert rows[1]["gates"] == rows[0]["gates"] == _expected(spec, off, stable_id)["gates"]

    # When the rollout goes to 100% and is published, and the same user asks again
    gate = FeatureGate.objects.get(project=project, name="new_search")
    gate_services.gate_update(
        actor=site_admin,
        gate=gate,
        document=gate_document("new_search", rules=[rule("Half", [condition("public")], 100)]),
    )
    newer = _published_v1(project)
    assert newer["time"] > spec["time"]
    rows = page.evaluate(READ_USERS, {**args, "users": [off]})

    # Then it gets the new values, equal to our evaluator on the new spec
    assert seen["initialize"][-1] == 200
    assert set(rows[0]["reasons"]) == {"Network:Recognized"}
    assert rows[0]["gates"]["new_search"]["value"] is True
    got = {k: rows[0][k] for k in ("gates", "configs", "experiments", "layers")}
    assert got == _expected(newer, off, stable_id)
    # And nothing was logged, reported or sent anywhere else
    assert seen["stray"] == []
    assert seen["exceptions"] == []
    assert seen["events"] == []


@pytest.mark.django_db(transaction=True)
def test_js_client__fresh_project__initializes_and_unknown_gate_is_false(
    page: Page, live_server, project, site_admin
):
    # Given a project just created (nothing changed since) and a client key for production
    production = project.environments.get(name="production")
    key = core_services.key_create(
        actor=site_admin, project=project, kind="client", environment=production, name="web"
    )
    seen = _serve_app(page, live_server.url)
    page.set_default_timeout(15_000)
    page.goto(APP + "/")
    # When the app's client initializes and reads a gate nobody made
    rows = page.evaluate(
        READ_USERS,
        {
            "sdkKey": key.secret,
            "api": live_server.url + "/v1",
            "app": APP,
            "users": [{"userID": "u1"}],
            "gates": ["no_such_gate"],
            "configs": [],
            "experiments": [],
            "layers": {},
        },
    )
    # Then it initialized from the network (the project's first, empty spec) and says false
    assert (rows[0]["success"], rows[0]["error"]) == (True, None)
    assert rows[0]["gates"]["no_such_gate"]["value"] is False
    assert rows[0]["reasons"] == ["Network:Unrecognized"]
    assert seen["initialize"] == [200, 200]
    assert seen["stray"] == []
