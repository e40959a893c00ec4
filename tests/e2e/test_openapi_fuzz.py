"""Property-based fuzzing of every /v1 operation from ``/openapi.json`` (schemathesis, in
process over ASGI): no 5xx, and every response conforms to its documented status, content type
and schema. Bounded (``max_examples`` per operation) so it runs in CI.

Needs ``schemathesis`` as a dev dependency (issue #3 acceptance). The SSE stream is left out:
it never ends, and the in-process transport waits for a complete response.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, settings, strategies
from tests.conftest import make_tree

from artifact_store.config import StoreConfig
from artifact_store.server.app import create_app
from artifact_store.server.settings import Settings
from artifact_store.store import open_store
from artifact_store.wire.batch import BLOB_BATCH

try:
    import schemathesis  # type: ignore[import-not-found, unused-ignore]
    from schemathesis.checks import (  # type: ignore[import-not-found, unused-ignore]
        not_a_server_error,
    )
    from schemathesis.specs.openapi.checks import (  # type: ignore[import-not-found, unused-ignore]
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    HAVE_SCHEMATHESIS = True
except ImportError:  # pragma: no cover - fails loudly below instead of skipping
    HAVE_SCHEMATHESIS = False

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MAX_EXAMPLES = int(os.environ.get("ARTIFACT_STORE_FUZZ_EXAMPLES", "25"))


async def _seed(data: Path, tree: Path) -> None:
    """One package with a tag, so generated requests can also hit existing things."""
    store = await open_store(StoreConfig.for_directory(data, create=True))
    try:
        await store.push_directory(
            tree,
            namespace="acme/ci",
            name="report",
            version="1.0",
            kind="report",
            tags=["latest"],
            actor="fuzz",
        )
    finally:
        await store.close()


def _fuzz_app() -> FastAPI:
    """The app under test, on a seeded data directory removed at exit.

    Built at import time: schemathesis parametrizes from the schema while collecting (its lazy
    ``from_fixture`` loader fails on pytest 9), and it runs the app's lifespan itself, once, on
    its own event loop thread.
    """
    root = Path(tempfile.mkdtemp(prefix="artifact-store-fuzz-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    tree = make_tree(root / "tree", {"README.md": b"# r\n", "data/a.bin": os.urandom(5000)})
    asyncio.run(_seed(root / "data", tree))
    # A long-poll may ask for 60 s; cap it so a generated `wait` costs nothing.
    return create_app(Settings(data=root / "data", long_poll_max=0.05, janitor_interval=3600))


if not HAVE_SCHEMATHESIS:

    def test_every_operation_conforms_and_never_fails() -> None:
        pytest.fail(
            "schemathesis is not installed: it is a dev dependency of this suite (issue #3)"
        )

else:
    # Raw-byte bodies (upload chunks, CBOR manifests) are generated as arbitrary bytes.
    for media in ("application/offset+octet-stream", "application/cbor"):
        schemathesis.openapi.media_type(media, strategies.binary(max_size=4096))
    # Blob batches: arbitrary bytes, or well-formed batches of blobs with their real digests.
    _item = strategies.binary(max_size=64).map(
        lambda d: f"sha256:{hashlib.sha256(d).hexdigest()} {len(d)}\n".encode() + d
    )
    schemathesis.openapi.media_type(
        BLOB_BATCH,
        strategies.one_of(
            strategies.binary(max_size=4096), strategies.lists(_item, max_size=5).map(b"".join)
        ),
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", _fuzz_app()).exclude(
        path="/v1/events/stream"
    )
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]

    @schema.parametrize()  # type: ignore[untyped-decorator, misc, unused-ignore]
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def test_every_operation_conforms_and_never_fails(case: Any) -> None:
        case.call_and_validate(checks=checks)
