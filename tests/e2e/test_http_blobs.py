"""/v1/blobs over HTTP: single PUT, GET/HEAD with Range, ETag, Repr-Digest, 304, 416, missing."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import blake3
import httpx
import pytest
from tests.e2e.test_client_support import ServerProcess
from tests.e2e.test_http_support import (
    Http,
    live_server,
    put_blob,
    serve_app,
    sha256_digest,
    snapshot,
)

from artifact_store.server.settings import Settings

pytestmark = pytest.mark.e2e

DATA = os.urandom(3 * (1 << 20) + 12345)  # several 1 MiB chunks and a tail


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[Http]:
    async with serve_app(Settings(data=tmp_path / "data")) as served:
        yield served


async def test_put_then_get_streams_the_bytes_with_headers(http: Http) -> None:
    digest = sha256_digest(DATA)
    created = await http.client.put(
        "/v1/blobs",
        params={"digest": digest},
        content=DATA,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert created.status_code == 201
    assert created.headers["location"] == f"/v1/blobs/{digest}"
    body = created.json()
    assert body == {
        "digest": digest,
        "sha256": digest.removeprefix("sha256:"),
        "blake3": blake3.blake3(DATA).hexdigest(),
        "size": len(DATA),
    }
    again = await http.client.put("/v1/blobs", params={"digest": digest}, content=DATA)
    assert again.status_code == 200  # already stored (no Content-Type is fine too)
    assert again.json() == body

    got = await http.client.get(f"/v1/blobs/{digest}")
    assert got.status_code == 200
    assert got.content == DATA
    assert got.headers["etag"] == f'"{digest}"'
    assert got.headers["content-length"] == str(len(DATA))
    assert got.headers["accept-ranges"] == "bytes"
    assert got.headers["content-type"] == "application/octet-stream"
    expected = base64.b64encode(hashlib.sha256(DATA).digest()).decode()
    assert got.headers["repr-digest"] == f"sha-256=:{expected}:"

    by_blake3 = await http.client.get(f"/v1/blobs/blake3:{body['blake3']}")
    assert by_blake3.content == DATA


async def test_put_with_wrong_digest_stores_nothing(http: Http) -> None:
    before = await snapshot(http.store)
    wrong = sha256_digest(b"something else")
    response = await http.client.put("/v1/blobs", params={"digest": wrong}, content=b"payload")
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "digest_mismatch"
    assert response.headers["content-type"] == "application/problem+json"
    assert await snapshot(http.store) == before
    assert (await http.client.head(f"/v1/blobs/{sha256_digest(b'payload')}")).status_code == 404


@pytest.mark.parametrize(
    ("header", "status", "content_range", "piece"),
    [
        ("bytes=2-7", 206, "bytes 2-7/{n}", slice(2, 8)),
        ("bytes=1048570-1048580", 206, "bytes 1048570-1048580/{n}", slice(1048570, 1048581)),
        ("bytes=-3", 206, "bytes {last3}-{last}/{n}", slice(-3, None)),
        ("bytes=3145700-", 206, "bytes 3145700-{last}/{n}", slice(3145700, None)),
        ("bytes=0-99999999", 206, "bytes 0-{last}/{n}", slice(0, None)),
    ],
)
async def test_single_range(
    http: Http, header: str, status: int, content_range: str, piece: slice
) -> None:
    digest = await put_blob(http.client, DATA)
    response = await http.client.get(f"/v1/blobs/{digest}", headers={"Range": header})
    n = len(DATA)
    assert response.status_code == status
    assert response.content == DATA[piece]
    assert response.headers["content-range"] == content_range.format(n=n, last=n - 1, last3=n - 3)
    assert response.headers["content-length"] == str(len(DATA[piece]))
    assert response.headers["etag"] == f'"{digest}"'


@pytest.mark.parametrize("header", ["bytes=99999999-", "bytes=-0"])
async def test_unsatisfiable_range_is_416_with_the_size(http: Http, header: str) -> None:
    digest = await put_blob(http.client, DATA)
    response = await http.client.get(f"/v1/blobs/{digest}", headers={"Range": header})
    assert response.status_code == 416
    assert response.json()["code"] == "range_invalid"
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"


async def test_malformed_range_is_a_problem(http: Http) -> None:
    digest = await put_blob(http.client, b"abc")
    response = await http.client.get(f"/v1/blobs/{digest}", headers={"Range": "bytes=0-1,3-4"})
    assert response.status_code == 416
    assert response.json()["code"] == "range_invalid"


async def test_if_none_match_gives_304(http: Http) -> None:
    digest = await put_blob(http.client, b"cached bytes")
    for tag in (f'"{digest}"', f'W/"{digest}"', f'"x", "{digest}"', "*"):
        response = await http.client.get(f"/v1/blobs/{digest}", headers={"If-None-Match": tag})
        assert response.status_code == 304, tag
        assert response.content == b""
        assert response.headers["etag"] == f'"{digest}"'
    other = await http.client.get(f"/v1/blobs/{digest}", headers={"If-None-Match": '"nope"'})
    assert other.status_code == 200


async def test_head_has_headers_and_no_body(http: Http) -> None:
    digest = await put_blob(http.client, DATA)
    response = await http.client.head(f"/v1/blobs/{digest}")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["etag"] == f'"{digest}"'
    ranged = await http.client.head(f"/v1/blobs/{digest}", headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206
    assert ranged.headers["content-length"] == "10"
    missing = await http.client.head(f"/v1/blobs/sha256:{'0' * 64}")
    assert missing.status_code == 404


async def test_missing_blobs_in_request_order(http: Http) -> None:
    present = await put_blob(http.client, b"present")
    absent = [sha256_digest(b"a"), sha256_digest(b"b")]
    response = await http.client.post(
        "/v1/blobs/missing", json={"digests": [absent[1], present, absent[0]]}
    )
    assert response.status_code == 200
    assert response.json() == {"missing": [absent[1], absent[0]]}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"digests": ["sha256:XYZ"]}, "digest_invalid"),
        ({"digests": [f"blake3:{'a' * 64}"]}, "digest_invalid"),
        ({"digests": [sha256_digest(b"x")], "admin": True}, "invalid_input"),
        ({"digests": "sha256:abc"}, "invalid_input"),
        ({"digests": [sha256_digest(str(i).encode()) for i in range(10_001)]}, "invalid_input"),
    ],
)
async def test_missing_blobs_rejects_bad_bodies(http: Http, body: object, code: str) -> None:
    response = await http.client.post("/v1/blobs/missing", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == code


async def test_missing_blobs_body_limit(http: Http) -> None:
    big = b'{"digests": [' + b'"x",' * 300_000 + b'"x"]}'
    response = await http.client.post(
        "/v1/blobs/missing", content=big, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


BATCH = "application/vnd.artifact-store.blob-batch"


def batch_body(*items: tuple[str, bytes]) -> bytes:
    return b"".join(f"{digest} {len(data)}\n".encode() + data for digest, data in items)


async def test_blob_batch_stores_every_blob(http: Http) -> None:
    datas = [b"first", b"", os.urandom(70_000)]
    await put_blob(http.client, datas[0])
    body = batch_body(*[(sha256_digest(d), d) for d in datas])
    response = await http.client.post(
        "/v1/blobs/batch", content=body, headers={"Content-Type": BATCH}
    )
    assert response.status_code == 200
    blobs = response.json()["blobs"]
    assert [b["digest"] for b in blobs] == [sha256_digest(d) for d in datas]
    assert [b["created"] for b in blobs] == [False, True, True]
    assert [b["blake3"] for b in blobs] == [blake3.blake3(d).hexdigest() for d in datas]
    for data in datas:
        got = await http.client.get(f"/v1/blobs/{sha256_digest(data)}")
        assert got.content == data


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (batch_body((sha256_digest(b"real"), b"fake")), BATCH, 400, "digest_mismatch"),
        (batch_body(("sha256:XYZ", b"x")), BATCH, 400, "digest_invalid"),
        (b"sha256:" + b"a" * 64 + b" 5\nabc", BATCH, 400, "encoding_invalid"),
        (b"no header line" * 20, BATCH, 400, "encoding_invalid"),
        (f"sha256:{'a' * 64} {(1 << 20) + 1}\n".encode(), BATCH, 413, "payload_too_large"),
        (batch_body((sha256_digest(b"x"), b"x")), "application/octet-stream", 415, None),
    ],
)
async def test_blob_batch_refusals_store_nothing(
    http: Http, body: bytes, content_type: str, status: int, code: str | None
) -> None:
    good = (sha256_digest(b"good"), b"good")
    before = await snapshot(http.store)
    response = await http.client.post(
        "/v1/blobs/batch", content=batch_body(good) + body, headers={"Content-Type": content_type}
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    if code is not None:
        assert response.json()["code"] == code
    assert await snapshot(http.store) == before
    assert (await http.client.head(f"/v1/blobs/{sha256_digest(b'good')}")).status_code == 404


async def test_blob_batch_declared_length_over_the_limit_is_413(http: Http) -> None:
    response = await http.client.post(
        "/v1/blobs/batch",
        content=b"",
        headers={"Content-Type": BATCH, "Content-Length": str(64 << 20)},
    )
    assert response.status_code == 413


async def test_streamed_get_closes_on_early_disconnect(http: Http) -> None:
    digest = await put_blob(http.client, DATA)
    async with http.client.stream("GET", f"/v1/blobs/{digest}") as response:
        assert response.status_code == 200
        first = await anext(response.aiter_raw())
        assert DATA.startswith(first)


async def test_blob_put_and_get_over_a_real_server(tmp_path: Path) -> None:
    """Headers and bytes survive a real HTTP/1.1 stack (h11), not only the ASGI transport."""
    with live_server(tmp_path / "data", tmp_path / "server.log") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            digest = await put_blob(client, DATA)
            sizes = []
            async with client.stream("GET", f"/v1/blobs/{digest}") as response:
                assert response.headers["content-length"] == str(len(DATA))
                async for chunk in response.aiter_raw():
                    sizes.append(len(chunk))
            assert sum(sizes) == len(DATA)
            head = await client.head(f"/v1/blobs/{digest}")
            assert head.headers["content-length"] == str(len(DATA))


def test_uploads_through_serve_keep_every_byte(tmp_path: Path) -> None:
    """``artifact-store serve`` runs its own HTTP protocol (server/protocol.py): bodies sent
    with a length and chunked, in pieces of odd sizes, arrive whole."""
    server = ServerProcess(tmp_path / "data", tmp_path / "server.log")
    server.start()
    try:
        data = os.urandom(9 * (1 << 20) + 77)
        digest = sha256_digest(data)

        def odd_pieces() -> Iterator[bytes]:
            sizes = [1, 65_535, 300_001, 7, 1 << 20]
            at, i = 0, 0
            while at < len(data):
                step = sizes[i % len(sizes)]
                yield data[at : at + step]
                at, i = at + step, i + 1

        with httpx.Client(base_url=server.url, timeout=60) as client:
            chunked = client.put("/v1/blobs", params={"digest": digest}, content=odd_pieces())
            assert chunked.status_code == 201, chunked.text
            again = client.put("/v1/blobs", params={"digest": digest}, content=data)
            assert again.status_code == 200
            assert client.get(f"/v1/blobs/{digest}").content == data
            small = b"tiny body"
            put = client.put("/v1/blobs", params={"digest": sha256_digest(small)}, content=small)
            assert put.status_code == 201
    finally:
        server.stop()
