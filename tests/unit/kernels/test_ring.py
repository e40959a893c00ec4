"""The buffer ring (kernels.ring) and threads of their own (kernels.threads): every consumer sees
every byte in order, errors stop the pump and surface, memory stays bounded, no thread is left
behind."""

import asyncio
import hashlib
import threading
import time
from collections.abc import Iterator

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.sources import ChunkedSource

from artifact_store.errors import PayloadTooLargeError
from artifact_store.kernels.digest import DigestPair, digest_source
from artifact_store.kernels.ring import ByteSource, at_most, pump
from artifact_store.kernels.threads import in_own_thread


class Collect:
    """A consumer that keeps copies of what it saw, optionally slowly."""

    def __init__(self, delay: float = 0.0) -> None:
        self.pieces: list[bytes] = []
        self.delay = delay

    def __call__(self, view: memoryview) -> None:
        assert view.readonly
        if self.delay:
            time.sleep(self.delay)
        self.pieces.append(bytes(view))

    @property
    def data(self) -> bytes:
        return b"".join(self.pieces)


def ring_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("ring-")}


@pytest.fixture(autouse=True)
def no_threads_left() -> Iterator[None]:
    before = ring_threads()
    yield
    assert ring_threads() <= before


def test_a_source_satisfies_the_protocol() -> None:
    assert isinstance(ChunkedSource(b""), ByteSource)


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=5000),
    step=st.none() | st.integers(1, 700),
    piece=st.integers(1, 600),
    depth=st.integers(1, 4),
    consumers=st.integers(1, 3),
)
def test_every_consumer_sees_every_byte_in_order(
    data: bytes, step: int | None, piece: int, depth: int, consumers: int
) -> None:
    sinks = [Collect() for _ in range(consumers)]
    total = pump(
        ChunkedSource(data, step), sinks, check=at_most(len(data)), piece=piece, depth=depth
    )
    assert total == len(data)
    for sink in sinks:
        assert sink.data == data
        assert all(0 < len(p) <= piece for p in sink.pieces)
    # Full pieces except the last: a reader may rely on aligned pieces (O_DIRECT).
    assert all(len(p) == piece for p in sinks[0].pieces[:-1])


def test_an_empty_source_hands_nothing_over() -> None:
    sink = Collect()
    assert pump(ChunkedSource(b""), [sink], check=at_most(0)) == 0
    assert sink.pieces == []


def test_more_than_the_limit_is_refused_before_a_consumer_sees_it() -> None:
    sink = Collect()
    with pytest.raises(PayloadTooLargeError):
        pump(ChunkedSource(b"x" * 1000), [sink], check=at_most(999), piece=100)
    assert len(sink.data) <= 900


def test_a_consumer_error_stops_the_pump_and_is_raised() -> None:
    calls = 0

    def broken(view: memoryview) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError(28, "No space left on device")

    source = ChunkedSource(b"y" * 100_000)
    other = Collect()
    with pytest.raises(OSError, match="No space"):
        pump(source, [other, broken], check=at_most(10**9), piece=1000, depth=2)
    assert source.offset < 100_000  # it stopped reading soon after the error
    assert b"".join(other.pieces) == b"y" * len(other.data)


def test_a_source_error_is_raised_after_the_consumers_ended() -> None:
    sink = Collect(delay=0.01)
    with pytest.raises(ConnectionResetError):
        pump(
            ChunkedSource(b"z" * 10_000, step=500, fail_at=3000),
            [sink],
            check=at_most(10**9),
            piece=1000,
        )
    assert sink.data == b"z" * 3000  # what was read before the failure was consumed, in order


def test_what_arrived_before_a_source_error_is_handed_on() -> None:
    """A client that leaves mid-piece: the bytes it did send reach every consumer (an upload
    session keeps them), then the error is raised."""
    sinks = [Collect(), Collect()]
    with pytest.raises(ConnectionResetError):
        pump(
            ChunkedSource(b"w" * 5000, step=300, fail_at=800),
            sinks,
            check=at_most(10**9),
            piece=1000,
        )
    assert [s.data for s in sinks] == [b"w" * 900, b"w" * 900]


def test_a_slow_consumer_bounds_what_is_read_ahead() -> None:
    """At most ``depth`` buffers are out at once: the source waits for the slowest consumer."""
    seen = 0
    read_ahead: list[int] = []
    source = ChunkedSource(b"q" * 20_000)

    def slow(view: memoryview) -> None:
        nonlocal seen
        read_ahead.append(source.offset - seen)
        time.sleep(0.005)
        seen += len(view)

    pump(source, [slow, Collect()], check=at_most(10**9), piece=1000, depth=3)
    assert max(read_ahead) <= 3 * 1000


def test_digest_source_matches_hashlib_and_feeds_the_sink() -> None:
    data = bytes(range(256)) * 40_000  # ~10 MiB: several ring pieces
    sink = Collect()
    pair = digest_source(ChunkedSource(data, step=65_536), sink=sink)
    assert pair == DigestPair(
        hashlib.sha256(data).hexdigest(), blake3.blake3(data).hexdigest(), len(data)
    )
    assert sink.data == data


async def test_in_own_thread_returns_and_raises() -> None:
    assert await in_own_thread(lambda: 41 + 1, cancel=lambda: None, name="t") == 42

    def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await in_own_thread(fail, cancel=lambda: None, name="t")


async def test_in_own_thread_cancels_and_waits_for_the_work() -> None:
    stop = threading.Event()
    ended = threading.Event()

    def work() -> None:
        try:
            while not stop.wait(0.01):
                pass
            time.sleep(0.05)  # still busy after being told to stop
        finally:
            ended.set()

    task = asyncio.create_task(in_own_thread(work, cancel=stop.set, name="t"))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stop.is_set()
    assert ended.is_set()  # the task ended only once the thread was done


async def test_a_cancelled_pump_ends_its_threads() -> None:
    """A source that would block forever, cancelled through ``in_own_thread``."""

    class Endless:
        def __init__(self) -> None:
            self.stop = threading.Event()

        def readinto(self, buffer: memoryview, /) -> int:
            if self.stop.wait(0.01):
                raise ConnectionAbortedError("cancelled")
            buffer[:1] = b"e"
            return 1

        def cancel(self) -> None:
            self.stop.set()

    source = Endless()
    task = asyncio.create_task(
        in_own_thread(
            lambda: pump(source, [Collect()], check=at_most(10**9), piece=64),
            cancel=source.cancel,
            name="t",
        )
    )
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
