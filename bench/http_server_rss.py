"""Acceptance of issue #3: "Server peak RSS during a 4 GiB upload stays under 200 MiB".

Our server (``artifact-store --data DIR serve``, uvicorn) runs as a subprocess on a fresh data
directory, once per upload method:

a. ``curl -T FILE PUT /v1/blobs?digest=sha256:...`` (single request, body streamed);
b. the SDK's resumable chunked upload, ``Client(url).upload_file(path, digest=...)``: a
   session, ``PATCH`` chunks of the SDK's default size with ``Upload-Checksum``, then the
   finalize ``PUT``.

The server's memory is read from ``/proc/<pid>/status``: ``VmRSS`` sampled every 50 ms, and
``VmHWM`` (the kernel's own peak RSS of the process since it started) at the end, which also
catches spikes between samples. Not ``ru_maxrss`` of a reaped child: on Linux that includes
the memory of the parent it was forked from. The SDK upload's client runs in this process and
is not counted.

    uv run python bench/http_server_rss.py               # 4 GiB (needs ~9 GB free in /tmp)
    uv run python bench/http_server_rss.py --size 1G     # quick run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _common import (
    GiB,
    MiB,
    Row,
    check,
    make_random_file,
    print_machine,
    print_rows,
    require_space,
    settle,
    size_arg,
    wait_for_quiet,
    workdir,
)
from _registry import Meter, OurServer, RssSampler, curl, proc_status_kib, sha256_file
from artifact_store.client import Client
from artifact_store.client._upload import DEFAULT_CHUNK_SIZE

LIMIT = 200 * MiB


def _measure(tmp: Path, name: str, path: Path, digest: str) -> Row:
    size = path.stat().st_size
    with OurServer(tmp / name) as server:
        server.start()
        idle = (proc_status_kib(server.pid, "VmRSS") or 0) * 1024
        settle()
        with RssSampler(server.pid) as rss, Meter(server.pid) as meter:
            if name == "curl":
                code, _, _ = curl(f"{server.url}/v1/blobs?digest={digest}", upload=path)
                check(code == 201, f"our PUT answered {code} (see {server.log})")
            else:
                with Client(server.url, cache_dir=tmp / "cache") as client:
                    info = client.upload_file(path, digest=digest)
                check(info.size == size, "the SDK upload stored another size")
        hwm = (proc_status_kib(server.pid, "VmHWM") or 0) * 1024
        server.stop()
        server.wipe()
    peak = max(hwm, rss.peak_kib * 1024)
    what = {
        "curl": "curl PUT /v1/blobs?digest= (one request)",
        "sdk": f"SDK Client.upload_file ({DEFAULT_CHUNK_SIZE >> 20} MiB PATCH chunks)",
    }[name]
    print(
        f"  {what}: {meter.wall:.1f} s ({size / meter.wall / 1e9:.2f} GB/s); server RSS idle"
        f" {idle / MiB:.1f} MiB, sampled peak {rss.peak_kib / 1024:.1f} MiB"
        f" ({rss.samples} samples), VmHWM {hwm / MiB:.1f} MiB; server CPU"
        f" {meter.server_cpu:.1f} s; others' CPU {meter.others:.2f} cores"
    )
    return Row(
        f"server peak RSS, {size / GiB:g} GiB upload: {what}",
        f"{peak / MiB:.1f} MiB (idle {idle / MiB:.0f}; {meter.wall:.1f} s)",
        "",
        "",
        "< 200 MiB",
        peak < LIMIT,
        f"{meter.others:.2f} cores",
    )


def run(path: Path) -> list[Row]:
    """Upload ``path`` to a fresh server with curl, then with the SDK; the peak RSS of each."""
    size = path.stat().st_size
    started = time.perf_counter()
    digest = sha256_file(path)
    print(f"{path.name}: {size:,} bytes, {digest} ({time.perf_counter() - started:.1f} s)")
    with workdir("artifact-store-rss-") as tmp:
        require_space(tmp, size, "the server RSS benchmark")
        return [_measure(tmp, name, path, digest) for name in ("curl", "sdk")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=size_arg, default=4 * GiB, help="bytes (4G, 1G, ...)")
    parser.add_argument("--file", type=Path, help="use this file instead of a random one")
    parser.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS")
    args = parser.parse_args()
    print_machine()
    if args.wait_quiet:
        wait_for_quiet(args.wait_quiet)
    if args.file:
        rows = run(args.file.resolve())
    else:
        with workdir() as tmp:
            require_space(tmp, 2 * args.size, "the server RSS benchmark")
            rows = run(make_random_file(tmp / "big.bin", args.size))
    print_rows(rows, "HTTP server peak RSS (issue #3 acceptance)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
