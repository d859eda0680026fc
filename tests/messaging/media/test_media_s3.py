"""The S3-compatible media store: the signer against AWS's published example, the store against a fake bucket, and
the whole path (worker → bucket → API) with ``media_store = "s3"`` on both databases."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from tests.messaging.media.conftest import settled
from tests.messaging.media.fake_s3 import FakeS3

from souk.messaging.media import EMPTY_SHA256, MediaError, MediaMissing, S3Config, S3MediaStore, sigv4_headers
from souk.messaging.models import MediaStatus
from souk.settings import Settings


def test_sigv4_signs_as_aws_documents():
    """The "GET Object" example of the S3 SigV4 documentation (header-based auth), signature and all."""
    headers = sigv4_headers(
        "GET",
        "https://examplebucket.s3.amazonaws.com/test.txt",
        region="us-east-1",
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        payload_sha256=EMPTY_SHA256,
        now=datetime(2013, 5, 24, tzinfo=UTC),
        headers={"Range": "bytes=0-9"},
    )
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )
    assert headers["x-amz-date"] == "20130524T000000Z"


@pytest.fixture(scope="module")
def s3() -> Iterator[FakeS3]:
    with FakeS3() as server:
        yield server


def _config(s3: FakeS3, **changes: str) -> S3Config:
    values = {
        "endpoint_url": s3.url,
        "bucket": "souk-media",
        "region": "eu-west-1",
        "access_key_id": "SOUKTESTKEY",
        "secret_access_key": "souk-test-secret",
        "prefix": "media",
    }
    return S3Config(**{**values, **changes})


async def test_s3_store_puts_opens_and_deletes_objects(s3: FakeS3):
    async with httpx.AsyncClient() as http:
        store = S3MediaStore(_config(s3), http)
        key = "tenant/2026/03/a b+c"
        await store.put(key, b"first", "image/png")
        await store.put(key, b"second", "image/png")
        assert s3.objects["souk-media/media/tenant/2026/03/a b+c"] == ("image/png", b"second")
        stored = await store.open(key)
        assert stored.size == 6 and b"".join([c async for c in stored.chunks]) == b"second"
        await store.delete(key)
        await store.delete(key)
        with pytest.raises(MediaMissing):
            await store.open(key)
        with pytest.raises(ValueError):
            await store.put("../escape", b"x", None)
        with pytest.raises(MediaError, match="HTTP 403"):
            await S3MediaStore(_config(s3, secret_access_key="wrong"), http).put(key, b"x", None)


@pytest.fixture
def settings(settings: Settings, s3: FakeS3) -> Settings:
    values = {name: getattr(settings, name) for name in type(settings).model_fields}
    values.update(
        media_store="s3",
        media_s3_endpoint_url=s3.url,
        media_s3_bucket="souk-media",
        media_s3_region="eu-west-1",
        media_s3_access_key_id="SOUKTESTKEY",
        media_s3_secret_access_key="souk-test-secret",
    )
    return type(settings)(**values)


async def test_media_is_kept_in_the_bucket_when_the_store_is_s3(
    app, client, tenant, fakes, make_media, enqueue, settings, s3
):
    data = os.urandom(2000)
    media_id = await make_media("messenger", url=fakes["graph"].add_cdn_file(data, "image/png"))
    await enqueue(media_id)
    row = await settled(app, media_id)
    assert row.status == MediaStatus.stored, row.error
    at = row.created_at
    assert s3.objects[f"souk-media/{tenant.id}/{at:%Y}/{at:%m}/{media_id}"] == ("image/png", data)
    assert not (settings.data_dir / "media").exists()

    r = await client.get(f"/api/v1/media/{media_id}", headers=tenant.headers)
    assert r.status_code == 200 and r.content == data and r.headers["content-type"] == "image/png"
