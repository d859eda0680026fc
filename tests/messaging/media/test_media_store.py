"""The media store, the limits and the streaming fetch, without a database (they do not touch one)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from tests.support.servers import FakePlatformServer

from souk.messaging.media import LocalMediaStore, MediaConfig, MediaError, MediaMissing, MiB, fetch
from souk.platforms.waha.client import WAHAClient
from souk.settings import Settings


async def _read(store: LocalMediaStore, key: str) -> bytes:
    stored = await store.open(key)
    return b"".join([chunk async for chunk in stored.chunks])


async def test_local_store_puts_replaces_opens_and_deletes(tmp_path: Path):
    store = LocalMediaStore(tmp_path)
    key = "tenant/2026/03/abc"
    await store.put(key, b"first", "image/png")
    await store.put(key, b"second version", "image/png")
    assert await _read(store, key) == b"second version"
    assert (await store.open(key)).size == len(b"second version")
    assert [p.name for p in (tmp_path / "tenant" / "2026" / "03").iterdir()] == ["abc"]  # no temporary left
    await store.delete(key)
    await store.delete(key)  # deleting twice is fine
    with pytest.raises(MediaMissing):
        await store.open(key)


@pytest.mark.parametrize("key", ["", "../etc/passwd", "a/../../b", "/abs", "a//b", "a\\b", "a/./b"])
async def test_local_store_refuses_keys_that_leave_its_directory(tmp_path: Path, key: str):
    with pytest.raises(ValueError):
        await LocalMediaStore(tmp_path / "media").put(key, b"x", None)


def test_limits_take_the_most_specific_setting_and_backoff_doubles_up_to_its_cap(tmp_path: Path):
    config = MediaConfig(
        directory=tmp_path,
        max_bytes=100,
        max_bytes_by_kind={"video": 50, "telegram": 20, "telegram.video": 10},
        retry_base_seconds=2,
        retry_max_seconds=10,
    )
    assert config.limit_for("whatsapp", "image") == 100
    assert config.limit_for("whatsapp", "video") == 50
    assert config.limit_for("telegram", "image") == 20
    assert config.limit_for("telegram", "video") == 10
    assert [config.backoff(n) for n in (1, 2, 3, 4)] == [2, 4, 8, 10]


def test_settings_without_media_fields_get_the_defaults(tmp_path: Path):
    config = MediaConfig.from_settings(Settings(data_dir=tmp_path, env="test"))
    assert config.directory == tmp_path / "media"
    assert (config.store, config.max_bytes, config.s3) == ("local", 100 * MiB, None)


class Endless(FakePlatformServer):
    """A download that never ends, counting what it managed to send."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    async def handle(self, request: Request) -> Response:
        if request.url.path == "/declared":
            return Response(b"x" * 5000, media_type="video/mp4")

        async def body():
            for _ in range(2000):  # 128 MiB at most
                if await request.is_disconnected():
                    return
                self.sent += 64 * 1024
                yield b"\0" * (64 * 1024)

        return StreamingResponse(body(), media_type="video/mp4")


async def test_a_download_stops_as_soon_as_it_passes_the_limit():
    with Endless() as server:
        async with httpx.AsyncClient() as http:
            with pytest.raises(MediaError) as caught:
                await fetch(http, f"{server.url}/stream", limit=256 * 1024, kind="video")
            assert caught.value.reason == f"the video passed the {256 * 1024}-byte limit; download stopped"
            assert not caught.value.retryable
            assert server.sent < 32 * MiB  # stopped early, not read to the end

            with pytest.raises(MediaError, match="5000 bytes, over the 4000-byte limit"):  # by Content-Length
                await fetch(http, f"{server.url}/declared", limit=4000, kind="video")
            with pytest.raises(MediaError, match="9 bytes, over the 8-byte limit"):  # as the platform declared it
                await fetch(http, f"{server.url}/declared", limit=8, kind="video", declared=9)
        assert len(server.requests) == 2  # the declared size was refused before any request


def test_waha_files_are_fetched_from_base_url_and_credentials_never_leave_it():
    config = {"baseURL": "http://waha.internal:3000/", "sessionID": "default"}
    client = WAHAClient(config, {"auth": {"type": "api_key", "apiKey": "k"}}, httpx.AsyncClient())
    url, headers, auth = client.media_request("http://localhost:3000/api/files/default/3EB0.jpeg?x=1")
    assert (url, headers, auth) == (
        "http://waha.internal:3000/api/files/default/3EB0.jpeg?x=1",
        {"X-Api-Key": "k"},
        None,
    )
    url, headers, auth = client.media_request("https://bucket.s3.example/default/3EB0.jpeg?X-Amz-Signature=s")
    assert (url, headers, auth) == ("https://bucket.s3.example/default/3EB0.jpeg?X-Amz-Signature=s", {}, None)

    basic = {"auth": {"type": "basic", "username": "u", "password": "p"}}
    client = WAHAClient({**config, "baseURL": "https://proxy.example/waha"}, basic, httpx.AsyncClient())
    url, headers, auth = client.media_request("http://localhost:3000/api/files/default/a.ogg")
    assert url == "https://proxy.example/waha/api/files/default/a.ogg" and isinstance(auth, httpx.BasicAuth)
