"""One log format per process, with the ids that tie a request together."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from api.common.logging import configure_logging, trace_id_from_traceparent
from api.common.settings import Settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "4bf92f3577b34da6a3ce929d0e0e4736"),
        (" 00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-00 ", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None),
        ("00-4bf92f3577b34da6-00f067aa0ba902b7-01", None),
        ("garbage", None),
        ("", None),
        (None, None),
    ],
)
def test_trace_id_comes_from_a_valid_traceparent_only(header: str | None, expected: str | None) -> None:
    assert trace_id_from_traceparent(header) == expected


@pytest.fixture
def restore_logging() -> Iterator[None]:
    yield
    configure_logging(Settings(), "tests")
    structlog.contextvars.clear_contextvars()


def test_stdlib_and_structlog_lines_share_one_json_format(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging(Settings(log_json=True, log_level="INFO"), "catalog", stream=stream)
    structlog.contextvars.bind_contextvars(request_id="r-1")
    logging.getLogger("asyncpg.pool").warning("pool %s exhausted", "main")
    structlog.get_logger("catalog.service").info("poc saved", poc_id="p-1")
    logging.getLogger("some.library").debug("hidden below INFO")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["pool main exhausted", "poc saved"]
    assert all(line["service"] == "catalog" and line["request_id"] == "r-1" for line in lines)
    assert lines[0]["level"] == "warning"
    assert lines[0]["logger"] == "asyncpg.pool"
    assert lines[1]["poc_id"] == "p-1"
    assert lines[1]["timestamp"].endswith("Z")


def test_exceptions_are_structured_in_json(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging(Settings(log_json=True), "identity", stream=stream)
    try:
        raise ValueError("boom")
    except ValueError:
        structlog.get_logger("x").exception("failed")
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["exception"][0]["exc_type"] == "ValueError"
    assert line["exception"][0]["exc_value"] == "boom"


def test_readable_console_format_for_development(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging(Settings(log_json=False), "identity", stream=stream)
    structlog.get_logger("identity.auth").info("login ok", tenant="acme")
    output = stream.getvalue()
    assert "login ok" in output
    assert "tenant=acme" in output
    assert not output.startswith("{")
