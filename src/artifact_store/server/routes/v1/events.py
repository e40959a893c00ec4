"""``/v1/events``: the event log, by long-poll and as a Server-Sent Events stream.

Both read the log table in ``seq`` order, so a follower that resumes after the last ``seq`` it
saw (``after=``, or the SSE ``Last-Event-ID`` its browser or SDK sends back) never misses or
repeats an event (blueprint invariant: the log is the source of truth).

Theory of operation of the stream: one loop per subscriber asks the store for events after the
last one sent, waiting at most one second at a time; it writes each batch as SSE frames
(``id:`` seq, ``event:`` type, ``data:`` the event JSON on one line), a ``: heartbeat`` comment
when nothing was sent for ``sse_heartbeat`` seconds, and ends when the client disconnects
(:func:`streaming.run_until_disconnect` cancels it) or when the server starts shutting down
(``app.state.stopping``, checked between waits), so a shutdown never waits on a subscriber.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from artifact_store.errors import InvalidInputError
from artifact_store.kernels.limits import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from artifact_store.server.deps import SettingsDep, StoreDep
from artifact_store.server.schemas import EventOut, EventsOut, problem_responses
from artifact_store.server.streaming import StreamResponse
from artifact_store.store import ArtifactStore, event_to_json
from artifact_store.wire import paths
from artifact_store.wire.headers import EVENT_STREAM, LAST_EVENT_ID

__all__ = ["router", "sse_frames"]

router = APIRouter(prefix=paths.EVENTS, tags=["events"])

#: Events fetched per read of the log while streaming.
_BATCH = 500
#: Longest single wait, so shutdown and heartbeats are noticed promptly.
_SLICE = 1.0
#: The reconnection delay (ms) an EventSource client is told to use.
_RETRY_MS = 2000


@router.get("", response_model=EventsOut, responses=problem_responses())
async def get_events(
    store: StoreDep,
    settings: SettingsDep,
    after: Annotated[int, Query(ge=0, description="Return events with seq > after.")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    wait: Annotated[
        float, Query(ge=0, le=60, description="Seconds to wait for an event (long-poll).")
    ] = 0,
) -> EventsOut:
    """Events after ``after``; with ``wait``, block until one exists or the time is up."""
    wait = min(wait, settings.long_poll_max)
    if wait > 0:
        batch = await store.wait_events(after=after, limit=limit, wait=wait)
    else:
        batch = await store.events(after=after, limit=limit)
    return EventsOut(
        events=[EventOut.model_validate(event_to_json(e)) for e in batch],
        last_seq=batch[-1].seq if batch else after,
    )


def sse_frames(events: list[dict[str, object]]) -> bytes:
    """The SSE frames of a batch of event JSON objects (WHATWG HTML §9.2.6)."""
    lines = []
    for event in events:
        data = json.dumps(event, separators=(",", ":"), ensure_ascii=True)  # one line
        lines.append(f"id: {event['seq']}\nevent: {event['type']}\ndata: {data}\n\n")
    return "".join(lines).encode("ascii")


async def _stream(
    store: ArtifactStore, after: int, heartbeat: float, stopping: asyncio.Event
) -> AsyncIterator[bytes]:
    yield f"retry: {_RETRY_MS}\n\n".encode()
    quiet_since = time.monotonic()
    while not stopping.is_set():
        until_beat = quiet_since + heartbeat - time.monotonic()
        if until_beat <= 0:
            yield b": heartbeat\n\n"
            quiet_since = time.monotonic()
            continue
        batch = await store.wait_events(after=after, limit=_BATCH, wait=min(_SLICE, until_beat))
        if batch:
            yield sse_frames([event_to_json(e) for e in batch])
            after = batch[-1].seq
            quiet_since = time.monotonic()


def _resume_point(after: int, last_event_id: str | None) -> int:
    """``Last-Event-ID`` (sent by a reconnecting client) wins over ``after``."""
    if last_event_id is None or not last_event_id.strip():
        return after
    text = last_event_id.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise InvalidInputError(f"{LAST_EVENT_ID} must be an event seq, got {text[:40]!r}")
    return int(text)


@router.get(
    "/stream",
    response_class=Response,
    responses={
        200: {
            "description": "Server-Sent Events: `id:` seq, `event:` type, `data:` Event JSON",
            "content": {EVENT_STREAM: {"schema": {"type": "string"}}},
        },
        **problem_responses(),
    },
)
async def stream_events(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    after: Annotated[int, Query(ge=0, description="Start after this seq.")] = 0,
    last_event_id: Annotated[
        str | None, Header(alias=LAST_EVENT_ID, description="Resume after this seq (wins).")
    ] = None,
) -> Response:
    """Every event after the resume point, then each new one as it is appended."""
    start = _resume_point(after, last_event_id)
    stopping: asyncio.Event = request.app.state.stopping
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamResponse(
        _stream(store, start, settings.sse_heartbeat, stopping),
        headers=headers,
        media_type=EVENT_STREAM,
    )
