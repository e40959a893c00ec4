"""The minimal HTTP app of ``serve``: health, readiness, read-only GETs, problem+json errors."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from artifact_store.config import StoreConfig
from artifact_store.server.app import create_app
from artifact_store.server.settings import Settings
from artifact_store.store import open_store

pytestmark = pytest.mark.e2e


@pytest.fixture
async def client(tmp_path: Path, tree: Path) -> AsyncIterator[httpx.AsyncClient]:
    data = tmp_path / "data"
    store = await open_store(StoreConfig.for_directory(data, create=True))
    await store.push_directory(
        tree,
        namespace="acme/ci",
        name="report",
        version="1.0",
        kind="report",
        tags=["latest"],
        actor="t",
    )
    await store.close()
    app = create_app(Settings(data=data))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200


async def test_packages_refs_and_blobs(client: httpx.AsyncClient, tree: Path) -> None:
    listed = (await client.get("/v1/packages", params={"prefix": "acme"})).json()
    assert [p["version"] for p in listed["items"]] == ["1.0"]
    got = (await client.get("/v1/refs/acme/ci/report:latest")).json()
    assert got["package"]["tags"] == ["latest"]
    content = (tree / "README.md").read_bytes()
    sha = hashlib.sha256(content).hexdigest()
    response = await client.get(f"/v1/blobs/sha256:{sha}")
    assert response.content == content
    assert response.headers["etag"] == f'"sha256:{sha}"'
    part = await client.get(f"/v1/blobs/sha256:{sha}", headers={"Range": "bytes=2-7"})
    assert part.status_code == 206
    assert part.content == content[2:8]
    assert part.headers["content-range"] == f"bytes 2-7/{len(content)}"
    events = (await client.get("/v1/events", params={"after": 0, "limit": 3})).json()["events"]
    assert [e["seq"] for e in events] == [1, 2, 3]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/refs/acme/ci/report@9", 404, "package_not_found"),
        ("/v1/refs/acme/ci/report:nope", 404, "tag_not_found"),
        ("/v1/refs/..%2F..%2Fetc@1", 400, "ref_invalid"),
        ("/v1/blobs/sha256:ABC", 400, "digest_invalid"),
        ("/v1/blobs/md5:abc", 400, "digest_invalid"),
        (f"/v1/blobs/sha256:{'0' * 64}", 404, "blob_not_found"),
        ("/v1/packages?cursor=x", 400, "invalid_input"),
        ("/v1/packages?limit=100000", 400, "invalid_input"),
        ("/v1/events?after=-1", 400, "invalid_input"),
    ],
)
async def test_errors_are_problems(
    client: httpx.AsyncClient, path: str, status: int, code: str
) -> None:
    response = await client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["detail"]


async def test_unsatisfiable_range_is_416(client: httpx.AsyncClient, tree: Path) -> None:
    sha = hashlib.sha256((tree / "README.md").read_bytes()).hexdigest()
    response = await client.get(f"/v1/blobs/sha256:{sha}", headers={"Range": "bytes=999-"})
    assert response.status_code == 416
    assert response.json()["code"] == "range_invalid"
