"""The sandbox's one activity: run a dojo's program and return what the room will show.

The engine (`realtime.sandbox.SandboxEngine`: bubblewrap, the dedicated uids, the limits) is
built once per worker from settings and shared by every run; the worker proves at start that
the sandbox works on its host and says clearly in its log when it does not. Runs then answer
SANDBOX_UNAVAILABLE instead of running anything (fail closed), so a room is never left waiting.

The activity heartbeats every second with the run's phase (waiting for a uid, compiling,
running), so the workflow notices a dead worker within its heartbeat timeout, and a cancelled
run (the workflow was cancelled) is killed at once. It is never retried (see
`workflows.sandbox_run`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from api.common.settings import Settings
from realtime.sandbox import InvalidRunRequest, RunOutcome, SandboxEngine, SandboxUnavailable
from realtime.sandbox.languages import detect_languages
from workflows.sandbox_run_types import (
    INVALID_RUN_REQUEST_ERROR,
    RUN_CODE_ACTIVITY,
    SandboxRunRequest,
    SandboxRunResult,
)

logger = structlog.get_logger(__name__)

HEARTBEAT_SECONDS = 1.0


def result_of(request: SandboxRunRequest, outcome: RunOutcome) -> SandboxRunResult:
    """The engine's outcome as the workflow's result: who ran what, then what happened."""
    return SandboxRunResult(
        tenant_id=request.tenant_id,
        dojo_id=request.dojo_id,
        run_id=request.run_id,
        user_id=request.user_id,
        language=outcome.language,
        status=outcome.status.value,
        stdout=outcome.stdout,
        stderr=outcome.stderr,
        exit_code=outcome.exit_code,
        signal=outcome.signal,
        wall_time_ms=round(outcome.wall_seconds * 1000, 1),
        cpu_time_ms=round(outcome.cpu_seconds * 1000, 1),
        memory_bytes=outcome.memory_bytes,
        output_truncated=outcome.output_truncated,
        compile_output=outcome.compile_output,
        compile_time_ms=None if outcome.compile_seconds is None else round(outcome.compile_seconds * 1000, 1),
        language_version=outcome.language_version,
        error_code=outcome.error_code,
    )


class SandboxActivities:
    """The ``sandbox`` task queue's provider: one engine per worker process."""

    def __init__(self, engine: SandboxEngine) -> None:
        self.engine = engine

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(SandboxEngine.from_settings(settings))

    async def __aenter__(self) -> Self:
        """Detect the languages and probe the sandbox before the first run arrives."""
        if self.engine.languages is None:
            languages = await asyncio.to_thread(detect_languages)
            logger.info("sandbox languages", languages=[language.id for language in languages])
        try:
            await self.engine.probe()
        except SandboxUnavailable as exc:
            logger.error(
                "the sandbox cannot run programs on this host: every run will answer SANDBOX_UNAVAILABLE",
                reason=exc.reason,
                code=exc.code,
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.run_sandboxed_code]

    @activity.defn(name=RUN_CODE_ACTIVITY)
    async def run_sandboxed_code(self, request: SandboxRunRequest) -> SandboxRunResult:
        """Compile and run `request.source` in the sandbox; the program's failures are statuses."""
        phase = "starting"

        def on_phase(name: str) -> None:
            nonlocal phase
            phase = name
            activity.heartbeat(phase)

        async def keep_heartbeating() -> None:
            while True:
                activity.heartbeat(phase)
                await asyncio.sleep(HEARTBEAT_SECONDS)

        heartbeats = asyncio.create_task(keep_heartbeating())
        try:
            outcome = await self.engine.run(
                request.language, request.source, request.stdin, on_phase=on_phase
            )
        except InvalidRunRequest as exc:
            raise ApplicationError(str(exc), type=INVALID_RUN_REQUEST_ERROR, non_retryable=True) from exc
        finally:
            heartbeats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeats
        logger.info(
            "sandbox run",
            dojo_id=request.dojo_id,
            run_id=request.run_id,
            language=outcome.language,
            status=outcome.status.value,
            wall_seconds=outcome.wall_seconds,
            cpu_seconds=outcome.cpu_seconds,
            error_code=outcome.error_code,
        )
        return result_of(request, outcome)
