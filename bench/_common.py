"""Shared helpers of the benchmark scripts: test files, timing, statistics, the summary table.

Not part of the library. Every script in ``bench/`` imports this module by its bare name (the
scripts run as ``uv run python bench/<script>.py``, so ``bench/`` is on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import platform
import resource
import shutil
import ssl
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
#: 1 GB in the sense of TOOLING.md: throughputs are reported in GB/s = 10^9 bytes/s.
GB = 10**9
CHUNK = MiB


@dataclass(frozen=True, slots=True)
class Stats:
    """Repeated measurements of one quantity (seconds, events/s, ...)."""

    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        if not samples:
            raise ValueError("no samples")
        return cls(tuple(samples))

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    @property
    def n(self) -> int:
        return len(self.samples)

    def seconds(self) -> str:
        """``0.776 s (0.751-0.802, n=5)``."""
        return f"{self.median:.3f} s ({self.min:.3f}-{self.max:.3f}, n={self.n})"

    def throughput(self, size: int) -> str:
        """Bytes per second of a duration, ``1.38 GB/s (1.27-1.41)`` (fastest run is the max)."""
        low, high = size / self.max / GB, size / self.min / GB
        return f"{size / self.median / GB:.2f} GB/s ({low:.2f}-{high:.2f})"

    def rate(self, unit: str) -> str:
        """A rate already in ``unit`` per second: ``61,234 ev/s (58,000-63,100)``."""
        return f"{self.median:,.0f} {unit} ({self.min:,.0f}-{self.max:,.0f})"


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the summary table."""

    benchmark: str
    ours: str
    reference: str
    ratio: str
    target: str
    passed: bool | None  # None: no target, reported for information
    others: str = ""  # cores used by other processes while it was measured (CpuMeter)

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "info"}[self.passed]


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine since boot, in clock ticks."""
    with open("/proc/stat", encoding="utf-8") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _own_cpu() -> float:
    """CPU seconds used by this process and its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class CpuMeter:
    """How busy the machine was while a benchmark ran, and how much of that was someone else.

    ``others`` is the average number of cores used by OTHER processes (machine-wide busy time
    minus this process's and its children's CPU time, over the wall time): the noise indicator
    of a shared machine.
    """

    def __enter__(self) -> CpuMeter:
        self._busy, self._total = _cpu_jiffies()
        self._own = _own_cpu()
        self._wall = time.perf_counter()
        self.others = self.ours = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        busy, _ = _cpu_jiffies()
        wall = time.perf_counter() - self._wall
        tick = os.sysconf("SC_CLK_TCK")
        machine_busy = (busy - self._busy) / tick
        self.ours = (_own_cpu() - self._own) / wall
        self.others = max(0.0, machine_busy / wall - self.ours)

    def __str__(self) -> str:
        return (
            f"CPU while measuring: this benchmark {self.ours:.2f} cores, "
            f"other processes {self.others:.2f} of {os.cpu_count()} cores"
        )


def wait_for_quiet(max_wait: float, *, threshold: float = 0.3, window: float = 3.0) -> float:
    """Wait (at most ``max_wait`` seconds) until other processes use under ``threshold`` cores
    over a ``window``-second sample; returns the last sample. On a shared machine this starts
    a benchmark in a quiet moment; it cannot keep the machine quiet afterwards."""
    deadline = time.monotonic() + max_wait
    while True:
        with CpuMeter() as cpu:
            time.sleep(window)
        if cpu.others < threshold or time.monotonic() >= deadline:
            state = "quiet" if cpu.others < threshold else f"still busy after {max_wait:.0f} s"
            print(f"[machine {state}: other processes used {cpu.others:.2f} cores]")
            return cpu.others
        time.sleep(1.0)


class ThreadCpu:
    """Per-thread CPU seconds of this process, by Python thread name, sampled every
    ``interval`` from ``/proc/self/task/*/stat`` (a thread that ends loses at most its last
    interval). cProfile sees only the thread it runs in; this shows where the worker threads'
    time goes (``asyncio_N`` are ``asyncio.to_thread`` workers)."""

    def __init__(self, interval: float = 0.05) -> None:
        self._interval = interval
        self._cpu: dict[int, tuple[str, float]] = {}
        self._start: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    @staticmethod
    def _read(tid: int) -> float | None:
        try:
            with open(f"/proc/self/task/{tid}/stat", encoding="utf-8") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _sample(self) -> None:
        names = {t.native_id: t.name for t in threading.enumerate()}
        for entry in os.listdir("/proc/self/task"):
            tid = int(entry)
            cpu = self._read(tid)
            if cpu is None:
                continue
            name = names.get(tid) or self._cpu.get(tid, (f"thread {tid}", 0.0))[0]
            self._cpu[tid] = (name, cpu)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def __enter__(self) -> ThreadCpu:
        self._sample()
        self._start = {tid: cpu for tid, (_, cpu) in self._cpu.items()}
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def totals(self) -> dict[str, float]:
        """CPU seconds per thread name while the block ran, largest first."""
        out: dict[str, float] = {}
        for tid, (name, cpu) in self._cpu.items():
            if name != "bench-sampler":
                out[name] = out.get(name, 0.0) + cpu - self._start.get(tid, 0.0)
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def print_rows(rows: Sequence[Row], title: str | None = None) -> None:
    """Print rows as a Markdown table (pasted as is into BENCHMARKS.md)."""
    if title:
        print(f"\n## {title}\n")
    header = ("benchmark", "ours", "reference", "ratio", "target", "result", "others' CPU")
    lines = [
        header,
        *((r.benchmark, r.ours, r.reference, r.ratio, r.target, r.verdict, r.others) for r in rows),
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def fmt(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    print(fmt(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in lines[1:]:
        print(fmt(line))


@contextlib.contextmanager
def workdir(prefix: str = "artifact-store-bench-") -> Iterator[Path]:
    """A fresh temporary directory (on the /tmp filesystem), removed with everything in it."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.sync()


def check(condition: object, message: str) -> None:
    """Stop the benchmark with ``message`` unless ``condition`` holds (asserts can be disabled)."""
    if not condition:
        raise SystemExit(f"benchmark check failed: {message}")


def require_space(directory: Path, needed: int, what: str) -> None:
    """Exit with a clear message when ``directory``'s filesystem has less than ``needed`` free
    (plus a 1 GiB margin)."""
    free = shutil.disk_usage(directory).free
    if free < needed + GiB:
        raise SystemExit(
            f"{what} needs {(needed + GiB) / GiB:.1f} GiB free in {directory}, "
            f"only {free / GiB:.1f} GiB available"
        )


def make_random_file(path: Path, size: int) -> Path:
    """Write ``size`` bytes of ``os.urandom`` data to ``path`` and fsync it."""
    started = time.perf_counter()
    with path.open("wb", buffering=0) as out:
        left = size
        while left:
            n = min(left, 4 * MiB)
            out.write(os.urandom(n))
            left -= n
        os.fsync(out.fileno())
    print(f"wrote {size:,} random bytes to {path} in {time.perf_counter() - started:.1f} s")
    return path


def warm(path: Path) -> None:
    """Read ``path`` once so the page cache holds it (every timed read is then warm)."""
    buf = bytearray(CHUNK)
    with path.open("rb", buffering=0) as f:
        while f.readinto(buf):
            pass


def timed_run(cmd: Sequence[str | Path], *, capture: bool = False) -> tuple[float, str]:
    """Run ``cmd`` (check=True); returns its wall time in seconds and, with ``capture``, its
    stdout."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(c) for c in cmd],
        check=True,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        text=True,
    )
    return time.perf_counter() - started, done.stdout or ""


def settle(pause: float = 1.0) -> None:
    """``sync`` and wait a moment, so one run's write-back does not land in the next one's
    timing (the ``--prepare "sync; sleep 1"`` of TOOLING.md §3.4)."""
    os.sync()
    time.sleep(pause)


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError), open("/proc/meminfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) * KiB / GiB:.1f} GiB"
                break
    flags = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                flags = " ".join(x for x in ("sha_ni", "avx2", "avx512f") if x in have)
                break
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": f"{model} ({flags})" if flags else model,
        "ram": mem,
        "filesystem": filesystem_of(Path(tempfile.gettempdir())),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "tree": _git_state(),
    }


def _git_state() -> str:
    """The commit measured, and whether the working tree differed from it."""
    repo = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "log", "-1", "--format=%h %s"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--", "src"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    if not dirty:
        return head
    return f"{head} + {len(dirty)} uncommitted change(s) under src/ (src fingerprint {_src_hash()})"


def _src_hash() -> str:
    """A short sha256 over every ``src/**/*.py`` (path and content): which code was measured."""
    root = Path(__file__).resolve().parent.parent / "src"
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def filesystem_of(path: Path) -> str:
    """``ext4 on /dev/vda (/), rw,relatime,discard``: the mount holding ``path``."""
    best = ("", "?", "?", "?")
    target = str(path.resolve())
    with contextlib.suppress(OSError), open("/proc/mounts", encoding="utf-8") as f:
        for line in f:
            device, mount, fstype, options, *_ = line.split()
            inside = target == mount or target.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) > len(best[0]):
                best = (mount, device, fstype, options)
    mount, device, fstype, options = best
    return f"{fstype} on {device} ({mount}), {options}"


def print_machine() -> None:
    """Print :func:`machine` as ``key: value`` lines."""
    for key, value in machine().items():
        print(f"{key:>10}: {value}")


def size_arg(text: str) -> int:
    """``1073741824``, ``1G``, ``256M`` or ``64K`` (binary units) as a byte count."""
    units = {"K": KiB, "M": MiB, "G": GiB}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)
