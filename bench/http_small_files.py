"""Benchmark of issue #3: an artifact of 100 files x 4 KiB pushed over loopback HTTP, our SDK
vs the same files pushed to Debian's ``docker-registry`` (CNCF Distribution 2.8) as blobs plus
one OCI image manifest.

- **Ours**: ``await AsyncClient(url).push_directory(root, "bench/small@<rep>", kind="bench")``
  with the SDK's defaults (``parallel=4``): it hashes every file (sha256 + blake3), asks the
  server for the version (404) and for the missing blobs, PUTs each blob
  (``PUT /v1/blobs?digest=``, 4 at a time) and commits the CBOR manifest. The whole call is
  timed; the client object is created before the clock starts. Fresh server data directory
  per repetition (the server is restarted; start-up is not timed).
- **Registry**: one ``httpx.AsyncClient`` (HTTP/1.1 keep-alive, like the SDK), the same
  parallelism (4): read and sha256 each file, ``POST /v2/bench/small/blobs/uploads/`` then
  ``PUT <Location>&digest=`` with the 4 KiB body, for the 100 files and the OCI empty config
  blob ``{}``; then ``PUT /v2/bench/small/manifests/v1`` with an
  ``application/vnd.oci.image.manifest.v1+json`` manifest (config = the empty descriptor, one
  layer per file with ``org.opencontainers.image.title``). No ``HEAD`` before each blob (oras
  does one): this favours the registry slightly. Fresh registry root per repetition.

After each (re)start, both servers get one untimed warm-up push of 4 other files (another
package / repository), so the timed push does not pay the process's first-request costs.

Ratio = registry time / our time; target >= 1.0x. ``sync`` and a 1 s pause before each timed
push. The two contenders alternate which goes first.

    uv run python bench/http_small_files.py               # 100 x 4 KiB, 7 repetitions
    uv run python bench/http_small_files.py --files 1000 --reps 3
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import httpx

from _common import (
    KiB,
    Row,
    Stats,
    check,
    print_machine,
    print_rows,
    settle,
    size_arg,
    wait_for_quiet,
    workdir,
)
from _registry import Meter, Noise, OurServer, Registry, registry_binary
from artifact_store.client import AsyncClient

TARGET = 1.0
PARALLEL = 4  # AsyncClient's default ``parallel`` (client/aio.py)
REPO = "bench/small"
WARM_REPO = "bench/warmup"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
LAYER_TYPE = "application/octet-stream"
EMPTY_CONFIG = {
    "mediaType": "application/vnd.oci.empty.v1+json",
    "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    "size": 2,
}


def make_tree(root: Path, files: int, size: int) -> Path:
    """``files`` files of ``size`` random bytes: ``root/f0000.bin`` ..."""
    root.mkdir(parents=True)
    for i in range(files):
        (root / f"f{i:04d}.bin").write_bytes(os.urandom(size))
    os.sync()
    return root


async def push_to_registry(
    http: httpx.AsyncClient, root: Path, *, parallel: int = PARALLEL, repo: str = REPO
) -> str:
    """Push every file of ``root`` as a blob, the empty config blob, then one OCI manifest
    (tag ``v1``) through ``http`` (based at the registry); returns the manifest digest."""
    limit = asyncio.Semaphore(parallel)

    async def blob(data: bytes) -> str:
        digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
        async with limit:
            opened = await http.post(f"/v2/{repo}/blobs/uploads/")
            check(opened.status_code == 202, f"registry POST answered {opened.status_code}")
            location = opened.headers["Location"]
            sep = "&" if "?" in location else "?"
            done = await http.put(
                f"{location}{sep}digest={digest}",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
            check(done.status_code == 201, f"registry blob PUT answered {done.status_code}")
        return digest

    async def layer(path: Path) -> dict[str, object]:
        data = await asyncio.to_thread(path.read_bytes)
        return {
            "mediaType": LAYER_TYPE,
            "digest": await blob(data),
            "size": len(data),
            "annotations": {"org.opencontainers.image.title": path.name},
        }

    paths = await asyncio.to_thread(lambda: sorted(p for p in root.iterdir() if p.is_file()))
    async with asyncio.TaskGroup() as group:
        config = group.create_task(blob(b"{}"))
        layers = [group.create_task(layer(p)) for p in paths]
    check(config.result() == EMPTY_CONFIG["digest"], "the empty config digest differs")
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": EMPTY_CONFIG,
        "layers": [t.result() for t in layers],
    }
    answer = await http.put(
        f"/v2/{repo}/manifests/v1",
        content=json.dumps(manifest, separators=(",", ":")).encode(),
        headers={"Content-Type": OCI_MANIFEST},
    )
    check(answer.status_code == 201, f"manifest PUT answered {answer.status_code}")
    return answer.headers.get("Docker-Content-Digest", "")


async def time_registry(base: str, root: Path, *, repo: str = REPO) -> float:
    """Seconds of :func:`push_to_registry`; the client is created before the clock starts."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        started = time.perf_counter()
        digest = await push_to_registry(http, root, repo=repo)
        seconds = time.perf_counter() - started
    check(digest.startswith("sha256:"), "the registry did not answer a manifest digest")
    return seconds


async def time_ours(url: str, root: Path, version: str, cache: Path, files: int) -> float:
    """Seconds of ``push_directory``; the client is created before the clock starts."""
    async with AsyncClient(url, cache_dir=cache) as client:
        started = time.perf_counter()
        name = "warmup" if version == "warm" else "small"
        result = await client.push_directory(root, f"bench/{name}@{version}", kind="bench")
        seconds = time.perf_counter() - started
    check(result.created, "the push was deduplicated: the server data dir was not fresh")
    check(result.package.file_count == files, f"{result.package.file_count} files committed")
    return seconds


def run(reps: int, *, files: int = 100, size: int = 4 * KiB) -> list[Row]:
    """Time both pushes ``reps`` times each."""
    label = f"HTTP push {files} files x {size // KiB} KiB"
    if registry_binary() is None:
        print("docker-registry not installed: skipping (apt-get install -y docker-registry)")
        return [Row(f"{label} vs docker-registry", "skipped", "", "", "", None)]
    ours: list[float] = []
    theirs: list[float] = []
    ours_noise, theirs_noise = Noise(), Noise()
    with workdir("artifact-store-small-") as tmp:
        root = make_tree(tmp / "tree", files, size)
        warm = make_tree(tmp / "warm", 4, size)
        with Registry(tmp / "registry") as reg, OurServer(tmp / "ours") as server:
            for rep in range(reps):
                for who in ("registry", "ours") if rep % 2 == 0 else ("ours", "registry"):
                    if who == "registry":
                        reg.restart_fresh()
                        asyncio.run(time_registry(reg.url, warm, repo=WARM_REPO))
                        settle()
                        with theirs_noise.add(Meter(reg.pid)):
                            theirs.append(asyncio.run(time_registry(reg.url, root)))
                    else:
                        server.restart_fresh()
                        asyncio.run(time_ours(server.url, warm, "warm", tmp / "cache", 4))
                        settle()
                        with ours_noise.add(Meter(server.pid)):
                            cache = tmp / "cache"
                            ours.append(
                                asyncio.run(time_ours(server.url, root, str(rep), cache, files))
                            )
                        server.stop()
                        server.wipe()
                print(f"  rep {rep + 1}/{reps}: registry {theirs[-1]:.3f} s, ours {ours[-1]:.3f} s")
    a, b = Stats.of(ours), Stats.of(theirs)
    ratio = b.median / a.median
    print(f"\n{label}, {reps} reps (wall time of the whole push, client included):")
    print(f"  registry (httpx, {PARALLEL} parallel, POST+PUT per blob + manifest) {b.seconds()}")
    print(f"  ours (AsyncClient.push_directory, parallel={PARALLEL})           {a.seconds()}")
    for name, noise in (("registry", theirs_noise), ("ours", ours_noise)):
        print(
            f"  {name:<8} server CPU {noise.server_cpu:.3f} s per push,"
            f" client CPU {Stats.of([m.client * m.wall for m in noise.meters]).median:.3f} s,"
            f" others' CPU {noise}"
        )
    print(f"ratio registry/ours = {ratio:.2f}x, target >= {TARGET:.1f}x")
    return [
        Row(
            f"{label}: SDK push_directory vs registry blobs + OCI manifest",
            a.seconds(),
            b.seconds(),
            f"{ratio:.2f}x",
            f">= {TARGET:.1f}x",
            ratio >= TARGET,
            f"{ours_noise.others:.2f} / {theirs_noise.others:.2f} cores",
        ),
        Row(
            "  context: server CPU-seconds per push",
            f"{ours_noise.server_cpu:.3f} s",
            f"{theirs_noise.server_cpu:.3f} s",
            "",
            "",
            None,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100, help="number of files")
    parser.add_argument("--file-size", type=size_arg, default=4 * KiB, help="bytes per file")
    parser.add_argument("--reps", type=int, default=7, help="repetitions (>= 3)")
    parser.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS")
    args = parser.parse_args()
    print_machine()
    if args.wait_quiet:
        wait_for_quiet(args.wait_quiet)
    rows = run(args.reps, files=args.files, size=args.file_size)
    print_rows(rows, "HTTP small files (issue #3)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
