"""Stand-in activities for the YearlyVideo workflow tests (not the real ones).

Content's, catalog's, identity's and the renderer's steps are stood in for by one class that
keeps the content request and the stored files in memory, so a test sees exactly what a run left
behind (the steps every content request shares are in
`tests.workflow.standins.StandInContentActivities`). They are registered under the real activity
names, record every call in order, count the scenes rendering at once, and fail, hang or block
where a test asks them to, so the workflow's control flow is tested on its own. The real
activities run against real services in tests/integration/content/test_video_flow.py and
tests/chaos/.

The failure message is the real one (`activities.video.video_failure_message`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from temporalio import activity

from activities.video import video_failure_message
from tests.workflow.standins import StandInContentActivities
from workflows.report_generation_types import (
    CLAIM_REPORT_ACTIVITY,
    READ_OWNER_PROFILE_ACTIVITY,
    SELECT_REPORT_POCS_ACTIVITY,
    FailRequest,
    RequestOutcome,
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
class StandInVideoActivities(StandInContentActivities):
    owner_name: ClassVar[str] = "Conceição Araújo"

    poc_count: int = 5
    scene_count: int = 6
    concurrency: int = 2
    scene_seconds: float = 0.2
    """How long each scene "renders" (heartbeating), so scenes overlap when they may."""
    hang_scene: int | None = None
    """This scene's first attempt stops heartbeating and never ends: its worker is as good as dead."""
    scene_attempts: dict[int, list[int]] = field(default_factory=dict)
    skipped_scenes: list[int] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    hanging: asyncio.Event = field(default_factory=asyncio.Event)

    def own_activities(self) -> Sequence[Callable[..., Any]]:
        return [self.plan, self.render_scene, self.assemble, self.complete, self.fail]

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
        return self._fail(request.error_code, lambda: video_failure_message(request))
