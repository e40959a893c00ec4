"""/v1/packages, /v1/refs, tags and events over HTTP: commit (JSON and CBOR), manifests by
Accept, files with Range, versions, search with filters and cursors, tags, long-poll."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import cbor2
import pytest
from tests.e2e.test_http_support import Http, manifest, push, put_blob, serve_app, sha256_digest

from artifact_store.manifest import encode_manifest, manifest_from_json
from artifact_store.server.settings import Settings

pytestmark = pytest.mark.e2e

FILES = {"README.md": b"# report\n", "data/results.json": b'{"ok": true}\n' * 1000}


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[Http]:
    async with serve_app(Settings(data=tmp_path / "data")) as served:
        yield served


async def test_commit_json_created_then_identical_then_conflict(http: Http) -> None:
    first = await push(http.client, FILES, tags=["latest"])
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["created"] is True
    package = body["package"]
    assert first.headers["location"] == "/v1/packages/acme/ci/report/-/versions/1.0"
    assert package["tags"] == ["latest"]
    expected = sha256_digest(encode_manifest(manifest_from_json(manifest(FILES))))
    assert package["digest"] == expected
    assert package["file_count"] == 2
    assert package["actor"] == "anonymous"
    assert package["committed_at"].endswith("Z")

    again = await http.client.post("/v1/packages", json=manifest(FILES))
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["package"]["digest"] == expected

    changed = await push(http.client, {**FILES, "extra.txt": b"x"})
    assert changed.status_code == 409
    assert changed.json()["code"] == "version_conflict"


async def test_commit_with_missing_blobs_is_422_with_the_list(http: Http) -> None:
    await put_blob(http.client, FILES["README.md"])
    response = await http.client.post("/v1/packages", json=manifest(FILES))
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "blobs_missing"
    assert problem["missing"] == [sha256_digest(FILES["data/results.json"])]


async def test_commit_cbor_and_read_it_back_by_accept(http: Http) -> None:
    for data in FILES.values():
        await put_blob(http.client, data)
    cbor = encode_manifest(manifest_from_json(manifest(FILES, version="2.0")))
    response = await http.client.post(
        "/v1/packages", content=cbor, headers={"Content-Type": "application/cbor"}
    )
    assert response.status_code == 201, response.text
    digest = sha256_digest(cbor)
    url = "/v1/packages/acme/ci/report/-/versions/2.0"

    as_cbor = await http.client.get(url, headers={"Accept": "application/cbor"})
    assert as_cbor.status_code == 200
    assert as_cbor.headers["content-type"] == "application/cbor"
    assert as_cbor.content == cbor
    assert as_cbor.headers["etag"] == f'"{digest}"'
    assert as_cbor.headers["artifact-digest"] == digest

    as_json = await http.client.get(url)
    assert as_json.headers["content-type"] == "application/json"
    assert as_json.json()["manifest"] == manifest(FILES, version="2.0")
    assert as_json.json()["package"]["digest"] == digest
    ranked = await http.client.get(
        url, headers={"Accept": "application/json;q=0.5, application/cbor"}
    )
    assert ranked.content == cbor
    cached = await http.client.get(url, headers={"If-None-Match": f'"{digest}"'})
    assert cached.status_code == 304


async def test_non_canonical_and_malformed_cbor(http: Http) -> None:
    for data in FILES.values():
        await put_blob(http.client, data)
    value = manifest(FILES)
    noncanonical = cbor2.dumps(value)  # insertion order, not canonical key order
    assert noncanonical != encode_manifest(manifest_from_json(value))
    response = await http.client.post(
        "/v1/packages", content=noncanonical, headers={"Content-Type": "application/cbor"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "encoding_noncanonical"
    garbage = await http.client.post(
        "/v1/packages", content=b"\xff\x00garbage", headers={"Content-Type": "application/cbor"}
    )
    assert garbage.status_code == 400
    assert garbage.json()["code"] == "encoding_invalid"


async def test_file_get_with_range_and_media_type(http: Http) -> None:
    assert (await push(http.client, FILES)).status_code == 201
    base = "/v1/packages/acme/ci/report/-/versions/1.0/files"
    data = FILES["data/results.json"]
    whole = await http.client.get(f"{base}/data/results.json")
    assert whole.status_code == 200
    assert whole.content == data
    assert whole.headers["etag"] == f'"sha256:{hashlib.sha256(data).hexdigest()}"'
    assert whole.headers["content-type"] == "application/octet-stream"
    assert "repr-digest" in whole.headers
    part = await http.client.get(f"{base}/data/results.json", headers={"Range": "bytes=13-25"})
    assert part.status_code == 206
    assert part.content == data[13:26]
    head = await http.client.head(f"{base}/README.md")
    assert head.headers["content-length"] == str(len(FILES["README.md"]))
    missing = await http.client.get(f"{base}/nope.txt")
    assert missing.status_code == 404
    assert missing.json()["code"] == "file_not_found"


async def test_versions_and_refs(http: Http) -> None:
    for version in ("1.0", "1.1", "2.0"):
        response = await push(http.client, FILES, version=version, tags=["latest"])
        assert response.status_code == 201
    versions = (await http.client.get("/v1/packages/acme/ci/report/-/versions")).json()
    assert [p["version"] for p in versions["items"]] == ["2.0", "1.1", "1.0"]
    page = (
        await http.client.get("/v1/packages/acme/ci/report/-/versions", params={"limit": 2})
    ).json()
    assert [p["version"] for p in page["items"]] == ["2.0", "1.1"]
    rest = (
        await http.client.get(
            "/v1/packages/acme/ci/report/-/versions", params={"cursor": page["next_cursor"]}
        )
    ).json()
    assert [p["version"] for p in rest["items"]] == ["1.0"]
    assert rest["next_cursor"] is None

    latest = (await http.client.get("/v1/refs/acme/ci/report:latest")).json()
    assert latest["package"]["version"] == "2.0"
    digest = latest["package"]["digest"]
    for ref in ("acme/ci/report@2.0", f"acme/ci/report@{digest}", digest):
        got = await http.client.get(f"/v1/refs/{ref}")
        assert got.status_code == 200, ref
        assert got.json()["package"]["digest"] == digest


async def test_tags_put_move_list_delete(http: Http) -> None:
    for version in ("1.0", "2.0"):
        assert (await push(http.client, FILES, version=version)).status_code == 201
    tags = "/v1/packages/acme/ci/report/-/tags"
    put = await http.client.put(f"{tags}/stable", json={"target": "1.0"})
    assert put.status_code == 200
    assert put.json()["version"] == "1.0"
    assert put.json()["tags"] == ["stable"]
    v2 = (await http.client.get("/v1/refs/acme/ci/report@2.0")).json()["package"]["digest"]
    moved = await http.client.put(f"{tags}/stable", json={"target": v2})
    assert moved.json()["version"] == "2.0"
    listed = (await http.client.get(tags)).json()["items"]
    assert [(t["tag"], t["target"]) for t in listed] == [("stable", v2)]
    assert listed[0]["set_at"].endswith("Z")
    assert (await http.client.delete(f"{tags}/stable")).status_code == 204
    gone = await http.client.delete(f"{tags}/stable")
    assert gone.status_code == 404
    assert gone.json()["code"] == "tag_not_found"
    assert (await http.client.get(tags)).json() == {"items": []}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"target": "9.9"}, 404, "package_not_found"),
        ({"target": "1.0", "role": "admin"}, 400, "invalid_input"),
        ({}, 400, "invalid_input"),
        ({"target": "../1.0"}, 400, "ref_invalid"),
    ],
)
async def test_bad_tag_requests(http: Http, body: dict[str, str], status: int, code: str) -> None:
    assert (await push(http.client, FILES)).status_code == 201
    response = await http.client.put("/v1/packages/acme/ci/report/-/tags/t", json=body)
    assert response.status_code == status
    assert response.json()["code"] == code


async def test_search_filters_and_cursor(http: Http) -> None:
    await push(http.client, FILES, namespace="acme/ci", name="report", labels={"os": "linux"})
    await push(http.client, FILES, namespace="acme/ci", name="bench", kind="bench")
    await push(http.client, FILES, namespace="acme/ci/nightly", name="report")
    await push(http.client, FILES, namespace="other", name="report", labels={"os": "mac"})

    async def names(**params: object) -> list[str]:
        response = await http.client.get("/v1/packages", params=params)  # type: ignore[arg-type]
        assert response.status_code == 200, response.text
        return [f"{p['namespace']}/{p['name']}" for p in response.json()["items"]]

    assert await names(namespace="acme/ci") == ["acme/ci/bench", "acme/ci/report"]
    assert await names(prefix="acme") == [
        "acme/ci/nightly/report",
        "acme/ci/bench",
        "acme/ci/report",
    ]
    assert await names(prefix="acme/ci/report") == ["acme/ci/report"]
    assert await names(name="report") == [
        "other/report",
        "acme/ci/nightly/report",
        "acme/ci/report",
    ]
    assert await names(kind="bench") == ["acme/ci/bench"]
    assert await names(label="os=linux") == ["acme/ci/report"]
    assert await names(since="2999-01-01T00:00:00Z") == []
    assert len(await names(until="2999-01-01T00:00:00Z")) == 4

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = (await http.client.get("/v1/packages", params=params)).json()
        seen += [p["digest"] + p["namespace"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 4
    assert len(set(seen)) == 4


@pytest.mark.parametrize(
    "params",
    [
        {"label": "nokey"},
        {"label": ["os=linux", "os=mac"]},
        {"since": "yesterday"},
        {"until": "2025-01-01"},
        {"limit": 0},
        {"limit": 1001},
        {"cursor": "not-a-cursor"},
    ],
)
async def test_search_rejects_bad_filters(http: Http, params: dict[str, object]) -> None:
    response = await http.client.get("/v1/packages", params=params)  # type: ignore[arg-type]
    assert response.status_code == 400
    assert response.json()["code"] in ("invalid_input", "label_invalid")


async def test_long_poll_wakes_on_a_commit(http: Http) -> None:
    head = (await http.client.get("/v1/events")).json()["last_seq"]
    started = time.monotonic()
    waiting = asyncio.create_task(http.client.get("/v1/events", params={"after": head, "wait": 20}))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    assert (await push(http.client, FILES)).status_code == 201
    response = await waiting
    assert time.monotonic() - started < 10
    body = response.json()
    assert body["events"]
    assert body["events"][0]["seq"] == head + 1
    assert body["last_seq"] == body["events"][-1]["seq"]
    types = [e["type"] for e in body["events"]]
    assert "blob.stored" in types or "package.committed" in types


async def test_long_poll_times_out_empty(http: Http) -> None:
    response = await http.client.get("/v1/events", params={"after": 10_000, "wait": 0.3})
    assert response.json() == {"events": [], "last_seq": 10_000}
