"""SandboxRun: one "Run" of a dojo's code, executed by the sandbox worker, answered to the room.

A single activity (`RUN_CODE_ACTIVITY`, on the ``sandbox`` task queue) compiles and runs the
program in the sandbox and returns its result. It is never retried: running someone's code a
second time is not a harmless repeat (it may print twice, or spend another ten seconds of CPU),
and a run that failed for the sandbox's own reasons is answered as such. Whatever happens, the
workflow returns a `SandboxRunResult` the room can broadcast:

- the program's own outcome (OK, RUNTIME_ERROR, TIMEOUT, MEMORY, OUTPUT_LIMIT, SIGNAL,
  COMPILE_ERROR), or SANDBOX_UNAVAILABLE when the worker's host cannot isolate it, does not have
  the language, or stayed busy;
- SANDBOX_UNAVAILABLE with ``sandbox_worker_lost`` / ``sandbox_run_timed_out`` /
  ``sandbox_run_failed`` when the activity never answered (its worker died, it overran its
  timeout, it crashed); the activity's failure stays in the history for operators.

Only a request that can never run (missing ids, a program or input over the size limits) fails
the workflow, with the non-retryable ``InvalidSandboxRunRequest``: the caller checks the same
rules (`validate_run_request`) before starting, so that is a caller's bug. Cancelling the
workflow cancels the activity, which kills the sandbox.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    TimeoutError,
    TimeoutType,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from temporal.search_attributes import REQUEST_TYPE, TENANT_ID, USER_ID
    from workflows.sandbox_run_types import (
        INVALID_RUN_REQUEST_ERROR,
        RUN_ACTIVITY_TIMEOUT,
        RUN_CODE_ACTIVITY,
        RUN_FAILED,
        RUN_HEARTBEAT_TIMEOUT,
        RUN_TIMED_OUT,
        SANDBOX_REQUEST_TYPE,
        WORKER_LOST,
        WORKFLOW_NAME,
        SandboxRunRequest,
        SandboxRunResult,
        unanswered_run_result,
        validate_run_request,
    )

NEVER_RETRY = RetryPolicy(maximum_attempts=1)


def unanswered_error_code(error: ActivityError) -> str:
    """Why the activity gave no result: its worker stopped heartbeating, it overran, or it failed."""
    cause = error.cause
    if isinstance(cause, TimeoutError):
        return WORKER_LOST if cause.type == TimeoutType.HEARTBEAT else RUN_TIMED_OUT
    return RUN_FAILED


@workflow.defn(name=WORKFLOW_NAME)
class SandboxRun:
    @workflow.run
    async def run(self, request: SandboxRunRequest) -> SandboxRunResult:
        workflow.upsert_search_attributes(
            [
                TENANT_ID.value_set(request.tenant_id),
                USER_ID.value_set(request.user_id),
                REQUEST_TYPE.value_set(SANDBOX_REQUEST_TYPE),
            ]
        )
        problems = validate_run_request(request)
        if problems:
            raise ApplicationError("; ".join(problems), type=INVALID_RUN_REQUEST_ERROR, non_retryable=True)
        try:
            result: SandboxRunResult = await workflow.execute_activity(
                RUN_CODE_ACTIVITY,
                request,
                result_type=SandboxRunResult,
                start_to_close_timeout=RUN_ACTIVITY_TIMEOUT,
                heartbeat_timeout=RUN_HEARTBEAT_TIMEOUT,
                retry_policy=NEVER_RETRY,
                summary=f"run {request.language} ({len(request.source)} characters)",
            )
        except ActivityError as error:
            if is_cancelled_exception(error):
                raise  # the workflow was cancelled: the sandbox has been killed, nothing to answer
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type == INVALID_RUN_REQUEST_ERROR:
                raise ApplicationError(
                    cause.message, type=INVALID_RUN_REQUEST_ERROR, non_retryable=True
                ) from error
            code = unanswered_error_code(error)
            workflow.logger.warning("sandbox run unanswered: %s", code)
            return unanswered_run_result(request, code)
        return result
