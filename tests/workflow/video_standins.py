"""Stand-in activities for the YearlyVideo workflow tests (not the real ones).

Content's, catalog's, identity's and the renderer's steps are stood in for by one class that
keeps the content request and the stored files in memory, so a test sees exactly what a run left
behind. They are registered under the real activity names, record every call in order, count the
scenes rendering at once, and fail, hang or block where a test asks them to, so the workflow's
control flow is tested on its own. The real activities run against real services in
tests/integration/content/test_video_flow.py and tests/chaos/.

The failure message is the real one (`activities.video.video_failure_message`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from temporalio import activity

from activities.video import video_failure_message
from tests.workflow.standins import FailureRule
from workflows.report_generation_types import (
    CANCEL_REPORT_ACTIVITY,
    CLAIM_REPORT_ACTIVITY,
    DISCARD_REPORT_FILES_ACTIVITY,
    READ_OWNER_PROFILE_ACTIVITY,
    SELECT_REPORT_POCS_ACTIVITY,
    ClaimRequest,
    DiscardRequest,
    FailRequest,
    OwnerProfile,
    OwnerProfileRequest,
    PocSelection,
    PocSelectionRequest,
    ReportClaim,
    ReportRequestRef,
    RequestOutcome,
    report_pocs_key,
)
from workflows.yearly_video_types import (
    ASSEMBLE_VIDEO_ACTIVITY,
    COMPLETE_VIDEO_ACTIVITY,
    FAIL_VIDEO_ACTIVITY,
    PLAN_VIDEO_ACTIVITY,
    RENDER_SCENE_ACTIVITY,
    AssembledVideo,
    AssembleRequest,
    CompleteVideoRequest,
    RenderedScene,
    SceneRequest,
    VideoPlan,
    VideoPlanRequest,
    video_image_key,
    video_plan_key,
)

MAIN_PATH: tuple[str, ...] = (
    CLAIM_REPORT_ACTIVITY,
    READ_OWNER_PROFILE_ACTIVITY,
    SELECT_REPORT_POCS_ACTIVITY,
    PLAN_VIDEO_ACTIVITY,
    RENDER_SCENE_ACTIVITY,
    ASSEMBLE_VIDEO_ACTIVITY,
    COMPLETE_VIDEO_ACTIVITY,
)
"""The kinds of activity of a run that completes, in order (the scene activity once per scene)."""


@dataclass
class StandInRequest:
    status: str = "PENDING"
    progress: int = 0
    step: str | None = None
    poc_count: int | None = None
    result_key: str | None = None
    thumbnail_key: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    progress_seen: list[int] = field(default_factory=list)


@dataclass
class StandInVideoActivities:
    poc_count: int = 5
    scene_count: int = 6
    concurrency: int = 2
    scene_seconds: float = 0.2
    """How long each scene "renders" (heartbeating), so scenes overlap when they may."""
    request: StandInRequest = field(default_factory=StandInRequest)
    failures: dict[str, FailureRule] = field(default_factory=dict)
    hang_scene: int | None = None
    """This scene's first attempt stops heartbeating and never ends: its worker is as good as dead."""
    block_at: str | None = None
    """An activity that waits (heartbeating) until `release` is set or it is cancelled."""
    calls: list[str] = field(default_factory=list)
    arguments: dict[str, Any] = field(default_factory=dict)
    scene_attempts: dict[int, list[int]] = field(default_factory=dict)
    skipped_scenes: list[int] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    blocked: asyncio.Event = field(default_factory=asyncio.Event)
    hanging: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: list[str] = field(default_factory=list)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release.set()

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [
            self.claim,
            self.read_profile,
            self.select,
            self.plan,
            self.render_scene,
            self.assemble,
            self.complete,
            self.fail,
            self.cancel,
            self.discard,
        ]

    async def _perform(self, name: str, argument: Any) -> None:
        self.calls.append(name)
        self.arguments[name] = argument
        if name == self.block_at and not self.release.is_set():
            self.blocked.set()
            try:
                while not self.release.is_set():
                    activity.heartbeat({"percent": self.request.progress})
                    await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                self.cancelled.append(name)
                raise
        rule = self.failures.get(name)
        failure = rule(activity.info().attempt) if rule else None
        if failure is not None:
            raise failure

    def _progress(self, progress: int, step: str) -> None:
        if self.request.status in ("PENDING", "PROCESSING") and progress >= self.request.progress:
            self.request.progress, self.request.step = progress, step
            self.request.progress_seen.append(progress)

    def _end(self, status: str) -> bool:
        if self.request.status in ("PENDING", "PROCESSING"):
            self.request.status = status
            return True
        return self.request.status == status

    @activity.defn(name=CLAIM_REPORT_ACTIVITY)
    async def claim(self, request: ClaimRequest) -> ReportClaim:
        await self._perform(CLAIM_REPORT_ACTIVITY, request)
        if self.request.status not in ("PENDING", "PROCESSING"):
            return ReportClaim(claimed=False, status=self.request.status)
        self.request.status = "PROCESSING"
        self._progress(request.progress, request.step)
        return ReportClaim(claimed=True)

    @activity.defn(name=READ_OWNER_PROFILE_ACTIVITY)
    async def read_profile(self, request: OwnerProfileRequest) -> OwnerProfile:
        await self._perform(READ_OWNER_PROFILE_ACTIVITY, request)
        return OwnerProfile(display_name="Conceição Araújo", email="ana@acme.example", locale="pt_BR")

    @activity.defn(name=SELECT_REPORT_POCS_ACTIVITY)
    async def select(self, request: PocSelectionRequest) -> PocSelection:
        key = report_pocs_key(request.tenant_id, request.user_id, request.request_id)
        self.files[key] = b"[]"
        await self._perform(SELECT_REPORT_POCS_ACTIVITY, request)
        return PocSelection(count=self.poc_count, key=key)

    @activity.defn(name=PLAN_VIDEO_ACTIVITY)
    async def plan(self, request: VideoPlanRequest) -> VideoPlan:
        key = video_plan_key(request.tenant_id, request.user_id, request.request_id)
        self.files[key] = b"{}"
        self.files[video_image_key(request.tenant_id, request.user_id, request.request_id, "poc-1")] = b"png"
        await self._perform(PLAN_VIDEO_ACTIVITY, request)
        self.request.poc_count = self.poc_count
        self._progress(request.progress, request.step)
        return VideoPlan(
            plan_key=key,
            poc_count=self.poc_count,
            scene_count=self.scene_count,
            duration=self.scene_count * 3.0,
            frames=self.scene_count * 90,
            concurrency=self.concurrency,
        )

    @activity.defn(name=RENDER_SCENE_ACTIVITY)
    async def render_scene(self, request: SceneRequest) -> RenderedScene:
        attempt = activity.info().attempt
        self.scene_attempts.setdefault(request.index, []).append(attempt)
        if request.scene_key in self.files:
            self.skipped_scenes.append(request.index)
            self.calls.append(RENDER_SCENE_ACTIVITY)
            return RenderedScene(key=request.scene_key, index=request.index, skipped=True)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if request.index == self.hang_scene and attempt == 1:
                self.hanging.set()
                await self.release.wait()  # no heartbeat: only the heartbeat timeout notices
                raise RuntimeError("the worker of this attempt is gone")
            await self._perform(RENDER_SCENE_ACTIVITY, request)
            deadline = asyncio.get_running_loop().time() + self.scene_seconds
            try:
                while asyncio.get_running_loop().time() < deadline:
                    activity.heartbeat({"scene": request.index, "fraction": 0.5})
                    await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                self.cancelled.append(RENDER_SCENE_ACTIVITY)
                raise
        finally:
            self.in_flight -= 1
        self.files[request.scene_key] = f"scene {request.index}".encode()
        self._progress(request.progress, request.step)
        return RenderedScene(key=request.scene_key, index=request.index, skipped=False)

    @activity.defn(name=ASSEMBLE_VIDEO_ACTIVITY)
    async def assemble(self, request: AssembleRequest) -> AssembledVideo:
        self.files[request.result_key] = b"partial"
        await self._perform(ASSEMBLE_VIDEO_ACTIVITY, request)
        missing = [key for key in request.scene_keys if key not in self.files]
        assert not missing, missing
        video = b"".join(self.files[key] for key in request.scene_keys)
        self.files[request.result_key] = video
        self.files[request.thumbnail_key] = b"jpeg"
        self._progress(request.progress, request.step)
        return AssembledVideo(
            result_key=request.result_key,
            thumbnail_key=request.thumbnail_key,
            media_type="video/mp4",
            size=len(video),
            duration=self.scene_count * 3.0,
        )

    @activity.defn(name=COMPLETE_VIDEO_ACTIVITY)
    async def complete(self, request: CompleteVideoRequest) -> RequestOutcome:
        await self._perform(COMPLETE_VIDEO_ACTIVITY, request)
        if not self._end("COMPLETED"):
            return RequestOutcome(status=self.request.status, changed=False)
        self.request.progress, self.request.step = 100, "completed"
        self.request.result_key, self.request.thumbnail_key = request.result_key, request.thumbnail_key
        self.request.poc_count = request.poc_count
        for key in [key for key in self.files if key.startswith(tuple(request.work_prefixes))]:
            del self.files[key]
        return RequestOutcome(status="COMPLETED", changed=True)

    @activity.defn(name=FAIL_VIDEO_ACTIVITY)
    async def fail(self, request: FailRequest) -> RequestOutcome:
        await self._perform(FAIL_VIDEO_ACTIVITY, request)
        changed = self._end("FAILED")
        if changed:
            self.request.error_code = request.error_code
            self.request.error_message = video_failure_message(request)
        return RequestOutcome(status=self.request.status, changed=changed)

    @activity.defn(name=CANCEL_REPORT_ACTIVITY)
    async def cancel(self, request: ReportRequestRef) -> RequestOutcome:
        await self._perform(CANCEL_REPORT_ACTIVITY, request)
        changed = self._end("CANCELLED")
        return RequestOutcome(status=self.request.status, changed=changed)

    @activity.defn(name=DISCARD_REPORT_FILES_ACTIVITY)
    async def discard(self, request: DiscardRequest) -> int:
        await self._perform(DISCARD_REPORT_FILES_ACTIVITY, request)
        doomed = [
            key
            for key in self.files
            if key in request.keys or (request.prefix is not None and key.startswith(request.prefix))
        ]
        for key in doomed:
            del self.files[key]
        return len(doomed)
