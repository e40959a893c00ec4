"""Helpers for the SDK and remote-CLI e2e tests (no tests here): the app in-process behind
``httpx.ASGITransport``, a real server process (``artifact-store serve``) on a free loopback
port that can be killed and restarted, and its ``/metrics`` byte counter."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from artifact_store.client import AsyncClient, RetryPolicy
from artifact_store.server.app import create_app
from artifact_store.server.settings import Settings

#: Quick retries, so tests that reach a dead server fail in well under a second.
FAST_RETRY = RetryPolicy(attempts=3, base=0.01, cap=0.05)


@asynccontextmanager
async def app_client(
    data: Path, cache: Path, *, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[AsyncClient]:
    """An ``AsyncClient`` on the app running in this process (lifespan included)."""
    app = create_app(Settings(data=data))
    transport = transport or httpx.ASGITransport(app=app)
    client = AsyncClient("http://test", transport=transport, cache_dir=cache, retry=FAST_RETRY)
    async with app.router.lifespan_context(app), client:
        yield client


class Recorder(httpx.AsyncBaseTransport):
    """Wraps a transport: records each request and can fail chosen ones before sending."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[tuple[str, str, int]] = []  # method, path, declared body size
        self.fail_patch: set[int] = set()  # 1-based PATCH numbers to fail
        self.patches = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        size = int(request.headers.get("Content-Length", 0))
        if request.method == "PATCH":
            self.patches += 1
            if self.patches in self.fail_patch:
                raise httpx.RemoteProtocolError("connection dropped (test)", request=request)
        self.requests.append((request.method, request.url.path, size))
        return await self.inner.handle_async_request(request)

    def sent(self, method: str, path: str | None = None) -> int:
        """Body bytes declared by the recorded requests of ``method`` (to ``path``)."""
        return sum(size for m, p, size in self.requests if m == method and path in (None, p))

    def paths(self, method: str) -> list[str]:
        """Paths of the recorded requests of ``method``."""
        return [p for m, p, _ in self.requests if m == method]


def free_port() -> int:
    """A loopback port nobody listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_command(*args: str) -> list[str]:
    """The installed command, run by this interpreter."""
    return [sys.executable, "-m", "artifact_store", *args]


@dataclass
class ServerProcess:
    """``artifact-store serve`` on a data directory, in its own process."""

    data: Path
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Start and wait until ``/healthz`` answers."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                cli_command("--data", str(self.data), "serve", "--port", str(self.port)),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ | {"PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """``kill -9``: no shutdown of any kind."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """A graceful stop (SIGTERM), if still running."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def bytes_received(self) -> int:
        """The server's body-bytes-in counter (since it started)."""
        text = httpx.get(f"{self.url}/metrics", timeout=5.0).text
        for line in text.splitlines():
            if line.startswith("artifact_store_http_bytes_received_total"):
                return int(float(line.split()[-1]))
        raise AssertionError("no bytes-received counter in /metrics")


def write_random(path: Path, size: int, piece: int = 8 << 20) -> None:
    """A file of ``size`` random bytes, written in pieces."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        left = size
        while left:
            n = min(piece, left)
            out.write(os.urandom(n))
            left -= n


def tree_files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative POSIX path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
