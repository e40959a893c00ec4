"""Helpers shared by the HTTP e2e tests (no tests here): an in-process app client, a real
uvicorn server in a subprocess, blob/manifest builders, and store snapshots."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3
import httpx
import uvicorn
from fastapi import FastAPI

from artifact_store.server.app import create_app
from artifact_store.server.protocol import PiecesProtocol
from artifact_store.server.settings import Settings
from artifact_store.store import ArtifactStore

CREATED = "2025-01-01T00:00:00Z"


@dataclass
class Http:
    """An in-process app (lifespan running) and a client on it."""

    app: FastAPI
    client: httpx.AsyncClient

    @property
    def store(self) -> ArtifactStore:
        store: ArtifactStore = self.app.state.store
        return store


@asynccontextmanager
async def serve_app(settings: Settings) -> AsyncIterator[Http]:
    """Run ``create_app(settings)`` in-process and yield a client on it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Http(app, client)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def put_blob(client: httpx.AsyncClient, data: bytes) -> str:
    """Store ``data`` with a single PUT; its ``sha256:`` digest."""
    digest = sha256_digest(data)
    response = await client.put(
        "/v1/blobs",
        params={"digest": digest},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code in (200, 201), response.text
    return digest


def file_entry(
    path: str, data: bytes, media_type: str = "application/octet-stream"
) -> dict[str, Any]:
    return {
        "path": path,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "blake3": blake3.blake3(data).hexdigest(),
        "media_type": media_type,
    }


def manifest(
    files: Mapping[str, bytes],
    *,
    namespace: str = "acme/ci",
    name: str = "report",
    version: str = "1.0",
    kind: str = "report",
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A schema-1 manifest (JSON form) of ``files`` (path → bytes)."""
    return {
        "schema": 1,
        "namespace": namespace,
        "name": name,
        "version": version,
        "kind": kind,
        "created": CREATED,
        "producer": {"name": "tests"},
        "labels": dict(labels or {}),
        "annotations": {},
        "files": [file_entry(path, data) for path, data in sorted(files.items())],
    }


async def push(
    client: httpx.AsyncClient, files: Mapping[str, bytes], **fields: Any
) -> httpx.Response:
    """Upload the blobs of ``files`` and commit their manifest (as JSON)."""
    for data in files.values():
        await put_blob(client, data)
    tags = fields.pop("tags", ())
    return await client.post(
        "/v1/packages", json=manifest(files, **fields), params=[("tag", t) for t in tags]
    )


async def snapshot(store: ArtifactStore) -> tuple[int, dict[str, list[tuple[object, ...]]]]:
    """The event head and every view row: equal before and after means nothing changed."""
    return await store.head(), await store.dump_views()


# --- a real server ---------------------------------------------------------------------------


@dataclass
class LiveServer:
    """A uvicorn subprocess serving a data directory on a loopback port."""

    process: subprocess.Popen[bytes]
    url: str
    data: Path
    log: Path

    def kill(self) -> None:
        """``kill -9``: no graceful anything."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 30) -> float:
        """SIGTERM; the seconds until the process exited."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout)
        return time.monotonic() - started


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def serving_protocol(app: Any, **config: Any) -> AsyncIterator[int]:
    """A bare ASGI ``app`` under an in-process uvicorn with ``serve``'s own protocol (its ASGI
    extensions: ``server/protocol.py``) on a free loopback port; yields the port."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            http=PiecesProtocol,
            lifespan="off",
            log_level="critical",
            **config,
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
        if task.done():
            task.result()
    try:
        yield port
    finally:
        server.should_exit = True
        await task


def start_server(data: Path, log: Path, env: Mapping[str, str] | None = None) -> LiveServer:
    """Start ``uvicorn artifact_store.server.app:create_app --factory`` on a free port."""
    port = free_port()
    environment = {**os.environ, "ARTIFACT_STORE_DATA": str(data), **(env or {})}
    environment.pop("ARTIFACT_STORE_CONFIG", None)
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "artifact_store.server.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--timeout-graceful-shutdown",
                "30",
            ],
            env=environment,
            stdout=sink,
            stderr=sink,
        )
    server = LiveServer(process, f"http://127.0.0.1:{port}", data, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")


@contextmanager
def live_server(
    data: Path, log: Path, env: Mapping[str, str] | None = None
) -> Iterator[LiveServer]:
    server = start_server(data, log, env)
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.kill()
