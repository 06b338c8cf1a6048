"""Chaos: the ``video`` worker is killed outright while it renders scenes, and the recap still ends well.

The worker is a process of its own, started as the Procfile's ``worker-video`` line starts it
(``mrbill worker video``; see `WORKER_COMMAND`), polling the real ``video`` task queue of the session's
Temporal, with a temporary folder of the test's own (``TMPDIR``) so what it leaves on disk can be
counted. A person with a few POCs asks for a recap through the content API (the smallest format
the API offers; the planner's shortest length for few POCs, 30 s). Once the request says
``rendering``, a scene activity runs and its ffmpeg has its inputs on disk, the worker gets
SIGKILL: no shutdown, no cleanup, its ffmpeg children orphaned. Then a fresh worker process starts.

What must hold:
- the server finds the dead worker out only by the scenes' heartbeat timeout, and retries them on
  the new worker: the history shows a scene started again after a heartbeat timeout, by the new
  worker's identity;
- the request completes, and its video plays: H.264 and AAC streams, the planned length, the
  format's resolution, a frame from the middle that is not blank; its poster decodes;
- storage keeps the video and its poster only (no scene, plan or selection is left);
- the renderer's temporary folders the killed worker left (``mrbill-scene-<pid>-*``) and its
  scratch folder are removed by the new worker as it starts, so nothing of the run stays on disk.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image, ImageStat
from temporalio.api.enums.v1 import EventType, PendingActivityState, TaskQueueType, TimeoutType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowHandle

from api.common.settings import Settings
from api.common.storage import local_blob_storage
from infra.procfile import mrbill_command
from tests.integration.content.support import Caller, ContentClient, TokenMint, path_of, running_content
from tests.integration.content.test_report_flow import Person, add_poc, register_in_identity
from workflows.yearly_video_types import RENDER_SCENE_ACTIVITY, TASK_QUEUE, video_workflow_id

pytestmark = pytest.mark.chaos

REPO = Path(__file__).resolve().parents[2]
WORKER_COMMAND = [*mrbill_command(), "worker", TASK_QUEUE, "--wait"]
"""The Procfile's ``worker-video`` line (`infra.procfile.platform_lines`): it waits for the
infrastructure and migrates the databases its activities use (a no-op here: the session did it)."""
YEAR = 2025
POC_NAMES = ("Estação meteorológica", "Cardápio do bandejão", "Placar da várzea")
VIDEO_FORMAT = "landscape-720"
"""The smallest format the API offers: 1280x720."""
SIZE = (1280, 720)
START_TIMEOUT_SECONDS = 180.0
RENDERING_TIMEOUT_SECONDS = 120.0
VIDEO_TIMEOUT_SECONDS = 360.0
POLL_SECONDS = 0.02
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")


class VideoWorker:
    """One worker process, its output collected in a file (shown when a wait fails)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as output:
            self.process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
                WORKER_COMMAND, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def children(self) -> list[int]:
        """Its child processes now (ffmpeg, while scenes render)."""
        pids: list[int] = []
        for task in Path(f"/proc/{self.pid}/task").glob("*"):
            with suppress(OSError):
                pids.extend(int(pid) for pid in (task / "children").read_text().split())
        return pids

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        """SIGTERM, as honcho stops it; SIGKILL if it does not end within a minute."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


@contextmanager
def workers() -> Iterator[list[VideoWorker]]:
    """Started workers go in the list; whatever happens, none outlives the test."""
    started: list[VideoWorker] = []
    try:
        yield started
    finally:
        for worker in started:
            worker.stop()


def start_worker(started: list[VideoWorker], env: dict[str, str], logs: Path) -> VideoWorker:
    worker = VideoWorker(env, logs / f"worker-{len(started) + 1}.log")
    started.append(worker)
    return worker


async def wait_until_polling(temporal: Client, worker: VideoWorker) -> None:
    """Until the worker polls both the workflow and the activity side of the queue."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    kinds = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
    while True:
        if worker.process.poll() is not None:
            pytest.fail(f"the worker exited with {worker.process.returncode}:\n{worker.tail()}")
        polling = 0
        for kind in kinds:
            described = await temporal.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=temporal.namespace, task_queue=TaskQueue(name=TASK_QUEUE), task_queue_type=kind
                )
            )
            polling += any(poller.identity.startswith(f"{worker.pid}@") for poller in described.pollers)
        if polling == len(kinds):
            return
        assert time.monotonic() < deadline, f"worker {worker.pid} never polled:\n{worker.tail()}"
        await asyncio.sleep(0.2)


async def scene_running(handle: WorkflowHandle[Any, Any]) -> bool:
    described = await handle.describe()
    return any(
        pending.activity_type.name == RENDER_SCENE_ACTIVITY
        and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        for pending in described.raw_description.pending_activities
    )


async def person_with_pocs(settings: Settings, mint: TokenMint) -> Person:
    person = Person(mint.caller(plan="PRO"), "Conceição Araújo", f"caos-{os.getpid()}@exemplo.com.br")
    await register_in_identity(settings, person)
    for month, name in zip((3, 6, 9), POC_NAMES, strict=True):
        created_at = datetime(YEAR, month, 12, 15, tzinfo=UTC)
        person.pocs[name] = await add_poc(settings, person, name, created_at, tags=["iot", "caos"])
    return person


@asynccontextmanager
async def content_api(settings: Settings, mint: TokenMint, temporal: Client) -> AsyncIterator[ContentClient]:
    """The content API, starting its YearlyVideo runs on the real ``video`` queue."""
    async with running_content(
        settings, mint, temporal_client=temporal, video_task_queue=TASK_QUEUE
    ) as client:
        yield client


async def read_video(client: ContentClient, caller: Caller, video_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/videos/{video_id}", headers=caller.headers)
    assert response.status_code == 200, response.text
    video: dict[str, Any] = response.json()
    return video


def stale_files(temp_dir: Path, pid: int) -> list[Path]:
    """What a worker with this pid has on disk under the temporary folder."""
    return [
        *temp_dir.glob(f"mrbill-scene-{pid}-*"),
        *temp_dir.glob(f"mrbill-assemble-{pid}-*"),
        *temp_dir.glob(f"mrbill-video/{pid}"),
    ]


def wait_for_exit(pids: list[int], timeout: float = 60.0) -> list[int]:
    """The orphaned ffmpeg processes run their scene to its end; then they are gone. Any still
    alive after `timeout` is killed (it is this test's), and returned."""
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _running(pid)]
        time.sleep(0.1)
    for pid in alive:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return alive


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def files_under(root: Path, folder: str) -> list[str]:
    """Every file under `folder` of the store, hidden ones (half-written uploads) included."""
    return sorted(path.relative_to(root).as_posix() for path in (root / folder).rglob("*") if path.is_file())


def history_of_scenes(events: list[HistoryEvent]) -> tuple[int, list[Any], int]:
    """Scene activities scheduled, their start records, and how many completed."""
    scheduled = {
        event.event_id
        for event in events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == RENDER_SCENE_ACTIVITY
    }
    started = [
        event.activity_task_started_event_attributes
        for event in events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and event.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]
    completed = sum(
        1
        for event in events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        and event.activity_task_completed_event_attributes.scheduled_event_id in scheduled
    )
    return len(scheduled), started, completed


def probe(video: bytes) -> tuple[list[str], tuple[int, int], float, Image.Image]:
    """Stream codecs, resolution, duration, and the frame in the middle."""
    with av.open(io.BytesIO(video), mode="r") as container:
        codecs = sorted(f"{stream.type}:{stream.codec_context.name}" for stream in container.streams)
        stream = container.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        duration = float(container.duration or 0) / 1_000_000
        container.seek(int(duration / 2 * 1_000_000))
        middle = next(container.decode(video=0)).to_image()  # type: ignore[no-untyped-call]
    return codecs, size, duration, middle


@pytest.mark.timeout(900)
async def test_a_killed_video_worker_loses_no_video_and_leaves_no_file(
    settings: Settings, mint: TokenMint, temporal: Client, tmp_path: Path
) -> None:
    temp_dir = tmp_path / "tmp"
    temp_dir.mkdir()
    env = {**os.environ, "TMPDIR": str(temp_dir)}
    person = await person_with_pocs(settings, mint)
    caller = person.caller
    orphans: list[int] = []

    with workers() as started:
        first = start_worker(started, env, tmp_path)
        await wait_until_polling(temporal, first)
        async with content_api(settings, mint, temporal) as client:
            response = await client.post(
                "/v1/videos",
                json={
                    "year": YEAR,
                    "title": "Retrospectiva à prova de quedas",
                    "format": VIDEO_FORMAT,
                    "style": "terminal",
                    "musicTrack": "lofi",
                    "locale": "pt-BR",
                },
                headers=caller.headers,
            )
            assert response.status_code == 202, response.text
            video_id = response.json()["id"]
            handle = temporal.get_workflow_handle(video_workflow_id(str(caller.tenant_id), video_id))

            steps: list[tuple[str, str | None, int]] = []
            deadline = time.monotonic() + RENDERING_TIMEOUT_SECONDS
            while True:
                video = await read_video(client, caller, video_id)
                if not steps or steps[-1] != (video["status"], video["step"], video["progress"]):
                    steps.append((video["status"], video["step"], video["progress"]))
                assert video["status"] not in TERMINAL, f"ended before it was killed: {steps}"
                assert time.monotonic() < deadline, f"never rendering with a scene running: {steps}"
                if video["step"] == "rendering" and await scene_running(handle):
                    rendering = list(temp_dir.glob(f"mrbill-scene-{first.pid}-*"))
                    if rendering:
                        orphans = first.children()
                        first.kill()
                        break
                await asyncio.sleep(POLL_SECONDS)

            left_behind = stale_files(temp_dir, first.pid)
            assert any(path.name.startswith("mrbill-scene-") for path in left_behind), (
                "a SIGKILL leaves the renderer's folders behind; the sweep below must remove them"
            )
            assert (temp_dir / "mrbill-video" / str(first.pid)).is_dir()
            assert wait_for_exit(orphans) == [], "orphaned ffmpeg processes ran on past a minute"

            second = start_worker(started, env, tmp_path)
            await wait_until_polling(temporal, second)
            assert stale_files(temp_dir, first.pid) == [], "the new worker sweeps what the dead one left"

            deadline = time.monotonic() + VIDEO_TIMEOUT_SECONDS
            while video["status"] not in TERMINAL:
                assert time.monotonic() < deadline, f"{video_id} still {video['status']}: {steps}"
                await asyncio.sleep(0.25)
                video = await read_video(client, caller, video_id)
                if steps[-1] != (video["status"], video["step"], video["progress"]):
                    steps.append((video["status"], video["step"], video["progress"]))
            assert video["status"] == "COMPLETED", (video, second.tail())
            assert video["pocCount"] == len(POC_NAMES)

            downloaded = await client.get(path_of(video["downloadUrl"]))
            assert downloaded.status_code == 200
            assert downloaded.headers["content-type"] == "video/mp4"
            poster = await client.get(path_of(video["thumbnailUrl"]))
            assert poster.status_code == 200

        history = await handle.fetch_history()
        scheduled, scene_starts, completed = history_of_scenes(list(history.events))
        retried = [start for start in scene_starts if start.attempt > 1]
        assert retried, "no scene was started again after the kill"
        for start in retried:
            assert start.last_failure.timeout_failure_info.timeout_type == TimeoutType.TIMEOUT_TYPE_HEARTBEAT
            assert start.identity.startswith(f"{second.pid}@"), start.identity
        assert completed == scheduled == len(scene_starts)

        scratch = temp_dir / "mrbill-video"
        assert sorted(path.name for path in (scratch / str(second.pid)).iterdir()) == [], (
            "every activity's scratch folder is removed at its end"
        )
        assert second.stop() == 0, second.tail()

    codecs, size, duration, middle = probe(downloaded.content)
    assert codecs == ["audio:aac", "video:h264"]
    assert size == SIZE
    assert 30.0 - 0.1 <= duration <= 90.0 + 0.1
    assert max(ImageStat.Stat(middle.convert("L")).stddev) > 5, "the middle frame shows text and shapes"
    image = Image.open(io.BytesIO(poster.content))
    image.load()
    assert image.size == SIZE

    storage = local_blob_storage(settings)
    user_files = files_under(storage.root, f"videos/{caller.tenant_id}/{caller.user_id}")
    assert user_files == sorted(
        [
            f"videos/{caller.tenant_id}/{caller.user_id}/{YEAR}/{video_id}.mp4",
            f"videos/{caller.tenant_id}/{caller.user_id}/thumbnails/{video_id}.jpg",
        ]
    ), "only the video and its poster stay in storage"
    assert files_under(storage.root, f"tenants/{caller.tenant_id}") == [], "no selection is left"

    leftovers = [
        path.name
        for path in temp_dir.iterdir()
        if path.name.startswith(("mrbill-scene-", "mrbill-assemble-"))
    ]
    assert leftovers == []
    assert sorted(path.name for path in scratch.iterdir()) == ["music"], "a stopped worker removes its folder"
    assert [path.name for path in (scratch / "music").iterdir() if path.name.startswith(".")] == []
    assert steps[0][0] in ("PENDING", "PROCESSING")
    assert ("PROCESSING", "rendering") in {(status, step) for status, step, _progress in steps}
