"""The ASGI application: ``create_app()`` opens the store in its lifespan and mounts the routes.

This first cut serves health, readiness and read-only package and blob GETs; the full /v1 API
(uploads, commits, tags, events stream) is issue #3.
"""

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse

from artifact_store.errors import ArtifactStoreError
from artifact_store.kernels.clock import format_time
from artifact_store.kernels.ranges import ByteRange
from artifact_store.manifest import manifest_to_json
from artifact_store.server.problems import problem_response, validation_problem
from artifact_store.server.settings import Settings
from artifact_store.store import ArtifactStore, PackageInfo, PackageQuery, event_to_json, open_store

__all__ = ["create_app"]


def _store(request: Request) -> ArtifactStore:
    store: ArtifactStore = request.app.state.store
    return store


def _package_json(info: PackageInfo) -> dict[str, object]:
    return {
        "digest": info.digest,
        "namespace": info.namespace,
        "name": info.name,
        "version": info.version,
        "kind": info.kind,
        "created": info.created,
        "producer": info.producer,
        "labels": info.labels,
        "subject": info.subject,
        "file_count": info.file_count,
        "total_size": info.total_size,
        "committed_at": format_time(info.committed_at),
        "committed_seq": info.committed_seq,
        "actor": info.actor,
        "tags": list(info.tags),
    }


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the store opens when the app starts and closes when it stops."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = await open_store(settings.store_config())
        try:
            yield
        finally:
            await app.state.store.close()

    app = FastAPI(title="artifact-store", version="0.1.0", lifespan=lifespan)
    app.add_exception_handler(ArtifactStoreError, problem_response)
    app.add_exception_handler(RequestValidationError, validation_problem)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(request: Request) -> dict[str, str]:
        """The database answers."""
        await _store(request).ping()
        return {"status": "ready"}

    @app.get("/v1/packages")
    async def list_packages(
        request: Request,
        prefix: str | None = None,
        kind: str | None = None,
        label: Annotated[list[str] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: str | None = None,
    ) -> dict[str, object]:
        """Search packages, newest first."""
        labels = dict(item.partition("=")[::2] for item in label or [])
        page = await _store(request).list_packages(
            PackageQuery(prefix=prefix, kind=kind, labels=labels, limit=limit, cursor=cursor)
        )
        return {"items": [_package_json(p) for p in page.items], "next_cursor": page.next_cursor}

    @app.get("/v1/refs/{ref:path}")
    async def get_ref(request: Request, ref: str) -> dict[str, object]:
        """A package by reference, with its manifest."""
        info, manifest, _ = await _store(request).get_manifest(ref)
        return {"package": _package_json(info), "manifest": manifest_to_json(manifest)}

    @app.get("/v1/events")
    async def get_events(
        request: Request,
        after: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, object]:
        """Events after a sequence number."""
        batch = await _store(request).events(after=after, limit=limit)
        return {"events": [event_to_json(e) for e in batch]}

    @app.get("/v1/blobs/{digest}", response_model=None)
    async def get_blob(request: Request, digest: str) -> StreamingResponse | JSONResponse:
        """A blob's bytes (a single ``Range`` is honoured)."""
        header = request.headers.get("range")
        byte_range = ByteRange.parse(header) if header else None
        record, chunks = await _store(request).open_blob(digest, byte_range)
        headers = {
            "ETag": f'"{record.digest}"',
            "Accept-Ranges": "bytes",
            "Repr-Digest": f"sha-256=:{_b64(record.sha256)}:",
        }
        if byte_range is None:
            headers["Content-Length"] = str(record.size)
            return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)
        start, stop = byte_range.resolve(record.size)
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{record.size}"
        headers["Content-Length"] = str(stop - start)
        return StreamingResponse(
            chunks, status_code=206, media_type="application/octet-stream", headers=headers
        )

    return app


def _b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")
