"""From what the parent saw to the status a room shows."""

from __future__ import annotations

import signal

import pytest

from activities.sandbox import result_of
from realtime.sandbox.limits import Limits
from realtime.sandbox.runner import KillReason, ProcessReport, RunOutcome, RunStatus, classify
from workflows.sandbox_run_types import RUN_STATUSES, SandboxRunRequest

pytestmark = pytest.mark.unit

LIMITS = Limits(cpu_seconds=2, memory_bytes=64 * 1024 * 1024)
PYTHON_MARKERS = ("MemoryError",)


def report(**fields: object) -> ProcessReport:
    return ProcessReport(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seen", "status"),
    [
        (report(exit_code=0), RunStatus.OK),
        (report(exit_code=3, stderr=b"boom"), RunStatus.RUNTIME_ERROR),
        (report(exit_code=1, stderr=b"Traceback\nMemoryError\n"), RunStatus.MEMORY),
        (report(exit_code=0, stderr=b"MemoryError caught and handled"), RunStatus.OK),
        (report(exit_code=128 + signal.SIGSEGV), RunStatus.SIGNAL),
        (report(exit_code=128 + signal.SIGABRT), RunStatus.SIGNAL),
        (report(exit_code=128 + signal.SIGXCPU, cpu_seconds=2.0), RunStatus.TIMEOUT),
        (report(exit_code=128 + signal.SIGKILL, cpu_seconds=2.01), RunStatus.TIMEOUT),
        (report(exit_code=128 + signal.SIGKILL, cpu_seconds=0.1), RunStatus.SIGNAL),
        (report(exit_code=128 + signal.SIGXFSZ), RunStatus.OUTPUT_LIMIT),
        (report(exit_code=-1, killed_by_parent=KillReason.WALL_TIME), RunStatus.TIMEOUT),
        (report(exit_code=0, killed_by_parent=KillReason.MEMORY), RunStatus.MEMORY),
        (report(exit_code=0, output_truncated=True), RunStatus.OUTPUT_LIMIT),
        (report(killed_by_parent=KillReason.OUTPUT, output_truncated=True), RunStatus.OUTPUT_LIMIT),
    ],
)
def test_classify(seen: ProcessReport, status: RunStatus) -> None:
    assert classify(seen, LIMITS, PYTHON_MARKERS) is status


def test_the_parents_own_kills_come_first() -> None:
    # A wall-time kill of a program that had also printed MemoryError is a timeout.
    seen = report(exit_code=137, stderr=b"MemoryError", killed_by_parent=KillReason.WALL_TIME)
    assert classify(seen, LIMITS, PYTHON_MARKERS) is RunStatus.TIMEOUT


def test_exit_code_and_signal_are_told_apart() -> None:
    assert (report(exit_code=3).program_exit_code, report(exit_code=3).signal) == (3, None)
    killed = report(exit_code=128 + signal.SIGSEGV)
    assert (killed.program_exit_code, killed.signal) == (None, signal.SIGSEGV)
    by_parent = report(exit_code=0, killed_by_parent=KillReason.WALL_TIME)
    assert (by_parent.program_exit_code, by_parent.signal) == (None, signal.SIGKILL)


def test_peak_memory_is_the_larger_of_one_process_and_all_together() -> None:
    assert report(peak_rss_bytes=10, peak_total_anon_bytes=25).peak_memory_bytes == 25
    assert report(peak_rss_bytes=40, peak_total_anon_bytes=25).peak_memory_bytes == 40


def test_the_workflow_knows_every_status_of_the_engine() -> None:
    assert set(RUN_STATUSES) == {status.value for status in RunStatus}


def test_the_result_names_the_run_and_converts_units() -> None:
    request = SandboxRunRequest(
        tenant_id="t", user_id="u", dojo_id="d", run_id="r", language="py", source="print(1)"
    )
    outcome = RunOutcome(
        status=RunStatus.OK,
        language="python",
        language_version="3.11.2",
        stdout="1\n",
        exit_code=0,
        wall_seconds=0.02345,
        cpu_seconds=0.0181,
        memory_bytes=8_000_000,
    )
    result = result_of(request, outcome)
    assert (result.tenant_id, result.dojo_id, result.run_id, result.user_id) == ("t", "d", "r", "u")
    assert (result.language, result.status, result.stdout, result.exit_code) == ("python", "OK", "1\n", 0)
    assert (result.wall_time_ms, result.cpu_time_ms, result.memory_bytes) == (23.4, 18.1, 8_000_000)
    assert result.compile_time_ms is None
