"""Input, result and names of the SandboxRun workflow, shared by the dojo service (caller) and its worker.

"Run" in a dojo starts one SandboxRun per click, with the deterministic id
`sandbox_run_workflow_id` (a retried click never runs the code twice), on the ``sandbox`` task
queue, whose worker runs on hosts of its own. The result carries what a room broadcasts: who ran
what, the status, the output and the measurements. Person-facing words are the client's: the
status and ``error_code`` are stable codes it translates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

TASK_QUEUE = "sandbox"
WORKFLOW_NAME = "SandboxRun"
RUN_CODE_ACTIVITY = "run_sandboxed_code"
SANDBOX_REQUEST_TYPE = "SANDBOX_RUN"
"""The RequestType search attribute of every run."""

RUN_STATUSES: tuple[str, ...] = (
    "OK",
    "RUNTIME_ERROR",
    "TIMEOUT",
    "MEMORY",
    "OUTPUT_LIMIT",
    "SIGNAL",
    "COMPILE_ERROR",
    "SANDBOX_UNAVAILABLE",
)
"""Every value of `SandboxRunResult.status` (the engine's ``RunStatus``)."""
STATUS_SANDBOX_UNAVAILABLE = "SANDBOX_UNAVAILABLE"

MAX_SOURCE_BYTES = 256 * 1024
MAX_STDIN_BYTES = 1024 * 1024
"""Checked by the caller before it starts a run and again by the workflow (the worker's own limits
may be stricter still)."""

RUN_ACTIVITY_TIMEOUT = timedelta(seconds=45)
"""Waiting for a free uid (at most 15 s) + compiling (15 s wall) + running (10 s wall) + 5 s: a bit
above the longest a run can take under the default limits, so a lost worker is noticed soon.
Raise it with the worker's limits (``MRBILL_SANDBOX_LIMITS``)."""
RUN_HEARTBEAT_TIMEOUT = timedelta(seconds=5)
"""The activity heartbeats every second; a worker that dies mid-run is noticed within this."""

INVALID_RUN_REQUEST_ERROR = "InvalidSandboxRunRequest"
"""Non-retryable: a program or input beyond the limits, or a request missing its ids."""
WORKER_LOST = "sandbox_worker_lost"
RUN_TIMED_OUT = "sandbox_run_timed_out"
RUN_FAILED = "sandbox_run_failed"
"""`SandboxRunResult.error_code` of a run the worker never answered (status SANDBOX_UNAVAILABLE)."""


def sandbox_run_workflow_id(tenant_id: str, dojo_id: str, run_id: str) -> str:
    """Deterministic, so a retried "Run" never executes the same code twice."""
    return f"sandbox-run/{tenant_id}/{dojo_id}/{run_id}"


@dataclass
class SandboxRunRequest:
    tenant_id: str
    user_id: str
    """Who pressed "Run"."""
    dojo_id: str
    run_id: str
    """Chosen by the caller (a UUID), unique within the dojo."""
    language: str
    """A language id of ``getLanguageSupport`` (``python``, ``javascript``, ...); aliases such as
    ``py`` or ``node`` are accepted."""
    source: str
    stdin: str = ""


@dataclass
class SandboxRunResult:
    """What the room broadcasts. Times in milliseconds, memory in bytes (peak)."""

    tenant_id: str
    dojo_id: str
    run_id: str
    user_id: str
    language: str
    status: str
    """One of `RUN_STATUSES`."""
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    """None when a signal ended the program (or it never ran)."""
    signal: int | None = None
    wall_time_ms: float = 0.0
    cpu_time_ms: float = 0.0
    memory_bytes: int = 0
    output_truncated: bool = False
    """stdout and stderr stopped at the output cap (status OUTPUT_LIMIT)."""
    compile_output: str | None = None
    """The compiler's messages (COMPILE_ERROR)."""
    compile_time_ms: float | None = None
    language_version: str | None = None
    error_code: str | None = None
    """Why nothing ran (SANDBOX_UNAVAILABLE: ``sandbox_busy``, ``language_unavailable``,
    ``sandbox_probe_failed``, ``sandbox_worker_lost``, ...), or ``compile_timeout``/``compile_memory``."""


def validate_run_request(request: SandboxRunRequest) -> list[str]:
    """What is wrong with `request` (empty when nothing): for the caller, before it starts a run."""
    problems = [
        f"{name} is empty"
        for name in ("tenant_id", "user_id", "dojo_id", "run_id", "language")
        if not getattr(request, name)
    ]
    if len(request.source.encode()) > MAX_SOURCE_BYTES:
        problems.append(f"the program is larger than {MAX_SOURCE_BYTES} bytes")
    if len(request.stdin.encode()) > MAX_STDIN_BYTES:
        problems.append(f"the input is larger than {MAX_STDIN_BYTES} bytes")
    return problems


def unanswered_run_result(request: SandboxRunRequest, error_code: str) -> SandboxRunResult:
    """The result of a run the sandbox never answered: the room still gets one."""
    return SandboxRunResult(
        tenant_id=request.tenant_id,
        dojo_id=request.dojo_id,
        run_id=request.run_id,
        user_id=request.user_id,
        language=request.language,
        status=STATUS_SANDBOX_UNAVAILABLE,
        error_code=error_code,
    )
