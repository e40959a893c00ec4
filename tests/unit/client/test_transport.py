"""The SDK's send loop: what is retried, how long it waits, and which error class comes out.

The server side is ``httpx.MockTransport`` (httpx's own test double), answering per request.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from artifact_store.client import (
    AsyncClient,
    BlobNotFoundError,
    Client,
    DatabaseUnavailableError,
    PackageNotFoundError,
    RetryPolicy,
    UnavailableError,
    VersionConflictError,
)
from artifact_store.client._steps import FileRange
from artifact_store.client._transport import parse_retry_after, retryable_status
from artifact_store.errors import ArtifactStoreError, InvalidDigestError, InvalidRefError

FAST = RetryPolicy(attempts=4, base=0.001, cap=0.002, max_retry_after=0.01)
SHA = "sha256:" + "a" * 64
PACKAGE: dict[str, object] = {
    "digest": SHA,
    "namespace": "acme/ci",
    "name": "report",
    "version": "1.0",
    "kind": "report",
    "created": "2025-01-01T00:00:00Z",
    "producer": "t",
    "labels": {},
    "subject": None,
    "file_count": 0,
    "total_size": 0,
    "committed_at": "2025-01-01T00:00:01Z",
    "committed_seq": 3,
    "actor": "anonymous",
    "tags": ["latest"],
}


def problem(status: int, code: str, **extra: object) -> httpx.Response:
    body = {"type": f"/problems/{code}", "title": code, "status": status, "detail": f"{code}!"}
    return httpx.Response(
        status,
        json=body | {"code": code, **extra},
        headers={"Content-Type": "application/problem+json"},
    )


class Script:
    """Answers requests from a list, one per request, and records what was asked."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client(script: Callable[[httpx.Request], httpx.Response], tmp_path: Path) -> Client:
    return Client(
        "http://server",
        transport=httpx.MockTransport(script),
        retry=FAST,
        cache_dir=tmp_path / "cache",
    )


def test_503_is_retried_then_succeeds(tmp_path: Path) -> None:
    script = Script(
        problem(503, "database_unavailable"),
        httpx.Response(503, headers={"Retry-After": "0"}),
        httpx.Response(200, json={"missing": [SHA]}),
    )
    assert client(script, tmp_path).missing_blobs([SHA]) == [SHA]
    assert len(script.requests) == 3


def test_503_after_the_last_attempt_raises_the_problem_class(tmp_path: Path) -> None:
    script = Script(*[problem(503, "database_unavailable") for _ in range(FAST.attempts)])
    with pytest.raises(DatabaseUnavailableError):
        client(script, tmp_path).resolve("acme/ci/report@1.0")
    assert len(script.requests) == FAST.attempts


def test_429_is_retried_even_for_a_post(tmp_path: Path) -> None:
    script = Script(
        httpx.Response(429, headers={"Retry-After": "0"}),
        httpx.Response(201, json={"id": "u1", "offset": 0}, headers={"Location": "/v1/uploads/u1"}),
    )
    status = client(script, tmp_path).create_upload(10)
    assert status.location == "/v1/uploads/u1"
    assert [r.method for r in script.requests] == ["POST", "POST"]


def test_connect_errors_are_retried_for_any_method(tmp_path: Path) -> None:
    script = Script(
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow"),
        httpx.Response(200, json={"missing": []}),
    )
    assert client(script, tmp_path).missing_blobs([SHA]) == []


def test_read_timeout_is_retried_for_get(tmp_path: Path) -> None:
    script = Script(
        httpx.ReadTimeout("slow"),
        httpx.Response(200, json={"package": PACKAGE, "manifest": None}),
    )
    found = client(script, tmp_path).find_version("acme/ci", "report", "1.0")
    assert found is not None
    assert found.committed_at == datetime(2025, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert found.tags == ("latest",)


def test_read_timeout_is_not_retried_for_a_non_idempotent_patch(tmp_path: Path) -> None:
    script = Script(httpx.ReadTimeout("slow"), httpx.Response(204))
    source = tmp_path / "f"
    source.write_bytes(b"x" * 10)
    sync = client(script, tmp_path)
    with pytest.raises(UnavailableError) as caught:
        sync._run(sync._ops._patch("/v1/uploads/u1", FileRange(source, 0, 10), "sha256 x"))
    assert caught.value.extra["reason"] == "ReadTimeout"
    assert len(script.requests) == 1


def test_transport_failures_become_unavailable_after_the_retries(tmp_path: Path) -> None:
    script = Script(*[httpx.ConnectError("refused") for _ in range(FAST.attempts)])
    with pytest.raises(UnavailableError, match="cannot reach the server"):
        client(script, tmp_path).list_tags("acme/ci", "report")
    assert len(script.requests) == FAST.attempts


def test_a_closed_port_is_unavailable(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        Client(f"http://127.0.0.1:{port}", retry=FAST, cache_dir=tmp_path) as sync,
        pytest.raises(UnavailableError),
    ):
        sync.resolve("acme/ci/report@1.0")


def test_problem_code_names_the_class_and_extra_survives(tmp_path: Path) -> None:
    script = Script(
        problem(409, "version_conflict", ref="acme/ci/report@1.0", existing=SHA),
    )
    with pytest.raises(VersionConflictError) as caught:
        client(script, tmp_path).commit_manifest(b"\xa0")
    assert str(caught.value) == "version_conflict!"
    assert caught.value.extra["existing"] == SHA
    assert caught.value.extra["status"] == 409
    assert len(script.requests) == 1  # a 409 is an answer, not a failure to retry


def test_not_found_problem_is_the_library_class(tmp_path: Path) -> None:
    script = Script(problem(404, "package_not_found", ref="acme/ci/report@9"))
    with pytest.raises(PackageNotFoundError):
        client(script, tmp_path).resolve("acme/ci/report@9")


def test_bodyless_head_404_is_blob_not_found(tmp_path: Path) -> None:
    script = Script(httpx.Response(404))
    with pytest.raises(BlobNotFoundError):
        client(script, tmp_path).stat_blob(SHA)


def test_a_non_problem_500_is_the_base_class_and_not_retried(tmp_path: Path) -> None:
    script = Script(httpx.Response(500, text="oops"))
    with pytest.raises(ArtifactStoreError) as caught:
        client(script, tmp_path).list_tags("acme/ci", "report")
    assert type(caught.value) is ArtifactStoreError
    assert len(script.requests) == 1


def test_a_malformed_answer_names_the_route(tmp_path: Path) -> None:
    script = Script(httpx.Response(200, json={"items": [{"tag": 1}]}))
    with pytest.raises(ArtifactStoreError, match="unexpected response from the server for tags"):
        client(script, tmp_path).list_tags("acme/ci", "report")


def test_bad_input_is_refused_before_any_request(tmp_path: Path) -> None:
    script = Script()
    sync = client(script, tmp_path)
    with pytest.raises(InvalidRefError):
        sync.resolve("no-version-here")
    with pytest.raises(InvalidDigestError):
        sync.stat_blob("md5:abc")
    assert script.requests == []


async def test_async_client_retries_and_maps_the_same(tmp_path: Path) -> None:
    script = Script(
        httpx.ConnectError("refused"),
        problem(404, "tag_not_found", ref="acme/ci/report:nope"),
    )
    async with AsyncClient(
        "http://server", transport=httpx.MockTransport(script), retry=FAST, cache_dir=tmp_path
    ) as aclient:
        with pytest.raises(LookupError):  # TagNotFoundError is a NotFoundError is a LookupError
            await aclient.resolve("acme/ci/report:nope")
    assert len(script.requests) == 2


def test_retry_after_is_a_floor_and_is_capped() -> None:
    policy = RetryPolicy(base=0.1, cap=1.0, max_retry_after=5.0)
    assert policy.delay(0, retry_after=3.0) >= 3.0
    assert policy.delay(0, retry_after=3600) == 5.0
    waits = [policy.delay(n) for n in range(10)]
    assert all(0.05 <= w <= 1.0 for w in waits)
    assert max(waits[6:]) >= 0.5  # grew to the cap


def test_parse_retry_after_forms() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(date, now=now) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_gateway_errors_are_retried_only_when_idempotent() -> None:
    assert retryable_status(502, idempotent=True)
    assert not retryable_status(502, idempotent=False)
    assert retryable_status(503, idempotent=False)
    assert not retryable_status(500, idempotent=True)


def test_user_agent_carries_the_installed_version() -> None:
    from importlib import metadata

    from artifact_store.client._transport import USER_AGENT

    assert f"artifact-store-client/{metadata.version('artifact-store')}" == USER_AGENT
