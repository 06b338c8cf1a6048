"""Rendering real videos with the bundled ffmpeg, checked by decoding them.

The imageio-ffmpeg wheel ships ffmpeg but no ffprobe, so these tests probe the files with
PyAV (FFmpeg's libraries): the streams and their codecs, the duration, the exact resolution,
the frame count, and a decoded frame from the middle that must not be blank. No service is
needed; the videos are small or short so the module stays well under a minute on two cores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from api.content.video.encode import assemble, make_thumbnail
from api.content.video.ffmpeg import FFmpeg, FFmpegError, FFmpegNotFoundError, FFmpegTimeoutError, find_ffmpeg
from api.content.video.model import FPS, VideoOptions
from api.content.video.music import track_path
from api.content.video.scenes import render_scene
from api.content.video.timeline import TimelinePlan, plan_timeline, scene_thumbnail_ids
from tests.unit.content.video_samples import options, picture_bytes, poc_id, year_pocs

pytestmark = pytest.mark.integration


@dataclass
class Rendered:
    plan: TimelinePlan
    options: VideoOptions
    video: Path
    thumbnail: Path
    segments: list[Path]
    progress: list[float]


def render_video(
    folder: Path,
    video_options: VideoOptions,
    poc_count: int,
    seconds: float | None,
    pictures: dict[str, bytes],
) -> Rendered:
    """Every step the workflow takes, in order, into `folder`."""
    plan = plan_timeline(
        year_pocs(poc_count), video_options, thumbnails=set(pictures), target_seconds=seconds
    )
    seen: list[float] = []
    segments = []
    for index in range(len(plan.scenes)):
        wanted = {key: pictures[key] for key in scene_thumbnail_ids(plan, index)}
        segments.append(
            render_scene(
                plan,
                index,
                video_options,
                folder / "scenes" / f"{index:03d}.mp4",
                thumbnails=wanted,
                progress=seen.append,
            )
        )
    music = (
        track_path(video_options.music_track, plan.duration, folder / "music")
        if video_options.music_track
        else None
    )
    video = assemble(segments, plan, video_options, music, folder / "video.mp4")
    thumbnail = make_thumbnail(plan, video_options, folder / "thumbnail.jpg", thumbnails=pictures)
    return Rendered(plan, video_options, video, thumbnail, segments, seen)


@pytest.fixture(scope="module")
def landscape(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """Ten seconds, three POCs (one with a picture), small landscape, with music."""
    return render_video(
        tmp_path_factory.mktemp("landscape"),
        options(size=(320, 180), style="aurora", music_track="bright"),
        3,
        10,
        {poc_id(1): picture_bytes()},
    )


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """Six seconds in the real story format (1080x1920), English, no music."""
    return render_video(
        tmp_path_factory.mktemp("story"),
        options(format="story", style="sunset", music_track=None, locale="en"),
        3,
        6,
        {},
    )


def probe(path: Path) -> dict[str, object]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video)]
        return {
            "video_streams": [stream.codec_context.name for stream in container.streams.video],
            "audio_streams": [stream.codec_context.name for stream in audio],
            "pixel_format": video.codec_context.pix_fmt,
            "size": (video.codec_context.width, video.codec_context.height),
            "rate": video.average_rate,
            "duration": float(container.duration or 0) / 1_000_000,
            "frames": frames,
            "audio_rate": audio[0].codec_context.sample_rate if audio else None,
            "audio_channels": audio[0].codec_context.channels if audio else None,
        }


def assert_watchable(rendered: Rendered, size: tuple[int, int]) -> None:
    facts = probe(rendered.video)
    frames = facts["frames"]
    assert isinstance(frames, list)
    assert facts["video_streams"] == ["h264"]
    assert facts["audio_streams"] == ["aac"]
    assert facts["pixel_format"] == "yuv420p"
    assert facts["size"] == size
    assert facts["rate"] == FPS
    assert (facts["audio_rate"], facts["audio_channels"]) == (48_000, 2)
    assert len(frames) == rendered.plan.frames
    assert facts["duration"] == pytest.approx(rendered.plan.duration, abs=0.1)
    middle = frames[len(frames) // 2]
    assert middle.shape == (size[1], size[0], 3)
    assert middle.std() > 12, "the middle frame shows something"
    data = rendered.video.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat"), "+faststart: the index comes first"
    with Image.open(rendered.thumbnail) as poster:
        assert poster.format == "JPEG"
        assert poster.size == size
        assert np.asarray(poster.convert("RGB")).std() > 12


def test_a_short_landscape_video_is_watchable(landscape: Rendered) -> None:
    assert_watchable(landscape, (320, 180))
    assert [scene.kind for scene in landscape.plan.scenes] == ["intro", "poc", "poc", "poc", "outro"]
    assert landscape.progress[0] == 0.0
    assert landscape.progress.count(1.0) == len(landscape.plan.scenes)
    scene_runs = " ".join(f"{value:.3f}" for value in landscape.progress).split("1.000")
    for run in scene_runs[:-1]:
        values = [float(value) for value in run.split()]
        assert values == sorted(values), "each scene's progress only rises"


def test_a_story_video_is_watchable_at_its_real_size(story: Rendered) -> None:
    assert_watchable(story, (1080, 1920))


def test_the_music_is_in_the_video_and_silence_without_it(landscape: Rendered, story: Rendered) -> None:
    def loudness(path: Path) -> float:
        with av.open(str(path)) as container:
            samples = [frame.to_ndarray().astype(np.float64) for frame in container.decode(audio=0)]
        return float(np.sqrt(np.mean(np.concatenate(samples, axis=1) ** 2)))

    assert loudness(landscape.video) > 0.02
    assert loudness(story.video) == 0.0


def test_every_segment_lasts_exactly_its_scene(landscape: Rendered) -> None:
    for scene, segment in zip(landscape.plan.scenes, landscape.segments, strict=True):
        with av.open(str(segment)) as container:
            assert sum(1 for _ in container.decode(video=0)) == scene.frames


def test_rendering_a_scene_again_gives_the_same_bytes(landscape: Rendered, tmp_path: Path) -> None:
    pictures = {poc_id(1): picture_bytes()}
    index = next(index for index, scene in enumerate(landscape.plan.scenes) if scene.kind == "poc")
    wanted = {key: pictures[key] for key in scene_thumbnail_ids(landscape.plan, index)}

    again = render_scene(landscape.plan, index, landscape.options, tmp_path / "again.mp4", thumbnails=wanted)

    assert again.read_bytes() == landscape.segments[index].read_bytes()
    assert [path.name for path in tmp_path.iterdir()] == ["again.mp4"], "no temporary file is left behind"


def every_style_plan(style: str) -> tuple[TimelinePlan, VideoOptions]:
    video_options = options(style=style, size=(256, 144), music_track=None)
    return plan_timeline(year_pocs(14), video_options), video_options


@pytest.mark.parametrize("style", ["aurora", "sunset", "terminal"])
def test_every_scene_kind_and_transition_of_a_style_renders(style: str, tmp_path: Path) -> None:
    plan, video_options = every_style_plan(style)
    segments = [
        render_scene(plan, index, video_options, tmp_path / f"{index:03d}.mp4")
        for index in range(len(plan.scenes))
    ]

    video = assemble(segments, plan, video_options, None, tmp_path / "video.mp4")

    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) == plan.frames


def test_the_poster_can_also_be_taken_from_the_video(landscape: Rendered, tmp_path: Path) -> None:
    poster = make_thumbnail(landscape.video, landscape.options, tmp_path / "frame.jpg", at_seconds=1.5)

    with Image.open(poster) as image:
        assert image.size == (320, 180)
        assert np.asarray(image.convert("RGB")).std() > 12


def test_the_music_track_is_made_once_to_the_millisecond(tmp_path: Path) -> None:
    first = track_path("drive", 4.25, tmp_path)
    modified = first.stat().st_mtime_ns

    second = track_path("drive", 4.25, tmp_path)

    assert second == first
    assert second.stat().st_mtime_ns == modified
    with av.open(str(first)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "aac"
        assert float(container.duration or 0) / 1_000_000 == pytest.approx(4.25, abs=0.05)
    assert [path.suffix for path in tmp_path.iterdir()] == [".m4a"]


def no_partial_files(folder: Path) -> list[str]:
    return [path.name for path in folder.iterdir() if "partial" in path.name or path.name.startswith(".")]


def test_a_bad_filter_raises_a_clear_error_and_leaves_no_file(tmp_path: Path) -> None:
    ffmpeg = FFmpeg.locate()
    output = tmp_path / "broken.mp4"
    args: Sequence[str] = ["-f", "lavfi", "-i", "color=c=red:s=64x64:d=1", "-vf", "nosuchfilter=1"]

    with pytest.raises(FFmpegError) as raised:
        ffmpeg.run(args, output)

    assert "nosuchfilter" in raised.value.stderr_tail
    assert raised.value.returncode not in (None, 0)
    assert not output.exists()
    assert no_partial_files(tmp_path) == []


def test_a_corrupt_segment_fails_the_join_and_leaves_no_file(landscape: Rendered, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    segments = [broken, *landscape.segments[1:]]

    with pytest.raises(FFmpegError):
        assemble(segments, landscape.plan, landscape.options, None, tmp_path / "video.mp4")

    assert not (tmp_path / "video.mp4").exists()
    assert no_partial_files(tmp_path) == []


def test_a_job_past_its_timeout_is_stopped_and_leaves_no_file(tmp_path: Path) -> None:
    ffmpeg = FFmpeg(path=find_ffmpeg(), timeout=0.5)
    output = tmp_path / "endless.mp4"

    with pytest.raises(FFmpegTimeoutError):
        ffmpeg.run(["-re", "-f", "lavfi", "-i", "color=c=blue:s=64x64:r=5", "-c:v", "libx264"], output)

    assert not output.exists()
    assert no_partial_files(tmp_path) == []


def test_a_progress_callback_that_raises_cancels_the_scene(landscape: Rendered, tmp_path: Path) -> None:
    class Cancelled(Exception):
        pass

    def heartbeat(fraction: float) -> None:
        if fraction > 0.1:
            raise Cancelled

    with pytest.raises(Cancelled):
        render_scene(landscape.plan, 1, landscape.options, tmp_path / "scene.mp4", progress=heartbeat)

    assert list(tmp_path.iterdir()) == []


def test_a_missing_ffmpeg_is_named_clearly(tmp_path: Path) -> None:
    with pytest.raises(FFmpegNotFoundError, match="not an executable file"):
        find_ffmpeg(str(tmp_path / "ffmpeg"))
    with pytest.raises(FFmpegNotFoundError, match="cannot start ffmpeg"):
        FFmpeg(path=str(tmp_path / "ffmpeg")).run(["-version"], tmp_path / "out.txt")


def test_a_missing_segment_is_named(landscape: Rendered, tmp_path: Path) -> None:
    segments = [tmp_path / "nowhere.mp4", *landscape.segments[1:]]

    with pytest.raises(FileNotFoundError, match=r"nowhere\.mp4"):
        assemble(segments, landscape.plan, landscape.options, None, tmp_path / "video.mp4")


def test_the_thumbnail_of_a_plan_is_the_intro_at_rest(landscape: Rendered) -> None:
    with Image.open(landscape.thumbnail) as poster:
        poster_pixels = np.asarray(poster.convert("RGB"), dtype=int)
    with av.open(str(landscape.video)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number == landscape.plan.scenes[0].frames - 1:
                last_intro = frame.to_ndarray(format="rgb24").astype(int)
                break
    assert np.abs(poster_pixels - last_intro).mean() < 8
