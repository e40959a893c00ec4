"""Graceful shutdown leaves in-flight uploads resumable (issue #3, Ops).

SIGTERM while a PATCH is streaming: the server stops taking new requests but lets the PATCH
finish, so its bytes are durable and acknowledged; after a restart on the same data directory
the session resumes from that offset and finalizes.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from tests.e2e.test_http_support import live_server, sha256_digest

pytestmark = pytest.mark.e2e

OCTETS = {"Content-Type": "application/offset+octet-stream"}


async def test_sigterm_lets_an_inflight_patch_finish_and_the_session_resume(
    tmp_path: Path,
) -> None:
    data = os.urandom(6 << 20)
    log = tmp_path / "server.log"
    with live_server(tmp_path / "data", log) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            created = await client.post("/v1/uploads", headers={"Upload-Length": str(len(data))})
            assert created.status_code == 201, created.text
            location = created.headers["location"]
            half = len(data) // 2
            terminated = threading.Event()

            def stop() -> None:
                server.terminate()
                terminated.set()

            async def body() -> AsyncIterator[bytes]:
                for start in range(0, half, 256 << 10):
                    if start == 1 << 20:
                        threading.Thread(target=stop, daemon=True).start()
                        await asyncio.sleep(0.5)  # SIGTERM lands while the body streams
                    yield data[start : min(start + (256 << 10), half)]

            response = await client.patch(
                location, content=body(), headers={**OCTETS, "Upload-Offset": "0"}
            )
            assert response.status_code == 204, response.text
            assert response.headers["upload-offset"] == str(half)
    assert await asyncio.to_thread(terminated.wait, 30)

    with live_server(tmp_path / "data", log) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            head = await client.head(location)
            assert head.headers["upload-offset"] == str(half)
            rest = await client.patch(
                location, content=data[half:], headers={**OCTETS, "Upload-Offset": str(half)}
            )
            assert rest.status_code == 204, rest.text
            done = await client.put(location, params={"digest": sha256_digest(data)})
            assert done.status_code == 201, done.text
