"""The request line is written without structlog's chain, yet looks like every other line."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import structlog
from litestar import get
from litestar.testing import AsyncTestClient

from api.common.app import create_service_app
from api.common.logging import configure_logging, kernel_log_handler, render_json
from api.common.settings import Settings

pytestmark = pytest.mark.unit


@pytest.fixture
def restore_logging() -> Iterator[None]:
    yield
    configure_logging(Settings(), "tests")
    structlog.contextvars.clear_contextvars()


@get("/v1/ping", operation_id="ping", opt={"public": True}, sync_to_thread=False)
def ping() -> dict[str, str]:
    structlog.contextvars.bind_contextvars(feature="pong")
    return {"ok": "yes"}


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_render_json_writes_what_json_has_no_type_for_as_repr() -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    when = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    rendered = json.loads(render_json({"thing": Opaque(), "when": when, "id": ident, "text": "olá"}))
    assert rendered == {
        "thing": "<opaque>",
        "when": "2026-11-26T08:00:00Z",
        "id": "12345678-1234-5678-1234-567812345678",
        "text": "olá",
    }
    assert json.loads(render_json({1: "non-string key"})) == {"1": "non-string key"}


async def test_the_request_line_carries_context_and_the_usual_fields(restore_logging: None) -> None:
    stream = io.StringIO()
    app = create_service_app(service="probe", settings=Settings(log_json=True), route_handlers=[ping])
    handler = kernel_log_handler()
    assert handler is not None
    handler.setStream(stream)
    structlog.get_logger("probe.before").info("before")
    async with AsyncTestClient(app=app) as client:
        response = await client.get("/v1/ping", headers={"X-Request-ID": "edge-7"})
    before, request = _lines(stream)
    assert set(before) - {"event"} <= set(request)
    assert request == {
        **request,
        "event": "request",
        "request_id": "edge-7",
        "feature": "pong",
        "service": "probe",
        "level": "info",
        "logger": "mrbill.http",
        "method": "GET",
        "path": "/v1/ping",
        "route": "/v1/ping",
        "status": 200,
    }
    assert response.headers["x-request-id"] == "edge-7"
    assert str(request["timestamp"]).endswith("Z")
    assert len(str(request["trace_id"])) == 32


async def test_no_request_line_below_the_configured_level(restore_logging: None) -> None:
    stream = io.StringIO()
    app = create_service_app(
        service="probe", settings=Settings(log_json=True, log_level="WARNING"), route_handlers=[ping]
    )
    handler = kernel_log_handler()
    assert handler is not None
    handler.setStream(stream)
    async with AsyncTestClient(app=app) as client:
        assert (await client.get("/v1/ping")).status_code == 200
    assert stream.getvalue() == ""
