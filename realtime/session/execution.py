"""CodeExecutionService: "Run" a dojo's code through the SandboxRun workflow, one run at a time.

The code never runs in this process: the channel starts a SandboxRun on the ``sandbox`` task
queue, whose workers live on hosts of their own, with the deterministic id
``sandbox-run/{tenant}/{dojo}/{run}``, so a retried click (same ``runId``) reaches the run already
started instead of running the code twice.

One run at a time per dojo, across instances: a run holds a Valkey key (compare-and-delete on
release) for at most the longest a run may take, so a crashed instance never blocks a room for
longer than that. Whatever happens after the start (the sandbox answers, its worker is lost,
Temporal goes away, nobody polls the queue) the room gets one result; before the start, a Temporal
outage is a clear refusal to the person who clicked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec
import structlog
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api.common.settings import Settings
from realtime.ports import Admission
from realtime.sandbox.languages import LanguageSupport, canonical_language_id, get_language_support
from realtime.session.config import SessionConfig
from realtime.session.protocol import LanguageOut, RunInfo, RunOutcome
from realtime.session.relay import KEY_PREFIX
from temporal.client import connect_client
from temporal.search_attributes import REQUEST_TYPE, TENANT_ID, USER_ID
from workflows.sandbox_run_types import (
    RUN_FAILED,
    SANDBOX_REQUEST_TYPE,
    WORKFLOW_NAME,
    SandboxRunRequest,
    SandboxRunResult,
    sandbox_run_workflow_id,
    unanswered_run_result,
    validate_run_request,
)

logger = structlog.get_logger(__name__)

NO_ANSWER = "sandbox_no_answer"
"""`SandboxRunResult.error_code` of a run whose result did not come back in time (no sandbox worker
polls the queue, or Temporal stopped answering)."""
RESULT_UNAVAILABLE = "run_result_unavailable"
"""...of a run whose result could not be fetched from Temporal."""
LOCK_MARGIN_SECONDS = 10.0

LanguageSource = Callable[[], Sequence[LanguageSupport]]


class RunRefused(Exception):
    """Nothing was started; ``code`` goes back to the person who clicked."""

    def __init__(self, code: str, *, run: RunInfo | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.run = run


@dataclass(frozen=True, slots=True)
class StartedRun:
    info: RunInfo
    request: SandboxRunRequest
    handle: WorkflowHandle[Any, SandboxRunResult]


_run_decoder = msgspec.json.Decoder(RunInfo)


def _run_key(dojo_id: UUID) -> str:
    return f"{KEY_PREFIX}:{dojo_id}:run"


_RELEASE_RUN = """
local value = redis.call('GET', KEYS[1])
if value and string.find(value, ARGV[1], 1, true) then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def outcome_of(result: SandboxRunResult, run_id: UUID, user_id: UUID) -> RunOutcome:
    return RunOutcome(
        run_id=run_id,
        user_id=user_id,
        language=result.language,
        status=result.status,
        stdout=result.stdout,
        stderr=result.stderr,
        exit_code=result.exit_code,
        signal=result.signal,
        wall_time_ms=result.wall_time_ms,
        cpu_time_ms=result.cpu_time_ms,
        memory_bytes=result.memory_bytes,
        output_truncated=result.output_truncated,
        compile_output=result.compile_output,
        language_version=result.language_version,
        error_code=result.error_code,
        finished_at=datetime.now(UTC),
    )


class CodeExecutionService:
    def __init__(
        self,
        settings: Settings,
        config: SessionConfig,
        valkey: Any,
        client: Client | None = None,
        *,
        languages: LanguageSource = get_language_support,
    ) -> None:
        self._settings = settings
        self._config = config
        self._valkey = valkey
        self._client = client
        self._connect_lock = asyncio.Lock()
        self._language_source = languages
        self._languages: list[LanguageOut] | None = None
        self._rpc_timeout = timedelta(seconds=config.temporal_rpc_timeout_seconds)

    # -- getLanguageSupport -------------------------------------------------------------------------

    async def load_languages(self) -> list[LanguageOut]:
        """Detected once (it asks each interpreter for its version), off the event loop."""
        if self._languages is None:
            found = await asyncio.to_thread(self._language_source)
            self._languages = [
                LanguageOut(
                    id=language.id,
                    name=language.name,
                    version=language.version,
                    compiled=language.compiled,
                    file_name=language.file_name,
                )
                for language in found
            ]
        return self._languages

    async def get_language_support(self) -> list[LanguageOut]:
        return await self.load_languages()

    # -- Temporal ---------------------------------------------------------------------------------

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._connect_lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(
                        connect_client(self._settings), timeout=self._config.temporal_connect_timeout_seconds
                    )
                except Exception as exc:
                    raise RunRefused("run-unavailable") from exc
            return self._client

    async def warm_up(self) -> None:
        """Connect ahead of the first "Run"; a failure only means the first run tries again."""
        with contextlib.suppress(RunRefused):
            await self.client()

    # -- one run at a time ------------------------------------------------------------------------

    async def current_run(self, dojo_id: UUID) -> RunInfo | None:
        raw = await self._valkey.get(_run_key(dojo_id))
        return None if raw is None else _run_decoder.decode(raw)

    async def _claim(self, dojo_id: UUID, info: RunInfo) -> None:
        hold_ms = int((self._config.run_result_timeout_seconds + LOCK_MARGIN_SECONDS) * 1000)
        claimed = await self._valkey.set(
            _run_key(dojo_id), msgspec.json.encode(info).decode(), nx=True, px=hold_ms
        )
        if not claimed:
            current = await self.current_run(dojo_id)
            same = current is not None and current.run_id == info.run_id
            raise RunRefused("run-already-started" if same else "run-busy", run=current)

    async def release(self, dojo_id: UUID, run_id: UUID) -> None:
        await self._valkey.eval(_RELEASE_RUN, 1, _run_key(dojo_id), str(run_id))

    # -- executeCode ------------------------------------------------------------------------------

    async def _check(self, language: str, source: str, stdin: str) -> str:
        language_id = canonical_language_id(language)
        offered = {language.id for language in await self.load_languages()}
        if language_id is None or language_id not in offered:
            raise RunRefused("run-language-unavailable")
        if len(stdin.encode()) > self._config.run_stdin_max_bytes:
            raise RunRefused("run-too-large")
        return language_id

    async def start(
        self, admission: Admission, *, run_id: UUID, language: str, source: str, stdin: str = ""
    ) -> StartedRun:
        """Claim the dojo's run and start the workflow; `RunRefused` when nothing was started."""
        language_id = await self._check(language, source, stdin)
        request = SandboxRunRequest(
            tenant_id=str(admission.tenant_id),
            user_id=str(admission.user_id),
            dojo_id=str(admission.dojo_id),
            run_id=str(run_id),
            language=language_id,
            source=source,
            stdin=stdin,
        )
        if validate_run_request(request):
            raise RunRefused("run-too-large")
        info = RunInfo(
            run_id=run_id,
            user_id=admission.user_id,
            display_name=admission.display_name,
            language=language_id,
            started_at=datetime.now(UTC),
        )
        await self._claim(admission.dojo_id, info)
        try:
            handle = await self._start_workflow(request)
        except BaseException:
            await self.release(admission.dojo_id, run_id)
            raise
        return StartedRun(info=info, request=request, handle=handle)

    async def _start_workflow(self, request: SandboxRunRequest) -> WorkflowHandle[Any, SandboxRunResult]:
        client = await self.client()
        workflow_id = sandbox_run_workflow_id(request.tenant_id, request.dojo_id, request.run_id)
        try:
            return await client.start_workflow(
                WORKFLOW_NAME,
                request,
                id=workflow_id,
                task_queue=self._config.run_task_queue,
                result_type=SandboxRunResult,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                # A little longer than the channel waits, so the channel's own "no answer" comes first.
                execution_timeout=timedelta(
                    seconds=self._config.run_result_timeout_seconds + LOCK_MARGIN_SECONDS
                ),
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(TENANT_ID, request.tenant_id),
                        SearchAttributePair(USER_ID, request.user_id),
                        SearchAttributePair(REQUEST_TYPE, SANDBOX_REQUEST_TYPE),
                    ]
                ),
                static_summary=f"run {request.language} in dojo {request.dojo_id}",
                rpc_timeout=self._rpc_timeout,
            )
        except WorkflowAlreadyStartedError:
            # The same run asked for again (a retried click): follow the run already started.
            return client.get_workflow_handle(workflow_id, result_type=SandboxRunResult)
        except (RPCError, RuntimeError, OSError, TimeoutError) as exc:
            logger.warning("cannot start a sandbox run", workflow_id=workflow_id, error=repr(exc))
            raise RunRefused("run-unavailable") from exc

    async def result(self, started: StartedRun) -> SandboxRunResult:
        """The run's result, or a SANDBOX_UNAVAILABLE one: never an exception, so the room always
        hears how the run ended. The dojo's run is released either way."""
        try:
            return await asyncio.wait_for(
                started.handle.result(rpc_timeout=timedelta(seconds=self._config.run_result_timeout_seconds)),
                timeout=self._config.run_result_timeout_seconds,
            )
        except TimeoutError:
            logger.warning("sandbox run unanswered in time", workflow_id=started.handle.id)
            with contextlib.suppress(Exception):
                await started.handle.terminate("no result in time", rpc_timeout=self._rpc_timeout)
            return unanswered_run_result(started.request, NO_ANSWER)
        except WorkflowFailureError as exc:
            logger.warning("sandbox run failed", workflow_id=started.handle.id, error=repr(exc.cause))
            return unanswered_run_result(started.request, RUN_FAILED)
        except (RPCError, RuntimeError, OSError) as exc:
            logger.warning("sandbox run result unavailable", workflow_id=started.handle.id, error=repr(exc))
            return unanswered_run_result(started.request, RESULT_UNAVAILABLE)
        finally:
            await self.release(UUID(started.request.dojo_id), UUID(started.request.run_id))

    async def execute_code(
        self, admission: Admission, code: str, language: str, *, run_id: UUID, stdin: str = ""
    ) -> SandboxRunResult:
        """The seed's ``executeCode``: start a run and wait for its result."""
        started = await self.start(admission, run_id=run_id, language=language, source=code, stdin=stdin)
        return await self.result(started)
