"""/v1/uploads over HTTP: the tus semantics, finalize, abort, expiry, concurrency, and resuming
after the server was killed."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from tests.e2e.test_http_support import Http, live_server, serve_app, sha256_digest, snapshot

from artifact_store.server.settings import Settings

pytestmark = pytest.mark.e2e

OCTETS = {"Content-Type": "application/offset+octet-stream"}


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[Http]:
    async with serve_app(Settings(data=tmp_path / "data")) as served:
        yield served


async def create(client: httpx.AsyncClient, **headers: str) -> str:
    response = await client.post("/v1/uploads", headers=headers)
    assert response.status_code == 201, response.text
    location: str = response.headers["location"]
    return location


async def patch(
    client: httpx.AsyncClient, location: str, offset: int, data: bytes, **headers: str
) -> httpx.Response:
    return await client.patch(
        location, content=data, headers={**OCTETS, "Upload-Offset": str(offset), **headers}
    )


def checksum(data: bytes) -> str:
    return "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()


async def test_create_answers_location_offset_and_expiry(http: Http) -> None:
    response = await http.client.post("/v1/uploads", headers={"Upload-Length": "10"})
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/v1/uploads/{body['id']}"
    assert response.headers["upload-offset"] == "0"
    expires = parsedate_to_datetime(response.headers["upload-expires"])
    assert expires.tzinfo is not None
    assert body["offset"] == 0
    assert body["length"] == 10
    assert body["expires_at"].endswith("Z")


async def test_chunks_then_finalize(http: Http) -> None:
    data = os.urandom(2 * (1 << 20) + 7)
    location = await create(http.client)
    first, second = data[: 1 << 20], data[1 << 20 :]
    response = await patch(http.client, location, 0, first)
    assert response.status_code == 204
    assert response.headers["upload-offset"] == str(len(first))
    assert "upload-expires" in response.headers
    response = await http.client.patch(
        location,
        content=second,
        headers={"Content-Type": "application/octet-stream", "Upload-Offset": str(len(first))},
    )
    assert response.status_code == 204
    assert response.headers["upload-offset"] == str(len(data))

    head = await http.client.head(location)
    assert head.status_code == 200
    assert head.headers["upload-offset"] == str(len(data))
    assert head.headers["cache-control"] == "no-store"
    info = (await http.client.get(location)).json()
    assert info["offset"] == len(data)
    assert info["state"] == "open"

    digest = sha256_digest(data)
    done = await http.client.put(location, params={"digest": digest})
    assert done.status_code == 201
    assert done.headers["location"] == f"/v1/blobs/{digest}"
    assert done.json()["digest"] == digest
    assert done.json()["size"] == len(data)
    assert (await http.client.get(f"/v1/blobs/{digest}")).content == data


async def test_wrong_offset_is_409_with_the_current_offset(http: Http) -> None:
    location = await create(http.client)
    assert (await patch(http.client, location, 0, b"hello")).status_code == 204
    for wrong in (0, 3, 6):
        response = await patch(http.client, location, wrong, b"world")
        assert response.status_code == 409
        assert response.headers["upload-offset"] == "5"
        problem = response.json()
        assert problem["code"] == "upload_offset_mismatch"
        assert problem["offset"] == 5
    assert (await http.client.head(location)).headers["upload-offset"] == "5"


async def test_bad_checksum_is_460_and_the_offset_stays(http: Http) -> None:
    location = await create(http.client)
    assert (await patch(http.client, location, 0, b"abc")).status_code == 204
    response = await patch(
        http.client, location, 3, b"def", **{"Upload-Checksum": checksum(b"xyz")}
    )
    assert response.status_code == 460
    assert response.json()["code"] == "checksum_mismatch"
    assert (await http.client.head(location)).headers["upload-offset"] == "3"
    good = await patch(http.client, location, 3, b"def", **{"Upload-Checksum": checksum(b"def")})
    assert good.status_code == 204
    assert good.headers["upload-offset"] == "6"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Upload-Checksum": "md5 AAAA"}, 400),
        ({"Upload-Checksum": "sha256 not-base64!"}, 400),
        ({"Upload-Checksum": "sha256 " + base64.b64encode(b"short").decode()}, 400),
        ({"Upload-Offset": "-1"}, 400),
        ({"Upload-Offset": "abc"}, 400),
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Type": "application/json"}, 415),
    ],
)
async def test_malformed_patch_headers(http: Http, headers: dict[str, str], status: int) -> None:
    location = await create(http.client)
    response = await http.client.patch(
        location, content=b"data", headers={**OCTETS, "Upload-Offset": "0", **headers}
    )
    assert response.status_code == status
    assert response.json()["code"] == "invalid_input"
    assert (await http.client.head(location)).headers["upload-offset"] == "0"


async def test_missing_upload_offset_is_400(http: Http) -> None:
    location = await create(http.client)
    response = await http.client.patch(location, content=b"x", headers=OCTETS)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"


async def test_finalize_with_wrong_digest_stores_nothing(http: Http) -> None:
    location = await create(http.client)
    assert (await patch(http.client, location, 0, b"the bytes")).status_code == 204
    wrong = sha256_digest(b"other bytes")
    response = await http.client.put(location, params={"digest": wrong})
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "digest_mismatch"
    assert problem["expected"] == wrong
    assert problem["actual"] == sha256_digest(b"the bytes")
    assert (await http.client.head(f"/v1/blobs/{sha256_digest(b'the bytes')}")).status_code == 404
    again = await patch(http.client, location, 9, b"more")
    assert 400 <= again.status_code < 500  # the session is terminated


@pytest.mark.parametrize(
    "digest", ["sha256:ABC", f"sha256:{'a' * 63}", f"SHA256:{'a' * 64}", f"md5:{'a' * 32}"]
)
async def test_finalize_with_a_malformed_digest(http: Http, digest: str) -> None:
    location = await create(http.client)
    response = await http.client.put(location, params={"digest": digest})
    assert response.status_code == 400
    assert response.json()["code"] == "digest_invalid"


async def test_finalize_takes_no_body(http: Http) -> None:
    location = await create(http.client)
    response = await http.client.put(location, params={"digest": sha256_digest(b"x")}, content=b"x")
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_abort_then_gone(http: Http) -> None:
    location = await create(http.client)
    assert (await patch(http.client, location, 0, b"abc")).status_code == 204
    assert (await http.client.delete(location)).status_code == 204
    head = await http.client.head(location)
    assert head.status_code == 404
    assert "upload-offset" not in head.headers
    assert (await http.client.get(location)).json()["code"] == "upload_not_found"


async def test_unknown_session_is_404(http: Http) -> None:
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        response = await http.client.request(
            method,
            "/v1/uploads/0192d1c0-0000-7000-8000-000000000000",
            params={"digest": sha256_digest(b"")} if method == "PUT" else None,
            headers={**OCTETS, "Upload-Offset": "0"},
        )
        assert response.status_code == 404, method
        assert response.json()["code"] == "upload_not_found"


async def test_chunk_over_upload_length_is_413(http: Http) -> None:
    location = await create(http.client, **{"Upload-Length": "4"})
    response = await patch(http.client, location, 0, b"12345")
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_upload_length_over_the_maximum_is_413(http: Http) -> None:
    response = await http.client.post("/v1/uploads", headers={"Upload-Length": str(1 << 50)})
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_idle_session_expires_with_410(tmp_path: Path) -> None:
    settings = Settings(data=tmp_path / "data", upload_idle_timeout=0.5, janitor_interval=0.2)
    async with serve_app(settings) as http:
        location = await create(http.client)
        assert (await patch(http.client, location, 0, b"abc")).status_code == 204
        await asyncio.sleep(0.8)
        response = await patch(http.client, location, 3, b"def")
        assert response.status_code in (404, 410)  # 404 once the janitor removed it
        assert response.json()["code"] in ("upload_expired", "upload_not_found")
        head = await http.client.head(location)
        assert head.status_code in (404, 410)
        assert "upload-offset" not in head.headers


async def test_single_put_and_sessions_of_the_same_digest(http: Http) -> None:
    data = os.urandom(300_000)
    digest = sha256_digest(data)
    one, two = await create(http.client), await create(http.client)
    assert (await patch(http.client, one, 0, data)).status_code == 204
    assert (await patch(http.client, two, 0, data)).status_code == 204
    done = await asyncio.gather(
        http.client.put(one, params={"digest": digest}),
        http.client.put(two, params={"digest": digest}),
    )
    assert [r.status_code for r in done] == [201, 201]
    assert done[0].json() == done[1].json()
    single = await http.client.put("/v1/blobs", params={"digest": digest}, content=data)
    assert single.status_code == 200
    blobs = (await http.store.dump_views())["blobs"]
    assert len([row for row in blobs if digest.removeprefix("sha256:") in row]) == 1


async def test_failed_requests_leave_the_store_unchanged(http: Http) -> None:
    location = await create(http.client)
    assert (await patch(http.client, location, 0, b"abc")).status_code == 204
    before = await snapshot(http.store)
    await patch(http.client, location, 1, b"x")
    await patch(http.client, location, 3, b"x", **{"Upload-Checksum": checksum(b"y")})
    await http.client.put(location, params={"digest": "sha256:nope"})
    assert await snapshot(http.store) == before


async def test_resume_after_the_server_was_killed(tmp_path: Path) -> None:
    """kill -9 mid-PATCH, restart on the same data dir: the durable prefix survives and the
    client resumes from the server's offset without re-sending acknowledged bytes."""
    data = os.urandom(6 * (1 << 20))
    digest = sha256_digest(data)
    log = tmp_path / "server.log"
    sent_after_kill = 0
    with live_server(tmp_path / "data", log) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            location = await create(client)
            first = data[: 2 << 20]
            response = await patch(client, location, 0, first)
            assert response.headers["upload-offset"] == str(len(first))

            async def slow_body() -> AsyncIterator[bytes]:
                view = memoryview(data)[len(first) : 4 << 20]
                for start in range(0, len(view), 256 << 10):
                    yield bytes(view[start : start + (256 << 10)])
                    await asyncio.sleep(0.05)
                await asyncio.sleep(30)  # never finishes: the server dies first

            request = asyncio.create_task(
                client.patch(
                    location,
                    content=slow_body(),
                    headers={**OCTETS, "Upload-Offset": str(len(first))},
                )
            )
            await asyncio.sleep(0.5)
            server.kill()
            request.cancel()  # the body generator is asleep; the server is gone anyway
            with pytest.raises((httpx.TransportError, asyncio.CancelledError)):
                await request

    with live_server(tmp_path / "data", log) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            head = await client.head(location)
            assert head.status_code == 200
            offset = int(head.headers["upload-offset"])
            assert len(first) <= offset <= 4 << 20
            rest = data[offset:]
            sent_after_kill = len(rest)
            response = await patch(client, location, offset, rest)
            assert response.status_code == 204, response.text
            done = await client.put(location, params={"digest": digest})
            assert done.status_code == 201, done.text
            assert (await client.get(f"/v1/blobs/{digest}")).content == data
    assert sent_after_kill <= len(data) - len(first)


async def test_disconnect_mid_patch_keeps_the_bytes_that_arrived(tmp_path: Path) -> None:
    data = os.urandom(3 << 20)
    with live_server(tmp_path / "data", tmp_path / "server.log") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            location = await create(client)

            async def partial() -> AsyncIterator[bytes]:
                yield data[: 1 << 20]
                await asyncio.sleep(0.5)
                raise ConnectionResetError("client gives up")

            with pytest.raises((httpx.TransportError, ConnectionResetError)):
                await client.patch(
                    location,
                    content=partial(),
                    headers={**OCTETS, "Upload-Offset": "0", "Content-Length": str(len(data))},
                )
            deadline = time.monotonic() + 10
            offset = 0
            while time.monotonic() < deadline:
                offset = int((await client.head(location)).headers["upload-offset"])
                if offset:
                    break
                await asyncio.sleep(0.1)
            assert 0 < offset <= 1 << 20
