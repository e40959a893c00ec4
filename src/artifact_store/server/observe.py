"""Request metrics (Prometheus text exposition 0.0.4), the structured access log, and the last
line of defence against unexpected exceptions, all in one pure ASGI middleware.

A pure ASGI middleware sees every message without buffering, so streamed bodies (blob GETs,
uploads, the SSE stream) pass through at full speed and are counted byte by byte; Starlette's
``BaseHTTPMiddleware`` would buffer or break them. It is the outermost layer of the app, so it
is also where an exception nothing else handled is logged once and answered with a 500
``internal`` problem (CONVENTIONS §7.2: catch ``Exception`` only at the outer boundary).
"""

import bisect
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from artifact_store.server.problems import internal_problem
from artifact_store.server.protocol import ZERO_COPY_SEND
from artifact_store.server.socket_body import body_takeover

__all__ = ["ACCESS_LOGGER", "AccessLogFormatter", "Metrics", "ObserveMiddleware"]

logger = logging.getLogger(__name__)
#: One INFO line per request, with structured fields in ``extra`` (see ``ObserveMiddleware``).
ACCESS_LOGGER = logging.getLogger("artifact_store.access")

#: Latency histogram buckets, seconds (uploads and long-polls are legitimately slow).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The status recorded for a request whose client went away before an answer was sent (nginx).
CLIENT_CLOSED = 499
#: Store statistics → exported gauge names.
GAUGES = {
    "open_uploads": ("artifact_store_upload_sessions_open", "Upload sessions not yet finished."),
    "blobs": ("artifact_store_blobs", "Blobs stored."),
    "packages": ("artifact_store_packages", "Package versions committed."),
    "events": ("artifact_store_events", "Events in the log."),
}


@dataclass(slots=True)
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0
    count: int = 0


def _label(value: str) -> str:
    """A label value escaped for the text format."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """The server's own counters; one instance per app (no process globals)."""

    def __init__(self) -> None:
        self._latency: dict[tuple[str, str, str], _Histogram] = {}
        self.bytes_received = 0
        self.bytes_sent = 0

    def observe(
        self, *, method: str, route: str, status: int, seconds: float, received: int, sent: int
    ) -> None:
        """Record one finished request."""
        key = (method if method in _METHODS else "other", route, str(status))
        histogram = self._latency.get(key)
        if histogram is None:
            histogram = self._latency[key] = _Histogram()
        histogram.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        histogram.total += seconds
        histogram.count += 1
        self.bytes_received += received
        self.bytes_sent += sent

    def render(self, gauges: Mapping[str, int] | None = None) -> str:
        """The Prometheus text exposition of everything, plus the store's ``gauges``."""
        name = "artifact_store_http_request_duration_seconds"
        out = [
            f"# HELP {name} HTTP request latency by method, route template and status.",
            f"# TYPE {name} histogram",
        ]
        for (method, route, status), h in sorted(self._latency.items()):
            labels = f'method="{method}",route="{_label(route)}",status="{status}"'
            cumulative = 0
            for bound, count in zip((*BUCKETS, None), h.buckets, strict=True):
                cumulative += count
                le = "+Inf" if bound is None else repr(bound)
                out.append(f'{name}_bucket{{{labels},le="{le}"}} {cumulative}')
            out.append(f"{name}_sum{{{labels}}} {h.total!r}")
            out.append(f"{name}_count{{{labels}}} {h.count}")
        for metric, value, text in (
            ("artifact_store_http_bytes_received_total", self.bytes_received, "Body bytes in."),
            ("artifact_store_http_bytes_sent_total", self.bytes_sent, "Body bytes out."),
        ):
            out += [f"# HELP {metric} {text}", f"# TYPE {metric} counter", f"{metric} {value}"]
        for key, (metric, text) in GAUGES.items():
            if gauges is not None and key in gauges:
                out += [f"# HELP {metric} {text}", f"# TYPE {metric} gauge"]
                out.append(f"{metric} {int(gauges[key])}")
        return "\n".join(out) + "\n"


class AccessLogFormatter(logging.Formatter):
    """One JSON object per access-log record (installed when nothing else handles the log)."""

    FIELDS = ("method", "path", "route", "status", "duration_ms", "bytes_in", "bytes_out", "client")

    def format(self, record: logging.LogRecord) -> str:
        """The record's structured fields as a JSON line."""
        line: dict[str, object] = {"time": self.formatTime(record), "level": record.levelname}
        line |= {k: getattr(record, k) for k in self.FIELDS if hasattr(record, k)}
        return json.dumps(line, separators=(",", ":"))


@dataclass(slots=True)
class _Exchange:
    status: int | None = None
    received: int = 0
    sent: int = 0


class ObserveMiddleware:
    """Times, counts and logs each HTTP request; answers 500 for unhandled exceptions."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap ``receive`` and ``send`` to count bytes and note the status."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        exchange = _Exchange()

        async def counted_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                exchange.received += len(message.get("body", b""))
            return message

        async def counted_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = int(message["status"])
            elif message["type"] == "http.response.body":
                exchange.sent += len(message.get("body", b""))
            await send(message)
            if message["type"] == ZERO_COPY_SEND:  # counted once the kernel has sent it
                exchange.sent += int(message.get("count") or 0)

        try:
            await self.app(scope, counted_receive, counted_send)
        except ClientDisconnect:
            pass  # the client left mid-request; nothing to answer
        except Exception:
            logger.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if exchange.status is None:
                await internal_problem()(scope, receive, counted_send)
        finally:
            if (takeover := body_takeover(scope)) is not None:
                exchange.received += takeover.received  # a body read off the socket (ADR-0018)
            self._record(scope, exchange, time.perf_counter() - started)

    def _record(self, scope: Scope, exchange: _Exchange, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path_format", None) or "unmatched"
        status = exchange.status or CLIENT_CLOSED
        method = str(scope.get("method", ""))
        self.metrics.observe(
            method=method,
            route=template,
            status=status,
            seconds=seconds,
            received=exchange.received,
            sent=exchange.sent,
        )
        client = scope.get("client")
        address = f"{client[0]}:{client[1]}" if client else "-"
        path = str(scope.get("path", ""))
        ACCESS_LOGGER.info(
            "%s %s %s %d %.1fms in=%d out=%d",
            address,
            method,
            path.encode("unicode_escape").decode("ascii"),  # a decoded %0A forges no line
            status,
            seconds * 1000,
            exchange.received,
            exchange.sent,
            extra={
                "method": method,
                "path": path,
                "route": template,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "bytes_in": exchange.received,
                "bytes_out": exchange.sent,
                "client": address,
            },
        )
