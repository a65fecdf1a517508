"""SDK endpoints: download_config_specs v1/v2, get_id_lists + files, initialize."""

from __future__ import annotations

import gzip
import json

import pytest
from django.urls import reverse

from console import services as core_services
from console.publishing.client_init import hash_name
from console.publishing.services import config_spec_push, spec_publish
from console.specs.evaluator import Evaluator
from console.specs.hashing import id_list_hash
from gates import services as gate_services
from gates.specs import INLINE_ID_LIMIT
from tests.gates.factories import condition, gate_document, rule, segment_document

pytestmark = pytest.mark.django_db


def _dcs(client, version, key, **params):
    url = reverse(f"sdk-dcs-{version}", args=[key])
    return client.get(url, params)


@pytest.fixture
def published(project, server_key, make_gate):
    make_gate()
    version = spec_publish(actor=None, project=project)
    return version.config_specs.get(environment__name="production")


def test_dcs__from_redis_and_from_database__same_body(client, published, server_key):
    # Given: not pushed yet, the database answers
    from_db = _dcs(client, "v1", server_key.secret)
    # When pushed, Redis answers
    config_spec_push(spec_id=published.pk)
    from_redis = _dcs(client, "v1", server_key.secret)
    v2 = _dcs(client, "v2", server_key.secret)
    # Then
    for response in (from_db, from_redis, v2):
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
    assert from_db.content == from_redis.content == published.v1_json.encode()
    assert v2.content == published.v2_json.encode()


def test_dcs__since_time_current__has_updates_false(client, published, server_key):
    config_spec_push(spec_id=published.pk)
    current = _dcs(client, "v2", server_key.secret, sinceTime=published.time_ms)
    older = _dcs(client, "v2", server_key.secret, sinceTime=published.time_ms - 1)
    assert current.json() == {"has_updates": False}
    assert older.json()["time"] == published.time_ms


def test_dcs__since_time_current__answered_without_reading_a_body(
    client, published, server_key, django_assert_max_num_queries
):
    from console.publishing import store

    config_spec_push(spec_id=published.pk)
    store.client().delete(store.dcs_key("v1", server_key.key.key_hash))
    # No body is read: with the body gone from Redis, reading one would query the database.
    with django_assert_max_num_queries(2):  # the key's lookup and its last-use stamp
        current = _dcs(client, "v1", server_key.secret, sinceTime=published.time_ms)
    assert current.json() == {"has_updates": False}


def test_dcs__repeated_polls__served_from_memory_until_a_new_spec(
    client, project, published, server_key, make_gate
):
    from console.publishing import store

    # Given a pushed spec, fetched once
    config_spec_push(spec_id=published.pk)
    assert _dcs(client, "v1", server_key.secret).content == published.v1_json.encode()
    # When Redis loses the body, the same spec is still served (from this process's memory)
    store.client().delete(store.dcs_key("v1", server_key.key.key_hash))
    assert _dcs(client, "v1", server_key.secret).content == published.v1_json.encode()
    # And a newer spec (the pointer moves) is served, not the remembered one
    make_gate("another_gate")
    newer = spec_publish(actor=None, project=project).config_specs.get(
        environment__name="production"
    )
    config_spec_push(spec_id=newer.pk)
    assert _dcs(client, "v1", server_key.secret).content == newer.v1_json.encode()


def test_dcs__gzip_accepted__gzipped(client, published, server_key):
    url = reverse("sdk-dcs-v1", args=[server_key.secret])
    response = client.get(url, headers={"accept-encoding": "gzip, deflate"})
    assert response["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.content) == published.v1_json.encode()


def test_dcs__header_key__accepted(client, published, server_key):
    response = client.get(
        reverse("sdk-dcs-v1-header"), headers={"STATSIG-API-KEY": server_key.secret}
    )
    assert response.status_code == 200


def test_dcs__bad_revoked_or_client_key__refused(
    client, published, server_key, client_key, site_admin
):
    assert _dcs(client, "v1", "secret-nope").status_code == 401
    assert _dcs(client, "v2", client_key.secret).status_code == 403
    core_services.key_revoke(actor=site_admin, key=server_key.key)
    assert _dcs(client, "v1", server_key.secret).status_code == 401


@pytest.fixture
def large_segment(project, site_admin):
    segment = gate_services.segment_create(
        actor=site_admin, project=project, document=segment_document("beta", type="id_list")
    )
    ids = [f"u{n}" for n in range(INLINE_ID_LIMIT + 5)]
    gate_services.segment_ids_add(actor=site_admin, segment=segment, ids=ids)
    gate_services.gate_create(
        actor=site_admin,
        project=project,
        document=gate_document(
            "beta_feature", rules=[rule("Beta", [condition("passes_segment", None, "beta")])]
        ),
    )
    return segment, ids


def test_get_id_lists__manifest_and_range(client, project, server_key, large_segment):
    # Given
    _segment, ids = large_segment
    # When
    manifest = client.post(
        reverse("sdk-get-id-lists"),
        data=json.dumps({"statsigMetadata": {}}),
        content_type="application/json",
        headers={"STATSIG-API-KEY": server_key.secret},
    ).json()
    # Then
    entry = manifest["beta"]
    body = "".join(f"+{id_list_hash(i)}\n" for i in ids).encode()
    assert entry["size"] == len(body)
    assert entry["fileID"]
    assert entry["creationTime"] > 0
    full = client.get(entry["url"])
    assert full.status_code == 200
    assert sorted(full.content.splitlines()) == sorted(body.splitlines())
    tail = client.get(entry["url"], headers={"Range": "bytes=100-"})
    assert tail.status_code == 206
    assert tail.content == full.content[100:]
    assert tail["Content-Range"] == f"bytes 100-{len(body) - 1}/{len(body)}"
    forged = entry["url"].rsplit("/", 1)[0] + "/x" + entry["url"].rsplit("/", 1)[1]
    assert client.get(forged).status_code == 404
    refused = client.post(reverse("sdk-get-id-lists"), headers={"STATSIG-API-KEY": "client-x"})
    assert refused.status_code == 401


@pytest.mark.parametrize("algorithm", ["djb2", "none"])
def test_initialize__client_key__values_equal_our_evaluator(
    client, project, client_key, server_key, make_gate, large_segment, algorithm
):
    # Given
    make_gate()
    spec = spec_publish(actor=None, project=project).config_specs.get(
        environment__name="production"
    )
    v1 = json.loads(spec.v1_json)
    evaluator = Evaluator(v1, {"beta": {id_list_hash(i) for i in large_segment[1]}})
    users = [
        {"userID": "u3", "email": "alice@corp.example"},
        {"userID": "zed", "email": "zed@else.example"},
    ]
    for user in users:
        # When
        response = client.post(
            reverse("sdk-initialize"),
            data=json.dumps({"user": user, "hash": algorithm}),
            content_type="application/json",
            headers={"STATSIG-API-KEY": client_key.secret},
        )
        # Then
        assert response.status_code == 200
        payload = response.json()
        assert payload["hash_used"] == algorithm
        assert payload["time"] == spec.time_ms
        for name in ("new_checkout", "beta_feature"):
            ours = evaluator.get_feature_gate(user, name)
            entry = payload["feature_gates"][hash_name(name, algorithm)]
            assert (entry["value"], entry["rule_id"]) == (ours.value, ours.rule_id)
        # segments are never sent to clients
        assert hash_name("segment:beta", algorithm) not in payload["feature_gates"]
    assert response["Access-Control-Allow-Origin"] == "*"
    values = [
        client.post(
            reverse("sdk-initialize"),
            data=json.dumps({"user": u}),
            content_type="application/json",
            headers={"STATSIG-API-KEY": client_key.secret},
        ).json()["feature_gates"][hash_name("beta_feature", "djb2")]["value"]
        for u in users
    ]
    assert values == [True, False]


def test_initialize__server_key__refused(client, published, server_key):
    response = client.post(
        reverse("sdk-initialize"),
        data="{}",
        content_type="application/json",
        headers={"STATSIG-API-KEY": server_key.secret},
    )
    assert response.status_code == 403
