"""Hostile request bodies and query strings on the SDK endpoints: decompression bombs,
broken gzip and non-ASCII digits are clear 4xx answers, never a 5xx or a full inflate."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest
from django.urls import reverse

from console.http_input import BodyMalformed, BodyTooLarge, inflate

pytestmark = pytest.mark.django_db


def _bomb(size: int) -> bytes:
    """`size` bytes of JSON-ish zeros, gzipped to a few kilobytes."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    return compressor.compress(b'{"user": {"userID": "' + b"0" * size) + compressor.flush()


def test_inflate__bomb__refused_before_inflating_it_all():
    # Given 100 MB of output in about 100 KB of gzip
    bomb = _bomb(100 * 1024 * 1024)
    assert len(bomb) < 200_000
    # When / Then: refused at the cap, not after inflating 100 MB
    with pytest.raises(BodyTooLarge) as refused:
        inflate(bomb, limit=1024 * 1024)
    assert refused.value.status == 413


def test_inflate__under_the_cap__whole_body():
    assert inflate(gzip.compress(b"x" * 5000), limit=5000) == b"x" * 5000


@pytest.mark.parametrize(
    "data",
    # mtime=0: the same bytes (and test ids) in every xdist worker, whatever the second.
    [
        gzip.compress(b'{"user": {}}', mtime=0)[:-6],
        b"garbage",
        b"",
        gzip.compress(b"{}", mtime=0) + b"xx",
    ],
    ids=["truncated", "garbage", "empty", "trailing-bytes"],
)
def test_inflate__truncated_or_garbage__malformed(data):
    with pytest.raises(BodyMalformed):
        inflate(data)


def test_initialize__gzip_bomb__413_json(client, client_key, published_v1, settings):
    # Given a small cap and a body that inflates far past it
    settings.GATEHOUSE_MAX_INFLATED_BYTES = 64 * 1024
    url = reverse("sdk-initialize") + f"?k={client_key.secret}"
    # When
    response = client.post(
        url, data=_bomb(10 * 1024 * 1024), content_type="text/plain", HTTP_CONTENT_ENCODING="gzip"
    )
    # Then
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
    assert set(response.json()) == {"message", "code"}


def test_initialize__truncated_gzip__400_json(client, client_key, published_v1):
    url = reverse("sdk-initialize") + f"?k={client_key.secret}&gz=1"
    body = gzip.compress(json.dumps({"user": {"userID": "a"}}).encode())[:-6]
    response = client.post(url, data=body, content_type="text/plain")
    assert response.status_code == 400
    assert response.json()["code"] == "bad_compression"


@pytest.mark.parametrize("since", ["²", "١٢٣", "-5", "1e3"])
def test_dcs__non_ascii_digit_since__served_not_500(client, server_key, published_v1, since):
    # Given a sinceTime str.isdigit() accepts but int() refuses
    url = f"/v1/download_config_specs/{server_key.secret}.json"
    # When
    response = client.get(url, {"sinceTime": since})
    # Then: treated as no sinceTime, the full spec
    assert response.status_code == 200
    assert "feature_gates" in response.json()


def test_initialize__body_past_the_upload_limit__413_json(
    client, client_key, published_v1, settings
):
    # Given a plain body larger than DATA_UPLOAD_MAX_MEMORY_SIZE
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    # When
    response = client.post(
        "/v1/initialize",
        data=b"x" * 5_000,
        content_type="application/json",
        HTTP_STATSIG_API_KEY=client_key.secret,
    )
    # Then
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
