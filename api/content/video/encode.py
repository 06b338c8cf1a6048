"""The finished video: segments joined, music mixed in, moov atom up front; and its poster image.

Each segment already begins with its transition from the previous scene (`scenes.py`), all
are encoded alike, and each lasts a whole number of frames, so joining them is a stream copy
with the concat demuxer: no frame is decoded or encoded again. The soundtrack from
`music.track_path` is AAC already cut and faded to the plan's length, so it is copied too;
any other audio file is cut, faded in and out and encoded here, and no track at all gives
silence, so every player sees the same two streams. ``+faststart`` puts the index first, so
browsers and phones start playing before the download ends.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import ffmpeg as ffmpeg_graph  # type: ignore[import-untyped]

from api.content.video.compose import ThumbnailSource
from api.content.video.ffmpeg import BITEXACT_OPTIONS, FFmpeg, OutputNode, default_ffmpeg
from api.content.video.model import VideoOptions
from api.content.video.music import AAC_OPTIONS, SAMPLE_RATE
from api.content.video.scenes import settled_frame
from api.content.video.scratch import partial_prefix, scratch_dir
from api.content.video.text import VideoText
from api.content.video.timeline import TimelinePlan

ENCODED_AUDIO_SUFFIXES = frozenset({".m4a", ".aac", ".mp4"})
"""Music already encoded as AAC (what `music.track_path` makes, cut and faded to the plan): copied."""
MUSIC_FADE_IN_SECONDS = 1.0
MUSIC_FADE_OUT_SECONDS = 2.5
THUMBNAIL_QUALITY = 88
THUMBNAIL_SCENE = 0
"""The poster is the intro's settled frame: the year, the title, the person's name and the count."""
TO_FULL_RANGE_JPEG = {"in_color_matrix": "bt709", "in_range": "tv", "out_range": "pc"}
"""A video frame (BT.709, limited range) as a JPEG expects it (full range)."""


def _concat_line(path: Path) -> str:
    escaped = str(path.resolve()).replace("'", "'\\''")
    return f"file '{escaped}'\n"


def _soundtrack(music_path: Path | None, duration: float) -> tuple[Any, dict[str, str]]:
    """The audio stream of the video and its output options: copied, encoded, or silence.

    AAC made for this plan's length is copied (and the join stops at the video's end); any
    other file is cut, faded in and out and encoded; no music is silence of the same format.
    """
    if music_path is not None and Path(music_path).suffix.lower() in ENCODED_AUDIO_SUFFIXES:
        return ffmpeg_graph.input(str(music_path))["a"], {"c:a": "copy", "t": f"{duration}"}
    if music_path is None:
        silence = ffmpeg_graph.input(f"anullsrc=channel_layout=stereo:sample_rate={SAMPLE_RATE}", f="lavfi")[
            "a"
        ]
        return silence.filter("atrim", 0, duration).filter("asetpts", "N/SR/TB"), AAC_OPTIONS
    fade_out = min(MUSIC_FADE_OUT_SECONDS, duration / 3)
    music = (
        ffmpeg_graph.input(str(music_path))["a"]
        .filter("atrim", 0, duration)
        .filter("asetpts", "N/SR/TB")
        .filter("afade", t="in", st=0, d=min(MUSIC_FADE_IN_SECONDS, duration / 4))
        .filter("afade", t="out", st=duration - fade_out, d=fade_out)
        .filter("aformat", sample_rates=SAMPLE_RATE, channel_layouts="stereo")
    )
    return music, AAC_OPTIONS


def assemble(
    segment_paths: Sequence[Path],
    plan: TimelinePlan,
    options: VideoOptions,
    music_path: Path | None,
    output_path: Path,
    *,
    progress: Callable[[float], None] | None = None,
    ffmpeg: FFmpeg | None = None,
) -> Path:
    """The MP4 of `plan`: `segment_paths` (one per scene, in order) and `music_path`.

    `music_path` is `music.track_path`'s file for the plan's duration (copied), another audio
    file (cut, faded, encoded), or None for silence. The file is titled with `options.title`.
    """
    runner = ffmpeg or default_ffmpeg()
    if len(segment_paths) != len(plan.scenes):
        raise ValueError(f"{len(plan.scenes)} scenes planned but {len(segment_paths)} segments given")
    missing = [str(path) for path in segment_paths if not Path(path).is_file()]
    if missing:
        raise FileNotFoundError(f"scene segments missing: {', '.join(missing)}")
    if music_path is not None and not Path(music_path).is_file():
        raise FileNotFoundError(f"music file missing: {music_path}")
    duration = plan.frames / plan.fps
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with scratch_dir("assemble") as folder:
        listing = folder / "segments.txt"
        listing.write_text("".join(_concat_line(Path(path)) for path in segment_paths), encoding="utf-8")
        video = ffmpeg_graph.input(str(listing), f="concat", safe=0)["v"]
        audio, audio_options = _soundtrack(music_path, duration)

        def job(target: str) -> OutputNode:
            node: OutputNode = ffmpeg_graph.output(
                video,
                audio,
                target,
                **audio_options,
                **{"c:v": "copy", "movflags": "+faststart"},
                **BITEXACT_OPTIONS,
                metadata=f"title={VideoText(options).title()}",
            )
            return node

        runner.run(job, output_path, expected_frames=plan.frames, progress=progress)
    return output_path


def make_thumbnail(
    source: Path | TimelinePlan,
    options: VideoOptions,
    output_path: Path,
    *,
    thumbnails: Mapping[str, ThumbnailSource] | None = None,
    at_seconds: float | None = None,
    ffmpeg: FFmpeg | None = None,
) -> Path:
    """A JPEG poster at the video's size: drawn from the plan (no decoding), or taken from the video.

    From a plan it is the intro's settled frame, the same pixels the video shows; from a video
    file it is the frame at `at_seconds` (default: two seconds in, once the intro has settled).
    """
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(source, TimelinePlan):
        image = settled_frame(source, THUMBNAIL_SCENE, options, thumbnails)
        descriptor, temporary = tempfile.mkstemp(
            dir=output_path.parent, prefix=partial_prefix(output_path.stem), suffix=".partial.jpg"
        )
        os.close(descriptor)
        try:
            image.save(temporary, "JPEG", quality=THUMBNAIL_QUALITY)
            os.replace(temporary, output_path)
        finally:
            Path(temporary).unlink(missing_ok=True)
        return output_path
    runner = ffmpeg or default_ffmpeg()
    video = Path(source)
    if not video.is_file():
        raise FileNotFoundError(f"video missing: {video}")
    seek = 2.0 if at_seconds is None else max(0.0, at_seconds)
    frame = (
        ffmpeg_graph.input(str(video), ss=f"{seek:.3f}")["v"]
        .filter("scale", **TO_FULL_RANGE_JPEG)
        .filter("format", "yuvj420p")
    )

    def job(target: str) -> OutputNode:
        node: OutputNode = frame.output(target, **{"frames:v": 1, "q:v": 3}, **BITEXACT_OPTIONS)
        return node

    return runner.run(job, output_path)
