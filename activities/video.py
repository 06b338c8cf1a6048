"""Side effects of the YearlyVideo workflow: plan the timeline, render scenes, assemble, end the request.

`VideoActivities` extends content's `ContentActivities` (one engine as content's application
role, one blob store): claiming, cancelling and deleting files are the very activities reports
use (the repository is type-agnostic), while the plan, the scenes, the assembly, the completion
(which also records the poster) and the failure (whose message speaks of a video) are its own.

Between steps everything travels through storage under the run's work prefix: the selection
(written by the catalog), the plan, the POCs' images (copied once, so every scene draws the same
picture) and one MP4 segment per scene, keyed by request and scene index. A scene whose segment
exists is not rendered again, so a scene retried after its worker died, or a retried workflow
task, costs a lookup. Each activity works in a scratch folder of its own, removed at its end;
what a worker killed outright leaves (its scratch folder, the renderer's ``mrbill-scene-*`` and
``mrbill-assemble-*`` folders, half-written soundtracks) is swept when the next worker starts on
that host (`api.content.video.scratch`).

Rendering is CPU-bound and synchronous: it runs in a thread while the activity heartbeats with
its progress; once Temporal says the run was cancelled, the renderer's next progress call raises,
which stops ffmpeg, and nothing is uploaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar
from uuid import UUID

from piccolo.engine.postgres import PostgresEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.content import ContentActivities, _uuid
from api.common.i18n import N_, normalize_locale, translate
from api.common.settings import Settings
from api.common.storage import BlobStorage, local_blob_storage
from api.common.tenancy import tenant_transaction
from api.content import repository
from api.content.piccolo_conf import build_engine
from api.content.reports.aggregate import decode_pocs
from api.content.video.compose import ThumbnailSource
from api.content.video.encode import assemble, make_thumbnail
from api.content.video.ffmpeg import FFmpeg, FFmpegError
from api.content.video.model import InvalidVideoOptionsError, VideoOptions
from api.content.video.music import track_path
from api.content.video.scenes import render_scene
from api.content.video.scratch import pid_alive, sweep_stale_partials, sweep_stale_scratch, temp_root
from api.content.video.timeline import NothingToPlanError, decode_plan, encode_plan, plan_timeline
from api.content.video.timeline import scene_thumbnail_ids as thumbnail_ids_of
from workflows.report_generation_types import (
    INVALID_REQUEST_ERROR,
    OWNER_NOT_FOUND_ERROR,
    REJECTION_ERROR_CODES,
    FailRequest,
    RequestOutcome,
)
from workflows.yearly_video_types import (
    ASSEMBLE_VIDEO_ACTIVITY,
    COMPLETE_VIDEO_ACTIVITY,
    FAIL_VIDEO_ACTIVITY,
    NO_POCS_ERROR_CODE,
    PLAN_VIDEO_ACTIVITY,
    RENDER_SCENE_ACTIVITY,
    REQUEST_STEPS,
    STEP_ASSEMBLE,
    STEP_CLAIM,
    STEP_COMPLETE,
    STEP_PLAN,
    STEP_PROFILE,
    STEP_RENDER,
    STEP_SELECT,
    STEP_STARTS_AT,
    THUMBNAIL_MEDIA_TYPE,
    VIDEO_MEDIA_TYPE,
    AssembledVideo,
    AssembleRequest,
    CompleteVideoRequest,
    RenderedScene,
    SceneRequest,
    VideoPlan,
    VideoPlanRequest,
    VideoSpec,
    video_image_key,
    video_plan_key,
)

T = TypeVar("T")

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 1.0
"""How often scene and assembly activities report; the worker's throttle decides what reaches the server."""
SCRATCH_ROOT_NAME = "mrbill-video"
"""Under the system's temporary folder: one folder per worker process (by pid), one per activity in it."""
MUSIC_CACHE_NAME = "music"
"""Under the scratch root: soundtracks cut to a length, kept for every video of that length."""

STEP_PHRASES: dict[str, str] = {
    STEP_CLAIM: N_("starting the video"),
    STEP_PROFILE: N_("reading your profile"),
    STEP_SELECT: N_("selecting your POCs"),
    STEP_PLAN: N_("planning the scenes"),
    STEP_RENDER: N_("drawing the scenes"),
    STEP_ASSEMBLE: N_("joining the scenes and the music"),
    STEP_COMPLETE: N_("finishing the request"),
}
"""What the video was doing when it failed, completing the sentence of `video_failure_message`."""


def video_failure_message(request: FailRequest) -> str:
    """The request's ``error_message``: what went wrong, and what the person can do, in their language."""
    locale = normalize_locale(request.locale) or "pt_BR"
    code = request.error_code
    if code == NO_POCS_ERROR_CODE:
        return translate(
            locale,
            "You have no POCs in this period, so there is no video to make. "
            "Choose another period or other tags and request it again.",
        )
    if code == REJECTION_ERROR_CODES[OWNER_NOT_FOUND_ERROR]:
        return translate(
            locale, "Your account could not be found in this organisation, so the video was not made."
        )
    if code in REJECTION_ERROR_CODES.values():
        return translate(
            locale,
            "The video request could not be understood. "
            "Check its period, format, style and music, then request it again.",
        )
    phrase = STEP_PHRASES.get(request.step or "", STEP_PHRASES[STEP_CLAIM])
    return translate(
        locale,
        "The video could not be finished while {step}. Nothing was kept: "
        "please request it again in a few minutes.",
        step=translate(locale, phrase),
    )


def video_options(spec: VideoSpec) -> VideoOptions:
    """The renderer's options; options no renderer can honour are the request's fault, not retried."""
    try:
        return VideoOptions(
            title=spec.title,
            owner_name=spec.owner_name,
            format=spec.format,
            style=spec.style,
            music_track=spec.music_track,
            locale=normalize_locale(spec.locale) or spec.locale,
            time_zone=spec.time_zone,
            year=spec.year,
            period_from=datetime.fromisoformat(spec.from_date)
            if spec.year is None and spec.from_date
            else None,
            period_to=datetime.fromisoformat(spec.to_date) if spec.year is None and spec.to_date else None,
            size=(spec.width, spec.height) if spec.width and spec.height else None,
        )
    except (InvalidVideoOptionsError, ValueError) as exc:
        raise ApplicationError(str(exc), type=INVALID_REQUEST_ERROR, non_retryable=True) from exc


class SceneRenderer(Protocol):
    """`api.content.video.scenes.render_scene`'s signature (a test slows it down to kill its worker)."""

    def __call__(
        self,
        plan: Any,
        index: int,
        options: VideoOptions,
        output_path: Path,
        *,
        progress: Callable[[float], None] | None = None,
        thumbnails: Mapping[str, ThumbnailSource] | None = None,
        ffmpeg: FFmpeg | None = None,
    ) -> Path: ...


class _Stopped(Exception):
    """Raised inside the renderer's thread, at its next progress call, once the activity was cancelled."""


def sweep_scratch(root: Path) -> list[Path]:
    """Remove the scratch folders of worker processes that no longer run (killed mid-render)."""
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for folder in root.iterdir():
        if folder.is_dir() and folder.name.isdigit() and not pid_alive(int(folder.name)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


class VideoActivities(ContentActivities):
    """The video workflow's activities on content's database, storage, and ffmpeg; one per worker."""

    def __init__(
        self,
        engine: PostgresEngine,
        storage: BlobStorage,
        *,
        pool_min: int = 1,
        pool_max: int = 5,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        concurrency: int = 2,
        ffmpeg: FFmpeg | None = None,
        scratch_root: Path | None = None,
        scene_renderer: SceneRenderer = render_scene,
    ) -> None:
        super().__init__(
            engine, storage, pool_min=pool_min, pool_max=pool_max, heartbeat_seconds=heartbeat_seconds
        )
        self.concurrency = max(1, concurrency)
        self.ffmpeg = ffmpeg or FFmpeg.locate()
        self.scratch_root = scratch_root or Path(tempfile.gettempdir()) / SCRATCH_ROOT_NAME
        self.renderer_temp_root = temp_root()
        """Where the renderer makes its temporary folders (the system's temporary folder)."""
        self._scene_renderer = scene_renderer

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            build_engine(settings),
            local_blob_storage(settings),
            pool_min=settings.db_pool_min,
            pool_max=settings.db_pool_max,
            concurrency=settings.video_render_concurrency,
            ffmpeg=FFmpeg.locate(settings.ffmpeg_path),
        )

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.sweep_stale_files)
        return await super().__aenter__()

    def sweep_stale_files(self) -> list[Path]:
        """Remove what workers killed on this host left behind: their scratch folders, the
        renderer's temporary folders and half-written soundtracks; the paths removed."""
        swept = [
            *sweep_scratch(self.scratch_root),
            *sweep_stale_scratch(self.renderer_temp_root),
            *sweep_stale_partials(self.scratch_root / MUSIC_CACHE_NAME),
        ]
        if swept:
            logger.info("removed %d files and folders of stopped workers", len(swept))
        return swept

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await super().__aexit__(exc_type, exc, traceback)
        await asyncio.to_thread(shutil.rmtree, self.scratch_root / str(os.getpid()), True)

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [
            self.claim_report_request,
            self.cancel_report,
            self.discard_report_files,
            self.plan_video,
            self.render_video_scene,
            self.assemble_video,
            self.complete_video,
            self.fail_video,
        ]

    # -- helpers -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _scratch(self) -> Iterator[Path]:
        """A folder for one activity's files, under this process's own folder; removed at the end."""
        own = self.scratch_root / str(os.getpid())
        own.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="activity-", dir=own))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    async def _heartbeating(self, work: Callable[[Callable[[float], None]], T], details: dict[str, Any]) -> T:
        """Run `work(progress)` in a thread, heartbeating its progress; stop it at its next progress
        call when the activity is cancelled (or anything else interrupts the wait)."""
        stop = threading.Event()
        fraction = [0.0]

        def on_progress(value: float) -> None:
            if stop.is_set():
                raise _Stopped
            fraction[0] = value

        running = asyncio.ensure_future(asyncio.to_thread(work, on_progress))
        try:
            while True:
                done, _pending = await asyncio.wait({running}, timeout=self._heartbeat_seconds)
                activity.heartbeat({**details, "fraction": round(fraction[0], 3)})
                if done:
                    break
        except BaseException:
            stop.set()
            with contextlib.suppress(BaseException):
                await running
            raise
        return running.result()

    def _warm_music(self, options: VideoOptions, seconds: float) -> None:
        """Make the soundtrack while the scenes render (a thread of its own, as one more scene would
        be), so the assembly on this host finds it in the cache; any failure is the assembly's to see."""
        track = options.music_track
        if track is None:
            return

        def make() -> None:
            with contextlib.suppress(Exception):
                track_path(track, seconds, self.scratch_root / MUSIC_CACHE_NAME, ffmpeg=self.ffmpeg)

        threading.Thread(target=make, name=f"music-{track}", daemon=True).start()

    async def _images(self, spec_keys: Mapping[str, str]) -> dict[str, bytes]:
        images: dict[str, bytes] = {}
        for poc_id, key in spec_keys.items():
            if await self.storage.exists(key):
                images[poc_id] = await self.storage.get(key)
        return images

    # -- the steps -----------------------------------------------------------------------------

    @activity.defn(name=PLAN_VIDEO_ACTIVITY)
    async def plan_video(self, request: VideoPlanRequest) -> VideoPlan:
        """Record the selected POCs, copy their images, and store the timeline every scene renders from."""
        tenant_id = _uuid(request.tenant_id, "tenant_id")
        request_id = _uuid(request.request_id, "request_id")
        await self._record_progress(
            request.tenant_id, request.request_id, STEP_STARTS_AT[STEP_PLAN], REQUEST_STEPS[STEP_PLAN]
        )
        options = video_options(request.spec)
        pocs = decode_pocs(await self._work_file(request.pocs_key))
        with_images: set[str] = set()
        for poc in pocs:
            if not poc.thumbnail_key:
                continue
            target = video_image_key(request.tenant_id, request.user_id, request.request_id, poc.poc_id)
            if not await self.storage.exists(target):
                if not await self.storage.exists(poc.thumbnail_key):
                    continue  # an image gone meanwhile: the POC's scene draws without it
                await self.storage.put(target, await self.storage.get(poc.thumbnail_key))
            with_images.add(poc.poc_id)
        try:
            plan = await asyncio.to_thread(
                plan_timeline,
                pocs,
                options,
                thumbnails=with_images,
                target_seconds=request.spec.target_seconds,
            )
        except NothingToPlanError as exc:
            raise ApplicationError(str(exc), type=INVALID_REQUEST_ERROR, non_retryable=True) from exc
        except ValueError as exc:
            raise ApplicationError(str(exc), type=INVALID_REQUEST_ERROR, non_retryable=True) from exc
        async with tenant_transaction(self.engine, tenant_id) as transaction:
            await repository.record_selected_pocs(
                transaction.connection, tenant_id, request_id, [UUID(poc.poc_id) for poc in pocs]
            )
        key = video_plan_key(request.tenant_id, request.user_id, request.request_id)
        await self.storage.put(key, encode_plan(plan), "application/json")
        self._warm_music(options, plan.duration)
        await self._record_progress(request.tenant_id, request.request_id, request.progress, request.step)
        return VideoPlan(
            plan_key=key,
            poc_count=len(pocs),
            scene_count=len(plan.scenes),
            duration=plan.duration,
            frames=plan.frames,
            concurrency=self.concurrency,
        )

    @activity.defn(name=RENDER_SCENE_ACTIVITY)
    async def render_video_scene(self, request: SceneRequest) -> RenderedScene:
        """Scene `index` as an MP4 segment under the work prefix; skipped when it is there already."""
        if await self.storage.exists(request.scene_key):
            activity.logger.info("scene %d of video %s exists: skipped", request.index, request.request_id)
            return RenderedScene(key=request.scene_key, index=request.index, skipped=True)
        options = video_options(request.spec)
        plan = decode_plan(await self._work_file(request.plan_key))
        if not 0 <= request.index < len(plan.scenes):
            raise ApplicationError(
                f"scene {request.index} is not in the plan", type=INVALID_REQUEST_ERROR, non_retryable=True
            )
        wanted = {
            poc_id: video_image_key(request.tenant_id, request.user_id, request.request_id, poc_id)
            for poc_id in thumbnail_ids_of(plan, request.index)
        }
        pictures: dict[str, ThumbnailSource] = dict(await self._images(wanted))
        with self._scratch() as folder:
            output = folder / f"scene-{request.index:04d}.mp4"

            def work(progress: Callable[[float], None]) -> Path:
                return self._scene_renderer(
                    plan,
                    request.index,
                    options,
                    output,
                    progress=progress,
                    thumbnails=pictures,
                    ffmpeg=self.ffmpeg,
                )

            try:
                await self._heartbeating(work, {"scene": request.index})
            except FFmpegError as exc:
                raise ApplicationError(f"scene {request.index}: {exc.summary}", type="SceneFailed") from exc
            data = await asyncio.to_thread(output.read_bytes)
        await self.storage.put(request.scene_key, data, VIDEO_MEDIA_TYPE)
        await self._record_progress(request.tenant_id, request.request_id, request.progress, request.step)
        return RenderedScene(key=request.scene_key, index=request.index, skipped=False)

    @activity.defn(name=ASSEMBLE_VIDEO_ACTIVITY)
    async def assemble_video(self, request: AssembleRequest) -> AssembledVideo:
        """Join the segments with the soundtrack, draw the poster, and upload both under their keys."""
        await self._record_progress(
            request.tenant_id, request.request_id, STEP_STARTS_AT[STEP_ASSEMBLE], REQUEST_STEPS[STEP_ASSEMBLE]
        )
        options = video_options(request.spec)
        plan = decode_plan(await self._work_file(request.plan_key))
        with self._scratch() as folder:
            segments: list[Path] = []
            for index, key in enumerate(request.scene_keys):
                path = folder / f"scene-{index:04d}.mp4"
                await asyncio.to_thread(path.write_bytes, await self._work_file(key))
                segments.append(path)
            output = folder / "video.mp4"
            poster = folder / "thumbnail.jpg"
            music_cache = self.scratch_root / MUSIC_CACHE_NAME

            def work(progress: Callable[[float], None]) -> None:
                music = (
                    track_path(options.music_track, plan.duration, music_cache, ffmpeg=self.ffmpeg)
                    if options.music_track
                    else None
                )
                progress(0.2)
                assemble(
                    segments,
                    plan,
                    options,
                    music,
                    output,
                    progress=lambda fraction: progress(0.2 + 0.7 * fraction),
                    ffmpeg=self.ffmpeg,
                )
                make_thumbnail(plan, options, poster)
                progress(1.0)

            try:
                await self._heartbeating(work, {"step": STEP_ASSEMBLE})
            except FFmpegError as exc:
                raise ApplicationError(f"assembly: {exc.summary}", type="AssemblyFailed") from exc
            data = await asyncio.to_thread(output.read_bytes)
            picture = await asyncio.to_thread(poster.read_bytes)
        await self.storage.put(request.result_key, data, VIDEO_MEDIA_TYPE)
        await self.storage.put(request.thumbnail_key, picture, THUMBNAIL_MEDIA_TYPE)
        await self._record_progress(request.tenant_id, request.request_id, request.progress, request.step)
        activity.logger.info(
            "video %s: %d scenes, %.1f s, %d bytes",
            request.request_id,
            len(segments),
            plan.duration,
            len(data),
        )
        return AssembledVideo(
            result_key=request.result_key,
            thumbnail_key=request.thumbnail_key,
            media_type=VIDEO_MEDIA_TYPE,
            size=len(data),
            duration=plan.duration,
        )

    @activity.defn(name=COMPLETE_VIDEO_ACTIVITY)
    async def complete_video(self, request: CompleteVideoRequest) -> RequestOutcome:
        """COMPLETED with its video and poster, then the work folders go; else the status it had."""
        return await self._complete(
            request, thumbnail_key=request.thumbnail_key, work_prefixes=request.work_prefixes
        )

    @activity.defn(name=FAIL_VIDEO_ACTIVITY)
    async def fail_video(self, request: FailRequest) -> RequestOutcome:
        """FAILED with a stable code and a message, about a video, in the request's language."""
        return await self._fail(request, video_failure_message(request))
