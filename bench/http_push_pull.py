"""Benchmark of issue #3: push and pull of one 1 GiB blob over loopback HTTP with curl, ours vs
Debian's ``docker-registry`` (CNCF Distribution 2.8).

Per repetition, for each server (the order alternates between repetitions):

- **push**: registry: ``POST /v2/bench/big/blobs/uploads/`` (untimed, ~2 ms), then
  ``curl -T FILE "$LOCATION&digest=sha256:..."`` (201). Ours: ``curl -T FILE
  "/v1/blobs?digest=sha256:..."`` (201). Both stream the file; the time is curl's
  ``%{time_total}`` of the PUT. Every repetition starts each server on a FRESH data directory
  (our API has no blob DELETE; the registry is restarted on an empty root, 0.1 s), then
  ``sync`` and a 1 s pause (TOOLING.md §3.4), so the blob is really written each time. After
  each (re)start, one untimed 2 MiB PUT + GET of another blob warms the process up (a running
  server has paid its first-request costs, e.g. lazy imports, long before).
- **pull**: ``curl -o /dev/null URL``: the first GET right after the upload (cache state as
  the upload left it: ours drops a large blob's pages from the page cache once they are
  durable, so its copy is NOT cached, while the registry's buffered write is), then 3 more GETs
  with both copies warm.
  The target is judged on the warm GETs (same cache state for both; median over all
  repetitions); the first GET is shown for context.

Ratios: registry time / our time (> 1 = ours faster). Targets: push >= 3x, pull >= 1.5x.
The servers' CPU seconds per operation are read from /proc (the registry's Go sha256 has no
SHA-NI: about 3.8 CPU-s per GiB, TOOLING.md §2b).

With ``--stock`` our app is also timed under stock ``python -m uvicorn --http httptools --loop
uvloop``, i.e. without ``artifact-store serve``'s own protocol (``server/protocol.py``: request
bodies gathered without copies, GETs sent with ``sendfile``), to show what that protocol gains.
With ``--write drop-behind`` or ``--write cached`` (repeatable) our server is also timed with that
write mode in its blob store URL (``?write=drop-behind``: through the page cache, each flushed
range dropped; ``?write=cached``: the pages kept; the default is ``direct``, ADR-0018).

    uv run python bench/http_push_pull.py                 # 1 GiB, 5 repetitions
    uv run python bench/http_push_pull.py --size 256M --reps 3
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from _common import (
    GiB,
    Row,
    Stats,
    check,
    make_random_file,
    print_machine,
    print_rows,
    require_space,
    settle,
    size_arg,
    wait_for_quiet,
    warm,
    workdir,
)
from _registry import (
    Meter,
    Noise,
    OurServer,
    Registry,
    curl,
    registry_binary,
    sha256_file,
    warm_up_ours,
    warm_up_registry,
)

PUSH_TARGET = 3.0
PULL_TARGET = 1.5
REPO = "bench/big"


@dataclass
class Side:
    """The measurements of one server."""

    name: str
    put: list[float] = field(default_factory=list)
    get_first: list[float] = field(default_factory=list)
    get_warm: list[float] = field(default_factory=list)
    put_noise: Noise = field(default_factory=Noise)
    get_noise: Noise = field(default_factory=Noise)


def _registry_rep(reg: Registry, path: Path, digest: str, size: int, side: Side) -> None:
    reg.restart_fresh()
    warm_up_registry(reg.url)
    location = _location(reg.url)  # the POST, untimed
    settle()
    with side.put_noise.add(Meter(reg.pid)):
        code, seconds, _ = curl(f"{location}&digest={digest}", upload=path)
    check(code == 201, f"registry PUT answered {code}")
    side.put.append(seconds)
    _gets(f"{reg.url}/v2/{REPO}/blobs/{digest}", reg.pid, size, side)


def _location(base: str) -> str:
    """POST an upload session and return its Location (absolute, with ``?_state=``)."""
    answer = httpx.post(f"{base}/v2/{REPO}/blobs/uploads/", timeout=10)
    check(answer.status_code == 202, f"registry POST uploads answered {answer.status_code}")
    location = answer.headers["Location"]
    return location if location.startswith("http") else base + location


def _ours_rep(server: OurServer, path: Path, digest: str, size: int, side: Side) -> None:
    server.restart_fresh()
    warm_up_ours(server.url)
    settle()
    with side.put_noise.add(Meter(server.pid)):
        code, seconds, _ = curl(f"{server.url}/v1/blobs?digest={digest}", upload=path)
    check(code == 201, f"our PUT answered {code} (see {server.log})")
    side.put.append(seconds)
    _gets(f"{server.url}/v1/blobs/{digest}", server.pid, size, side)
    server.stop()
    server.wipe()


#: Warm GETs per repetition (a GET is cheap and its timing varies a lot from one to the next).
WARM_GETS = 3


def _gets(url: str, pid: int, size: int, side: Side) -> None:
    for n in range(1 + WARM_GETS):
        meter = Meter(pid)
        with meter:
            code, seconds, got = curl(url)
        check(code == 200 and got == size, f"GET {url} answered {code} with {got} bytes")
        if n == 0:
            side.get_first.append(seconds)
        else:
            side.get_warm.append(seconds)
            side.get_noise.add(meter)


def run(path: Path, reps: int, *, stock: bool = False, writes: Sequence[str] = ()) -> list[Row]:
    """Time PUT and GET of ``path`` against both servers, ``reps`` times each."""
    if registry_binary() is None:
        print("docker-registry not installed: skipping (apt-get install -y docker-registry)")
        return [Row("HTTP push/pull vs docker-registry", "skipped", "", "", "", None)]
    size = path.stat().st_size
    digest = sha256_file(path)
    warm(path)
    sides = [Side("registry"), Side("ours")]
    sides += [Side("ours-stock")] if stock else []
    sides += [Side(f"ours-{mode}") for mode in writes]
    with workdir("artifact-store-http-") as tmp:
        require_space(tmp, 2 * size, "the HTTP push/pull benchmark")
        with Registry(tmp / "registry") as reg:
            print(f"{reg.version()} on {reg.url}")
            servers = {
                "ours": OurServer(tmp / "ours"),
                "ours-stock": OurServer(tmp / "ours-stock", stock=True),
            }
            for mode in writes:
                servers[f"ours-{mode}"] = OurServer(tmp / f"ours-{mode}", write=mode)
            try:
                for rep in range(reps):
                    order = sides if rep % 2 == 0 else sides[::-1]
                    for side in order:
                        if side.name == "registry":
                            _registry_rep(reg, path, digest, size, side)
                            reg.stop()
                            shutil.rmtree(reg.data, ignore_errors=True)
                        else:
                            _ours_rep(servers[side.name], path, digest, size, side)
                    line = ", ".join(
                        f"{s.name} PUT {s.put[-1]:.3f} s GET {s.get_first[-1]:.3f}"
                        f" then {'/'.join(f'{t:.3f}' for t in s.get_warm[-WARM_GETS:])} s"
                        for s in sides
                    )
                    print(f"  rep {rep + 1}/{reps}: {line}")
            finally:
                for server in servers.values():
                    server.stop()
    return _report(sides, size, reps)


def _report(sides: list[Side], size: int, reps: int) -> list[Row]:
    reg, ours = sides[0], sides[1]
    gib = f"{size / GiB:g} GiB"
    print(f"\nHTTP push/pull of {size:,} bytes ({gib}), curl on loopback, {reps} reps:")
    for s in sides:
        for what, times in (("PUT", s.put), ("GET first", s.get_first), ("GET warm", s.get_warm)):
            st = Stats.of(times)
            print(f"  {s.name:<12} {what:<10} {st.seconds():<32} {st.throughput(size)}")
        print(
            f"  {s.name:<12} server CPU per PUT {s.put_noise.server_cpu:.2f} s,"
            f" per warm GET {s.get_noise.server_cpu:.2f} s;"
            f" others' CPU during PUT {s.put_noise}, during GET {s.get_noise}"
        )

    def row(label: str, mine: Side, what: str, target: float | None) -> Row:
        a = Stats.of(getattr(mine, what))
        b = Stats.of(getattr(reg, what))
        ratio = b.median / a.median
        noise = mine.put_noise if what == "put" else mine.get_noise
        other = reg.put_noise if what == "put" else reg.get_noise
        return Row(
            label,
            f"{a.median:.3f} s = {a.throughput(size)}",
            f"{b.median:.3f} s = {b.throughput(size)}",
            f"{ratio:.2f}x",
            f">= {target:.1f}x" if target else "",
            ratio >= target if target else None,
            f"{noise.others:.2f} / {other.others:.2f} cores",
        )

    rows = [
        row(f"HTTP push {gib}, curl PUT, vs docker-registry", ours, "put", PUSH_TARGET),
        row(f"HTTP pull {gib}, curl GET (warm), vs docker-registry", ours, "get_warm", PULL_TARGET),
        row("  context: first GET after the upload (ours not cached)", ours, "get_first", None),
        Row(
            "  context: server CPU-seconds per PUT / per warm GET",
            f"{ours.put_noise.server_cpu:.2f} / {ours.get_noise.server_cpu:.2f} s",
            f"{reg.put_noise.server_cpu:.2f} / {reg.get_noise.server_cpu:.2f} s",
            "",
            "",
            None,
        ),
    ]
    for side in sides[2:]:
        label = "stock uvicorn protocol" if side.name == "ours-stock" else ""
        label = label or f"blobs ?write={side.name.removeprefix('ours-')}"
        rows.append(row(f"  context: {label}: push", side, "put", None))
        rows.append(row(f"  context: {label}: pull (warm)", side, "get_warm", None))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=size_arg, default=GiB, help="bytes (1G, 256M, ...)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions (>= 3)")
    parser.add_argument("--file", type=Path, help="use this file instead of a random one")
    parser.add_argument(
        "--stock",
        action="store_true",
        help="also time our app under stock uvicorn (without serve's own protocol)",
    )
    parser.add_argument(
        "--write",
        action="append",
        default=[],
        choices=["drop-behind", "cached", "direct"],
        help="also time our server with this ?write= mode in its blob store URL (repeatable)",
    )
    parser.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS")
    args = parser.parse_args()
    print_machine()
    if args.wait_quiet:
        wait_for_quiet(args.wait_quiet)
    if args.file:
        rows = run(args.file.resolve(), args.reps, stock=args.stock, writes=args.write)
    else:
        with workdir() as tmp:
            require_space(tmp, 3 * args.size, "the HTTP push/pull benchmark")
            path = make_random_file(tmp / "big.bin", args.size)
            rows = run(path, args.reps, stock=args.stock, writes=args.write)
    print_rows(rows, "HTTP push/pull (issue #3)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
