"""The SandboxRun contract the dojo service relies on."""

from __future__ import annotations

import pytest

from workflows.sandbox_run_types import (
    MAX_SOURCE_BYTES,
    STATUS_SANDBOX_UNAVAILABLE,
    TASK_QUEUE,
    WORKFLOW_NAME,
    SandboxRunRequest,
    sandbox_run_workflow_id,
    unanswered_run_result,
    validate_run_request,
)

pytestmark = pytest.mark.unit


def request(**changes: str) -> SandboxRunRequest:
    values = {
        "tenant_id": "t1",
        "user_id": "u1",
        "dojo_id": "d1",
        "run_id": "r1",
        "language": "python",
        "source": "print('hi')",
    }
    values.update(changes)
    return SandboxRunRequest(**values)


def test_names_and_deterministic_id() -> None:
    assert (TASK_QUEUE, WORKFLOW_NAME) == ("sandbox", "SandboxRun")
    assert sandbox_run_workflow_id("t1", "d1", "r1") == "sandbox-run/t1/d1/r1"


def test_validation() -> None:
    assert validate_run_request(request()) == []
    assert validate_run_request(request(run_id="", language="")) == ["run_id is empty", "language is empty"]
    assert validate_run_request(request(source="é" * (MAX_SOURCE_BYTES // 2 + 1))) == [
        f"the program is larger than {MAX_SOURCE_BYTES} bytes"
    ]


def test_an_unanswered_run_still_has_a_result_for_the_room() -> None:
    result = unanswered_run_result(request(), "sandbox_worker_lost")
    assert (result.dojo_id, result.run_id, result.user_id) == ("d1", "r1", "u1")
    assert (result.status, result.error_code) == (STATUS_SANDBOX_UNAVAILABLE, "sandbox_worker_lost")
