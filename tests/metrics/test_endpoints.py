"""The intake endpoints over HTTP (Django's test client): keys, encodings, limits,
set-aside events, resends."""

from __future__ import annotations

import gzip
import json

import pytest
import zstandard
from django.urls import reverse

from metrics.models import (
    Event,
    EventCount,
    Exposure,
    ExposureCount,
    IntakeTally,
    SetAsideEvent,
)

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


@pytest.mark.parametrize(
    ("raw", "encoding", "status", "code"),
    [
        (b"{not json", None, 400, "malformed_json"),
        (b'{"events": 3}', None, 400, "no_events"),
        (gzip.compress(b"\0" * (17 * 1024 * 1024)), "gzip", 413, "body_too_large"),
        (b"garbage", "gzip", 400, "bad_compression"),
        (b"[" * 5000 + b"]" * 5000, None, 400, "too_deep"),
    ],
)
def test_log_event__bad_bodies__4xx_nothing_stored(client, server_key, raw, encoding, status, code):
    headers = {"HTTP_CONTENT_ENCODING": encoding} if encoding else {}
    response = client.post(
        reverse("sdk-log-event"),
        data=raw,
        content_type="application/json",
        HTTP_STATSIG_API_KEY=server_key.secret,
        **headers,
    )
    assert response.status_code == status
    assert response.json()["code"] == code
    assert Event.objects.count() == 0


def test_log_event__too_many_events__413(client, server_key, settings):
    settings.GATEHOUSE_EVENTS_MAX_PER_REQUEST = 3
    response = _post(client, server_key.secret, {"events": [_event()] * 4})
    assert response.status_code == 413
    assert response.json()["code"] == "too_many_events"


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


def test_exposure__names_longer_than_any_config__stored_as_event_only(client, server_key):
    exposure = {
        "eventName": "statsig::config_exposure",
        "user": {"userID": "u1"},
        "metadata": {"config": "c" * 300, "ruleID": "r" * 300},
    }
    response = _post(client, server_key.secret, {"events": [exposure]})
    assert response.status_code == 202
    assert Event.objects.count() == 1
    assert not Exposure.objects.exists()
    assert not ExposureCount.objects.exists()
