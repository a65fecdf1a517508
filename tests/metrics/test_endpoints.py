"""The intake endpoints over HTTP (Django's test client): keys, encodings, limits,
set-aside events, resends, and a hostile-input matrix over both endpoints: each hostile
request gets its 4xx with `{"message", "code"}` (and nothing stored) or, inside a good
batch, its event set aside with a reason (the rest stored); never a 5xx."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest
import zstandard
from django.urls import reverse

from console import services
from metrics.models import (
    Event,
    EventCount,
    EventKey,
    Exposure,
    ExposureCount,
    IntakeTally,
    PendingExposures,
    SetAsideEvent,
)
from metrics.services import exposures_apply

pytestmark = pytest.mark.django_db


def _event(name="checkout", user="u1", **extra):
    return {"eventName": name, "user": {"userID": user}, "time": 1_700_000_000_000, **extra}


def _post(client, secret, body, *, path="sdk-log-event", encoding=None, raw=None, **headers):
    data = raw if raw is not None else json.dumps(body).encode()
    if encoding == "gzip":
        data = gzip.compress(data)
    elif encoding == "zstd":
        data = zstandard.ZstdCompressor().compress(data)
    if encoding:
        headers["HTTP_CONTENT_ENCODING"] = encoding
    return client.post(
        reverse(path),
        data=data,
        content_type="application/json",
        HTTP_STATSIG_API_KEY=secret,
        **headers,
    )


@pytest.mark.parametrize("encoding", [None, "gzip", "zstd"])
def test_log_event__each_encoding__stored_202(client, server_key, encoding):
    response = _post(
        client, server_key.secret, {"events": [_event(), _event(user="u2")]}, encoding=encoding
    )
    assert response.status_code == 202
    assert response.json()["success"] is True
    assert sorted(Event.objects.values_list("user_id", flat=True)) == ["u1", "u2"]
    assert EventCount.objects.get(event_name="checkout").count == 2


def test_log_event__resent_batch__not_counted_twice(client, server_key):
    body = {"events": [_event(), _event(user="u2")]}
    assert _post(client, server_key.secret, body).status_code == 202
    again = _post(client, server_key.secret, body)
    assert again.status_code == 202
    assert again.json()["duplicates"] == 2
    assert Event.objects.count() == 2
    assert IntakeTally.objects.get(outcome="duplicate").count == 2


def test_log_event__bad_events_set_aside__good_ones_kept(client, server_key):
    events = [
        _event(),
        {"user": {"userID": "x"}},
        _event(name="n" * 129),
        _event(metadata={"blob": "x" * 20000}),
        _event(value="a\u0000b"),
        "not an object",
    ]
    raw = json.dumps({"events": events}).replace('"value": "a\\u0000b"', '"value": NaN').encode()
    response = _post(client, server_key.secret, None, raw=raw)
    assert response.status_code == 202
    assert response.json() == {"success": True, "stored": 1, "duplicates": 0, "setAside": 5}
    reasons = dict(IntakeTally.objects.values_list("reason", "count"))
    assert reasons == {
        "missing_name": 1,
        "name_too_long": 1,
        "metadata_too_large": 1,
        "non_finite": 1,
        "not_an_object": 1,
    }
    assert SetAsideEvent.objects.count() == 5


def test_keys__client_key_on_log_event_403__server_key_on_rgstr_403__unknown_401(
    client, server_key, client_key
):
    assert _post(client, client_key.secret, {"events": [_event()]}).status_code == 403
    assert _post(client, "secret-nope", {"events": [_event()]}).status_code == 401
    rgstr = client.post(
        reverse("sdk-rgstr") + f"?k={server_key.secret}", data="{}", content_type="text/plain"
    )
    assert rgstr.status_code == 403
    assert Event.objects.count() == 0


def test_rgstr__text_plain_gz_param__stored_with_cors(client, client_key):
    body = gzip.compress(json.dumps({"events": [_event()]}).encode())
    response = client.post(
        reverse("sdk-rgstr") + f"?k={client_key.secret}&gz=1&st=js-mono&sv=3.33.5&t=1700000000000",
        data=body,
        content_type="text/plain;charset=UTF-8",
    )
    assert response.status_code == 202
    assert response["Access-Control-Allow-Origin"] == "*"
    event = Event.objects.get()
    assert (event.sdk_type, event.sdk_version) == ("js-mono", "3.33.5")


def test_trailing_slash__accepted(client, server_key):
    response = client.post(
        "/v1/log_event/",
        data=json.dumps({"events": [_event()]}),
        content_type="application/json",
        HTTP_STATSIG_API_KEY=server_key.secret,
    )
    assert response.status_code == 202


# ---------------------------------------------------------------- hostile input, both endpoints

ENDPOINTS = ("log_event", "rgstr")
CAP = 64 * 1024  # the body limit the matrix runs with (GATEHOUSE_EVENTS_MAX_BODY_BYTES)
GOOD = json.dumps({"events": [_event()]}).encode()


def _send(client, endpoint, secret, raw: bytes, *, encoding=None, query="", **headers):
    """POST `raw` as each endpoint's SDK does: /v1/log_event with the server key in
    STATSIG-API-KEY and Content-Encoding; /v1/rgstr (js-client) as text/plain with the
    client key in `?k=`, gzip as `?gz=1` (any other encoding as Content-Encoding)."""
    if endpoint == "log_event":
        if encoding:
            headers["HTTP_CONTENT_ENCODING"] = encoding
        if secret is not None:
            headers["HTTP_STATSIG_API_KEY"] = secret
        url, ctype = reverse("sdk-log-event") + query, "application/json"
    else:
        params = [f"k={secret}"] if secret is not None else []
        if encoding == "gzip":
            params.append("gz=1")
        elif encoding:
            headers["HTTP_CONTENT_ENCODING"] = encoding
        url = reverse("sdk-rgstr") + "?" + "&".join(params) + query.replace("?", "&")
        ctype = "text/plain;charset=UTF-8"
    return client.post(url, data=raw, content_type=ctype, **headers)


@pytest.fixture
def keys(server_key, client_key):
    return {"log_event": server_key, "rgstr": client_key}


def _nothing_stored() -> None:
    models = (Event, EventKey, EventCount, PendingExposures, Exposure, ExposureCount, IntakeTally)
    for model in models:
        assert not model.objects.exists(), model.__name__
    assert not SetAsideEvent.objects.exists()


def _refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    _nothing_stored()


def _zstd_streamed(data: bytes) -> bytes:
    """A zstd frame that does not say its size (as a streaming compressor writes it)."""
    compressor = zstandard.ZstdCompressor().compressobj()
    return compressor.compress(data) + compressor.flush()


ZEROS = b"\0" * (CAP * 64)
_DEEP_EVENT = b'{"events": [{"eventName": "x", "metadata": %s1%s}]}' % (b'{"a": ' * 200, b"}" * 200)
BAD_BODIES = {
    # name: (raw body, encoding, status, code)
    "malformed json": (b"{not json", None, 400, "malformed_json"),
    "empty body": (b"", None, 400, "malformed_json"),
    "not utf-8": (b'{"events": [{"eventName": "caf\xe9"}]}', None, 400, "malformed_json"),
    "raw NUL in a string": (b'{"events": [{"eventName": "a\x00b"}]}', None, 400, "malformed_json"),
    "no events list": (b'{"events": 3}', None, 400, "no_events"),
    "over-limit body": (b" " * (CAP + 1), None, 413, "body_too_large"),
    "gzip bomb": (gzip.compress(ZEROS), "gzip", 413, "body_too_large"),
    "zstd bomb": (zstandard.ZstdCompressor().compress(ZEROS), "zstd", 413, "body_too_large"),
    "zstd bomb, size unsaid": (_zstd_streamed(ZEROS), "zstd", 413, "body_too_large"),
    "garbage as gzip": (b"garbage", "gzip", 400, "bad_compression"),
    "garbage as zstd": (b"garbage", "zstd", 400, "bad_compression"),
    "truncated gzip": (gzip.compress(GOOD)[:-12], "gzip", 400, "bad_compression"),
    "wrong content-encoding": (GOOD, "br", 400, "unsupported_encoding"),
    "deep nesting": (b"[" * 5000 + b"]" * 5000, None, 400, "too_deep"),
    "deep nesting in an event": (_DEEP_EVENT, None, 400, "too_deep"),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_hostile_bodies__4xx_message_and_code__nothing_stored(
    client, keys, settings, endpoint, case
):
    settings.GATEHOUSE_EVENTS_MAX_BODY_BYTES = CAP
    raw, encoding, status, code = BAD_BODIES[case]
    response = _send(client, endpoint, keys[endpoint].secret, raw, encoding=encoding)
    _refused(response, status, code)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_too_many_events__413_nothing_stored(client, keys, settings, endpoint):
    settings.GATEHOUSE_EVENTS_MAX_PER_REQUEST = 3
    raw = json.dumps({"events": [_event(user=f"u{n}") for n in range(4)]}).encode()
    _refused(_send(client, endpoint, keys[endpoint].secret, raw), 413, "too_many_events")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_missing_unknown_and_revoked_keys__401_nothing_stored(client, keys, site_admin, endpoint):
    _refused(_send(client, endpoint, None, GOOD), 401, "invalid_sdk_key")
    _refused(_send(client, endpoint, "secret-nope", GOOD), 401, "invalid_sdk_key")
    services.key_revoke(actor=site_admin, key=keys[endpoint].key)
    _refused(_send(client, endpoint, keys[endpoint].secret, GOOD), 401, "invalid_sdk_key")


# One bad event inside a good batch: set aside with its reason, the two good ones stored.
# (JSON escapes: a NUL or a lone surrogate arrives as "\u0000" / "\ud800".)
BAD_EVENTS = {
    "NUL in the name": ({"eventName": "a\u0000b"}, "invalid_text"),
    "NUL in a metadata value": (_event(metadata={"k": "a\u0000"}), "invalid_text"),
    "NUL in a metadata key": (_event(metadata={"k\u0000": "v"}), "invalid_text"),
    "lone surrogate in the userID": (_event(user="u\ud800"), "invalid_text"),
    "lone surrogate in a value": (_event(value="\udfff"), "invalid_text"),
    "lone surrogate in secondary exposures": (
        _event(secondaryExposures=[{"gate": "\ud83d"}]),
        "invalid_text",
    ),
    "integer value beyond the value limit": (_event(value=10**1100), "value_too_long"),
    "user not an object": (_event(user=None) | {"user": ["u1"]}, "bad_field"),
    "customIDs not an object": (
        _event() | {"user": {"userID": "u", "customIDs": "x"}},
        "bad_field",
    ),
    "metadata not an object": (_event(metadata=[1, 2]), "bad_field"),
}


@pytest.mark.parametrize("case", list(BAD_EVENTS))
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_one_bad_event_in_a_good_batch__set_aside__rest_stored(client, keys, endpoint, case):
    bad, reason = BAD_EVENTS[case]
    events = [_event(name="first", user="a"), bad, _event(name="last", user="b")]
    raw = gzip.compress(json.dumps({"events": events}).encode())  # "\ud800" stays escaped
    response = _send(client, endpoint, keys[endpoint].secret, raw, encoding="gzip")
    assert response.status_code == 202, response.content[:300]
    assert response.json() == {"success": True, "stored": 2, "duplicates": 0, "setAside": 1}
    assert sorted(Event.objects.values_list("event_name", "user_id")) == [
        ("first", "a"),
        ("last", "b"),
    ]
    assert dict(IntakeTally.objects.values_list("reason", "count")) == {reason: 1}
    assert list(SetAsideEvent.objects.values_list("reason", flat=True)) == [reason]


def _stored_one(response) -> Event:
    assert response.status_code == 202, response.content[:300]
    assert response.json()["stored"] == 1
    assert not IntakeTally.objects.exists()
    return Event.objects.get()


@pytest.mark.parametrize("time_", [10**30, 1e30, -(10**15), "9" * 25, True, "soon"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_event_time_out_of_range__stored_at_its_arrival(client, keys, endpoint, time_):
    before = dt.datetime.now(dt.UTC)
    raw = json.dumps({"events": [_event(time=time_)]}).encode()
    event = _stored_one(_send(client, endpoint, keys[endpoint].secret, raw))
    assert event.client_time is None
    assert before <= event.time <= dt.datetime.now(dt.UTC)


@pytest.mark.parametrize("sent", ["999999999999999", "1"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_sender_clock_absurd__event_time_bounded(client, keys, endpoint, sent):
    # A send time far ahead would correct the event to before 1970, one far behind to the
    # future: the event is stored at the latest when it arrived, never before 1970.
    raw = json.dumps({"events": [_event()]}).encode()
    event = _stored_one(
        _send(client, endpoint, keys[endpoint].secret, raw, HTTP_STATSIG_CLIENT_TIME=sent)
    )
    assert dt.datetime(1970, 1, 1, tzinfo=dt.UTC) < event.time <= dt.datetime.now(dt.UTC)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_integer_value_beyond_any_float__kept_as_text(client, keys, endpoint):
    raw = json.dumps({"events": [_event(value=10**400)]}).encode()
    event = _stored_one(_send(client, endpoint, keys[endpoint].secret, raw))
    assert (event.value_text, event.value_num) == (str(10**400), None)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_exposure_names_longer_than_ours__stored_as_events_count_for_nothing(
    client, keys, endpoint
):
    events = [
        _event(name="statsig::gate_exposure", metadata={"gate": "g" * 300, "gateValue": "true"}),
        _event(name="statsig::config_exposure", metadata={"config": "c", "ruleID": "r" * 300}),
    ]
    raw = json.dumps({"events": events}).encode()
    response = _send(client, endpoint, keys[endpoint].secret, raw)
    assert response.status_code == 202, response.content[:300]
    assert response.json()["stored"] == 2
    assert exposures_apply() == 0  # nothing left for the worker
    assert not Exposure.objects.exists()
    assert not ExposureCount.objects.exists()


@pytest.mark.parametrize(
    "metadata",
    [{"stableID": "s\u0000", "sdkType": "t\u0000"}, {"stableID": "\ud800", "sdkType": "\udc00"}],
)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_unstorable_text_beside_the_events__dropped(client, keys, endpoint, metadata):
    # statsigMetadata is optional: text PostgreSQL cannot hold is dropped there, the events
    # are stored.
    raw = json.dumps({"events": [{"eventName": "x"}], "statsigMetadata": metadata}).encode()
    event = _stored_one(_send(client, endpoint, keys[endpoint].secret, raw))
    assert (event.stable_id, event.sdk_type) == ("", "")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_nul_in_the_query__400_nothing_stored(client, keys, endpoint):
    response = _send(client, endpoint, keys[endpoint].secret, GOOD, query="?st=%00")
    _refused(response, 400, "nul_character")


@pytest.mark.parametrize("algorithm", ["none", "djb2", "sha256"])
def test_layer_exposure__experiment_named_as_initialize_hashed_it__counted_for_it(
    client, server_key, project, site_admin, algorithm
):
    # js-client reports a layer's allocated experiment by the name /v1/initialize gave it:
    # hashed (djb2 by default, sha256 for older clients).
    from console.publishing.client_init import hash_name
    from console.publishing.services import spec_publish
    from experiments import services as experiments
    from tests.experiments.factories import experiment_document, layer_document

    experiments.layer_create(actor=site_admin, project=project, document=layer_document())
    experiment = experiments.experiment_create(
        actor=site_admin,
        project=project,
        document=experiment_document(
            layerID="checkout_layer", parameters=[{"name": "color", "type": "string"}]
        ),
    )
    experiments.experiment_start(actor=site_admin, experiment=experiment)
    spec = json.loads(
        spec_publish(actor=None, project=project)
        .config_specs.get(environment__name="production")
        .v1_json
    )
    config = next(c for c in spec["dynamic_configs"] if c["name"] == experiment.name)
    group = next(r for r in config["rules"] if r.get("groupName") == "Test")
    exposure = _event(
        name="statsig::layer_exposure",
        metadata={
            "config": "checkout_layer",
            "ruleID": group["id"],
            "allocatedExperiment": hash_name(experiment.name, algorithm),
            "parameterName": "color",
            "isExplicitParameter": "true",
        },
    )
    assert _post(client, server_key.secret, {"events": [exposure]}).status_code == 202
    assert exposures_apply() == 1
    assert list(Exposure.objects.values_list("kind", "name", "unit_id", "group_name")) == [
        ("config", experiment.name, "u1", "Test")
    ]
