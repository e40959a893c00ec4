"""The resumable upload loop against a small tus-style server (an ``httpx.MockTransport``
handler): chunking, checksums, resume from the remembered session, and every recovery path."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from artifact_store.client import (
    AsyncClient,
    ChecksumMismatchError,
    Client,
    DigestMismatchError,
    RetryPolicy,
    UnavailableError,
)
from artifact_store.client._resume import ResumeStore
from artifact_store.client._steps import FileRange
from artifact_store.client._upload import ChecksumAhead, chunk_checksum

FAST = RetryPolicy(attempts=4, base=0.001, cap=0.002)
CHUNK = 64 << 10
BASE = "http://server"


@dataclass
class Session:
    data: bytearray = field(default_factory=bytearray)
    length: int | None = None


@dataclass
class TusServer:
    """Just enough of /v1/uploads and PUT /v1/blobs, with faults to inject."""

    sessions: dict[str, Session] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    received: int = 0
    patches: int = 0
    #: PATCH numbers (1-based) that fail: "drop" (connection lost after storing half),
    #: "checksum" (460), "offset" (409 naming the true offset), "gone" (404).
    faults: dict[int, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.log.append(f"{request.method} {request.url.path}")
        path = request.url.path
        if request.method == "POST" and path == "/v1/uploads":
            sid = f"u{len(self.sessions) + 1}"
            self.sessions[sid] = Session(length=int(request.headers["Upload-Length"]))
            return httpx.Response(
                201, json={"id": sid, "offset": 0}, headers={"Location": f"/v1/uploads/{sid}"}
            )
        if request.method == "PUT" and path == "/v1/blobs":
            body = request.read()
            self.received += len(body)
            return self._store(body, request.url.params["digest"])
        sid = path.rsplit("/", 1)[1]
        session = self.sessions.get(sid)
        if session is None:
            return _problem(404, "upload_not_found")
        if request.method == "HEAD":
            return httpx.Response(200, headers={"Upload-Offset": str(len(session.data))})
        if request.method == "PATCH":
            return self._patch(request, session)
        if request.method == "PUT":
            del self.sessions[sid]
            return self._store(bytes(session.data), request.url.params["digest"])
        raise AssertionError(request)

    def _patch(self, request: httpx.Request, session: Session) -> httpx.Response:
        self.patches += 1
        body = request.read()
        self.received += len(body)
        fault = self.faults.get(self.patches)
        offset = int(request.headers["Upload-Offset"])
        if offset != len(session.data) or fault == "offset":
            return _problem(409, "upload_offset_mismatch", offset=len(session.data))
        if fault == "gone":
            self.sessions.clear()
            return _problem(404, "upload_not_found")
        algorithm, _, value = request.headers["Upload-Checksum"].partition(" ")
        assert algorithm == "sha256"
        if base64.b64decode(value) != hashlib.sha256(body).digest() or fault == "checksum":
            return _problem(460, "checksum_mismatch")
        if fault == "drop":  # the server kept what arrived (a checksummed chunk: nothing)
            raise httpx.RemoteProtocolError("peer closed connection")
        session.data += body
        return httpx.Response(204, headers={"Upload-Offset": str(len(session.data))})

    def _store(self, data: bytes, digest: str) -> httpx.Response:
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != digest:
            return _problem(400, "digest_mismatch", expected=digest, actual=actual)
        self.blobs[digest] = data
        body = {"digest": digest, "sha256": actual[7:], "blake3": "0" * 64, "size": len(data)}
        return httpx.Response(201, json=body)


def _problem(status: int, code: str, **extra: object) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "status": status, "detail": code, **extra})


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "blob.bin"
    path.write_bytes(os.urandom(10 * CHUNK + 123))
    return path


def _client(server: TusServer, tmp_path: Path) -> Client:
    return Client(
        BASE, transport=httpx.MockTransport(server), retry=FAST, cache_dir=tmp_path / "cache"
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Bar:
    def __init__(self) -> None:
        self.total = 0
        self.done = 0

    def start(self, total: int) -> None:
        self.total = total

    def advance(self, done: int) -> None:
        self.done += done


def test_chunked_upload_sends_every_byte_once(source: Path, tmp_path: Path) -> None:
    server = TusServer()
    bar = Bar()
    info = _client(server, tmp_path).upload_file(source, chunk_size=CHUNK, progress=bar)
    assert info.sha256 == _sha(source)
    assert server.blobs[info.digest] == source.read_bytes()
    assert server.received == source.stat().st_size
    assert server.patches == 11
    assert bar.total == bar.done == source.stat().st_size
    assert not any((tmp_path / "cache").rglob("*.json"))  # forgotten after finalize


def test_small_files_go_in_one_put(tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.write_bytes(b"tiny")
    server = TusServer()
    _client(server, tmp_path).upload_file(small, chunk_size=CHUNK)
    assert server.log == ["PUT /v1/blobs"]


def test_a_rerun_resumes_the_remembered_session(source: Path, tmp_path: Path) -> None:
    size = source.stat().st_size
    # First run: three chunks land, then every later one fails until the client gives up
    # (the kill -9 case runs end to end in tests/e2e/test_cli_remote.py).
    server = TusServer(faults=dict.fromkeys(range(4, 40), "checksum"))
    with pytest.raises(ChecksumMismatchError):
        _client(server, tmp_path).upload_file(source, chunk_size=CHUNK)
    assert len(server.sessions) == 1
    [session] = server.sessions.values()
    assert len(session.data) == 3 * CHUNK
    server.faults, server.received = {}, 0
    log_start = len(server.log)
    info = _client(server, tmp_path).upload_file(source, chunk_size=CHUNK)
    assert info.sha256 == _sha(source)
    assert server.received == size - 3 * CHUNK  # nothing the server held was sent again
    assert server.log[log_start] == "HEAD /v1/uploads/u1"  # asked before creating anything
    assert "POST /v1/uploads" not in server.log[log_start:]


def test_a_dropped_connection_resumes_from_the_server_offset(source: Path, tmp_path: Path) -> None:
    server = TusServer(faults={3: "drop", 7: "drop"})
    info = _client(server, tmp_path).upload_file(source, chunk_size=CHUNK)
    assert server.blobs[info.digest] == source.read_bytes()
    assert server.log.count("HEAD /v1/uploads/u1") == 2


def test_checksum_and_offset_mismatches_recover(source: Path, tmp_path: Path) -> None:
    server = TusServer(faults={2: "checksum", 5: "offset"})
    info = _client(server, tmp_path).upload_file(source, chunk_size=CHUNK)
    assert server.blobs[info.digest] == source.read_bytes()


def test_a_lost_session_starts_a_new_one(source: Path, tmp_path: Path) -> None:
    server = TusServer(faults={4: "gone"})
    info = _client(server, tmp_path).upload_file(source, chunk_size=CHUNK)
    assert server.blobs[info.digest] == source.read_bytes()
    assert server.log.count("POST /v1/uploads") == 2


def test_a_stale_remembered_session_is_replaced(source: Path, tmp_path: Path) -> None:
    server = TusServer()
    ResumeStore(tmp_path / "cache").save(BASE, _sha(source), source.stat().st_size, "/v1/uploads/x")
    _client(server, tmp_path).upload_file(source, chunk_size=CHUNK)
    assert server.log[:2] == ["HEAD /v1/uploads/x", "POST /v1/uploads"]


def test_no_progress_gives_up_with_unavailable(source: Path, tmp_path: Path) -> None:
    server = TusServer(faults=dict.fromkeys(range(1, 50), "drop"))
    with pytest.raises(UnavailableError):
        _client(server, tmp_path).upload_file(source, chunk_size=CHUNK)
    assert server.patches == FAST.attempts


def test_a_wrong_digest_is_refused_and_the_session_forgotten(source: Path, tmp_path: Path) -> None:
    server = TusServer()
    wrong = "sha256:" + "0" * 64
    with pytest.raises(DigestMismatchError):
        _client(server, tmp_path).upload_file(source, digest=wrong, chunk_size=CHUNK)
    assert not any((tmp_path / "cache").rglob("*.json"))


async def test_the_async_twin_resumes_the_same_way(source: Path, tmp_path: Path) -> None:
    server = TusServer(faults={2: "drop", 3: "checksum", 6: "offset"})
    expected = source.read_bytes()  # noqa: ASYNC240 - a small test file
    async with AsyncClient(
        BASE, transport=httpx.MockTransport(server), retry=FAST, cache_dir=tmp_path / "cache"
    ) as aclient:
        info = await aclient.upload_file(source, chunk_size=CHUNK)
    assert server.blobs[info.digest] == expected


def test_the_next_checksum_is_computed_ahead_and_checked_against_the_chunk(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(300_000))
    first, second = FileRange(path, 0, 100_000), FileRange(path, 100_000, 100_000)
    ahead = ChecksumAhead()
    try:
        assert ahead.take(first) == chunk_checksum(path, 0, 100_000)  # nothing ahead yet
        ahead.start(second)
        assert ahead.take(second) == chunk_checksum(path, 100_000, 100_000)
        ahead.start(second)  # the server answered another offset: that one is computed now
        other = FileRange(path, 150_000, 100_000)
        assert ahead.take(other) == chunk_checksum(path, 150_000, 100_000)
    finally:
        ahead.close()
    ahead.close()  # idempotent
