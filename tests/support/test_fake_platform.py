"""FakePlatformServer: records what it receives, serves what a test queued, starts and stops fast."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.support.servers import FakePlatformServer


async def test_records_requests_and_serves_queued_responses() -> None:
    with FakePlatformServer() as fake:
        fake.respond("POST", "/v1/messages", 201, json={"id": "m1"}, headers={"X-Rate-Left": "9"})
        async with httpx.AsyncClient(base_url=fake.url, trust_env=False) as client:
            first = await client.post(
                "/v1/messages?x=1", json={"to": "+1555", "text": "hi"}, headers={"Authorization": "Bearer t"}
            )
            second = await client.post("/v1/messages", content=b"not json")
            third = await client.get("/v1/me")

        assert (first.status_code, first.json(), first.headers["x-rate-left"]) == (201, {"id": "m1"}, "9")
        assert second.status_code == 404  # the canned response was for one call only
        assert third.json() == {"error": "no canned response", "method": "GET", "path": "/v1/me"}

        one, two, three = fake.requests
        assert (one.method, one.path, one.json) == ("POST", "/v1/messages", {"to": "+1555", "text": "hi"})
        assert one.headers["authorization"] == "Bearer t"
        assert json.loads(one.body) == one.json
        assert (two.body, two.json) == (b"not json", None)
        assert (three.method, three.body, three.json) == ("GET", b"", None)
        method, path, _headers, _body, parsed = three  # also a plain 5-tuple
        assert (method, path, parsed) == ("GET", "/v1/me", None)
        assert fake.requests_to("post", "/v1/messages") == [one, two]


def test_queued_responses_in_order_times_and_forever() -> None:
    with FakePlatformServer() as fake, httpx.Client(base_url=fake.url, trust_env=False) as client:
        fake.respond("GET", "/a", 500, times=2)
        fake.respond("GET", "/a", 200, json=[1, 2])
        fake.respond("PUT", "/b", 204, times=None)
        assert [client.get("/a").status_code for _ in range(4)] == [500, 500, 200, 404]
        assert {client.put("/b").status_code for _ in range(5)} == {204}
        fake.clear()
        assert fake.requests == [] and client.put("/b").status_code == 404
        with pytest.raises(ValueError):
            fake.respond("GET", "/a", times=0)


class _EchoPlatform(FakePlatformServer):
    async def handle(self, request: Request) -> Response:
        payload = await request.json() if request.method == "POST" else None
        return JSONResponse({"echo": payload, "path": request.url.path}, status_code=202)


def test_subclass_handler_and_concurrent_clients() -> None:
    with _EchoPlatform() as fake:
        fake.respond("POST", "/queued", 200, json={"queued": True})

        def send(i: int) -> None:
            with httpx.Client(base_url=fake.url, trust_env=False) as client:
                response = client.post(f"/p/{i}", json={"n": i})
                assert response.status_code == 202
                assert response.json() == {"echo": {"n": i}, "path": f"/p/{i}"}

        threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
        for thread in threads:
            thread.start()
        assert len(fake.wait_for_requests(20, timeout=10)) >= 20
        for thread in threads:
            thread.join()
        assert sorted(r.json["n"] for r in fake.requests) == list(range(20))
        assert httpx.post(f"{fake.url}/queued", json={}, trust_env=False).json() == {"queued": True}


async def test_wait_for_requests_async_and_timeout() -> None:
    with FakePlatformServer() as fake:
        threading.Timer(0.1, lambda: httpx.get(f"{fake.url}/late", trust_env=False)).start()
        [late] = await fake.wait_for_requests_async(1, timeout=5)
        assert late.path == "/late"
        with pytest.raises(TimeoutError):
            fake.wait_for_requests(2, timeout=0.1)


def test_starts_and_stops_fast_and_restarts_on_a_new_port() -> None:
    started = time.monotonic()
    fake = FakePlatformServer().start()
    url = fake.url
    with httpx.Client(trust_env=False) as client:
        assert client.get(f"{url}/x").status_code == 404  # keep-alive connection stays open during stop
        fake.stop()
    assert time.monotonic() - started < 1.0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/x", trust_env=False)
    with FakePlatformServer() as one, FakePlatformServer() as two:
        assert one.url != two.url
