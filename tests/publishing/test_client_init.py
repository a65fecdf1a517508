"""`POST /v1/initialize` as @statsig/js-client calls it: the key in `?k=`, the body
"Statsig-encoded" (`?se=1`), the device's stableID in `statsigMetadata`, and 204 when the
client's `sinceTime` and `full_checksum` say it already holds the values."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from django.urls import reverse

from console import services as core_services
from console.publishing.client_init import client_initialize, client_is_current, hash_name
from console.publishing.services import spec_publish
from console.specs.evaluator import Evaluator
from gates import services as gate_services
from gates.models import FeatureGate
from tests.gates.factories import condition, gate_document, rule

pytestmark = pytest.mark.django_db

ALICE = {"userID": "alice", "email": "alice@corp.example"}
ZED = {"userID": "zed", "email": "zed@else.example"}


def _js_encoded(body: dict) -> str:
    """What js-client sends with `se=1`: btoa(JSON.stringify(body)) reversed (btoa takes
    one byte per character, so non-ASCII Latin-1 characters are single bytes)."""
    text = json.dumps(body, ensure_ascii=False)
    return base64.b64encode(text.encode("latin-1")).decode()[::-1]


def _initialize(client, key: str, body, *, se: bool = False, gz: bool = False, **headers):
    params = [f"k={key}", "st=javascript-client", "sv=3.33.5"]
    data = _js_encoded(body) if se else json.dumps(body)
    if se:
        params.append("se=1")
    payload = data.encode()
    if gz:
        params.append("gz=1")
        payload = gzip.compress(payload)
    url = reverse("sdk-initialize") + "?" + "&".join(params)
    return client.post(url, data=payload, content_type="text/plain;charset=UTF-8", **headers)


@pytest.fixture
def published_v1(project, make_gate):
    make_gate()  # new_checkout: alice@corp.example
    version = spec_publish(actor=None, project=project)
    return json.loads(version.config_specs.get(environment__name="production").v1_json)


def _republish(project, site_admin, emails) -> dict:
    gate = FeatureGate.objects.get(project=project, name="new_checkout")
    document = gate_document(
        "new_checkout", rules=[rule("Staff", [condition("email", "any", emails)])]
    )
    gate_services.gate_update(actor=site_admin, gate=gate, document=document)
    version = spec_publish(actor=None, project=project)
    return json.loads(version.config_specs.get(environment__name="production").v1_json)


# ---------------------------------------------------------------- request decoding and keys


@pytest.mark.parametrize("gz", [False, True])
def test_initialize__js_client_encoded_body__decoded(client, client_key, published_v1, gz):
    # Given a user with a Latin-1 character, sent as js-client encodes it
    user = {"userID": "josé", "email": "josé@corp.example"}
    body = {"user": user, "hash": "djb2", "statsigMetadata": {"sdkType": "javascript-client"}}
    # When
    response = _initialize(client, client_key.secret, body, se=True, gz=gz)
    # Then
    assert response.status_code == 200
    payload = response.json()
    assert payload["user"] == user
    assert payload["evaluated_keys"] == {"userID": "josé"}
    expected = Evaluator(published_v1, {}).get_feature_gate(user, "new_checkout")
    entry = payload["feature_gates"][hash_name("new_checkout", "djb2")]
    assert (entry["value"], entry["rule_id"]) == (expected.value, expected.rule_id)


@pytest.mark.parametrize(
    "body", [b"not base64!", base64.b64encode(b"[1,")[::-1], base64.b64encode(b'{"user": {}}')]
)
def test_initialize__bad_encoded_body__400(client, client_key, published_v1, body):
    # Given a body that is not base64, not JSON, or base64 JSON not reversed
    url = reverse("sdk-initialize") + f"?k={client_key.secret}&se=1"
    # When
    response = client.post(url, data=body, content_type="text/plain")
    # Then
    assert response.status_code == 400
    assert response.json()["error"] == "The body is not JSON."
    assert response.json()["code"] == "bad_request"
    assert response["Access-Control-Allow-Origin"] == "*"


def test_initialize__bad_gzip__400(client, client_key, published_v1):
    url = reverse("sdk-initialize") + f"?k={client_key.secret}&gz=1"
    response = client.post(url, data=gzip.compress(b'{"user": {}}')[:-6], content_type="text/plain")
    assert response.status_code == 400


def test_initialize__query_key__only_client_keys(
    client, project, production, site_admin, client_key, server_key, published_v1
):
    # Given a console key too
    console_key = core_services.key_create(
        actor=site_admin, project=project, kind="console", role="viewer", name="ci"
    )
    body = {"user": ALICE}
    # When / Then: the client key reads; a server key is refused, a console key is unknown here
    assert _initialize(client, client_key.secret, body, se=True).status_code == 200
    assert _initialize(client, server_key.secret, body, se=True).status_code == 403
    assert _initialize(client, console_key.secret, body, se=True).status_code == 401
    assert _initialize(client, "client-nope", body, se=True).status_code == 401


# ---------------------------------------------------------------- stableID


def test_initialize__statsig_metadata_stable_id__evaluates_device_specs(
    client, project, site_admin, client_key
):
    # Given a stableID gate at 50%
    document = gate_document(
        "device_beta", idType="stableID", rules=[rule("Half", [condition("public")], 50)]
    )
    gate_services.gate_create(actor=site_admin, project=project, document=document)
    v1 = json.loads(
        spec_publish(actor=None, project=project)
        .config_specs.get(environment__name="production")
        .v1_json
    )
    evaluator = Evaluator(v1, {})

    def passes(stable_id):
        return evaluator.check_gate({"customIDs": {"stableID": stable_id}}, "device_beta")

    devices = [f"device-{i}" for i in range(40)]
    on = next(d for d in devices if passes(d))
    off = next(d for d in devices if not passes(d))
    name = hash_name("device_beta", "djb2")

    def value(user, stable_id):
        body = {"user": user, "statsigMetadata": {"stableID": stable_id}}
        payload = _initialize(client, client_key.secret, body, se=True).json()
        return payload, payload["feature_gates"][name]["value"]

    # When the user carries no stableID, the SDK's device stableID decides
    payload_on, value_on = value({"userID": "u"}, on)
    _, value_off = value({"userID": "u"}, off)
    # and when it carries one, the user's own wins
    _, value_own = value({"userID": "u", "customIDs": {"stableID": on}}, off)
    # Then
    assert (value_on, value_off, value_own) == (True, False, True)
    assert payload_on["user"] == {"userID": "u"}  # echoed as sent
    assert payload_on["evaluated_keys"] == {"userID": "u", "customIDs": {"stableID": on}}
    assert payload_on["feature_gates"][name]["id_type"] == "stableID"


# ---------------------------------------------------------------- 204 / has_updates


def _since(payload: dict, **extra) -> dict:
    """The body js-client sends when it holds `payload` for the same user and hash."""
    return {
        "user": payload["user"],
        "hash": payload["hash_used"],
        "sinceTime": payload["time"],
        "full_checksum": payload["full_checksum"],
        "previousDerivedFields": payload["derived_fields"],
        "deltasResponseRequested": True,
        "partialUserMatchSinceTime": payload["time"],
        **extra,
    }


def test_initialize__client_holds_current_values__204(client, client_key, published_v1):
    # Given the values js-client got for alice
    first = _initialize(client, client_key.secret, {"user": ALICE, "hash": "djb2"}, se=True)
    payload = first.json()
    assert payload["time"] == published_v1["time"]
    assert payload["has_updates"] is True
    # When it asks again for alice with them
    again = _initialize(client, client_key.secret, _since(payload), se=True)
    # Then nothing changed: 204, no body, still readable cross-origin
    assert again.status_code == 204
    assert again.content == b""
    assert again["Access-Control-Allow-Origin"] == "*"
    assert again["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "change",
    [
        # js-client sends 0 when its values are for another user or hash
        pytest.param(lambda t: {"sinceTime": 0}, id="since_zero"),
        pytest.param(lambda t: {"sinceTime": str(t)}, id="since_string"),
        pytest.param(lambda t: {"sinceTime": True}, id="since_bool"),
        pytest.param(lambda t: {"sinceTime": t - 1}, id="since_older"),
        # the values differ though the spec did not (a current_time rule flipped, say)
        pytest.param(lambda t: {"full_checksum": "0" * 32}, id="other_checksum"),
        pytest.param(lambda t: {"user": ZED}, id="other_user"),
        pytest.param(lambda t: {"hash": "none"}, id="other_hash"),
    ],
)
def test_initialize__client_values_not_current__full_payload(
    client, client_key, published_v1, change
):
    # Given alice's values
    payload = _initialize(client, client_key.secret, {"user": ALICE}, se=True).json()
    # When
    body = _since(payload, **change(payload["time"]))
    response = _initialize(client, client_key.secret, body, se=True)
    # Then
    assert response.status_code == 200
    assert response.json()["has_updates"] is True


def test_initialize__published_since__new_values(
    client, project, site_admin, client_key, published_v1
):
    # Given zed's values (the gate is off for him)
    payload = _initialize(client, client_key.secret, {"user": ZED}, se=True).json()
    name = hash_name("new_checkout", "djb2")
    assert payload["feature_gates"][name]["value"] is False
    # When the gate is widened to zed and published
    newer = _republish(project, site_admin, ["alice@corp.example", "zed@else.example"])
    response = _initialize(client, client_key.secret, _since(payload), se=True)
    # Then he gets the new spec's values
    assert response.status_code == 200
    fresh = response.json()
    assert fresh["time"] == newer["time"] > payload["time"]
    assert fresh["feature_gates"][name]["value"] is True
    assert fresh["full_checksum"] != payload["full_checksum"]
    # And asking again with those is 204
    assert _initialize(client, client_key.secret, _since(fresh), se=True).status_code == 204


def test_initialize__published_without_change_for_user__full_payload_with_new_time(
    client, project, site_admin, client_key, published_v1
):
    # Given zed's values; a publish that changes nothing for him
    payload = _initialize(client, client_key.secret, {"user": ZED}, se=True).json()
    newer = _republish(project, site_admin, ["alice@corp.example", "amy@corp.example"])
    # When
    response = _initialize(client, client_key.secret, _since(payload), se=True)
    # Then the same values, under the new time (the client's sinceTime moves on)
    fresh = response.json()
    assert response.status_code == 200
    assert fresh["time"] == newer["time"]
    assert fresh["full_checksum"] == payload["full_checksum"]


# ---------------------------------------------------------------- pure functions


def test_client_initialize__checksum__depends_on_values_user_and_hash_not_time(published_v1):
    # Given
    evaluator = Evaluator(published_v1, {})
    later = {**published_v1, "time": published_v1["time"] + 1000}

    def checksum(spec, user, algorithm="djb2", stable_id=None):
        return client_initialize(spec, evaluator, user, algorithm=algorithm, stable_id=stable_id)[
            "full_checksum"
        ]

    # When / Then
    base = checksum(published_v1, ALICE)
    assert base == checksum(later, ALICE)
    assert base == checksum(published_v1, dict(reversed(list(ALICE.items()))))
    assert len({base, checksum(published_v1, ZED), checksum(published_v1, ALICE, "none")}) == 3
    assert base != checksum(published_v1, ALICE, stable_id="device-1")


@pytest.mark.parametrize(
    ("body", "current"),
    [
        ({"sinceTime": 100, "full_checksum": "abc"}, True),
        ({"sinceTime": 150, "full_checksum": "abc"}, True),
        ({"sinceTime": 100}, True),  # clients that send no checksum: time alone
        ({"sinceTime": 100, "full_checksum": None}, True),
        ({"sinceTime": 99, "full_checksum": "abc"}, False),
        ({"sinceTime": 100, "full_checksum": "abd"}, False),
        ({"sinceTime": 0, "full_checksum": "abc"}, False),
        ({"full_checksum": "abc"}, False),
        ({"sinceTime": "100", "full_checksum": "abc"}, False),
        ({"sinceTime": 100.0, "full_checksum": "abc"}, False),
        ({"sinceTime": True, "full_checksum": "abc"}, False),
    ],
)
def test_client_is_current__since_time_and_checksum(body, current):
    assert client_is_current(body, {"time": 100, "full_checksum": "abc"}) is current
