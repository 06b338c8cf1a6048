"""YearlyVideo end to end on the real stack: the real ``video`` worker and its real activities
(content's, the renderer's, catalog's and identity's, each as its own application role),
PostgreSQL, Temporal's dev server, ffmpeg and the local store under the session's var folder.

The request row is written as the API writes it, and the run is started as the API starts it
(update-with-start, waiting for the selection). The video is small (320x320, 6 s) so the test
stays quick; it is probed with PyAV: streams, duration, resolution, a middle frame that is not
blank, and a poster that decodes.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import UUID, uuid4

import av
import pytest
from PIL import Image, ImageStat
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import CancelledError

from api.common.settings import Settings
from api.common.storage import LocalBlobStorage, local_blob_storage
from api.common.tenancy import tenant_transaction
from api.content import repository as content_repository
from api.content.piccolo_conf import build_engine as content_engine
from temporal.worker import build_worker, video_activities
from tests.integration.content.support import TokenMint
from tests.integration.content.test_report_flow import PERIOD_FROM, Person, add_poc, register_in_identity
from workflows.yearly_video_types import (
    SELECTION_UPDATE,
    TASK_QUEUE,
    VIDEO_REQUEST_TYPE,
    WORKFLOW_NAME,
    SelectionOutcome,
    VideoJob,
    VideoResult,
    video_workflow_id,
)

pytestmark = pytest.mark.integration

SIZE = 320
SECONDS = 6.0


@pytest.fixture(scope="module")
async def video_queue(settings: Settings, temporal: Client) -> AsyncIterator[str]:
    queue = f"video-flow-{uuid4().hex[:8]}"
    provider = video_activities(settings)
    async with provider, build_worker(TASK_QUEUE, temporal, settings, task_queue=queue, activities=provider):
        yield queue


@pytest.fixture(scope="module")
def storage(settings: Settings) -> LocalBlobStorage:
    return local_blob_storage(settings)


async def person_with_pocs(settings: Settings, mint: TokenMint, count: int) -> Person:
    person = Person(mint.caller(plan="PRO"), "João Conceição", f"joao-{uuid4().hex[:6]}@exemplo.com.br")
    await register_in_identity(settings, person)
    for index in range(count):
        name = f"Projeto Açaí {index + 1}"
        person.pocs[name] = await add_poc(
            settings, person, name, PERIOD_FROM + timedelta(days=20 * index + 5), tags=["api", "dados"]
        )
    return person


async def queue_video(settings: Settings, person: Person, **fields: object) -> VideoJob:
    """The request row as the API inserts it, and the job it starts the run with."""
    job = VideoJob(
        request_id=str(uuid4()),
        tenant_id=str(person.caller.tenant_id),
        user_id=str(person.caller.user_id),
        title="Meu 2025",
        format="square",
        style="aurora",
        music_track="bright",
        locale="pt_BR",
        year=2025,
        target_seconds=SECONDS,
        width=SIZE,
        height=SIZE,
    )
    for name, value in fields.items():
        setattr(job, name, value)
    engine = content_engine(settings)
    async with tenant_transaction(engine, person.caller.tenant_id) as transaction:
        await content_repository.insert_request(
            transaction.connection,
            content_repository.NewContentRequest(
                request_id=UUID(job.request_id),
                tenant_id=person.caller.tenant_id,
                user_id=person.caller.user_id,
                type=VIDEO_REQUEST_TYPE,
                title=job.title,
                locale=job.locale,
                format=job.format,
                workflow_id=video_workflow_id(job.tenant_id, job.request_id),
            ),
        )
    return job


async def start(
    temporal: Client, queue: str, job: VideoJob
) -> tuple[SelectionOutcome, WorkflowHandle[object, VideoResult]]:
    operation: WithStartWorkflowOperation[object, VideoResult] = WithStartWorkflowOperation(
        WORKFLOW_NAME,
        job,
        id=video_workflow_id(job.tenant_id, job.request_id),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        task_queue=queue,
        result_type=VideoResult,
    )
    outcome = await temporal.execute_update_with_start_workflow(
        SELECTION_UPDATE, start_workflow_operation=operation, result_type=SelectionOutcome
    )
    return outcome, await operation.workflow_handle()


async def request_row(
    settings: Settings, person: Person, job: VideoJob
) -> content_repository.ContentRequestRecord:
    engine = content_engine(settings)
    async with tenant_transaction(engine, person.caller.tenant_id) as transaction:
        record = await content_repository.fetch_request(transaction.connection, UUID(job.request_id))
    assert record is not None
    return record


def user_folder(person: Person) -> str:
    return f"videos/{person.caller.tenant_id}/{person.caller.user_id}/"


async def test_a_recap_video_completes_and_plays(
    settings: Settings, mint: TokenMint, temporal: Client, video_queue: str, storage: LocalBlobStorage
) -> None:
    person = await person_with_pocs(settings, mint, 4)
    job = await queue_video(settings, person)
    outcome, handle = await start(temporal, video_queue, job)
    result = await asyncio.wait_for(handle.result(), timeout=120)
    record = await request_row(settings, person, job)

    assert outcome == SelectionOutcome(poc_count=4, status="PROCESSING")
    assert result.status == "COMPLETED", result
    assert (record.status, record.progress, record.poc_count) == ("COMPLETED", 100, 4)
    assert (record.result_key, record.thumbnail_key) == (result.result_key, result.thumbnail_key)
    assert record.result_media_type == "video/mp4"
    assert result.result_key is not None
    assert result.thumbnail_key is not None
    files = await storage.list(user_folder(person))
    assert sorted(files) == sorted([result.result_key, result.thumbnail_key])  # no work files left
    assert await storage.list(f"tenants/{person.caller.tenant_id}/users/{person.caller.user_id}/") == []

    video = await storage.get(result.result_key)
    with av.open(io.BytesIO(video), mode="r") as container:
        kinds = sorted(stream.type for stream in container.streams)
        stream = container.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        duration = float(container.duration or 0) / 1_000_000
        frames = [frame.to_image() for frame in container.decode(video=0)]  # type: ignore[no-untyped-call]
    assert kinds == ["audio", "video"]
    assert size == (SIZE, SIZE)
    assert abs(duration - SECONDS) < 0.25
    middle = frames[len(frames) // 2]
    assert max(ImageStat.Stat(middle.convert("L")).stddev) > 5  # text and shapes, not a flat colour
    poster = Image.open(io.BytesIO(await storage.get(result.thumbnail_key)))
    poster.load()
    assert poster.size == (SIZE, SIZE)


async def test_no_pocs_fails_the_request_before_the_update_answers(
    settings: Settings, mint: TokenMint, temporal: Client, video_queue: str, storage: LocalBlobStorage
) -> None:
    person = await person_with_pocs(settings, mint, 0)
    job = await queue_video(settings, person, locale="en")
    outcome, handle = await start(temporal, video_queue, job)
    record = await request_row(settings, person, job)
    result = await handle.result()

    assert outcome == SelectionOutcome(poc_count=0, status="FAILED", error_code="NO_POCS")
    assert (record.status, record.error_code) == ("FAILED", "NO_POCS")
    assert record.error_message is not None
    assert record.error_message.startswith("You have no POCs")
    assert result.status == "FAILED"
    assert await storage.list(user_folder(person)) == []


async def test_cancelling_while_rendering_leaves_no_file(
    settings: Settings, mint: TokenMint, temporal: Client, video_queue: str, storage: LocalBlobStorage
) -> None:
    person = await person_with_pocs(settings, mint, 6)
    job = await queue_video(settings, person, target_seconds=30.0)
    _outcome, handle = await start(temporal, video_queue, job)
    for _ in range(600):
        record = await request_row(settings, person, job)
        if record.step == "rendering":
            break
        await asyncio.sleep(0.05)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as ended:
        await asyncio.wait_for(handle.result(), timeout=60)
    record = await request_row(settings, person, job)

    assert isinstance(ended.value.cause, CancelledError)
    assert record.status == "CANCELLED"
    assert record.result_key is None
    assert await storage.list(user_folder(person)) == []
    assert await storage.list(f"tenants/{person.caller.tenant_id}/users/{person.caller.user_id}/") == []
