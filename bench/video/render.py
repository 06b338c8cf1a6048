"""Benchmark: a yearly recap video rendered end to end, against an encode-only ffmpeg run.

Goals (issue 5), measured, never asserted. For 50 POCs, a 60-second video at 720p30, on the
reference machine (2 cores):

- wall time from the POCs to the finished MP4 (plan, every scene, music, join, thumbnail): at
  most 20 s, i.e. at least 3x realtime;
- at most 1.5x an encode-only ffmpeg run of the same frames, measured in the same run;
- the same at 1080p and in the story format (1080x1920).

What is timed, as the YearlyVideo workflow would run it on one worker: the plan; the scenes on
a pool of `workers` threads (default 2, one per core: each scene is one ffmpeg encoding on one
thread, as the workflow's bounded concurrency runs them), with the soundtrack (synthesis and
AAC, from an empty cache) as one more task of the same pool, since it does not depend on the
scenes; then the join and the thumbnail. The in-memory cache of settled frames is emptied
first, so the run is that of a cold worker. No upload: storage is not this library's concern.

The baseline decodes the finished video and encodes its frames again in one plain ffmpeg run,
with the same x264 settings on both cores: the least any design must spend to produce those
frames (its decoding, about a sixth of it, is timed alone as ``decode_seconds``).

The machine is shared, so every result carries the load average before and after the run, and
the CPU seconds of both sides (ours: this process and its ffmpeg children): on a loaded machine
the wall-time ratio swings with whoever else runs, while ``cpu_ratio_to_baseline`` stays close to
what an idle machine gives.

Run ``uv run python -m bench.video.render [720p|1080p|story|square|all] [poc_count] [seconds]``;
it prints JSON and writes no result file (the benchmark runner records results with the
machine's facts). Files live in a temporary folder removed afterwards.
"""

from __future__ import annotations

import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import av
from PIL import Image, ImageDraw

from api.content.video.encode import assemble, make_thumbnail
from api.content.video.ffmpeg import BITEXACT_ARGS, VideoEncoding, default_ffmpeg
from api.content.video.model import VideoOptions
from api.content.video.music import track_path
from api.content.video.scenes import forget_settled_frames, render_scene
from api.content.video.timeline import TimelinePlan, plan_timeline, scene_thumbnail_ids
from infra.seed_pocs import generate_pocs
from workflows.report_generation_types import ReportPoc

GOAL_SECONDS = 20.0
GOAL_RATIO = 1.5
TENANT_ID = uuid.UUID("00000000-0000-4000-8000-00000000c0de")
OWNER_ID = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
YEAR = 2025
MODES: dict[str, str] = {
    "720p": "landscape-720",
    "1080p": "landscape-1080",
    "story": "story",
    "square": "square",
}
THUMBNAIL_EVERY = 4
"""One POC in four has an image, as people attach screenshots to some of their POCs."""

T = TypeVar("T")


def video_pocs(poc_count: int, year: int = YEAR) -> tuple[list[ReportPoc], dict[str, bytes]]:
    """`poc_count` seeded POCs of one owner created during `year`, and images for some of them."""
    until = datetime(year + 1, 1, 1, tzinfo=UTC)
    seeded = generate_pocs(TENANT_ID, [OWNER_ID], poc_count, until=until, years=1, deleted_ratio=0.0)
    pocs = [
        ReportPoc(
            poc_id=str(poc.poc_id),
            name=poc.name,
            repository_url=poc.repository_url,
            created_at=(poc.created_at or until).isoformat(),
            description=poc.description,
            language=poc.language,
            is_public=poc.is_public,
            tags=[tag.display for tag in poc.tags],
            frameworks=[framework.display for framework in poc.frameworks],
        )
        for poc in seeded
    ]
    thumbnails = {
        poc.poc_id: screenshot(index) for index, poc in enumerate(pocs) if index % THUMBNAIL_EVERY == 0
    }
    return pocs, thumbnails


def screenshot(seed: int) -> bytes:
    """A deterministic stand-in for a POC's screenshot: a window with a few coloured panes (PNG)."""
    image = Image.new("RGB", (960, 600), (28 + seed * 7 % 60, 32, 48))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 960, 40), fill=(230, 230, 235))
    for dot, color in enumerate(((255, 95, 86), (255, 189, 46), (39, 201, 63))):
        draw.ellipse((14 + dot * 22, 13, 28 + dot * 22, 27), fill=color)
    for pane in range(6):
        left = 40 + (pane % 3) * 300
        top = 80 + (pane // 3) * 250
        shade = (seed * 37 + pane * 53) % 200
        draw.rounded_rectangle(
            (left, top, left + 260, top + 210), 16, fill=(55 + shade // 2, 90, 120 + shade // 3)
        )
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(action: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def _load() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def _render(
    pocs: Sequence[ReportPoc],
    thumbnails: dict[str, bytes],
    options: VideoOptions,
    seconds: float,
    workers: int,
    folder: Path,
) -> tuple[dict[str, float], TimelinePlan, Path]:
    """The whole render, phase by phase (wall seconds)."""
    phases: dict[str, float] = {}
    started = time.perf_counter()
    phases["plan"], plan = _timed(
        lambda: plan_timeline(pocs, options, thumbnails=set(thumbnails), target_seconds=seconds)
    )
    scene_folder = folder / "scenes"
    scene_seconds: list[float] = []

    def scene(index: int) -> Path:
        wanted = {poc_id: thumbnails[poc_id] for poc_id in scene_thumbnail_ids(plan, index)}
        elapsed, path = _timed(
            lambda: render_scene(plan, index, options, scene_folder / f"{index:03d}.mp4", thumbnails=wanted)
        )
        scene_seconds.append(elapsed)
        return path

    music_seconds = 0.0

    def music() -> Path | None:
        nonlocal music_seconds
        if options.music_track is None:
            return None
        music_seconds, path = _timed(
            lambda: track_path(options.music_track or "", plan.duration, folder / "music")
        )
        return path

    scenes_started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        music_future: Future[Path | None] = pool.submit(music)
        segments = list(pool.map(scene, range(len(plan.scenes))))
        music_path = music_future.result()
    phases["scenes_and_music"] = time.perf_counter() - scenes_started
    phases["music_task"] = music_seconds
    phases["scene_sum"] = sum(scene_seconds)
    phases["scene_max"] = max(scene_seconds)
    output = folder / "video.mp4"
    phases["assemble"], _ = _timed(lambda: assemble(segments, plan, options, music_path, output))
    phases["thumbnail"], _ = _timed(
        lambda: make_thumbnail(plan, options, folder / "thumbnail.jpg", thumbnails=thumbnails)
    )
    phases["total"] = time.perf_counter() - started
    return phases, plan, output


def _baseline(video: Path, folder: Path) -> dict[str, float]:
    """One plain ffmpeg run encoding the finished video's frames again (same x264 settings, all cores)."""
    ffmpeg = default_ffmpeg().path
    encoding = VideoEncoding(threads=os.cpu_count() or 2)
    decode = [
        ffmpeg,
        "-hide_banner",
        "-loglevel",
        "error",
        "-i",
        str(video),
        "-map",
        "0:v",
        "-f",
        "null",
        "-",
    ]
    encode = [
        ffmpeg,
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-i",
        str(video),
        "-map",
        "0:v",
        *encoding.video_args(),
        "-an",
        *BITEXACT_ARGS,
        str(folder / "baseline.mp4"),
    ]
    cpu_before = _children_cpu()
    encode_seconds, _ = _timed(lambda: subprocess.run(encode, check=True))
    encode_cpu = _children_cpu() - cpu_before
    decode_seconds, _ = _timed(lambda: subprocess.run(decode, check=True))
    return {"seconds": encode_seconds, "cpu_seconds": encode_cpu, "decode_seconds": decode_seconds}


def _probe(video: Path) -> dict[str, Any]:
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        return {
            "duration_seconds": round(float(container.duration or 0) / 1_000_000, 3),
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "streams": [f"{item.type}:{item.codec_context.name}" for item in container.streams],
            "bytes": video.stat().st_size,
        }


def measure_video_render(
    poc_count: int = 50,
    fmt: str = "landscape-720",
    seconds: float = 60,
    *,
    style: str = "aurora",
    music_track: str | None = "bright",
    locale: str = "pt_BR",
    workers: int = 2,
) -> dict[str, Any]:
    """One end-to-end render of `poc_count` POCs in format `fmt`, its phases, and the baseline."""
    pocs, thumbnails = video_pocs(poc_count)
    options = VideoOptions(
        title="Retrospectiva de POCs",
        owner_name="Conceição Araújo",
        year=YEAR,
        format=fmt,
        style=style,
        music_track=music_track,
        locale=locale,
    )
    forget_settled_frames()
    load_before = _load()
    folder = Path(tempfile.mkdtemp(prefix="mrbill-video-bench-"))
    try:
        cpu_before = _self_cpu() + _children_cpu()
        phases, plan, video = _render(pocs, thumbnails, options, seconds, workers, folder)
        render_cpu = _self_cpu() + _children_cpu() - cpu_before
        baseline = _baseline(video, folder)
        probe = _probe(video)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    total = phases["total"]
    return {
        "benchmark": "yearly video rendering",
        "goal": (
            f"{poc_count} POCs, {seconds:g} s at {fmt}: <= {GOAL_SECONDS:g} s wall "
            f"(>= {seconds / GOAL_SECONDS:g}x realtime) and <= {GOAL_RATIO}x an encode-only ffmpeg run"
        ),
        "format": fmt,
        "size": f"{options.video_format.width}x{options.video_format.height}",
        "style": style,
        "music_track": music_track,
        "locale": locale,
        "poc_count": poc_count,
        "scene_count": len(plan.scenes),
        "video_seconds": plan.duration,
        "frames": plan.frames,
        "workers": workers,
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": _load(),
        "wall_seconds": round(total, 3),
        "render_cpu_seconds": round(render_cpu, 3),
        "phases_seconds": {name: round(value, 3) for name, value in phases.items() if name != "total"},
        "realtime_factor": round(plan.duration / total, 2),
        "baseline": {name: round(value, 3) for name, value in baseline.items()},
        "ratio_to_baseline": round(total / baseline["seconds"], 3),
        "cpu_ratio_to_baseline": round(render_cpu / baseline["cpu_seconds"], 3),
        "meets_wall_goal": total <= GOAL_SECONDS,
        "meets_ratio_goal": total / baseline["seconds"] <= GOAL_RATIO,
        "output": probe,
    }


def main(arguments: Sequence[str]) -> None:
    mode = arguments[0] if arguments else "720p"
    poc_count = int(arguments[1]) if len(arguments) > 1 else 50
    seconds = float(arguments[2]) if len(arguments) > 2 else 60.0
    if mode != "all" and mode not in MODES:
        raise SystemExit(f"mode must be one of {', '.join([*MODES, 'all'])}")
    modes = [name for name in MODES if name != "square"] if mode == "all" else [mode]
    results = [measure_video_render(poc_count, MODES[name], seconds) for name in modes]
    print(json.dumps(results[0] if len(results) == 1 else results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])
