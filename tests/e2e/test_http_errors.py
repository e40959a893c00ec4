"""Malformed requests: each gets a 4xx problem+json with a stable ``code``, and the store's
content is unchanged (event head and every view row compared before and after)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import cbor2
import pytest
import pytest_asyncio
from tests.e2e.test_http_support import Http, manifest, push, serve_app, snapshot

from artifact_store.errors import DatabaseUnavailableError
from artifact_store.kernels.limits import MAX_JSON_BODY_BYTES, MAX_MANIFEST_BYTES
from artifact_store.server.settings import Settings

# One app for the module: every case asserts it leaves the store as it found it.
pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

FILES = {"README.md": b"# hi\n"}
HEX = "ab" * 32
PKG = "/v1/packages/acme/ci/report/-"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def http(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Http]:
    data = tmp_path_factory.mktemp("errors") / "data"
    async with serve_app(Settings(data=data)) as served:
        response = await push(served.client, FILES, tags=["latest"])
        assert response.status_code == 201
        yield served


async def _chunks(total: int) -> AsyncIterator[bytes]:
    piece = b"x" * (1 << 20)
    for _ in range(total // len(piece) + 1):
        yield piece


def _nested(depth: int) -> bytes:
    return b"\x81" * depth + b"\x00"


CASES: list[tuple[str, str, dict[str, Any], int, str]] = [
    # digests
    ("GET", f"/v1/blobs/sha256:{HEX.upper()}", {}, 400, "digest_invalid"),
    ("GET", "/v1/blobs/sha256:abc", {}, 400, "digest_invalid"),
    ("GET", f"/v1/blobs/md5:{HEX}", {}, 400, "digest_invalid"),
    ("GET", f"/v1/blobs/sha256:{HEX}%00", {}, 400, "digest_invalid"),
    (
        "PUT",
        "/v1/blobs",
        {"params": {"digest": f"blake3:{HEX}"}, "content": b"x"},
        400,
        "digest_invalid",
    ),
    (
        "PUT",
        "/v1/blobs",
        {"params": {"digest": f"SHA256:{HEX}"}, "content": b"x"},
        400,
        "digest_invalid",
    ),
    (
        "PUT",
        "/v1/blobs",
        {"params": {"digest": f"sha256:{HEX.upper()}"}, "content": b"x"},
        400,
        "digest_invalid",
    ),
    ("PUT", "/v1/blobs", {"content": b"x"}, 400, "invalid_input"),
    ("POST", "/v1/blobs/missing", {"json": {"digests": [f"blake3:{HEX}"]}}, 400, "digest_invalid"),
    # path traversal in refs, names and file paths
    ("GET", "/v1/refs/..%2F..%2Fetc@1", {}, 400, "ref_invalid"),
    ("GET", "/v1/refs/acme/ci/report@..%2F1.0", {}, 400, "ref_invalid"),
    ("GET", "/v1/refs/acme%2F..%2Fci/report@1.0", {}, 400, "ref_invalid"),
    ("GET", f"{PKG}/versions/1.0/files/..%2F..%2Fetc%2Fpasswd", {}, 400, "path_invalid"),
    ("GET", f"{PKG}/versions/1.0/files/%2E%2E/README.md", {}, 400, "path_invalid"),
    ("GET", f"{PKG}/versions/1.0/files/a//b", {}, 400, "path_invalid"),
    ("GET", f"{PKG}/versions/1.0/files/%2Fetc%2Fpasswd", {}, 400, "path_invalid"),
    ("GET", f"{PKG}/versions/%2E%2E", {}, 400, "name_invalid"),
    ("GET", f"{PKG}/versions/..%2F1.0", {}, 404, "not_found"),
    ("GET", "/v1/packages/acme/..%2Fci/report/-/versions", {}, 400, "name_invalid"),
    ("GET", "/v1/packages/ACME/ci/report/-/versions", {}, 400, "name_invalid"),
    ("PUT", f"{PKG}/tags/bad%20tag", {"json": {"target": "1.0"}}, 400, "name_invalid"),
    ("PUT", f"{PKG}/tags/x", {"json": {"target": "1.0/../2.0"}}, 400, "ref_invalid"),
    # unknown things
    ("GET", "/v1/refs/acme/ci/report@9.9", {}, 404, "package_not_found"),
    ("GET", "/v1/refs/acme/ci/nope:latest", {}, 404, "tag_not_found"),
    ("GET", f"/v1/refs/sha256:{'0' * 64}", {}, 404, "package_not_found"),
    ("GET", f"{PKG}/versions/9.9", {}, 404, "package_not_found"),
    ("GET", f"{PKG}/versions/1.0/files/nope", {}, 404, "file_not_found"),
    ("DELETE", f"{PKG}/tags/nope", {}, 404, "tag_not_found"),
    ("GET", "/v1/uploads/nope", {}, 404, "upload_not_found"),
    ("GET", "/v1/nothing-here", {}, 404, "not_found"),
    ("GET", "/v2/", {}, 404, "not_found"),
    ("DELETE", f"/v1/blobs/sha256:{HEX}", {}, 405, "method_not_allowed"),
    # content types and encodings
    (
        "POST",
        "/v1/packages",
        {"content": b"{}", "headers": {"Content-Type": "text/plain"}},
        415,
        "invalid_input",
    ),
    ("POST", "/v1/packages", {"content": b"{}"}, 415, "invalid_input"),
    (
        "PUT",
        "/v1/blobs",
        {
            "params": {"digest": f"sha256:{HEX}"},
            "content": b"x",
            "headers": {"Content-Type": "text/html"},
        },
        415,
        "invalid_input",
    ),
    (
        "POST",
        "/v1/blobs/missing",
        {"content": b'{"digests": []}', "headers": {"Content-Type": "text/plain"}},
        400,
        "invalid_input",
    ),
    (
        "POST",
        "/v1/packages",
        {"content": b"{", "headers": {"Content-Type": "application/json"}},
        400,
        "encoding_invalid",
    ),
    (
        "POST",
        "/v1/packages",
        {"content": b'{"a": 1, "a": 2}', "headers": {"Content-Type": "application/json"}},
        400,
        "encoding_invalid",
    ),
    (
        "POST",
        "/v1/packages",
        {"content": b'{"schema": NaN}', "headers": {"Content-Type": "application/json"}},
        400,
        "encoding_invalid",
    ),
    (
        "POST",
        "/v1/packages",
        {"content": b"[" * 100_000, "headers": {"Content-Type": "application/json"}},
        400,
        "encoding_invalid",
    ),
    (
        "POST",
        "/v1/packages",
        {"content": b"\xff\xfe{}", "headers": {"Content-Type": "application/json"}},
        400,
        "encoding_invalid",
    ),
    ("POST", "/v1/packages", {"json": {"schema": 1}}, 422, "manifest_invalid"),
    (
        "POST",
        "/v1/packages",
        {"json": {**manifest(FILES, version="3"), "schema": 1.0}},
        422,
        "manifest_invalid",
    ),
    (
        "POST",
        "/v1/packages",
        {"json": {**manifest(FILES, version="3"), "owner": "root"}},
        422,
        "manifest_invalid",
    ),
    (
        "POST",
        "/v1/packages",
        {"json": manifest({"../x": b"# hi\n"}, version="3")},
        400,
        "path_invalid",
    ),
    (
        "POST",
        "/v1/packages",
        {
            "content": cbor2.dumps(manifest(FILES, version="3")),
            "headers": {"Content-Type": "application/cbor"},
        },
        422,
        "encoding_noncanonical",
    ),
    (
        "POST",
        "/v1/packages",
        {"content": _nested(100_000), "headers": {"Content-Type": "application/cbor"}},
        400,
        "limit_exceeded",
    ),
    (
        "POST",
        "/v1/packages",
        {"content": b"\xc0\x60", "headers": {"Content-Type": "application/cbor"}},
        400,
        "encoding_invalid",
    ),
    (
        "POST",
        "/v1/packages",
        {"json": manifest({"new.bin": b"not stored"}, version="3")},
        422,
        "blobs_missing",
    ),
    (
        "POST",
        "/v1/packages",
        {"json": {**manifest(FILES), "kind": "other"}},
        409,
        "version_conflict",
    ),
    # sizes: honest, lying and absent Content-Length
    (
        "POST",
        "/v1/packages",
        {
            "content": b" " * (MAX_MANIFEST_BYTES + 1),
            "headers": {"Content-Type": "application/json"},
        },
        413,
        "payload_too_large",
    ),
    (
        "POST",
        "/v1/packages",
        {
            "content": b" " * (MAX_MANIFEST_BYTES + 1),
            "headers": {"Content-Type": "application/cbor", "Content-Length": "10"},
        },
        413,
        "payload_too_large",
    ),
    (
        "POST",
        "/v1/packages",
        {"content": _chunks(MAX_MANIFEST_BYTES), "headers": {"Content-Type": "application/json"}},
        413,
        "payload_too_large",
    ),
    (
        "PUT",
        f"{PKG}/tags/x",
        {
            "content": b" " * (MAX_JSON_BODY_BYTES + 1),
            "headers": {"Content-Type": "application/json"},
        },
        413,
        "payload_too_large",
    ),
    (
        "PUT",
        f"{PKG}/tags/x",
        {
            "content": b" " * (MAX_JSON_BODY_BYTES + 1),
            "headers": {"Content-Type": "application/json", "Content-Length": "2"},
        },
        413,
        "payload_too_large",
    ),
    (
        "PUT",
        "/v1/blobs",
        {
            "params": {"digest": f"sha256:{HEX}"},
            "content": b"x",
            "headers": {"Content-Length": str(1 << 41)},
        },
        413,
        "payload_too_large",
    ),
    (
        "PUT",
        "/v1/blobs",
        {
            "params": {"digest": f"sha256:{HEX}"},
            "content": b"x",
            "headers": {"Content-Length": "-1"},
        },
        400,
        "invalid_input",
    ),
    ("POST", "/v1/uploads", {"headers": {"Upload-Length": "lots"}}, 400, "invalid_input"),
    # query parameters
    ("GET", "/v1/events", {"params": {"limit": 0}}, 400, "invalid_input"),
    ("GET", "/v1/events", {"params": {"wait": 61}}, 400, "invalid_input"),
    ("GET", "/v1/events", {"params": {"after": "x"}}, 400, "invalid_input"),
    ("GET", "/v1/packages", {"params": {"since": "2025-13-01T00:00:00Z"}}, 400, "invalid_input"),
    ("GET", "/v1/packages", {"params": {"limit": 10**30}}, 400, "invalid_input"),
    (
        "GET",
        "/v1/blobs/sha256:" + "0" * 64,
        {"headers": {"Range": "bytes=5-1"}},
        416,
        "range_invalid",
    ),
]


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "code"),
    CASES,
    ids=[f"{m} {u[:60]} {s} {c}" for m, u, _, s, c in CASES],
)
async def test_malformed_request_is_a_problem_and_changes_nothing(
    http: Http, *, method: str, url: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    before = await snapshot(http.store)
    response = await http.client.request(method, url, **kwargs)
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"] == f"/problems/{code}"
    assert body["title"]
    assert body["detail"]
    assert "Traceback" not in response.text
    assert await snapshot(http.store) == before


async def test_wrong_method_names_the_allowed_ones(http: Http) -> None:
    response = await http.client.post("/v1/events")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"


async def test_unexpected_exception_is_a_500_internal_problem(
    http: Http, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(http.store, "list_tags", boom)
    response = await http.client.get(f"{PKG}/tags")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "internal"
    assert "secret" not in response.text


async def test_unavailable_database_is_503_with_retry_after(
    http: Http, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(*args: object, **kwargs: object) -> None:
        raise DatabaseUnavailableError("database is locked")

    monkeypatch.setattr(http.store, "list_tags", down)
    response = await http.client.get(f"{PKG}/tags")
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.json()["code"] == "database_unavailable"
