"""Request bodies read off the socket (ADR-0018): ``server/socket_body.py`` offers the
``artifact_store.body_source`` extension under ``serve``'s protocol.

A bare ASGI app under a real uvicorn on a loopback port reaches each case on purpose: a body
read whole (then the connection serves a pipelined next request), ``Expect: 100-continue``, a
body left half read (the connection closes after the answer), a client that leaves mid-body,
``receive`` while the body is taken, bodies the extension declines, and a server shut down
under a stalled upload. Then the blob PUT through ``artifact-store serve``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import ClientDisconnect
from tests.e2e.test_client_support import ServerProcess
from tests.e2e.test_http_support import serving_protocol, sha256_digest

from artifact_store.kernels.digest import digest_source
from artifact_store.kernels.threads import in_own_thread
from artifact_store.server.socket_body import SocketBody, body_takeover

pytestmark = pytest.mark.e2e

BODY = os.urandom(9 * (1 << 20) + 4321)  # far more than the parser delivers before the take

type Message = MutableMapping[str, Any]


class BodyApp:
    """``PUT /<case>`` takes the body and answers ``<sha256 hex> <bytes>``; ``GET /ping``
    answers ``pong``. Records what each request saw."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self.opened: list[bool] = []
        self.done = asyncio.Event()

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        case = scope["path"].strip("/")
        try:
            if case == "ping":
                await self.answer(send, 200, b"pong")
                return
            takeover = body_takeover(scope)
            source = takeover.open() if takeover is not None else None
            self.opened.append(source is not None)
            await getattr(self, f"case_{case}")(source, receive, send)
        except BaseException as exc:
            self.errors.append(exc)
            raise
        finally:
            self.done.set()

    @staticmethod
    async def answer(send: Any, status: int, body: bytes) -> None:
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def digest(source: SocketBody) -> bytes:
        pair = await in_own_thread(
            lambda: digest_source(source, limit=1 << 40), cancel=source.cancel, name="test-read"
        )
        return f"{pair.sha256} {pair.size}".encode()

    async def case_whole(self, source: SocketBody | None, receive: Any, send: Any) -> None:
        assert source is not None
        await self.answer(send, 200, await self.digest(source))

    async def case_receive_while_taken(
        self, source: SocketBody | None, receive: Any, send: Any
    ) -> None:
        assert source is not None
        with pytest.raises(RuntimeError, match="body source"):
            await receive()
        await self.answer(send, 200, await self.digest(source))

    async def case_half(self, source: SocketBody | None, receive: Any, send: Any) -> None:
        assert source is not None
        buffer = memoryview(bytearray(1 << 20))
        await asyncio.to_thread(source.readinto, buffer)
        await self.answer(send, 400, b"no thanks")

    async def case_declined(self, source: SocketBody | None, receive: Any, send: Any) -> None:
        assert source is None
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await self.answer(send, 200, f"{hashlib.sha256(body).hexdigest()} {len(body)}".encode())


def expected(body: bytes) -> bytes:
    return f"{hashlib.sha256(body).hexdigest()} {len(body)}".encode()


def request(method: str, path: str, body: bytes = b"", **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", f"Content-Length: {len(body)}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    status_line, *header_lines = head.decode().split("\r\n")[:-2]
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


def ring_and_read_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(("ring-", "test-read"))}


async def threads_end(before: set[threading.Thread]) -> None:
    for _ in range(100):
        if ring_and_read_threads() <= before:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"threads left: {ring_and_read_threads() - before}")


async def test_a_taken_body_arrives_whole_and_a_pipelined_request_follows() -> None:
    """The body and the next request are written back to back on one connection: the thread
    reads exactly the body, and a fresh parser answers the next request."""
    app = BodyApp()
    async with serving_protocol(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request("PUT", "/whole", BODY) + request("GET", "/ping"))
        await writer.drain()
        status, headers, body = await read_response(reader)
        assert (status, body) == (200, expected(BODY))
        assert headers.get("connection") != "close"
        status, _, body = await read_response(reader)
        assert (status, body) == (200, b"pong")
        # And again on the same connection, a body smaller than one socket read.
        writer.write(request("PUT", "/whole", b"tiny"))
        status, _, body = await read_response(reader)
        assert (status, body) == (200, expected(b"tiny"))
        writer.close()
    assert app.opened == [True, True]
    assert app.errors == []


async def test_expect_100_continue_is_answered_before_the_body_is_read() -> None:
    app = BodyApp()
    async with serving_protocol(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = request("PUT", "/whole", BODY, Expect="100-continue")
        writer.write(head[: -len(BODY)])
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        writer.write(BODY)
        status, _, body = await read_response(reader)
        assert (status, body) == (200, expected(BODY))
        writer.close()


async def test_a_body_left_half_read_closes_the_connection_after_the_answer() -> None:
    before = ring_and_read_threads()
    app = BodyApp()
    async with serving_protocol(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        payload = request("PUT", "/half", BODY)

        async def send_all() -> None:
            with contextlib.suppress(ConnectionError):
                writer.write(payload)
                await writer.drain()

        sender = asyncio.create_task(send_all())
        status, headers, body = await read_response(reader)
        assert (status, body) == (400, b"no thanks")
        assert headers["connection"] == "close"
        with contextlib.suppress(ConnectionError):
            assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the server
        sender.cancel()
        writer.close()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/ping")).content == b"pong"
    assert app.errors == []
    await threads_end(before)


async def test_a_client_that_leaves_mid_body_ends_the_read() -> None:
    before = ring_and_read_threads()
    app = BodyApp()
    async with serving_protocol(app) as port:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request("PUT", "/whole", BODY)[: len(BODY) // 2])
        await writer.drain()
        writer.close()
        await asyncio.wait_for(app.done.wait(), 10)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/ping")).content == b"pong"
    assert len(app.errors) == 1
    assert isinstance(app.errors[0], ClientDisconnect)
    await threads_end(before)


async def test_receive_while_the_body_is_taken_is_refused() -> None:
    app = BodyApp()
    async with (
        serving_protocol(app) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c,
    ):
        response = await c.put("/receive_while_taken", content=BODY)
        assert response.content == expected(BODY)
    assert app.errors == []


async def test_bodies_without_a_length_are_declined() -> None:
    """Chunked framing has no length to read up to: the app gets ``None`` and reads the body
    through ``receive`` as usual."""
    app = BodyApp()

    async def pieces() -> AsyncIterator[bytes]:
        for at in range(0, len(BODY), 1 << 20):
            yield BODY[at : at + (1 << 20)]

    async with (
        serving_protocol(app) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c,
    ):
        response = await c.put("/declined", content=pieces())
        assert response.content == expected(BODY)
    assert app.opened == [False]
    assert app.errors == []


async def test_a_shutdown_under_a_stalled_upload_ends_the_read_thread() -> None:
    before = ring_and_read_threads()
    app = BodyApp()
    async with serving_protocol(app, timeout_graceful_shutdown=1) as port:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request("PUT", "/whole", BODY)[: 2 << 20])  # then nothing more
        await writer.drain()
        await asyncio.sleep(0.3)
    writer.close()
    assert app.opened == [True]
    await threads_end(before)


def test_blob_puts_through_serve_read_the_socket(tmp_path: Path) -> None:
    """Through ``artifact-store serve``: a large PUT is stored whole and counted; a wrong
    digest stores nothing and the same connection goes on; a bad length is refused."""
    server = ServerProcess(tmp_path / "data", tmp_path / "server.log")
    server.start()
    try:
        digest = sha256_digest(BODY)
        with httpx.Client(base_url=server.url, timeout=60) as client:
            wrong = client.put("/v1/blobs", params={"digest": sha256_digest(b"x")}, content=BODY)
            assert wrong.status_code == 400, wrong.text
            assert wrong.json()["code"] == "digest_mismatch"
            assert client.head(f"/v1/blobs/{digest}").status_code == 404
            put = client.put("/v1/blobs", params={"digest": digest}, content=BODY)
            assert put.status_code == 201, put.text
            assert client.get(f"/v1/blobs/{digest}").content == BODY
            metrics = client.get("/metrics").text
            received = next(
                float(line.split()[-1])
                for line in metrics.splitlines()
                if line.startswith("artifact_store_http_bytes_received_total")
            )
            assert received >= 2 * len(BODY)
        staging = tmp_path / "data" / "staging"
        assert [p.name for p in staging.iterdir() if p.is_file()] == []
        assert "Traceback" not in server.log.read_text()
    finally:
        server.stop()


def test_a_truncated_body_gets_no_answer_and_the_connection_closes(tmp_path: Path) -> None:
    """A client that sends part of a body and half-closes (shut down its sending side) has
    sent a truncated request: ``serve`` stores nothing, answers nothing (no 500), logs no
    error, and closes the connection, as it does for a client that leaves."""
    server = ServerProcess(tmp_path / "data", tmp_path / "server.log")
    server.start()
    try:
        digest = sha256_digest(BODY)
        head = request("PUT", f"/v1/blobs?digest={digest}", BODY)
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.settimeout(10)
            sock.sendall(head[: 3 << 20])
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(65536) == b""  # closed, unanswered
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.head(f"/v1/blobs/{digest}").status_code == 404
        log = server.log.read_text()
        assert "ERROR" not in log
        assert '"status":500' not in log
    finally:
        server.stop()


def _checksum(data: bytes) -> str:
    return "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()


def _patch_request(location: str, offset: int, body: bytes, **headers: str) -> bytes:
    return request(
        "PATCH",
        location,
        body,
        Upload_Offset=str(offset),
        Content_Type="application/offset+octet-stream",
        **headers,
    )


def test_upload_chunks_through_serve_read_the_socket(tmp_path: Path) -> None:
    """Session PATCHes of 8 MiB or more take the same path: a chunk is stored whole, a wrong
    checksum discards it (the connection goes on: the body was read), a wrong offset answers
    409 without reading the body and a chunk past the declared length 413 (the connection
    closes), and a client that leaves mid-chunk keeps what arrived."""
    server = ServerProcess(tmp_path / "data", tmp_path / "server.log")
    server.start()
    try:
        whole = BODY + BODY[::-1] + BODY[:12345]
        with httpx.Client(base_url=server.url, timeout=60) as client:
            created = client.post("/v1/uploads", headers={"Upload-Length": str(len(whole))})
            location = created.headers["location"]

            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                stream = sock.makefile("rb")
                sock.sendall(_patch_request(location, 0, BODY, Upload_Checksum=_checksum(b"x")))
                status, headers = _read_status(stream)
                assert status == 460
                assert headers.get("connection") != "close"
                # The same connection: the next request is parsed where the body ended.
                sock.sendall(_patch_request(location, 0, BODY, Upload_Checksum=_checksum(BODY)))
                status, headers = _read_status(stream)
                assert status == 204
                assert headers["upload-offset"] == str(len(BODY))

            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                stream = sock.makefile("rb")
                sock.sendall(_patch_request(location, 5, BODY)[: 1 << 20])
                status, headers = _read_status(stream)
                assert status == 409
                assert headers["connection"] == "close"

            too_long = whole[len(BODY) :] + b"!" * (5 << 20)  # past the declared Upload-Length
            over = client.patch(
                location,
                content=too_long,
                headers={
                    "Upload-Offset": str(len(BODY)),
                    "Content-Type": "application/offset+octet-stream",
                },
            )
            assert over.status_code == 413, over.text
            assert over.headers["connection"] == "close"  # read up to the limit, not to the end
            assert client.head(location).headers["upload-offset"] == str(len(BODY))

            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                second = whole[len(BODY) : 2 * len(BODY)]
                sock.sendall(_patch_request(location, len(BODY), second)[: 3 << 20])
            deadline = time.monotonic() + 10
            while (offset := int(client.head(location).headers["upload-offset"])) == len(BODY):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert len(BODY) + (2 << 20) < offset < 2 * len(BODY)  # what arrived before it left

            rest = whole[offset:]
            done = client.patch(
                location,
                content=rest,
                headers={
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                },
            )
            assert done.status_code == 204, done.text
            final = client.put(location, params={"digest": sha256_digest(whole)})
            assert final.status_code == 201, final.text
            assert client.get(f"/v1/blobs/{sha256_digest(whole)}").content == whole
        assert "Traceback" not in server.log.read_text()
    finally:
        server.stop()


def _read_status(stream: Any) -> tuple[int, dict[str, str]]:
    """The status and headers of one response (its body, if any, read and dropped)."""
    status_line = stream.readline().decode()
    headers: dict[str, str] = {}
    while (line := stream.readline().decode().rstrip("\r\n")) != "":
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    stream.read(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers
