"""The SSE event stream against a real uvicorn process: delivery, resume with Last-Event-ID
during a burst (every event exactly once, in order), heartbeats, and a prompt shutdown."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.conftest import make_tree
from tests.e2e.test_http_support import LiveServer, live_server, push, serve_app

from artifact_store.config import StoreConfig
from artifact_store.server.settings import Settings
from artifact_store.store import open_store

pytestmark = pytest.mark.e2e

FAST = {"ARTIFACT_STORE_SSE_HEARTBEAT": "0.3"}
FILES = {"a.txt": b"a", "b.txt": b"b"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the module's tests (a start costs seconds); each test reads from the
    log head it finds."""
    root = tmp_path_factory.mktemp("sse")
    with live_server(root / "data", root / "server.log", FAST) as running:
        yield running


@dataclass
class SseEvent:
    id: str | None
    event: str | None
    data: str


async def sse_events(
    response: httpx.Response, comments: list[str] | None = None
) -> AsyncIterator[SseEvent]:
    """Parse a ``text/event-stream`` body (WHATWG HTML §9.2.6, the subset the server writes)."""
    fields: dict[str, str] = {}
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield SseEvent(fields.get("id"), fields.get("event"), "\n".join(data))
            fields, data = {}, []
            continue
        if line.startswith(":"):
            if comments is not None:
                comments.append(line)
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        else:
            fields[name] = value


async def _head(client: httpx.AsyncClient) -> int:
    """The newest seq (the long-poll answers ``last_seq`` = the last event it returns)."""
    after = 0
    while True:
        body = (await client.get("/v1/events", params={"after": after, "limit": 1000})).json()
        if not body["events"]:
            return after
        after = body["last_seq"]


async def test_subscriber_started_before_a_push_sees_the_commit(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        start = await _head(client)
        async with client.stream("GET", "/v1/events/stream", params={"after": start}) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            committed = asyncio.create_task(push(client, FILES, namespace="sse"))

            async def first_commit() -> SseEvent:
                async for event in sse_events(stream):
                    if event.event == "package.committed":
                        return event
                raise AssertionError("stream ended")

            event = await asyncio.wait_for(first_commit(), 20)
        package = (await committed).json()["package"]
    body = json.loads(event.data)
    assert body["type"] == "package.committed"
    assert body["payload"]["digest"] == package["digest"]
    assert body["seq"] == int(event.id or 0) == package["committed_seq"]
    assert set(body) == {"seq", "id", "time", "type", "actor", "payload", "hash", "prev_hash"}


async def test_reconnect_with_last_event_id_during_a_burst_gets_each_event_once(
    server: LiveServer, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "tree", {"f.txt": b"burst"})
    writer_store = await open_store(StoreConfig.for_directory(server.data))
    disconnected = asyncio.Event()

    async def burst(first: int, count: int) -> None:
        for batch in range(first, first + count):
            await writer_store.push_directory(
                tree,
                namespace="burst",
                name="pkg",
                version=str(batch),
                kind="test",
                actor="burst",
                tags=[f"t{batch}-{i}" for i in range(99)],
            )

    async def writer() -> int:
        await burst(0, 5)  # ~500 events
        await disconnected.wait()
        await burst(5, 5)  # ~500 more, while the subscriber is away
        return await writer_store.head()

    received: list[SseEvent] = []
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            start = await _head(client)
            writing = asyncio.create_task(writer())
            async with client.stream("GET", "/v1/events/stream", params={"after": start}) as stream:
                async for event in sse_events(stream):
                    received.append(event)
                    if len(received) == 150:
                        break  # hang up mid-burst
            disconnected.set()
            resume_from = received[-1].id
            assert resume_from is not None

            async def rest(head: asyncio.Task[int]) -> None:
                # Last-Event-ID wins over ?after= (which would replay everything).
                headers = {"Last-Event-ID": resume_from}
                async with client.stream(
                    "GET", "/v1/events/stream", params={"after": 0}, headers=headers
                ) as stream:
                    async for event in sse_events(stream):
                        received.append(event)
                        if head.done() and int(event.id or 0) >= head.result():
                            return

            await asyncio.wait_for(rest(writing), 60)
            final = await writing
    finally:
        await writer_store.close()

    seqs = [int(e.id or 0) for e in received]
    assert final - start >= 1000
    assert seqs == list(range(start + 1, final + 1))  # every event, once, in order
    for event in received:
        body = json.loads(event.data)
        assert body["seq"] == int(event.id or 0)
        assert body["type"] == event.event


async def test_heartbeats_on_an_idle_stream(server: LiveServer) -> None:
    comments: list[str] = []
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        start = await _head(client)

        async def listen() -> None:
            async with client.stream("GET", "/v1/events/stream", params={"after": start}) as s:
                async for _ in sse_events(s, comments):
                    pass  # no events: only comments arrive

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(listen(), 1.2)
    assert comments.count(": heartbeat") >= 2


async def test_shutdown_ends_open_streams_promptly(tmp_path: Path) -> None:
    with live_server(tmp_path / "data", tmp_path / "server.log", FAST) as server:
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=30) as client,
            client.stream("GET", "/v1/events/stream") as stream,
        ):
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith("retry:")
            seconds = await asyncio.to_thread(server.terminate)
            async for _ in lines:
                pass  # the stream ends cleanly
    assert server.process.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
    assert seconds < 5  # not the 30 s graceful-shutdown timeout
    assert "timeout graceful shutdown exceeded" not in server.log.read_text()


async def test_last_event_id_wins_over_after_and_is_validated(tmp_path: Path) -> None:
    async with serve_app(Settings(data=tmp_path / "data")) as http:
        bad = await http.client.get("/v1/events/stream", headers={"Last-Event-ID": "x1"})
        assert bad.status_code == 400
        assert bad.json()["code"] == "invalid_input"
        negative = await http.client.get("/v1/events/stream", params={"after": -1})
        assert negative.status_code == 400
