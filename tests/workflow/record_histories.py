"""Record workflow histories for the replay tests: ``python -m tests.workflow.record_histories``.

TenantOnboarding's go to ``histories/`` (replayed by test_replay), ReportGeneration's to
``histories/report_generation/`` (replayed by test_report_generation); name the latter
``report/<scenario>``. UserInvitation's go to ``histories/user_invitation/`` (replayed by
test_user_invitation); name them ``invitation/<scenario>``.

Run it when the workflow changes on purpose (with a new version of the workflow, or once no
execution of the old code is still running), and commit the JSON files it writes: from then
on, test_replay checks that the code can still replay every recorded execution.

Without arguments it records only the scenarios that have no history yet: the histories of
older versions of the workflow (before the search index step, say) are the point of the
replay test and must not be overwritten by the current code. Name scenarios to re-record them.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from api.common.settings import Settings
from temporal.converter import data_converter
from temporal.search_attributes import ensure_search_attributes
from temporal.worker import build_worker
from tests.workflow.invitation_standins import StandInInvitationActivities
from tests.workflow.report_standins import StandInReportActivities
from tests.workflow.standins import StandInIdentityActivities, always, non_retryable
from tests.workflow.video_standins import StandInVideoActivities
from workflows.report_generation_types import RENDER_REPORT_ACTIVITY, SELECT_REPORT_POCS_ACTIVITY, ReportJob
from workflows.report_generation_types import TASK_QUEUE as REPORT_TASK_QUEUE
from workflows.report_generation_types import WORKFLOW_NAME as REPORT_WORKFLOW_NAME
from workflows.tenant_onboarding_types import (
    SEARCH_INDEX_STEP,
    TASK_QUEUE,
    WORKFLOW_NAME,
    OnboardingInput,
    OnboardingProgress,
)
from workflows.user_invitation_types import TASK_QUEUE as INVITATION_TASK_QUEUE
from workflows.user_invitation_types import WORKFLOW_NAME as INVITATION_WORKFLOW_NAME
from workflows.user_invitation_types import InvitationRequest, invitation_workflow_id
from workflows.yearly_video_types import RENDER_SCENE_ACTIVITY, VideoJob
from workflows.yearly_video_types import TASK_QUEUE as VIDEO_TASK_QUEUE
from workflows.yearly_video_types import WORKFLOW_NAME as VIDEO_WORKFLOW_NAME

HISTORIES = Path(__file__).parent / "histories"
REPORT_HISTORIES = HISTORIES / "report_generation"
INVITATION_HISTORIES = HISTORIES / "user_invitation"
VIDEO_HISTORIES = HISTORIES / "yearly_video"
logger = logging.getLogger(__name__)

Scenario = tuple[
    StandInIdentityActivities, Callable[[WorkflowHandle[object, OnboardingProgress]], Awaitable[None]]
]


async def _wait_for_result(handle: WorkflowHandle[Any, Any]) -> None:
    try:
        await handle.result()
    except WorkflowFailureError:
        pass


def scenarios() -> dict[str, Scenario]:
    blocked = StandInIdentityActivities(block_at="create_storage_prefix")

    async def cancel_when_blocked(handle: WorkflowHandle[object, OnboardingProgress]) -> None:
        await asyncio.wait_for(blocked.blocked.wait(), timeout=30)
        await handle.cancel()
        await _wait_for_result(handle)

    return {
        "completed": (StandInIdentityActivities(), _wait_for_result),
        "compensated_after_email_failed": (
            StandInIdentityActivities(failures={"send_welcome_email": always("mail server down")}),
            _wait_for_result,
        ),
        "slug_taken": (
            StandInIdentityActivities(
                failures={"create_tenant": non_retryable("SlugTaken", "the slug 'acme' is already taken")}
            ),
            _wait_for_result,
        ),
        "cancelled_during_storage": (blocked, cancel_when_blocked),
        # Recorded with the search index step (the create-tenant-search-index patch):
        "completed_with_search_index": (StandInIdentityActivities(), _wait_for_result),
        "compensated_after_search_index_failed": (
            StandInIdentityActivities(failures={SEARCH_INDEX_STEP: always("search engine down")}),
            _wait_for_result,
        ),
    }


async def record(env: WorkflowEnvironment, name: str, scenario: Scenario) -> Path:
    standins, drive = scenario
    task_queue = f"record-{name}-{uuid4()}"
    workflow_id = f"tenant-onboarding/{name.replace('_', '-')}"
    worker = build_worker(TASK_QUEUE, env.client, Settings(), task_queue=task_queue, activities=standins)
    async with worker, standins:
        handle: WorkflowHandle[object, OnboardingProgress] = await env.client.start_workflow(
            WORKFLOW_NAME,
            OnboardingInput(
                tenant_name="Acme Ltda",
                slug="acme",
                admin_email="owner@acme.example",
                admin_password_hash="$argon2id$v=19$m=1024,t=1,p=1$recorded$hash",
                admin_full_name="Ana Souza",
                locale="pt_BR",
                search_task_queue=task_queue,
            ),
            id=workflow_id,
            task_queue=task_queue,
            result_type=OnboardingProgress,
        )
        await drive(handle)
        history = await handle.fetch_history()
    path = HISTORIES / f"{name}.json"
    path.write_text(history.to_json() + "\n")
    return path


ReportScenario = tuple[StandInReportActivities, Callable[[WorkflowHandle[object, object]], Awaitable[None]]]


def report_scenarios() -> dict[str, ReportScenario]:
    blocked = StandInReportActivities(block_at=RENDER_REPORT_ACTIVITY)

    async def cancel_when_blocked(handle: WorkflowHandle[object, object]) -> None:
        await asyncio.wait_for(blocked.blocked.wait(), timeout=30)
        await handle.cancel()
        await _wait_for_result(handle)

    async def wait(handle: WorkflowHandle[object, object]) -> None:
        await _wait_for_result(handle)

    return {
        "completed": (StandInReportActivities(poc_count=12), wait),
        "failed_at_render": (
            StandInReportActivities(failures={RENDER_REPORT_ACTIVITY: always("renderer crashed")}),
            wait,
        ),
        "too_many_pocs": (
            StandInReportActivities(
                failures={SELECT_REPORT_POCS_ACTIVITY: non_retryable("TooManyPocs", "20001 POCs")}
            ),
            wait,
        ),
        "cancelled_during_render": (blocked, cancel_when_blocked),
    }


async def record_report(env: WorkflowEnvironment, name: str, scenario: ReportScenario) -> Path:
    standins, drive = scenario
    task_queue = f"record-report-{name}-{uuid4()}"
    job = ReportJob(
        request_id="00000000-0000-4000-8000-000000000001",
        tenant_id="00000000-0000-4000-8000-0000000000aa",
        user_id="00000000-0000-4000-8000-0000000000bb",
        title="Minhas POCs de 2026",
        format="pdf",
        locale="pt_BR",
        from_date="2026-01-01T00:00:00-03:00",
        to_date="2027-01-01T00:00:00-03:00",
        group_by=["language", "month"],
    )
    worker = build_worker(
        REPORT_TASK_QUEUE, env.client, Settings(), task_queue=task_queue, activities=standins
    )
    async with worker, standins:
        handle: WorkflowHandle[object, object] = await env.client.start_workflow(
            REPORT_WORKFLOW_NAME, job, id=f"report/recorded/{name}/{uuid4()}", task_queue=task_queue
        )
        await drive(handle)
        history = await handle.fetch_history()
    REPORT_HISTORIES.mkdir(parents=True, exist_ok=True)
    path = REPORT_HISTORIES / f"{name}.json"
    path.write_text(history.to_json() + "\n")
    return path


def invitation_scenarios() -> dict[str, StandInInvitationActivities]:
    return {
        "sent": StandInInvitationActivities(),
        "skipped": StandInInvitationActivities(skip_reason="revoked"),
        "mail_rejected": StandInInvitationActivities(
            failure=non_retryable("MailRejected", "the mail service refused the address")
        ),
    }


async def record_invitation(
    env: WorkflowEnvironment, name: str, standins: StandInInvitationActivities
) -> Path:
    task_queue = f"record-invitation-{name}-{uuid4()}"
    request = InvitationRequest(
        tenant_id="00000000-0000-4000-8000-0000000000aa",
        user_id="00000000-0000-4000-8000-0000000000cc",
        invitation_id="00000000-0000-4000-8000-0000000000dd",
    )
    worker = build_worker(
        INVITATION_TASK_QUEUE, env.client, Settings(), task_queue=task_queue, activities=standins
    )
    async with worker, standins:
        handle: WorkflowHandle[object, object] = await env.client.start_workflow(
            INVITATION_WORKFLOW_NAME,
            request,
            id=f"{invitation_workflow_id(request.tenant_id, request.user_id, request.invitation_id)}/{name}",
            task_queue=task_queue,
        )
        await _wait_for_result(handle)
        history = await handle.fetch_history()
    INVITATION_HISTORIES.mkdir(parents=True, exist_ok=True)
    path = INVITATION_HISTORIES / f"{name}.json"
    path.write_text(history.to_json() + "\n")
    return path


VideoScenario = tuple[StandInVideoActivities, Callable[[WorkflowHandle[object, object]], Awaitable[None]]]


def video_scenarios() -> dict[str, VideoScenario]:
    """YearlyVideo's, in ``histories/yearly_video/`` (replayed by test_yearly_video): ``video/<scenario>``."""
    blocked = StandInVideoActivities(block_at=RENDER_SCENE_ACTIVITY)

    async def cancel_when_blocked(handle: WorkflowHandle[object, object]) -> None:
        await asyncio.wait_for(blocked.blocked.wait(), timeout=30)
        await handle.cancel()
        await _wait_for_result(handle)

    async def wait(handle: WorkflowHandle[object, object]) -> None:
        await _wait_for_result(handle)

    return {
        "completed": (StandInVideoActivities(poc_count=12, scene_count=5), wait),
        "no_pocs": (StandInVideoActivities(poc_count=0), wait),
        "failed_at_render": (
            StandInVideoActivities(scene_count=3, failures={RENDER_SCENE_ACTIVITY: always("ffmpeg crashed")}),
            wait,
        ),
        "cancelled_during_render": (blocked, cancel_when_blocked),
    }


async def record_video(env: WorkflowEnvironment, name: str, scenario: VideoScenario) -> Path:
    standins, drive = scenario
    task_queue = f"record-video-{name}-{uuid4()}"
    job = VideoJob(
        request_id="00000000-0000-4000-8000-000000000002",
        tenant_id="00000000-0000-4000-8000-0000000000aa",
        user_id="00000000-0000-4000-8000-0000000000bb",
        title="Meu ano em POCs",
        format="square",
        style="aurora",
        music_track="bright",
        locale="pt_BR",
        year=2026,
    )
    worker = build_worker(
        VIDEO_TASK_QUEUE, env.client, Settings(), task_queue=task_queue, activities=standins
    )
    async with worker, standins:
        handle: WorkflowHandle[object, object] = await env.client.start_workflow(
            VIDEO_WORKFLOW_NAME, job, id=f"video/recorded/{name}/{uuid4()}", task_queue=task_queue
        )
        await drive(handle)
        history = await handle.fetch_history()
    VIDEO_HISTORIES.mkdir(parents=True, exist_ok=True)
    path = VIDEO_HISTORIES / f"{name}.json"
    path.write_text(history.to_json() + "\n")
    return path


async def main(names: list[str]) -> None:
    every = scenarios()
    reports = report_scenarios()
    invitations = invitation_scenarios()
    videos = video_scenarios()
    known = [
        *every,
        *(f"report/{name}" for name in reports),
        *(f"invitation/{name}" for name in invitations),
        *(f"video/{name}" for name in videos),
    ]
    unknown = set(names) - set(known)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}; known: {', '.join(known)}")
    chosen = names or [
        *(name for name in every if not (HISTORIES / f"{name}.json").exists()),
        *(f"report/{name}" for name in reports if not (REPORT_HISTORIES / f"{name}.json").exists()),
        *(
            f"invitation/{name}"
            for name in invitations
            if not (INVITATION_HISTORIES / f"{name}.json").exists()
        ),
        *(f"video/{name}" for name in videos if not (VIDEO_HISTORIES / f"{name}.json").exists()),
    ]
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter,
        test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"),
    )
    try:
        await ensure_search_attributes(env.client, env.client.namespace)
        HISTORIES.mkdir(exist_ok=True)
        for name in chosen:
            if name.startswith("report/"):
                report = name.removeprefix("report/")
                logger.info("recorded %s", await record_report(env, report, reports[report]))
            elif name.startswith("video/"):
                scenario = name.removeprefix("video/")
                logger.info("recorded %s", await record_video(env, scenario, videos[scenario]))
            elif name.startswith("invitation/"):
                scenario = name.removeprefix("invitation/")
                logger.info("recorded %s", await record_invitation(env, scenario, invitations[scenario]))
            else:
                logger.info("recorded %s", await record(env, name, every[name]))
    finally:
        await env.shutdown()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    asyncio.run(main(sys.argv[1:]))
