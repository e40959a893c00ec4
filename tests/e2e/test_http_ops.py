"""Ops and plumbing: health, readiness, metrics, the access log, settings, the OpenAPI document."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic_settings import SettingsError
from tests.e2e.test_http_support import Http, push, serve_app

from artifact_store.errors import StorageUnavailableError
from artifact_store.server.app import create_app
from artifact_store.server.settings import CONFIG_ENV, Settings

pytestmark = pytest.mark.e2e

FILES = {"a.txt": b"a"}


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[Http]:
    async with serve_app(Settings(data=tmp_path / "data")) as served:
        yield served


async def test_health_and_readiness(http: Http, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (await http.client.get("/healthz")).json() == {"status": "ok"}
    assert (await http.client.get("/readyz")).json() == {"status": "ready"}

    async def broken() -> None:
        raise StorageUnavailableError("disk gone")

    monkeypatch.setattr(http.store, "check_ready", broken)
    response = await http.client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"]
    assert response.json()["code"] == "storage_unavailable"
    assert (await http.client.get("/healthz")).status_code == 200


async def test_metrics_exposition(http: Http) -> None:
    assert (await push(http.client, FILES)).status_code == 201
    await http.client.get("/v1/packages/acme/ci/report/-/versions/1.0")
    await http.client.get("/v1/nowhere")
    response = await http.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    name = "artifact_store_http_request_duration_seconds"
    assert f"# TYPE {name} histogram" in text
    route = "/v1/packages/{namespace}/{name}/-/versions/{version}"
    assert f'{name}_count{{method="GET",route="{route}",status="200"}} 1' in text
    assert f'{name}_bucket{{method="GET",route="unmatched",status="404",le="+Inf"}} 1' in text
    assert f'{name}_count{{method="POST",route="/v1/packages",status="201"}} 1' in text
    received = int(re.search(r"^artifact_store_http_bytes_received_total (\d+)$", text, re.M)[1])  # type: ignore[index]
    assert received >= 1
    assert re.search(r"^artifact_store_http_bytes_sent_total \d+$", text, re.M)
    for gauge, value in (
        ("artifact_store_packages", 1),
        ("artifact_store_blobs", 2),  # the file and the manifest
        ("artifact_store_upload_sessions_open", 0),
    ):
        assert f"# TYPE {gauge} gauge" in text
        assert f"{gauge} {value}" in text
    assert re.search(r"^artifact_store_events \d+$", text, re.M)
    for line in text.splitlines():  # every sample line is "name{labels} value"
        assert line.startswith("#") or re.fullmatch(r"[a-z_]+(\{.*\})? [0-9.e+-]+", line), line


async def test_access_log_line_per_request(http: Http, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="artifact_store.access")
    await http.client.get("/v1/events", params={"after": 0})
    records = [r for r in caplog.records if r.name == "artifact_store.access"]
    assert len(records) == 1
    record = records[0]
    assert record.__dict__["method"] == "GET"
    assert record.__dict__["path"] == "/v1/events"
    assert record.__dict__["route"] == "/v1/events"
    assert record.__dict__["status"] == 200
    assert record.__dict__["bytes_out"] > 0
    assert record.__dict__["duration_ms"] >= 0
    assert record.__dict__["client"] != "-"


def test_settings_from_toml_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "server.toml"
    config.write_text(
        f'data = "{tmp_path / "from-file"}"\nsse_heartbeat = 2.5\nupload_idle_timeout = 60\n'
    )
    monkeypatch.setenv(CONFIG_ENV, str(config))
    monkeypatch.setenv("ARTIFACT_STORE_UPLOAD_IDLE_TIMEOUT", "120")
    settings = Settings()
    assert settings.data == tmp_path / "from-file"
    assert settings.sse_heartbeat == 2.5
    assert settings.upload_idle_timeout == 120  # the environment wins over the file
    assert settings.janitor_interval == 300
    assert settings.store_config().database_url.endswith("from-file/catalog.db")


def test_settings_reject_unknown_keys_and_missing_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "server.toml"
    config.write_text("heartbeat = 1\n")
    monkeypatch.setenv(CONFIG_ENV, str(config))
    with pytest.raises(ValueError, match="heartbeat"):
        Settings()
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "absent.toml"))
    with pytest.raises(SettingsError, match="not a file"):
        Settings()


def test_openapi_lists_every_route_with_its_problems(tmp_path: Path) -> None:
    document = create_app(Settings(data=tmp_path / "data")).openapi()
    operations = {
        (method.upper(), path): op
        for path, item in document["paths"].items()
        for method, op in item.items()
    }
    expected = {
        ("POST", "/v1/uploads"),
        ("PATCH", "/v1/uploads/{upload_id}"),
        ("HEAD", "/v1/uploads/{upload_id}"),
        ("GET", "/v1/uploads/{upload_id}"),
        ("PUT", "/v1/uploads/{upload_id}"),
        ("DELETE", "/v1/uploads/{upload_id}"),
        ("PUT", "/v1/blobs"),
        ("GET", "/v1/blobs/{digest}"),
        ("HEAD", "/v1/blobs/{digest}"),
        ("POST", "/v1/blobs/missing"),
        ("POST", "/v1/packages"),
        ("GET", "/v1/packages"),
        ("GET", "/v1/packages/{namespace}/{name}/-/versions"),
        ("GET", "/v1/packages/{namespace}/{name}/-/versions/{version}"),
        ("GET", "/v1/packages/{namespace}/{name}/-/versions/{version}/files/{path}"),
        ("GET", "/v1/refs/{ref}"),
        ("GET", "/v1/packages/{namespace}/{name}/-/tags"),
        ("PUT", "/v1/packages/{namespace}/{name}/-/tags/{tag}"),
        ("DELETE", "/v1/packages/{namespace}/{name}/-/tags/{tag}"),
        ("GET", "/v1/events"),
        ("GET", "/v1/events/stream"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
    }
    assert expected <= set(operations)
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for key, op in operations.items():
        assert "422" not in op["responses"] or key == ("POST", "/v1/packages")
        if key[0] != "GET" or key[1].startswith("/v1"):
            if key[1] in ("/healthz", "/metrics"):
                continue
            problem = op["responses"]["400"]["content"]["application/problem+json"]
            assert problem["schema"] == problem_ref, key
    patch = operations[("PATCH", "/v1/uploads/{upload_id}")]["responses"]
    assert {"404", "409", "410", "413", "415", "460"} <= set(patch)
    assert "Problem" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]


async def test_openapi_json_is_served(http: Http) -> None:
    response = await http.client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "artifact-store"
