"""Run the benchmarks of issues #2 and #3 in one go and print one summary table (``make bench``).

The digest, push, HTTP push/pull and server-RSS benchmarks share ONE random test file
(``--size``, default 1 GiB) created in a temporary directory on the /tmp filesystem and deleted
at the end; the replay benchmark builds its own log of ``--events`` events on SQLite and
PostgreSQL. The HTTP benchmarks of issue #3 (against ``docker-registry``, skipped when it is not
installed) start their servers on free 127.0.0.1 ports; with ``--big`` the server-RSS acceptance
uploads a 4 GiB file of its own, otherwise the shared file.

    uv run python bench/run_all.py                       # the BENCHMARKS.md run
    uv run python bench/run_all.py --size 256M --events 20000 --reps 3   # a quick check
    uv run python bench/run_all.py --big                 # plus the 4 GiB CLI push (~9 GB free)
    uv run python bench/run_all.py --wait-quiet 600      # start each one in an idle moment
    uv run python bench/run_all.py --no-http             # issue #2's benchmarks only
"""

from __future__ import annotations

import argparse
import os
import time

import digest
import http_push_pull
import http_server_rss
import http_small_files
import push
import replay
from _common import (
    GiB,
    Row,
    make_random_file,
    print_machine,
    print_rows,
    require_space,
    size_arg,
    wait_for_quiet,
    workdir,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=size_arg, default=GiB, help="test file bytes (1G, 256M)")
    parser.add_argument("--events", type=int, default=100_000, help="events for the replay")
    parser.add_argument("--reps", type=int, default=5, help="repetitions of digest and push")
    parser.add_argument("--replay-reps", type=int, default=3, help="rebuilds per backend")
    parser.add_argument(
        "--big",
        action="store_true",
        help="also push 4 GiB through the CLI and upload 4 GiB to the server (RSS)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="replay on SQLite only")
    parser.add_argument("--no-http", action="store_true", help="skip issue #3's HTTP benchmarks")
    parser.add_argument("--small-reps", type=int, default=7, help="reps of the 100-file push")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before each benchmark, wait up to SECONDS for the machine to be idle",
    )
    args = parser.parse_args()

    started = time.perf_counter()
    print_machine()
    rows: list[Row] = []
    with workdir() as tmp:
        require_space(tmp, 3 * args.size, "the benchmarks")
        path = make_random_file(tmp / "big.bin", args.size)
        print("\n# 1. dual digest")
        if args.wait_quiet:
            wait_for_quiet(args.wait_quiet)
        rows += digest.run(path, args.reps)
        print("\n# 2. local push")
        if args.wait_quiet:
            wait_for_quiet(args.wait_quiet)
        rows += push.run(path, args.reps, big=args.big)
        if not args.no_http:
            print("\n# issue #3: HTTP push/pull vs docker-registry")
            if args.wait_quiet:
                wait_for_quiet(args.wait_quiet)
            rows += http_push_pull.run(path, args.reps)
            if not args.big:
                print("\n# issue #3: server peak RSS during an upload")
                rows += http_server_rss.run(path)
    print("\n# 3. rebuild-views")
    if args.wait_quiet:
        wait_for_quiet(args.wait_quiet)
    rows += replay.run(args.events, args.replay_reps, postgres=not args.no_postgres)
    if not args.no_http:
        print("\n# issue #3: HTTP push of 100 files x 4 KiB vs docker-registry")
        if args.wait_quiet:
            wait_for_quiet(args.wait_quiet)
        rows += http_small_files.run(args.small_reps)
        if args.big:
            print("\n# issue #3: server peak RSS during a 4 GiB upload")
            with workdir() as tmp:
                require_space(tmp, 2 * 4 * GiB, "the 4 GiB server RSS benchmark")
                rows += http_server_rss.run(make_random_file(tmp / "big4.bin", 4 * GiB))

    print_rows(rows, "summary (median of the repetitions; ranges are min-max)")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nall benchmarks took {time.perf_counter() - started:.0f} s; load average now {load}")


if __name__ == "__main__":
    main()
