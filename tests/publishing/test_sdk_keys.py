"""SDK keys in Redis (issue 10): the records the endpoints authenticate from, kept current
by the push and by the key services' on-commit sync; ID lists and their expiring links."""

from __future__ import annotations

import json

import pytest
from django.core import signing
from django.urls import reverse

from console import services
from console.publishing import store
from console.publishing.services import config_spec_push, spec_publish
from console.sdk_views import ID_LIST_SALT
from tests.publishing.test_endpoints import large_segment  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def _record(issued) -> dict | None:
    raw = store.client().get(store.key_record_key(issued.key.key_hash))
    return json.loads(raw) if raw is not None else None


def _dcs(client, secret):
    return client.get(reverse("sdk-dcs-v1", args=[secret]))


def test_push__writes_key_records__hashes_only(pushed, server_key, client_key, production):
    assert _record(server_key) == {
        "kind": "server",
        "environment": production.pk,
        "project": production.project_id,
        "expires": None,
    }
    assert _record(client_key)["kind"] == "client"
    keys = store.client().keys("gatehouse:sdkkey:*")
    assert not any(server_key.secret.encode() in k for k in keys)


def test_dcs__key_in_redis__no_database_query_after_the_last_use_stamp(
    client, pushed, server_key, django_assert_num_queries
):
    assert _dcs(client, server_key.secret).status_code == 200  # stamps last_used_at
    server_key.key.refresh_from_db()
    assert server_key.key.last_used_at is not None
    with django_assert_num_queries(0):
        response = _dcs(client, server_key.secret)
    assert response.content == pushed.v1_json.encode()


def test_key_revoke__redis_entry_replaced_at_once(
    client, pushed, server_key, site_admin, django_capture_on_commit_callbacks
):
    # Given the key works from Redis
    assert _dcs(client, server_key.secret).status_code == 200
    # When revoked (the on-commit callbacks run as after a real commit)
    with django_capture_on_commit_callbacks(execute=True):
        services.key_revoke(actor=site_admin, key=server_key.key)
    # Then its record is a tombstone and its spec entries are gone, without a worker push
    assert _record(server_key) == {"revoked": True}
    conn = store.client()
    assert not conn.exists(store.dcs_key("v1", server_key.key.key_hash))
    assert not conn.exists(store.dcs_key("v2", server_key.key.key_hash))
    assert _dcs(client, server_key.secret).status_code == 401


def test_key_rotate__overlap_expiry_honoured_from_redis(
    client, pushed, server_key, site_admin, django_capture_on_commit_callbacks,
    django_assert_num_queries,
):  # fmt: skip
    # When rotated with an hour's overlap
    with django_capture_on_commit_callbacks(execute=True):
        successor = services.key_rotate(actor=site_admin, key=server_key.key, overlap_hours=1)
    server_key.key.refresh_from_db()
    expires_ms = int(server_key.key.expires_at.timestamp() * 1000)
    # Then both keys' records are in Redis, the old one with its expiry
    assert _record(server_key)["expires"] == expires_ms
    assert _record(successor)["expires"] is None
    assert _dcs(client, server_key.secret).status_code == 200
    assert _dcs(client, successor.secret).status_code == 200
    # And once the overlap is over (the record says so), Redis alone refuses the old key
    record = {**_record(server_key), "expires": expires_ms - 3600 * 1000 - 1}
    store.client().set(store.key_record_key(server_key.key.key_hash), json.dumps(record))
    with django_assert_num_queries(0):
        assert _dcs(client, server_key.secret).status_code == 401


def test_key_create__after_publish__record_written_on_commit(
    client, pushed, project, production, site_admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        issued = services.key_create(
            actor=site_admin, project=project, kind="client", environment=production
        )
    assert _record(issued)["kind"] == "client"


def test_get_id_lists__after_push__manifest_and_file_from_redis(
    client, project, server_key, large_segment,  # noqa: F811
    django_assert_num_queries,
):  # fmt: skip
    spec = spec_publish(actor=None, project=project).config_specs.get(
        environment__name="production"
    )
    config_spec_push(spec_id=spec.pk)
    headers = {"STATSIG-API-KEY": server_key.secret}
    client.post(reverse("sdk-get-id-lists"), headers=headers)  # stamps last_used_at
    with django_assert_num_queries(0):
        manifest = client.post(reverse("sdk-get-id-lists"), headers=headers).json()
        entry = manifest["beta"]
        body = client.get(entry["url"]).content
        tail = client.get(entry["url"], headers={"Range": "bytes=10-"})
    assert len(body) == entry["size"] == len(large_segment[1]) * 10
    assert tail.status_code == 206
    assert tail.content == body[10:]


def test_id_list_file__expired_link__410_json(client, settings, project, server_key):
    token = signing.dumps([server_key.key.environment_id, "1.0", 10], salt=ID_LIST_SALT)
    settings.GATEHOUSE_ID_LIST_URL_MAX_AGE = -1  # any link is older than that
    response = client.get(reverse("sdk-id-list-file", args=[token]))
    assert response.status_code == 410
    assert "expired" in response.json()["error"]
