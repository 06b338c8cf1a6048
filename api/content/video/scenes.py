"""Rendering one scene into a short MP4 segment: Pillow draws the stills once, ffmpeg animates.

Per scene, Python draws a handful of images (`compose.compose_scene`); one ffmpeg process then
plays the entrances as overlays whose positions, crops and fades are expressions of time, holds
the settled frame, and encodes H.264 on one thread. Nothing is drawn per frame in Python.

The transition into a scene is part of that scene: it starts from the previous scene's settled
frame, which is a pure function of the plan (so any worker can draw it, and a worker that
rendered the previous scene reuses it from memory). The join is then a stream copy, and every
frame of the video is encoded exactly once. Fades, covers, reveals and pushes are drawn with
overlays and crops, many times cheaper than the xfade filter; any other xfade transition
(``wipeleft``, ``circleopen``...) goes through xfade itself.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from api.content.video.compose import Composition, Layer, ThumbnailSource, compose_scene
from api.content.video.drawing import paste
from api.content.video.ffmpeg import BITEXACT_ARGS, FFmpeg, VideoEncoding, default_ffmpeg
from api.content.video.model import FPS, VideoOptions
from api.content.video.scratch import scratch_dir
from api.content.video.themes import theme
from api.content.video.timeline import PocPayload, TimelinePlan, encode_plan

Progress = Callable[[float], None]

NATIVE_TRANSITIONS: frozenset[str] = frozenset(
    f"{kind}{direction}"
    for kind in ("slide", "cover", "reveal")
    for direction in ("left", "right", "up", "down")
) | {"fade"}
"""Transitions drawn with overlays or a stacked crop (0.1-0.8 ms a frame at 720p, against 2-16 ms
for xfade's). They look exactly like xfade's namesakes."""

FADE_IN_SECONDS = 0.5
COLOR_CONVERSION = "scale=out_color_matrix=bt709:out_range=tv:flags=accurate_rnd+full_chroma_int"
_EASE_OUT = "(1-pow(1-clip(({t}-{start})/{duration},0,1),3))"


def transition_for(plan: TimelinePlan, index: int, options: VideoOptions) -> str | None:
    """The transition into scene `index` (None for the first scene, which fades in from black)."""
    if index == 0 or plan.scenes[index].transition_frames == 0:
        return None
    names = theme(options.style).transitions
    return names[(index - 1) % len(names)]


# -- the previous scene's last frame -------------------------------------------------------


class _SettledFrames:
    """Settled frames recently drawn in this process, computed once even when asked concurrently."""

    def __init__(self, capacity: int = 6) -> None:
        self._capacity = capacity
        self._frames: OrderedDict[str, Image.Image] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get_or_draw(self, key: str, draw: Callable[[], Image.Image]) -> Image.Image:
        with self._guard:
            cached = self._frames.get(key)
            if cached is not None:
                self._frames.move_to_end(key)
                return cached
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                cached = self._frames.get(key)
            if cached is not None:
                return cached
            frame = draw()
            self.put(key, frame)
            return frame

    def clear(self) -> None:
        with self._guard:
            self._frames.clear()
            self._locks.clear()

    def put(self, key: str, frame: Image.Image) -> None:
        with self._guard:
            self._frames[key] = frame
            self._frames.move_to_end(key)
            while len(self._frames) > self._capacity:
                evicted, _ = self._frames.popitem(last=False)
                self._locks.pop(evicted, None)


_settled_frames = _SettledFrames()


def forget_settled_frames() -> None:
    """Drop the settled frames kept in memory (a benchmark measures a cold worker)."""
    _settled_frames.clear()


def _thumbnail_fingerprint(source: ThumbnailSource | None) -> str:
    if source is None:
        return "-"
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    path = Path(source)
    try:
        stat = path.stat()
    except OSError:
        return f"{path}:missing"
    return f"{path}:{stat.st_size}:{stat.st_mtime_ns}"


def _settled_key(
    plan: TimelinePlan, index: int, options: VideoOptions, thumbnails: Mapping[str, ThumbnailSource]
) -> str:
    payload = plan.scenes[index].payload
    picture = thumbnails.get(payload.poc_id) if isinstance(payload, PocPayload) else None
    digest = hashlib.sha256(encode_plan(plan))
    digest.update(repr((index, options, _thumbnail_fingerprint(picture))).encode())
    return digest.hexdigest()


def settled_frame(
    plan: TimelinePlan,
    index: int,
    options: VideoOptions,
    thumbnails: Mapping[str, ThumbnailSource] | None = None,
) -> Image.Image:
    """Scene `index` once its entrances are over (RGB, shared: copy it before drawing on it).

    Its last frame, where the next scene's transition starts, and the poster's source.
    """
    pictures = thumbnails or {}
    key = _settled_key(plan, index, options, pictures)
    return _settled_frames.get_or_draw(key, lambda: compose_scene(plan, index, options, pictures).settled())


# -- the ffmpeg graph ----------------------------------------------------------------------


@dataclass
class _Inputs:
    """ffmpeg input arguments and the files behind them."""

    folder: Path
    args: list[str]
    count: int = 0

    def raw(self, name: str, data: bytes, size: tuple[int, int], pixel_format: str) -> int:
        path = self.folder / name
        path.write_bytes(data)
        self.args += [
            "-f",
            "rawvideo",
            "-pixel_format",
            pixel_format,
            "-video_size",
            f"{size[0]}x{size[1]}",
            "-framerate",
            str(FPS),
            "-i",
            str(path),
        ]
        self.count += 1
        return self.count - 1


def _still(index: int, frames: int, pixel_format: str) -> str:
    """A one-frame input converted once, then repeated `frames` times at 30 fps."""
    return (
        f"[{index}:v]{COLOR_CONVERSION},format={pixel_format},"
        f"loop=loop={frames - 1}:size=1:start=0,settb=1/{FPS},setpts=N"
    )


def _even(value: int) -> int:
    return value + (value % 2)


@dataclass
class _AtlasCell:
    layer: Layer
    x: int
    y: int
    width: int
    height: int


def _atlas(layers: list[Layer]) -> tuple[Image.Image, list[_AtlasCell]]:
    """The animated layers stacked in one RGBA image (one ffmpeg input, one colour conversion).

    Cells start on even pixels (yuv420p crops round to them); a layer that grows out of an edge
    gets a transparent twin beside it, which the crop window slides over.
    """
    cells: list[_AtlasCell] = []
    y = 0
    width = 2
    for layer in layers:
        cell_width = _even(layer.image.width) * (2 if layer.entrance.clip == "left" else 1)
        cell_height = _even(layer.image.height) * (2 if layer.entrance.clip == "bottom" else 1)
        cells.append(_AtlasCell(layer, 0, y, cell_width, cell_height))
        y += cell_height
        width = max(width, cell_width)
    atlas = Image.new("RGBA", (width, max(2, y)), (0, 0, 0, 0))
    for cell in cells:
        offset_y = cell.height // 2 if cell.layer.entrance.clip == "bottom" else 0
        atlas.paste(cell.layer.image, (cell.x, cell.y + offset_y))
    return atlas, cells


def _layer_branch(cell: _AtlasCell, source: str, label: str) -> str:
    entrance = cell.layer.entrance
    width, height = _even(cell.layer.image.width), _even(cell.layer.image.height)
    progress = _EASE_OUT.format(t="t", start=entrance.start, duration=max(entrance.duration, 1e-3))
    if entrance.clip == "left":
        crop_x, crop_y = f"{cell.x}+(1-{progress})*{width}", str(cell.y)
    elif entrance.clip == "bottom":
        crop_x, crop_y = str(cell.x), f"{cell.y}+{progress}*{height}"
    else:
        crop_x, crop_y = str(cell.x), str(cell.y)
    chain = f"[{source}]crop=w={width}:h={height}:x='{crop_x}':y='{crop_y}'"
    if entrance.fade:
        chain += f",fade=t=in:st={entrance.start}:d={max(entrance.duration, 1e-3)}:alpha=1"
    return chain + f"[{label}]"


def _overlay_position(layer: Layer) -> tuple[str, str]:
    entrance = layer.entrance
    remaining = f"(1-{_EASE_OUT.format(t='t', start=entrance.start, duration=max(entrance.duration, 1e-3))})"
    x = f"{layer.x}+{entrance.dx}*{remaining}" if entrance.dx else str(layer.x)
    y = f"{layer.y}+{entrance.dy}*{remaining}" if entrance.dy else str(layer.y)
    return x, y


def _transition(name: str, frames: int, width: int, height: int) -> tuple[str, bool]:
    """Filter from [prev] and [head] (both `frames` long) to [tr]; True if prev must carry alpha."""
    progress = f"((n+1)/{frames + 1})"
    smooth = f"(0.5-0.5*cos(PI*{progress}))"
    if name == "fade":
        return f"[prev]fade=t=out:st=0:d={frames / FPS}:alpha=1[pa];[head][pa]overlay=0:0[tr]", True
    kind = next(prefix for prefix in ("slide", "cover", "reveal") if name.startswith(prefix))
    direction = name[len(kind) :]
    sign = -1 if direction in ("left", "up") else 1
    horizontal = direction in ("left", "right")
    extent = width if horizontal else height
    if kind == "cover":
        offset = f"{-sign}*{extent}*(1-{smooth})"
        position = f"x='{offset}':y=0" if horizontal else f"x=0:y='{offset}'"
        return f"[prev][head]overlay={position}[tr]", False
    if kind == "reveal":
        offset = f"{sign}*{extent}*{smooth}"
        position = f"x='{offset}':y=0" if horizontal else f"x=0:y='{offset}'"
        return f"[head][prev]overlay={position}[tr]", False
    stack = "hstack" if horizontal else "vstack"
    first, second = ("prev", "head") if sign < 0 else ("head", "prev")
    start = f"{extent}*{smooth}" if sign < 0 else f"{extent}*(1-{smooth})"
    crop = f"x='{start}':y=0" if horizontal else f"x=0:y='{start}'"
    return f"[{first}][{second}]{stack}=inputs=2,crop=w={width}:h={height}:{crop}[tr]", False


def scene_graph(
    composition: Composition,
    frames: int,
    *,
    transition: str | None,
    transition_frames: int,
    previous: Image.Image | None,
    fade_in: bool,
    fade_out_frames: int,
    inputs: _Inputs,
    settled: Image.Image | None = None,
) -> str:
    """The filter graph of one scene, ending in ``[out]`` of exactly `frames` frames.

    `settled` is the composition's settled frame when the caller has drawn it already.
    """
    width, height = composition.base.size
    base = composition.base.copy()
    moving = [layer for layer in composition.layers if layer.entrance.animated]
    for layer in composition.layers:
        if not layer.entrance.animated:
            paste(base, layer.image, (layer.x, layer.y))
    animated = (
        min(frames, math.ceil(composition.animation_seconds * FPS) + 1)
        if moving or composition.sprites
        else 0
    )
    chains: list[str] = []
    if animated:
        base_input = inputs.raw("base.rgb", base.tobytes(), base.size, "rgb24")
        chains.append(_still(base_input, animated, "yuv420p") + "[v0]")
        current = "v0"
        if moving:
            atlas, cells = _atlas(moving)
            atlas_input = inputs.raw("atlas.rgba", atlas.tobytes(), atlas.size, "rgba")
            names = [f"a{number}" for number in range(len(cells))]
            split = (
                f"split={len(cells)}" + "".join(f"[{name}]" for name in names) if len(cells) > 1 else "null"
            )
            if len(cells) == 1:
                split += f"[{names[0]}]"
            chains.append(_still(atlas_input, animated, "yuva420p") + f",{split}")
            for number, cell in enumerate(cells):
                chains.append(_layer_branch(cell, names[number], f"l{number}"))
                x, y = _overlay_position(cell.layer)
                chains.append(f"[{current}][l{number}]overlay=x='{x}':y='{y}'[v{number + 1}]")
                current = f"v{number + 1}"
        for number, sprite in enumerate(composition.sprites):
            sprite_size = sprite.frames[0].size
            data = b"".join(frame.tobytes() for frame in sprite.frames)
            sprite_input = inputs.raw(f"sprite{number}.rgba", data, sprite_size, "rgba")
            chains.append(
                f"[{sprite_input}:v]{COLOR_CONVERSION},format=yuva420p,settb=1/{FPS},setpts=N[s{number}]"
            )
            chains.append(f"[{current}][s{number}]overlay={sprite.x}:{sprite.y}:eof_action=repeat[w{number}]")
            current = f"w{number}"
        body = current
    held = frames - animated
    if held:
        rest = settled or composition.settled()
        settled_input = inputs.raw("settled.rgb", rest.tobytes(), (width, height), "rgb24")
        chains.append(_still(settled_input, held, "yuv420p") + "[hold]")
        if animated:
            chains.append(f"[{body}][hold]concat=n=2:v=1:a=0,settb=1/{FPS},setpts=N[body]")
            body = "body"
        else:
            body = "hold"
    if transition is not None and previous is not None and transition_frames:
        chains.append(
            f"[{body}]split=2[headsrc][tailsrc];[headsrc]trim=end_frame={transition_frames},setpts=N[head];"
            f"[tailsrc]trim=start_frame={transition_frames},setpts=N[tail]"
        )
        if transition in NATIVE_TRANSITIONS:
            graph, needs_alpha = _transition(transition, transition_frames, width, height)
        else:
            graph = (
                f"[prev][head]xfade=transition={transition}:duration={transition_frames / FPS}:offset=0[tr]"
            )
            needs_alpha = False
        previous_input = inputs.raw("previous.rgb", previous.tobytes(), previous.size, "rgb24")
        chains.append(
            _still(previous_input, transition_frames, "yuva420p" if needs_alpha else "yuv420p") + "[prev]"
        )
        chains.append(graph)
        if transition_frames < frames:
            chains.append(f"[tr][tail]concat=n=2:v=1:a=0,settb=1/{FPS},setpts=N[joined]")
            body = "joined"
        else:
            body = "tr"
    finish: list[str] = []
    if fade_in:
        finish.append(f"fade=t=in:st=0:d={FADE_IN_SECONDS}")
    if fade_out_frames:
        finish.append(f"fade=t=out:st={(frames - fade_out_frames) / FPS}:d={fade_out_frames / FPS}")
    finish.append("format=yuv420p")
    chains.append(f"[{body}]" + ",".join(finish) + "[out]")
    return ";".join(chains)


class _Rising:
    """Forwards only rising values, so a heartbeat never sees a scene's progress go backwards."""

    def __init__(self, callback: Progress | None) -> None:
        self._callback = callback
        self._last = -1.0

    def __call__(self, fraction: float) -> None:
        value = min(1.0, max(0.0, fraction))
        if self._callback is not None and value > self._last:
            self._last = value
            self._callback(value)


def render_scene(
    plan: TimelinePlan,
    index: int,
    options: VideoOptions,
    output_path: Path,
    *,
    progress: Progress | None = None,
    thumbnails: Mapping[str, ThumbnailSource] | None = None,
    ffmpeg: FFmpeg | None = None,
    encoding: VideoEncoding | None = None,
) -> Path:
    """Scene `index` of `plan` as an MP4 segment (H.264, no audio) at `output_path`.

    Idempotent: the same plan, options and thumbnails give the same bytes, and the file appears
    only once complete (the caller skips a scene whose file exists). `thumbnails` maps POC ids
    to their images (`timeline.scene_thumbnail_ids` names the ones this scene needs); a missing
    or unreadable one is drawn as a placeholder. `progress` receives 0-1.
    """
    runner = ffmpeg or default_ffmpeg()
    encoder = encoding or VideoEncoding()
    pictures = thumbnails or {}
    scene = plan.scenes[index]
    report = _Rising(progress)
    report(0.0)
    composition = compose_scene(plan, index, options, pictures)
    settled = composition.settled()
    _settled_frames.put(_settled_key(plan, index, options, pictures), settled)
    transition = transition_for(plan, index, options)
    previous = settled_frame(plan, index - 1, options, pictures) if transition else None
    report(0.1)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with scratch_dir("scene") as folder:
        inputs = _Inputs(folder=folder, args=[])
        graph = scene_graph(
            composition,
            scene.frames,
            transition=transition,
            transition_frames=scene.transition_frames,
            previous=previous,
            fade_in=index == 0,
            fade_out_frames=scene.fade_out_frames,
            inputs=inputs,
            settled=settled,
        )
        args = [
            *inputs.args,
            "-filter_complex_threads",
            str(encoder.threads),
            "-filter_complex",
            graph,
            "-map",
            "[out]",
            "-frames:v",
            str(scene.frames),
            "-fps_mode",
            "cfr",
            "-r",
            str(FPS),
            *encoder.video_args(),
            "-an",
            *BITEXACT_ARGS,
        ]
        runner.run(
            args,
            output_path,
            expected_frames=scene.frames,
            progress=lambda fraction: report(0.1 + 0.9 * fraction),
        )
    report(1.0)
    return output_path
