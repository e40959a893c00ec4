"""Helpers of the HTTP benchmarks (issue #3): the two servers, curl, CPU and RSS meters.

Not part of the library. ``Registry`` runs Debian's ``docker-registry`` (CNCF Distribution
2.8) with the temp filesystem config of TOOLING.md §3.3; ``OurServer`` runs ``artifact-store
--data DIR serve`` (the venv's console script, so the process measured is the Python server
itself, not a ``uv`` wrapper). Both bind 127.0.0.1 on a free port and are stopped on exit.

Server processes are not reaped while a benchmark runs, so :class:`~_common.CpuMeter` would
count their CPU as "other processes"; :class:`Meter` reads their CPU from ``/proc/<pid>/stat``
and reports it apart (server cores, client cores, other processes' cores).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx

from _common import CHUNK, CpuMeter, check

LOOPBACK = "127.0.0.1"
OCTET_STREAM = "application/octet-stream"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def sha256_file(path: Path) -> str:
    """``sha256:<hex>`` of a file (hashlib, 1 MiB ``readinto`` into one reused buffer)."""
    h = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with path.open("rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return f"sha256:{h.hexdigest()}"


def registry_binary() -> str | None:
    """The ``docker-registry`` executable, if installed (``apt-get install docker-registry``)."""
    return shutil.which("docker-registry")


# --- /proc ---------------------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) used so far by a live process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kib(pid: int, key: str) -> int | None:
    """A ``/proc/<pid>/status`` memory line in KiB (``VmRSS``, ``VmHWM``), or None if gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class RssSampler:
    """Samples ``VmRSS`` of one process every ``interval`` seconds in a thread; ``peak_kib``
    is the largest sample. (The kernel's own peak, ``VmHWM``, is read separately: it also
    catches spikes between samples.)"""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        rss = proc_status_kib(self.pid, "VmRSS")
        if rss is not None:
            self.peak_kib = max(self.peak_kib, rss)
            self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> Self:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


class Meter:
    """Around one timed operation: wall time, CPU of the server processes (read from /proc),
    of this process and its reaped children (the client, curl), and of everyone else."""

    def __init__(self, *server_pids: int) -> None:
        self.pids = server_pids
        self.wall = self.server_cpu = self.server = self.client = self.others = 0.0

    def __enter__(self) -> Self:
        self._start = [proc_cpu(p) for p in self.pids]
        self._cpu = CpuMeter().__enter__()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self._cpu.__exit__(*exc)
        self.wall = time.perf_counter() - self._t0
        ends = [proc_cpu(p) for p in self.pids]
        self.server_cpu = sum(e - s for s, e in zip(self._start, ends, strict=True))
        self.server = self.server_cpu / self.wall if self.wall else 0.0
        self.client = self._cpu.ours
        self.others = max(0.0, self._cpu.others - self.server)


class Noise:
    """The meters of every repetition of one operation: average (wall-weighted) and worst
    cores used by other processes, and the server's CPU seconds per operation."""

    def __init__(self) -> None:
        self.meters: list[Meter] = []

    def add(self, meter: Meter) -> Meter:
        self.meters.append(meter)
        return meter

    @property
    def others(self) -> float:
        wall = sum(m.wall for m in self.meters)
        return sum(m.others * m.wall for m in self.meters) / wall if wall else 0.0

    @property
    def worst(self) -> float:
        return max((m.others for m in self.meters), default=0.0)

    @property
    def server_cpu(self) -> float:
        """Median server CPU seconds of one operation."""
        cpus = sorted(m.server_cpu for m in self.meters)
        return cpus[len(cpus) // 2] if cpus else 0.0

    def __str__(self) -> str:
        return f"{self.others:.2f} cores (worst rep {self.worst:.2f})"


# --- curl ----------------------------------------------------------------------------------------


def curl(
    url: str, *, upload: Path | None = None, method: str | None = None
) -> tuple[int, float, int]:
    """One curl request, body to /dev/null: ``(http_code, time_total, size_download)``.

    ``upload`` streams a file as the body (``-T``: PUT, Content-Length from the file size);
    curl's defaults otherwise (HTTP/1.1, ``Expect: 100-continue`` for large bodies).
    """
    cmd = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total} %{size_download}"]
    if upload is not None:
        cmd += ["-T", str(upload), "-H", f"Content-Type: {OCTET_STREAM}"]
    if method:
        cmd += ["-X", method]
    done = subprocess.run([*cmd, url], check=True, capture_output=True, text=True)
    code, seconds, size = done.stdout.split()
    return int(code), float(seconds), int(float(size))


# --- servers -------------------------------------------------------------------------------------


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}; log {log}:\n{_tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise SystemExit(f"server not ready at {url} after {timeout:.0f} s; log {log}:\n{_tail(log)}")


def _tail(log: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return ""


def _stop(proc: subprocess.Popen[bytes] | None, grace: float = 20.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; always reaps the process."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class _Process:
    """A server subprocess with a log file; a context manager that always stops it."""

    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise SystemExit("benchmark bug: the server is not running")
        return self.proc.pid

    def _spawn(
        self, cmd: Sequence[str | Path], log: Path, env: dict[str, str] | None
    ) -> subprocess.Popen[bytes]:
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [str(c) for c in cmd],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        return self.proc

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def warm_up_ours(url: str) -> None:
    """One untimed blob PUT + GET (2 MiB, random, never used again) on a freshly started
    server, so timed requests do not pay the process's first-request costs (lazy imports)."""
    data = os.urandom(2 << 20)
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    put = httpx.put(f"{url}/v1/blobs", params={"digest": digest}, content=data, timeout=60)
    check(put.status_code in (200, 201), f"warm-up PUT answered {put.status_code}")
    check(httpx.get(f"{url}/v1/blobs/{digest}", timeout=60).content == data, "warm-up GET")


def warm_up_registry(url: str, repo: str = "bench/warmup") -> None:
    """The same for the registry: POST + PUT of a 2 MiB blob, then GET it."""
    data = os.urandom(2 << 20)
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    opened = httpx.post(f"{url}/v2/{repo}/blobs/uploads/", timeout=60)
    check(opened.status_code == 202, f"warm-up POST answered {opened.status_code}")
    location = opened.headers["Location"]
    put = httpx.put(f"{location}&digest={digest}", content=data, timeout=60)
    check(put.status_code == 201, f"warm-up PUT answered {put.status_code}")
    got = httpx.get(f"{url}/v2/{repo}/blobs/{digest}", timeout=60, follow_redirects=True)
    check(got.content == data, "warm-up GET")


class Registry(_Process):
    """``docker-registry serve config.yml`` on 127.0.0.1 with a filesystem store under ``root``
    (TOOLING.md §3.3: no cache, delete enabled, upload purging off, no debug listener)."""

    def __init__(self, root: Path) -> None:
        binary = registry_binary()
        if binary is None:
            raise SystemExit("docker-registry is not installed: apt-get install -y docker-registry")
        self.binary = binary
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        root.mkdir(parents=True, exist_ok=True)
        self.config = root / "config.yml"
        self.config.write_text(
            "version: 0.1\n"
            "log: {level: warn, accesslog: {disabled: true}}\n"
            "storage:\n"
            f"  filesystem: {{rootdirectory: {self.data}}}\n"
            "  delete: {enabled: true}\n"
            "  maintenance: {uploadpurging: {enabled: false}}\n"
            "http:\n"
            f"  addr: {LOOPBACK}:{self.port}\n"
            "  secret: local-dev-only-secret\n",
            encoding="utf-8",
        )

    def start(self) -> Self:
        proc = self._spawn([self.binary, "serve", self.config], self.root / "registry.log", None)
        _wait_ready(f"{self.url}/v2/", proc, self.root / "registry.log", 30)
        return self

    def restart_fresh(self) -> Self:
        """Stop, delete every stored blob, upload and repository, start again (0.1 s)."""
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)
        return self.start()

    def version(self) -> str:
        done = subprocess.run(
            [self.binary, "--version"], check=False, capture_output=True, text=True
        )
        return done.stdout.strip()


class OurServer(_Process):
    """``artifact-store --data DATA serve --host 127.0.0.1 --port P`` (uvicorn on uvloop and
    httptools with the project's own protocol class), or, with ``stock=True``, the same app under
    ``python -m uvicorn ... --http httptools --loop uvloop`` (uvicorn's own protocol)."""

    def __init__(self, root: Path, *, stock: bool = False, write: str | None = None) -> None:
        self.root = root
        self.stock = stock
        self.write = write
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        root.mkdir(parents=True, exist_ok=True)
        self.data = root / "data"
        self.log = root / "server.log"

    def command(self) -> list[str]:
        if self.stock:
            return [
                sys.executable,
                "-m",
                "uvicorn",
                "artifact_store.server.app:create_app",
                "--factory",
                "--host",
                LOOPBACK,
                "--port",
                str(self.port),
                "--http",
                "httptools",
                "--loop",
                "uvloop",
                "--no-access-log",
                "--timeout-graceful-shutdown",
                "10",
            ]
        script = Path(sys.executable).with_name("artifact-store")
        exe = str(script) if script.exists() else (shutil.which("artifact-store") or "")
        check(exe, "the artifact-store console script is not installed in this environment")
        port = str(self.port)
        return [exe, "--data", str(self.data), "serve", "--host", LOOPBACK, "--port", port]

    def start(self) -> Self:
        """Start on a FRESH data directory (the previous one, if any, is deleted)."""
        shutil.rmtree(self.data, ignore_errors=True)
        env = dict(os.environ)
        env["ARTIFACT_STORE_DATA"] = str(self.data)
        if self.write:  # the blobs where they would be, written in another mode (ADR-0017)
            env["ARTIFACT_STORE_BLOBSTORE_URL"] = (
                f"{self.data.absolute().as_uri()}?write={self.write}"
            )
        proc = self._spawn(self.command(), self.log, env)
        _wait_ready(f"{self.url}/healthz", proc, self.log, 120)
        return self

    def restart_fresh(self) -> Self:
        self.stop()
        return self.start()

    def stop(self) -> None:
        super().stop()

    def wipe(self) -> None:
        """Delete the data directory (the server must be stopped)."""
        check(self.proc is None, "wipe a running server")
        shutil.rmtree(self.data, ignore_errors=True)
