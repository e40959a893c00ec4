"""Zero-copy sends (ADR-0016): ``server/protocol.py`` offers ``http.response.zerocopysend``
and sends file regions with ``sendfile``; blob and file GETs through ``artifact-store serve``
use it.

The protocol is exercised under a real uvicorn on a loopback port with a bare ASGI app, so each
case of the extension (whole file, offsets, open-ended, more body after it, HEAD, chunked
framing, a region longer than ``Content-Length``, a client that leaves mid-send) is reached
on purpose. The served blobs are then checked byte for byte through the real server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.test_client_support import ServerProcess
from tests.e2e.test_http_support import serving_protocol, sha256_digest

from artifact_store.client import Client
from artifact_store.server.protocol import ZERO_COPY_SEND, offers_zero_copy

pytestmark = pytest.mark.e2e

FILE_BYTES = os.urandom(6 * (1 << 20) + 4321)  # more than one sendfile piece's worth of pages

type Message = MutableMapping[str, Any]
type Send = Callable[[Message], Awaitable[None]]


class FileApp:
    """An ASGI app that answers ``GET /case`` by sending a region of ``path`` one way or
    another, and records what each request saw."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.extensions: list[bool] = []
        self.errors: list[BaseException] = []
        self.done = asyncio.Event()

    async def __call__(self, scope: Message, receive: Any, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.extensions.append(offers_zero_copy(scope))
        case = scope["path"].strip("/")
        try:
            with self.path.open("rb") as file:
                await getattr(self, f"case_{case}")(file, send)
        except BaseException as exc:
            self.errors.append(exc)
            raise
        finally:
            self.done.set()

    @staticmethod
    async def start(send: Send, length: int | None) -> None:
        headers = [(b"content-type", b"application/octet-stream")]
        if length is not None:
            headers.append((b"content-length", str(length).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})

    async def case_whole(self, file: Any, send: Send) -> None:
        await self.start(send, len(FILE_BYTES))
        await send({"type": ZERO_COPY_SEND, "file": file, "offset": 0, "count": len(FILE_BYTES)})

    async def case_span(self, file: Any, send: Send) -> None:
        await self.start(send, 1000)
        await send({"type": ZERO_COPY_SEND, "file": file.fileno(), "offset": 12345, "count": 1000})

    async def case_rest(self, file: Any, send: Send) -> None:
        file.seek(len(FILE_BYTES) - 777)  # no offset, no count: from the position to the end
        await self.start(send, 777)
        await send({"type": ZERO_COPY_SEND, "file": file})

    async def case_then_body(self, file: Any, send: Send) -> None:
        await self.start(send, 100 + 5)
        await send(
            {"type": ZERO_COPY_SEND, "file": file, "offset": 0, "count": 100, "more_body": True}
        )
        await send({"type": "http.response.body", "body": b"-tail", "more_body": False})

    async def case_chunked(self, file: Any, send: Send) -> None:
        await self.start(send, None)  # no length: chunked framing, sent as body messages
        await send({"type": ZERO_COPY_SEND, "file": file, "offset": 0, "count": len(FILE_BYTES)})

    async def case_too_long(self, file: Any, send: Send) -> None:
        await self.start(send, 10)
        await send({"type": ZERO_COPY_SEND, "file": file, "offset": 0, "count": 11})

    async def case_ping(self, file: Any, send: Send) -> None:
        await asyncio.to_thread(lambda: None)  # needs a free worker of the default executor
        await self.start(send, 4)
        await send({"type": "http.response.body", "body": b"pong"})

    async def case_at_the_end(self, file: Any, send: Send) -> None:
        await self.start(send, 10)  # a small region: tried from the event loop
        await send({"type": ZERO_COPY_SEND, "file": file, "offset": len(FILE_BYTES), "count": 10})

    async def case_past_the_end(self, file: Any, send: Send) -> None:
        await self.start(send, len(FILE_BYTES) + 10)
        await send(
            {"type": ZERO_COPY_SEND, "file": file, "offset": 0, "count": len(FILE_BYTES) + 10}
        )


@contextlib.asynccontextmanager
async def serving(app: FileApp) -> AsyncIterator[str]:
    async with serving_protocol(app) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def bytes_file(tmp_path: Path) -> Path:
    path = tmp_path / "file.bin"
    path.write_bytes(FILE_BYTES)
    return path


async def test_file_regions_arrive_whole_in_every_form(bytes_file: Path) -> None:
    app = FileApp(bytes_file)
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        whole = await client.get("/whole")
        assert whole.content == FILE_BYTES
        assert (await client.get("/span")).content == FILE_BYTES[12345:13345]
        assert (await client.get("/rest")).content == FILE_BYTES[-777:]
        assert (await client.get("/then_body")).content == FILE_BYTES[:100] + b"-tail"
        chunked = await client.get("/chunked")
        assert chunked.headers["transfer-encoding"] == "chunked"
        assert chunked.content == FILE_BYTES
        head = await client.head("/whole")
        assert head.content == b""
        assert head.headers["content-length"] == str(len(FILE_BYTES))
        # The connection is kept alive across all of them: the next response starts clean.
        assert (await client.get("/span")).content == FILE_BYTES[12345:13345]
    assert app.extensions
    assert all(app.extensions)
    assert app.errors == []


@pytest.mark.parametrize("case", ["too_long", "at_the_end", "past_the_end"])
async def test_a_region_that_does_not_fit_fails_the_response(bytes_file: Path, case: str) -> None:
    """More than ``Content-Length`` is refused before a byte is sent; a file shorter than the
    region fails the send; either way the client gets a broken response, never a wrong one."""
    app = FileApp(bytes_file)
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        with pytest.raises(httpx.HTTPError):
            await client.get(f"/{case}")
        assert (await client.get("/span")).content == FILE_BYTES[12345:13345]
    assert len(app.errors) == 1
    assert isinstance(app.errors[0], (RuntimeError, OSError))


async def test_a_client_that_leaves_mid_send_ends_the_send_thread(bytes_file: Path) -> None:
    big = bytes_file.with_name("big.bin")
    with big.open("wb") as out:
        for _ in range(16):
            out.write(FILE_BYTES)  # ~100 MiB: far more than the socket buffers hold
    app = FileApp(big)
    app_whole_size = big.stat().st_size

    async def whole(file: Any, send: Send) -> None:
        await FileApp.start(send, app_whole_size)
        await send({"type": ZERO_COPY_SEND, "file": file, "offset": 0, "count": app_whole_size})

    app.case_whole = whole  # type: ignore[method-assign]
    threads = threading.active_count()
    async with serving(app) as url:
        port = int(url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /whole HTTP/1.1\r\nhost: x\r\n\r\n")
        await writer.drain()
        await reader.read(65536)  # the headers and a little body; then go away unread
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        writer.close()
        await asyncio.wait_for(app.done.wait(), 10)
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            assert (await client.get("/span")).content == FILE_BYTES[12345:13345]
    assert len(app.errors) == 1
    assert isinstance(app.errors[0], OSError)
    for _ in range(50):  # the send's own thread has ended, not stuck in a send
        if threading.active_count() <= threads:
            break
        await asyncio.sleep(0.1)
    assert threading.active_count() <= threads


async def test_slow_downloads_do_not_hold_the_default_executor(bytes_file: Path) -> None:
    """Each stalled send waits in a thread of its own: more of them than the default
    executor has workers leave it free for everything else."""
    big = bytes_file.with_name("big.bin")
    with big.open("wb") as out:
        for _ in range(4):
            out.write(FILE_BYTES)
    size = big.stat().st_size
    app = FileApp(big)

    async def whole(file: Any, send: Send) -> None:
        await FileApp.start(send, size)
        await send({"type": ZERO_COPY_SEND, "file": file, "offset": 0, "count": size})

    app.case_whole = whole  # type: ignore[method-assign]
    stalled = (os.cpu_count() or 1) + 8  # more than min(32, cpus + 4) workers
    async with serving(app) as url:
        port = int(url.rsplit(":", 1)[1])
        clients = []
        for _ in range(stalled):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /whole HTTP/1.1\r\nhost: x\r\n\r\n")
            await writer.drain()
            await reader.readuntil(b"\r\n\r\n")  # the headers; the body is left unread
            clients.append(writer)
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            pong = await asyncio.wait_for(client.get("/ping"), 10)
            assert pong.content == b"pong"
        for writer in clients:
            writer.close()


def test_blobs_and_files_are_sent_whole_by_serve(tmp_path: Path) -> None:
    """Through ``artifact-store serve`` (zero-copy on): whole blobs, ranges, package files,
    HEAD and the bytes-out metric; a client leaving mid-blob leaves the server serving."""
    server = ServerProcess(tmp_path / "data", tmp_path / "server.log")
    server.start()
    try:
        data = os.urandom(9 * (1 << 20) + 77)
        digest = sha256_digest(data)
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert (
                client.put("/v1/blobs", params={"digest": digest}, content=data).status_code == 201
            )
            got = client.get(f"/v1/blobs/{digest}")
            assert got.status_code == 200
            assert got.content == data
            ranged = client.get(f"/v1/blobs/{digest}", headers={"Range": "bytes=5000000-5000099"})
            assert ranged.status_code == 206
            assert ranged.content == data[5_000_000:5_000_100]
            tail = client.get(f"/v1/blobs/{digest}", headers={"Range": "bytes=-3"})
            assert tail.content == data[-3:]
            head = client.head(f"/v1/blobs/{digest}")
            assert head.content == b""
            assert head.headers["content-length"] == str(len(data))

            with client.stream("GET", f"/v1/blobs/{digest}") as response:
                assert response.status_code == 200
                next(response.iter_raw(4096))  # then leave with most of it unsent
            assert client.get(f"/v1/blobs/{digest}").content == data

            tree = tmp_path / "tree"
            (tree / "sub").mkdir(parents=True)
            (tree / "sub" / "big.bin").write_bytes(data)
            (tree / "small.txt").write_bytes(b"small file")
            with Client(server.url) as sdk:
                sdk.push_directory(tree, "zc/files@1.0")
            files = "/v1/packages/zc/files/-/versions/1.0/files"
            assert client.get(f"{files}/sub/big.bin").content == data
            assert client.get(f"{files}/small.txt").content == b"small file"
            part = client.get(f"{files}/sub/big.bin", headers={"Range": "bytes=10-19"})
            assert part.content == data[10:20]

            metrics = client.get("/metrics").text
            sent = next(
                float(line.split()[-1])
                for line in metrics.splitlines()
                if line.startswith("artifact_store_http_bytes_sent_total")
            )
            assert sent >= 3 * len(data)  # the three whole GETs; the one left early may not count
        log = server.log.read_text()
        assert "Traceback" not in log
    finally:
        server.stop()
