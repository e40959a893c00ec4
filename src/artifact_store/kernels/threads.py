"""Blocking work on a thread of its own, awaited from the event loop, and stopped on
cancellation.

Long transfers (a blob sent with ``sendfile``, a request body pumped off its socket) block for
as long as the peer takes. On ``asyncio.to_thread`` they would hold the default executor's few
workers (``min(32, cpus + 4)``), so a handful of slow clients would stall every other blocking
call of the process; each gets a thread of its own instead. The thread's work usually uses
resources the awaiting task releases next (a file, a socket), so :func:`in_own_thread` returns
only once the thread is done with them, even when the task is cancelled: it asks the work to
stop (``cancel``) and waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

__all__ = ["in_own_thread"]


async def in_own_thread[T](fn: Callable[[], T], *, cancel: Callable[[], None], name: str) -> T:
    """Run ``fn`` on a new daemon thread named ``name`` and return its result (or raise its
    error). When the awaiting task is cancelled, ``cancel`` is called (from the event loop;
    it must make ``fn`` return or raise soon) and the cancellation is re-raised once ``fn``
    has ended."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if done.done():
            return
        if error is None:
            done.set_result(result)  # type: ignore[arg-type]  # fn returned this T
        else:
            done.set_exception(error)

    def run() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = fn()
        except BaseException as exc:  # handed to the awaiting task
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name=name, daemon=True).start()
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        cancel()
        while not done.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([done])  # never raises what the thread raised
        if not done.cancelled():
            done.exception()  # retrieved: the cancellation is what the caller sees
        raise
