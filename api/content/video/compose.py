"""What each scene shows and how its parts arrive: Pillow stills plus entrance animations.

A `Composition` is a base image (background and everything that never moves), layers that
enter (fade, slide, or grow out of a clipping edge) and sprites (short per-frame drawings such
as a counting number). Its settled frame, every layer in place, is where the scene rests and
what the next scene's transition starts from. ffmpeg plays the entrances (`scenes.py`); nothing
here draws more than a handful of images per scene.

Layouts adapt to the frame: landscape puts pictures beside text, portrait and square stack
them; sizes are in units of a hundredth of the shorter side, so every format reads alike.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from api.common.i18n import N_
from api.content.reports.model import parse_instant
from api.content.video.drawing import (
    background,
    card,
    dot_pill,
    fit_font,
    font,
    line_height,
    paste,
    pill,
    rounded_box,
    rounded_mask,
    text_layer,
    text_width,
    truncate,
    wrap,
)
from api.content.video.model import FPS, VideoOptions
from api.content.video.text import VideoText
from api.content.video.themes import Color, Theme, language_color, mix, readable_ink, theme
from api.content.video.timeline import (
    ActivityPayload,
    BusiestMonthPayload,
    CountPayload,
    FrameworksPayload,
    IntroPayload,
    LanguagesPayload,
    MorePayload,
    OutroPayload,
    Payload,
    PocPayload,
    Scene,
    TagsPayload,
    TimelinePayload,
    TimelinePlan,
)

ThumbnailSource = bytes | str | Path
"""A POC's image as the activity fetched it: the file's bytes, or a local path."""

MAX_THUMBNAIL_PIXELS = 40_000_000
"""Larger images are ignored (a placeholder is drawn): decoding them would cost more than a scene."""

TIER_COLORS: dict[str, Color] = {
    "spark": (255, 159, 28),
    "rocket": (45, 212, 191),
    "comet": (96, 165, 250),
    "star": (250, 204, 21),
    "supernova": (236, 72, 153),
}


@dataclass(frozen=True)
class Entrance:
    """How a layer arrives; after `start + duration` it rests in place."""

    start: float = 0.0
    duration: float = 0.0
    fade: bool = True
    dx: int = 0
    """Horizontal offset it starts from, in pixels (it moves to its place with an ease-out)."""
    dy: int = 0
    clip: str | None = None
    """``left``: grows rightwards out of its left edge; ``bottom``: rises out of its bottom edge."""

    @property
    def end(self) -> float:
        return self.start + self.duration

    @property
    def animated(self) -> bool:
        return self.duration > 0 and (self.fade or bool(self.dx) or bool(self.dy) or self.clip is not None)


@dataclass
class Layer:
    image: Image.Image
    """RGBA."""
    x: int
    y: int
    entrance: Entrance


@dataclass
class Sprite:
    """A small animation drawn frame by frame: frame k shows at the scene's frame k; the last one stays."""

    frames: list[Image.Image]
    """RGBA, all the same size."""
    x: int
    y: int


@dataclass
class Composition:
    base: Image.Image
    """RGB, the frame's size."""
    layers: list[Layer] = field(default_factory=list)
    sprites: list[Sprite] = field(default_factory=list)

    @property
    def animation_seconds(self) -> float:
        ends = [layer.entrance.end for layer in self.layers if layer.entrance.animated]
        ends.extend(len(sprite.frames) / FPS for sprite in self.sprites)
        return max(ends, default=0.0)

    def settled(self) -> Image.Image:
        """The frame once every entrance is over: the scene's last frame."""
        frame = self.base.copy()
        for layer in self.layers:
            paste(frame, layer.image, (layer.x, layer.y))
        for sprite in self.sprites:
            paste(frame, sprite.frames[-1], (sprite.x, sprite.y))
        return frame


class Stage:
    """One scene's canvas, theme, words and clock, and the tools every layout shares."""

    def __init__(self, scene: Scene, options: VideoOptions) -> None:
        video_format = options.video_format
        self.width = video_format.width
        self.height = video_format.height
        self.orientation = video_format.orientation
        self.unit = min(self.width, self.height) / 100 * (1.1 if self.orientation == "portrait" else 1.0)
        """A hundredth of the shorter side; a little more in portrait, which has height to spare."""
        self.margin = round(7 * self.unit)
        self.theme: Theme = theme(options.style)
        self.text = VideoText(options)
        self.options = options
        self.scene = scene
        self.tempo = min(1.0, scene.duration / 3.2)
        """Entrances shrink with short scenes, so every scene rests at least half its time."""
        self.delay = 0.1 * self.tempo
        self.base = background(self.theme, self.width, self.height, scene.index)
        self.layers: list[Layer] = []
        self.sprites: list[Sprite] = []
        self.stills: list[tuple[Image.Image, int, int]] = []
        self.body_top: int | None = None
        """Set by `heading`: what is added afterwards is the body, centred in the room left below."""
        self._body_from = (0, 0, 0)

    # -- geometry --------------------------------------------------------------------------

    def u(self, units: float) -> int:
        return max(1, round(units * self.unit))

    @property
    def content_width(self) -> int:
        return self.width - 2 * self.margin

    @property
    def content_bottom(self) -> int:
        return self.height - self.margin

    @property
    def body_style(self) -> str:
        return "mono" if self.theme.body_font == "mono" else "regular"

    def at(self, seconds: float) -> float:
        return self.delay + seconds * self.tempo

    def span(self, seconds: float) -> float:
        return seconds * self.tempo

    # -- building ----------------------------------------------------------------------------

    def add(self, image: Image.Image, x: float, y: float, entrance: Entrance | None = None) -> Layer:
        layer = Layer(image=image, x=round(x), y=round(y), entrance=entrance or Entrance())
        self.layers.append(layer)
        return layer

    def still(self, image: Image.Image, x: float, y: float) -> None:
        """Part of the base: it never moves."""
        self.stills.append((image, round(x), round(y)))

    def enter(
        self,
        start: float,
        duration: float = 0.55,
        *,
        fade: bool = True,
        dx: int = 0,
        dy: int = 0,
        clip: str | None = None,
    ) -> Entrance:
        """An entrance at `start` seconds of the scene's natural tempo (scaled for short scenes)."""
        return Entrance(
            start=round(self.at(start), 4),
            duration=round(self.span(duration), 4),
            fade=fade,
            dx=dx,
            dy=dy,
            clip=clip,
        )

    def heading(self, title: str, kicker: str | None = None) -> int:
        """Kicker (static) and title (slides in) at the top; returns the y below them."""
        theme_ = self.theme
        y = self.margin
        kicker_text = kicker if kicker is not None else f"{self.text.owner()} · {self.text.period()}"
        kicker_face = font("bold", self.u(2.8))
        kicker_image = text_layer(
            [truncate(kicker_text.upper(), kicker_face, self.content_width)], kicker_face, theme_.muted
        )
        self.still(kicker_image, self.margin, y)
        y += kicker_image.height + self.u(1.2)
        title_face = fit_font(title, "bold", self.content_width, self.u(7), self.u(4.2))
        lines = wrap(title, title_face, self.content_width, 2)
        title_image = text_layer(lines, title_face, theme_.ink, spacing=1.05)
        self.add(title_image, self.margin, y, self.enter(0.0, 0.5, dx=-self.u(5)))
        return self.begin_body(y + title_image.height + self.u(3))

    def begin_body(self, top: int) -> int:
        """What is added from now on is centred vertically between `top` and the bottom margin."""
        self.body_top = top
        self._body_from = (len(self.layers), len(self.sprites), len(self.stills))
        return top

    def composition(self) -> Composition:
        """The scene, its body centred vertically in the room under the heading."""
        if self.body_top is not None:
            self._centre_body(self.body_top)
        for image, x, y in self.stills:
            paste(self.base, image, (x, y))
        return Composition(base=self.base, layers=self.layers, sprites=self.sprites)

    def _centre_body(self, top: int) -> None:
        layers_from, sprites_from, stills_from = self._body_from
        layers = self.layers[layers_from:]
        sprites = self.sprites[sprites_from:]
        stills = self.stills[stills_from:]
        bottoms = [layer.y + layer.image.height for layer in layers]
        bottoms += [sprite.y + sprite.frames[0].height for sprite in sprites]
        bottoms += [y + image.height for image, _, y in stills]
        tops = [layer.y for layer in layers] + [sprite.y for sprite in sprites] + [y for _, _, y in stills]
        if not bottoms:
            return
        shift = (self.content_bottom - max(bottoms) - (min(tops) - top)) // 2
        if shift <= 0:
            return
        for layer in layers:
            layer.y += shift
        for sprite in sprites:
            sprite.y += shift
        self.stills[stills_from:] = [(image, x, y + shift) for image, x, y in stills]


# -- shared pieces -------------------------------------------------------------------------


def _chips_rows(chips: Sequence[Image.Image], max_width: int, gap: int) -> list[list[Image.Image]]:
    rows: list[list[Image.Image]] = [[]]
    width = 0
    for chip in chips:
        needed = chip.width if not rows[-1] else width + gap + chip.width
        if rows[-1] and needed > max_width:
            rows.append([])
            needed = chip.width
        rows[-1].append(chip)
        width = needed
    return [row for row in rows if row]


def _row_image(row: Sequence[Image.Image], gap: int) -> Image.Image:
    """Chips side by side; the gaps are transparent in the chips' colour, so no dark fringe shows
    where video chroma subsampling mixes an edge with its neighbour."""
    height = max(chip.height for chip in row)
    width = sum(chip.width for chip in row) + gap * (len(row) - 1)
    first = row[0]
    pixel = first.getpixel((first.width // 2, first.height // 2))
    red, green, blue = (
        (int(pixel[0]), int(pixel[1]), int(pixel[2])) if isinstance(pixel, tuple) else (0, 0, 0)
    )
    image = Image.new("RGBA", (width, height), (red, green, blue, 0))
    x = 0
    for chip in row:
        image.paste(chip, (x, (height - chip.height) // 2))
        x += chip.width + gap
    return image


def _flow(
    stage: Stage,
    chips: Sequence[Image.Image],
    top: int,
    bottom: int,
    *,
    start: float,
    stagger: float,
    center: bool = False,
) -> int:
    """Chips in rows across the content width, each row entering after the previous; returns the y below."""
    gap = stage.u(1.6)
    y = top
    for number, row in enumerate(_chips_rows(chips, stage.content_width, gap)):
        image = _row_image(row, gap)
        if y + image.height > bottom:
            break
        x = stage.margin + (stage.content_width - image.width) // 2 if center else stage.margin
        stage.add(image, x, y, stage.enter(start + number * stagger, 0.45, dy=stage.u(2)))
        y += image.height + gap
    return y


def _columns_chart(
    stage: Stage,
    values: Sequence[int],
    labels: Sequence[str | None],
    box: tuple[int, int, int, int],
    *,
    highlight: int | None,
    start: float,
    show_values: bool,
) -> None:
    """Columns that rise out of their baseline together (one layer), labels under them (static)."""
    left, top, right, bottom = box
    theme_ = stage.theme
    count = max(1, len(values))
    label_face = font(stage.body_style, stage.u(2.4 if count > 12 else 2.8))
    label_height = line_height(label_face) + stage.u(1)
    value_face = font("bold", stage.u(2.4 if count > 12 else 2.8))
    value_height = line_height(value_face) + stage.u(0.6) if show_values else 0
    baseline = bottom - label_height
    chart_top = top + value_height
    slot = (right - left) / count
    column_width = max(2, round(slot * 0.62))
    peak = max(max(values, default=0), 1)
    chart_height = max(1, baseline - chart_top)
    columns = Image.new("RGBA", (right - left, chart_height), (*theme_.accent, 0))
    values_image = Image.new("RGBA", (right - left, value_height + chart_height), (*theme_.ink, 0))
    values_draw = ImageDraw.Draw(values_image)
    track_height = max(2, stage.u(0.5))
    stage.still(
        card(right - left, track_height, track_height // 2, theme_.track), left, baseline - track_height // 2
    )
    for index, value in enumerate(values):
        center = (index + 0.5) * slot
        x0 = round(center - column_width / 2)
        height = round(chart_height * value / peak)
        color = theme_.accent if index == highlight else mix(theme_.accent, theme_.track, 0.45)
        if height > 0:
            radius = min(column_width // 2, stage.u(0.8))
            rounded_box(
                columns, (x0, chart_height - height, x0 + column_width, chart_height + radius), radius, color
            )
            columns.paste((0, 0, 0, 0), (x0, chart_height, x0 + column_width, chart_height + radius))
        if show_values and value and (count <= 12 or index == highlight):
            text = stage.text.number(value)
            width = text_width(value_face, text)
            values_draw.text(
                (center - width / 2, chart_height - height), text, font=value_face, fill=(*theme_.ink, 255)
            )
        label = labels[index] if index < len(labels) else None
        if label:
            label_image = text_layer([label], label_face, theme_.ink if index == highlight else theme_.muted)
            stage.still(label_image, left + center - label_image.width / 2, baseline + stage.u(0.8))
    stage.add(columns, left, chart_top, stage.enter(start, 0.8, fade=False, clip="bottom"))
    if show_values:
        stage.add(values_image, left, top, stage.enter(start + 0.6, 0.35))


def _bar_rows(
    stage: Stage,
    rows: Sequence[tuple[str, int, Color, str]],
    box: tuple[int, int, int, int],
    *,
    start: float,
) -> None:
    """Horizontal bars (label, value, colour, value text) that grow from their left end, staggered.

    Landscape and square put the label beside its bar; portrait, narrow, puts it above.
    """
    left, top, right, bottom = box
    theme_ = stage.theme
    if not rows:
        return
    stacked = stage.orientation == "portrait"
    width = right - left
    label_face = font(stage.body_style, stage.u(4.2 if stacked else 3.6))
    value_face = font("bold", label_face.size)
    value_width = round(max(text_width(value_face, value) for *_, value in rows)) + stage.u(2)
    label_width = width - value_width if stacked else round(width * 0.3)
    bar_left = left if stacked else left + label_width + stage.u(2)
    bar_span = max(1, right - bar_left - (0 if stacked else value_width + stage.u(2)))
    label_height = line_height(label_face)
    row_height = min(stage.u(20 if stacked else 11), (bottom - top) // len(rows))
    bar_height = max(4, round((row_height - (label_height if stacked else 0)) * (0.4 if stacked else 0.46)))
    peak = max(max(value for _, value, _, _ in rows), 1)
    for number, (label, value, color, value_text) in enumerate(rows):
        y = top + number * row_height
        label_image = text_layer([truncate(label, label_face, label_width)], label_face, theme_.ink)
        value_image = text_layer([value_text], value_face, theme_.ink)
        if stacked:
            label_y = y
            bar_y = y + label_height + stage.u(1.2)
            value_x, value_y = right - value_image.width, y
        else:
            label_y = y + (row_height - label_image.height) // 2
            bar_y = y + (row_height - bar_height) // 2
            value_y = y + (row_height - value_image.height) // 2
        stage.still(label_image, left, label_y)
        stage.still(card(bar_span, bar_height, bar_height // 2, theme_.track), bar_left, bar_y)
        length = max(bar_height, round(bar_span * value / peak))
        bar = card(length, bar_height, bar_height // 2, color)
        stage.add(bar, bar_left, bar_y, stage.enter(start + number * 0.12, 0.7, fade=False, clip="left"))
        if not stacked:
            value_x = bar_left + length + stage.u(1.5)
        stage.add(value_image, value_x, value_y, stage.enter(start + 0.45 + number * 0.12, 0.35))


def _count_up_frames(
    stage: Stage, target: int, face_size: int, color: Color, seconds: float, *, centred: bool
) -> list[Image.Image]:
    """The number counting from zero with an ease-out, one image per frame, all of one size."""
    face = font("bold", face_size)
    final = stage.text.number(target)
    width = round(text_width(face, final) * 1.15) + 4
    height = line_height(face) + 4
    count = max(2, round(seconds * FPS))
    delay = round(stage.delay * FPS)
    frames: list[Image.Image] = []
    cache: dict[str, Image.Image] = {}
    for index in range(delay + count):
        progress = max(0.0, min(1.0, (index - delay) / (count - 1)))
        eased = 1 - (1 - progress) ** 3
        shown = stage.text.number(round(target * eased))
        alpha = min(1.0, (index + 1) / max(1, delay + count // 4))
        key = f"{shown}:{alpha:.3f}"
        if key not in cache:
            image = Image.new("RGBA", (width, height), (*color, 0))
            left = (width - text_width(face, shown)) / 2 if centred else 2
            ImageDraw.Draw(image).text((left, 2), shown, font=face, fill=(*color, 255))
            if alpha < 1.0:
                image.putalpha(image.getchannel("A").point(lambda value, a=alpha: round(value * a)))
            cache[key] = image
        frames.append(cache[key])
    return frames


# -- the scenes ----------------------------------------------------------------------------


def _intro(stage: Stage, payload: IntroPayload) -> None:
    theme_ = stage.theme
    text = stage.text
    period = text.period()
    landscape = stage.orientation == "landscape"
    width = stage.content_width if not landscape else round(stage.content_width * 0.8)
    big = fit_font(period, "bold", width, stage.u(34 if stage.options.year else 14), stage.u(8))
    period_image = text_layer([period], big, theme_.accent)
    title, owner = text.title(), text.owner()
    title_face = fit_font(title, "bold", width, stage.u(7), stage.u(4))
    title_image = text_layer(wrap(title, title_face, width, 2), title_face, theme_.ink, spacing=1.05)
    name_face = fit_font(owner, stage.body_style, width, stage.u(4.6), stage.u(3))
    name_image = text_layer([truncate(owner, name_face, width)], name_face, theme_.muted)
    count_image = pill(
        text.poc_count(payload.poc_count),
        font("bold", stage.u(3.2)),
        theme_.accent,
        theme_.accent_ink,
        (stage.u(2.4), stage.u(1)),
    )
    gap = stage.u(2.5)
    blocks = [period_image, title_image, name_image, count_image]
    total = sum(image.height for image in blocks) + gap * (len(blocks) - 1)
    y = max(stage.margin, (stage.height - total) // 2)

    def x_of(image: Image.Image) -> int:
        return stage.margin if landscape else (stage.width - image.width) // 2

    stage.add(period_image, x_of(period_image), y, stage.enter(0.0, 0.8, fade=False, clip="bottom"))
    y += period_image.height + gap
    stage.add(title_image, x_of(title_image), y, stage.enter(0.35, 0.6, dx=-stage.u(6)))
    y += title_image.height + gap
    stage.add(name_image, x_of(name_image), y, stage.enter(0.6, 0.5))
    y += name_image.height + gap
    stage.add(count_image, x_of(count_image), y, stage.enter(0.8, 0.5, dy=stage.u(3)))


def _count(stage: Stage, payload: CountPayload) -> None:
    theme_ = stage.theme
    text = stage.text
    top = stage.heading(text(N_("Your year in numbers")))
    landscape = stage.orientation == "landscape"
    size = stage.u(36 if not landscape else 32)
    frames = _count_up_frames(
        stage, payload.poc_count, size, theme_.accent, 1.0 * stage.tempo, centred=not landscape
    )
    label = text.plural("POC in {period}", "POCs in {period}", payload.poc_count, period=text.period())
    label_face = fit_font(label, "bold", stage.content_width, stage.u(5.5), stage.u(3.2))
    label_image = text_layer([label], label_face, theme_.ink)
    chip_face = font("bold", stage.u(3.6))
    padding = (stage.u(2.4), stage.u(1.1))
    figures = (
        text.plural("{amount} language", "{amount} languages", payload.language_count),
        text.plural("{amount} tag", "{amount} tags", payload.tag_count),
        text.plural("{amount} public", "{amount} public", payload.public_count),
        text.plural("{amount} active month", "{amount} active months", payload.active_months),
    )
    chips = [pill(figure, chip_face, theme_.chip, theme_.chip_ink, padding) for figure in figures]
    number_height = frames[0].height
    y = top
    center = not landscape
    number_x = (stage.width - frames[0].width) // 2 if center else stage.margin
    stage.sprites.append(Sprite(frames=frames, x=number_x, y=y))
    y += number_height
    label_x = (stage.width - label_image.width) // 2 if center else stage.margin
    stage.add(label_image, label_x, y, stage.enter(0.45, 0.5, dy=stage.u(2)))
    y += label_image.height + stage.u(3)
    _flow(stage, chips, y, stage.content_bottom, start=0.75, stagger=0.15, center=center)


def _languages(stage: Stage, payload: LanguagesPayload) -> None:
    text = stage.text
    top = stage.heading(text(N_("Top languages")))
    rows = [
        (
            text.language(tally.label),
            tally.count,
            language_color(tally.label, stage.theme),
            f"{text.number(tally.count)} · {text.percent(tally.count, payload.poc_count)}",
        )
        for tally in payload.languages
    ]
    bottom = stage.content_bottom
    row = stage.u(20 if stage.orientation == "portrait" else 11)
    height = min(bottom - top, len(rows) * row)
    box_top = top
    _bar_rows(stage, rows, (stage.margin, box_top, stage.width - stage.margin, box_top + height), start=0.35)


def _busiest_month(stage: Stage, payload: BusiestMonthPayload) -> None:
    theme_ = stage.theme
    text = stage.text
    top = stage.heading(text(N_("Your busiest month")))
    month = text.month_name(payload.busiest.month)
    landscape = stage.orientation == "landscape"
    name_width = round(stage.content_width * (0.5 if landscape else 1.0))
    name_face = fit_font(month, "bold", name_width, stage.u(16), stage.u(7))
    name_image = text_layer([month], name_face, theme_.accent)
    line = text.poc_count(payload.busiest.count)
    share = text.percent(payload.busiest.count, payload.poc_count)
    whole = (
        N_("{pocs}, {share} of the year")
        if stage.options.year is not None
        else N_("{pocs}, {share} of the period")
    )
    detail = text(whole, pocs=line, share=share)
    detail_face = fit_font(detail, stage.body_style, name_width, stage.u(4.2), stage.u(2.6))
    detail_image = text_layer(wrap(detail, detail_face, name_width, 2), detail_face, theme_.ink)
    busiest_index = next(
        (index for index, tally in enumerate(payload.months) if tally.month == payload.busiest.month), None
    )
    labels = [text.month_abbreviation(tally.month)[:1].upper() for tally in payload.months]
    if landscape:
        y = top + stage.u(4)
        stage.add(name_image, stage.margin, y, stage.enter(0.2, 0.7, fade=False, clip="bottom"))
        stage.add(detail_image, stage.margin, y + name_image.height + stage.u(2), stage.enter(0.55, 0.45))
        chart_left = stage.margin + name_width + stage.u(4)
        box = (chart_left, top + stage.u(2), stage.width - stage.margin, stage.content_bottom)
    else:
        y = top + stage.u(2)
        stage.add(name_image, stage.margin, y, stage.enter(0.2, 0.7, fade=False, clip="bottom"))
        y += name_image.height + stage.u(2)
        stage.add(detail_image, stage.margin, y, stage.enter(0.55, 0.45))
        y += detail_image.height + stage.u(5)
        height = min(stage.content_bottom - y, stage.u(45))
        box = (stage.margin, y, stage.width - stage.margin, y + height)
    _columns_chart(
        stage,
        [tally.count for tally in payload.months],
        labels if len(labels) <= 24 else [None] * len(labels),
        box,
        highlight=busiest_index,
        start=0.4,
        show_values=False,
    )


def _activity(stage: Stage, payload: ActivityPayload) -> None:
    theme_ = stage.theme
    text = stage.text
    top = stage.heading(text(N_("When you build")))
    order = text.weekday_order()
    landscape = stage.orientation == "landscape"
    gap = stage.u(5)
    panels = 2 if payload.hours is not None else 1
    if landscape:
        panel_width = (stage.content_width - gap * (panels - 1)) // panels
        boxes = [
            (
                stage.margin + index * (panel_width + gap),
                top,
                stage.margin + index * (panel_width + gap) + panel_width,
                stage.content_bottom,
            )
            for index in range(panels)
        ]
    else:
        panel_height = (stage.content_bottom - top - gap * (panels - 1)) // panels
        panel_height = min(panel_height, stage.u(55))
        boxes = [
            (
                stage.margin,
                top + index * (panel_height + gap),
                stage.width - stage.margin,
                top + index * (panel_height + gap) + panel_height,
            )
            for index in range(panels)
        ]
    headline_face = font("bold", stage.u(3.8))
    day = text(N_("Favourite day: {day}"), day=text.weekday(payload.top_weekday))
    left, box_top, right, bottom = boxes[0]
    day_image = text_layer([truncate(day, headline_face, right - left)], headline_face, theme_.ink)
    stage.add(day_image, left, box_top, stage.enter(0.3, 0.45, dy=stage.u(2)))
    _columns_chart(
        stage,
        [payload.weekdays[index] for index in order],
        [text.weekday_abbreviation(index) for index in order],
        (left, box_top + day_image.height + stage.u(2), right, bottom),
        highlight=order.index(payload.top_weekday),
        start=0.4,
        show_values=True,
    )
    if payload.hours is not None and payload.top_hour is not None:
        left, box_top, right, bottom = boxes[1]
        hour = text(N_("Favourite hour: {hour}"), hour=text.hour(payload.top_hour))
        hour_image = text_layer([truncate(hour, headline_face, right - left)], headline_face, theme_.ink)
        stage.add(hour_image, left, box_top, stage.enter(0.55, 0.45, dy=stage.u(2)))
        labels = [text.hour_label(hour_of_day) if hour_of_day % 6 == 0 else None for hour_of_day in range(24)]
        _columns_chart(
            stage,
            payload.hours,
            labels,
            (left, box_top + hour_image.height + stage.u(2), right, bottom),
            highlight=payload.top_hour,
            start=0.65,
            show_values=False,
        )


def _tags(stage: Stage, payload: TagsPayload) -> None:
    theme_ = stage.theme
    text = stage.text
    top = stage.heading(text(N_("Top tags")))
    face = font("bold", stage.u(4.2 if stage.orientation != "portrait" else 4.8))
    padding = (stage.u(2.8), stage.u(1.4))
    chips = []
    for index, tally in enumerate(payload.tags):
        label = f"#{tally.label}  {text.number(tally.count)}"
        background_ = theme_.accent if index == 0 else theme_.chip
        ink = theme_.accent_ink if index == 0 else theme_.chip_ink
        chips.append(pill(truncate(label, face, stage.content_width * 0.8), face, background_, ink, padding))
    y = _flow(stage, chips, top + stage.u(2), stage.content_bottom - stage.u(8), start=0.3, stagger=0.14)
    if payload.tag_count > len(payload.tags):
        note_face = font(stage.body_style, stage.u(3))
        note = text.plural("{amount} distinct tag in all", "{amount} distinct tags in all", payload.tag_count)
        stage.add(
            text_layer([note], note_face, theme_.muted), stage.margin, y + stage.u(2), stage.enter(0.9, 0.4)
        )


def _frameworks(stage: Stage, payload: FrameworksPayload) -> None:
    theme_ = stage.theme
    text = stage.text
    top = stage.heading(text(N_("Frameworks you used")))
    columns = 1 if stage.orientation == "portrait" else 2
    rows = math.ceil(len(payload.frameworks) / columns)
    gap = stage.u(2.5)
    card_width = (stage.content_width - gap * (columns - 1)) // columns
    card_height = min(stage.u(14), (stage.content_bottom - top - gap * (rows - 1)) // max(1, rows))
    name_face = font("bold", min(stage.u(4.4), round(card_height * 0.34)))
    count_face = font(stage.body_style, min(stage.u(3.2), round(card_height * 0.26)))
    for index, tally in enumerate(payload.frameworks):
        row, column = divmod(index, columns)
        image = card(card_width, card_height, stage.u(2), theme_.panel)
        accent = theme_.palette[index % len(theme_.palette)]
        rounded_box(image, (0, 0, stage.u(1.2), card_height), 0, accent)
        image.putalpha(rounded_mask(card_width, card_height, stage.u(2)))
        draw = ImageDraw.Draw(image)
        inner = card_width - stage.u(7)
        name = truncate(tally.label or "", name_face, inner)
        count = text.poc_count(tally.count)
        text_block = line_height(name_face) + line_height(count_face) + stage.u(0.6)
        text_top = (card_height - text_block) // 2
        draw.text((stage.u(4), text_top), name, font=name_face, fill=(*theme_.panel_ink, 255))
        draw.text(
            (stage.u(4), text_top + line_height(name_face) + stage.u(0.6)),
            count,
            font=count_face,
            fill=(*theme_.panel_muted, 255),
        )
        x = stage.margin + column * (card_width + gap)
        y = top + row * (card_height + gap)
        stage.add(image, x, y, stage.enter(0.3 + index * 0.12, 0.45, dy=stage.u(3)))


def _thumbnail_image(source: ThumbnailSource | None) -> Image.Image | None:
    """The POC's picture as RGB, or None when it is absent or unreadable (a placeholder is drawn)."""
    if source is None:
        return None
    try:
        opened = Image.open(io.BytesIO(source) if isinstance(source, bytes) else Path(source))
        if opened.width * opened.height > MAX_THUMBNAIL_PIXELS:
            return None
        opened.draft("RGB", (1600, 1600))
        return ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None


def _picture(
    stage: Stage, payload: PocPayload, size: tuple[int, int], source: ThumbnailSource | None
) -> Image.Image:
    """The thumbnail cropped to `size`, or the POC's initials on its language's colour."""
    width, height = size
    radius = stage.u(2.5)
    thumbnail = _thumbnail_image(source) if payload.has_thumbnail else None
    if thumbnail is not None:
        factor = int(min(thumbnail.width / width, thumbnail.height / height) // 2)
        if factor >= 2:
            thumbnail = thumbnail.reduce(factor)
        fitted = ImageOps.fit(thumbnail, size, Image.Resampling.LANCZOS).convert("RGBA")
        fitted.putalpha(rounded_mask(width, height, radius))
        return fitted
    color = language_color(payload.language, stage.theme)
    image = card(width, height, radius, color)
    initials = "".join(word[:1] for word in payload.name.split()[:2]).upper() or "?"
    ink = readable_ink(color)
    face = fit_font(initials, "bold", width * 0.6, round(height * 0.42), stage.u(4))
    draw = ImageDraw.Draw(image)
    stripes = min(width, height) // 6
    for offset in range(-height, width, stripes * 2):
        draw.line(
            (offset, height, offset + height, 0),
            fill=(*mix(color, ink, 0.08), 255),
            width=max(1, stripes // 3),
        )
    draw.text((width / 2, height / 2), initials, font=face, fill=(*ink, 255), anchor="mm")
    image.putalpha(rounded_mask(width, height, radius))
    return image


def _poc(stage: Stage, payload: PocPayload, thumbnails: Mapping[str, ThumbnailSource]) -> None:
    theme_ = stage.theme
    text = stage.text
    kicker = text(
        N_("Highlight {number} of {total}"), number=text.number(payload.number), total=text.number(payload.of)
    )
    kicker_face = font("bold", stage.u(2.8))
    stage.still(text_layer([kicker.upper()], kicker_face, theme_.muted), stage.margin, stage.margin)
    top = stage.margin + line_height(kicker_face) + stage.u(3)
    bottom = stage.content_bottom
    landscape = stage.orientation == "landscape"
    if landscape:
        picture_width = round(stage.content_width * 0.4)
        picture_height = min(bottom - top, round(picture_width * 0.8))
        picture_box = (stage.margin, top + (bottom - top - picture_height) // 2)
        text_left = stage.margin + picture_width + stage.u(5)
        text_top = top
        text_width_ = stage.width - stage.margin - text_left
    else:
        picture_width = stage.content_width
        picture_height = round((bottom - top) * (0.42 if stage.orientation == "portrait" else 0.36))
        picture_box = (stage.margin, top)
        text_left = stage.margin
        text_top = top + picture_height + stage.u(4)
        text_width_ = stage.content_width
    if not landscape:
        stage.begin_body(top)
    picture = _picture(stage, payload, (picture_width, picture_height), thumbnails.get(payload.poc_id))
    stage.add(picture, picture_box[0], picture_box[1], stage.enter(0.0, 0.6, dx=-stage.u(8)))
    first_text = len(stage.layers)

    name_face = fit_font(payload.name, "bold", text_width_, stage.u(6.4), stage.u(4.4))
    name_image = text_layer(
        wrap(payload.name, name_face, text_width_, 3), name_face, theme_.ink, spacing=1.05
    )
    y = text_top
    stage.add(name_image, text_left, y, stage.enter(0.2, 0.55, dx=stage.u(6)))
    y += name_image.height + stage.u(2)

    meta_face = font("bold", stage.u(2.9))
    padding = (stage.u(2), stage.u(0.9))
    created = text.date(parse_instant(payload.created_at))
    meta = [
        dot_pill(
            text.language(payload.language),
            meta_face,
            theme_.chip,
            theme_.chip_ink,
            language_color(payload.language, theme_),
            padding,
        ),
        pill(created, meta_face, theme_.chip, theme_.chip_ink, padding),
    ]
    if payload.is_public:
        meta.append(pill(text(N_("Public POC")), meta_face, theme_.accent, theme_.accent_ink, padding))
    meta_row = _row_image(_chips_rows(meta, text_width_, stage.u(1.4))[0], stage.u(1.4))
    stage.add(meta_row, text_left, y, stage.enter(0.4, 0.45))
    y += meta_row.height + stage.u(3)

    tag_face = font(stage.body_style, stage.u(2.8))
    tag_chips = [pill(f"#{tag}", tag_face, theme_.panel, theme_.panel_ink, padding) for tag in payload.tags]
    tag_chips += [
        pill(framework, tag_face, theme_.chip, theme_.highlight, padding) for framework in payload.frameworks
    ]
    tags_rows = _chips_rows(tag_chips, text_width_, stage.u(1.4))[:2]
    tags_height = sum(_row_image(row, stage.u(1.4)).height + stage.u(1.4) for row in tags_rows)
    if payload.excerpt:
        excerpt_face = font("italic" if stage.body_style == "regular" else "mono", stage.u(3.4))
        room = bottom - y - tags_height - stage.u(2)
        max_lines = max(0, min(5, room // max(1, round(line_height(excerpt_face) * 1.2))))
        lines = wrap(payload.excerpt, excerpt_face, text_width_, max_lines) if max_lines else []
        if lines:
            excerpt_image = text_layer(lines, excerpt_face, theme_.muted, spacing=1.2)
            stage.add(excerpt_image, text_left, y, stage.enter(0.55, 0.5, dy=stage.u(2)))
            y += excerpt_image.height + stage.u(3)
    for number, row in enumerate(tags_rows):
        image = _row_image(row, stage.u(1.4))
        if y + image.height > bottom:
            break
        stage.add(image, text_left, y, stage.enter(0.75 + number * 0.12, 0.4, dy=stage.u(2)))
        y += image.height + stage.u(1.4)
    text_layers = stage.layers[first_text:]
    if landscape and text_layers:
        block_top = min(layer.y for layer in text_layers)
        block_bottom = max(layer.y + layer.image.height for layer in text_layers)
        picture_middle = picture_box[1] + picture_height // 2
        shift = min(bottom - block_bottom, picture_middle - (block_top + block_bottom) // 2)
        for layer in text_layers:
            layer.y += max(0, shift)


def _more(stage: Stage, payload: MorePayload) -> None:
    theme_ = stage.theme
    text = stage.text
    top = stage.heading(text.plural("And {amount} more POC", "And {amount} more POCs", payload.count))
    face = font(stage.body_style, stage.u(2.9 if stage.orientation != "portrait" else 3.3))
    padding = (stage.u(1.8), stage.u(0.9))
    max_chip = round(stage.content_width * (0.46 if stage.orientation == "landscape" else 0.9))
    gap = stage.u(1.4)
    chips = [
        dot_pill(
            truncate(item.name, face, max_chip - stage.u(8)),
            face,
            theme_.chip,
            theme_.chip_ink,
            language_color(item.language, theme_),
            padding,
        )
        for item in payload.pocs
    ]
    rows = _chips_rows(chips, stage.content_width, gap)
    row_height = chips[0].height + gap if chips else 1
    fit_rows = max(1, (stage.content_bottom - top) // row_height)
    if len(rows) > fit_rows:
        rows = rows[:fit_rows]
    shown = sum(len(row) for row in rows)
    hidden = payload.count - shown
    if hidden > 0 and rows:
        extra = pill(
            text.plural("+{amount} more", "+{amount} more", hidden),
            font("bold", face.size),
            theme_.accent,
            theme_.accent_ink,
            padding,
        )
        last = rows[-1]
        while last and sum(chip.width + gap for chip in last) + extra.width > stage.content_width:
            last.pop()
            hidden += 1
        extra = pill(
            text.plural("+{amount} more", "+{amount} more", hidden),
            font("bold", face.size),
            theme_.accent,
            theme_.accent_ink,
            padding,
        )
        last.append(extra)
    y = top
    for number, row in enumerate(rows):
        image = _row_image(row, gap)
        stage.add(image, stage.margin, y, stage.enter(0.25 + number * 0.08, 0.4, dx=stage.u(4)))
        y += image.height + gap


def _timeline(stage: Stage, payload: TimelinePayload) -> None:
    text = stage.text
    top = stage.heading(text(N_("Month by month")))
    months = payload.months
    step = 1 if len(months) <= 12 else (2 if len(months) <= 24 else 3)
    labels = [
        text.month_abbreviation(tally.month).rstrip(".") if index % step == 0 else None
        for index, tally in enumerate(months)
    ]
    if len(months) > 12 and stage.options.year is None:
        labels = [
            f"{label} {tally.month[2:4]}" if label else None
            for label, tally in zip(labels, months, strict=True)
        ]
    busiest = next((index for index, tally in enumerate(months) if tally.month == payload.busiest), None)
    height = stage.content_bottom - top
    if stage.orientation != "landscape":
        height = min(height, stage.u(70))
    box_top = top + (stage.content_bottom - top - height) // 2
    _columns_chart(
        stage,
        [tally.count for tally in months],
        labels,
        (stage.margin, box_top, stage.width - stage.margin, box_top + height),
        highlight=busiest,
        start=0.3,
        show_values=True,
    )


def _medal(size: int, color: Color, ring: Color) -> Image.Image:
    """A round badge with a five-pointed star, drawn at 3x and reduced for smooth edges."""
    scale = 3
    big = size * scale
    image = Image.new("RGBA", (big, big), (*color, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((0, 0, big - 1, big - 1), fill=(*ring, 255))
    inset = round(big * 0.07)
    draw.ellipse((inset, inset, big - 1 - inset, big - 1 - inset), fill=(*color, 255))
    center = big / 2
    outer, inner = big * 0.3, big * 0.13
    points = []
    for index in range(10):
        radius = outer if index % 2 == 0 else inner
        angle = -math.pi / 2 + index * math.pi / 5
        points.append((center + radius * math.cos(angle), center + radius * math.sin(angle)))
    draw.polygon(points, fill=(*readable_ink(color), 255))
    return image.resize((size, size), Image.Resampling.LANCZOS)


def _outro(stage: Stage, payload: OutroPayload) -> None:
    theme_ = stage.theme
    text = stage.text
    landscape = stage.orientation == "landscape"
    color = TIER_COLORS.get(payload.tier, theme_.accent)
    medal_size = stage.u(34 if landscape else 40)
    medal = _medal(medal_size, color, mix(color, (255, 255, 255), 0.45))
    width = round(stage.content_width * (0.55 if landscape else 1.0))
    kicker_face = font("bold", stage.u(3))
    kicker_image = text_layer([text(N_("Your tier")).upper()], kicker_face, theme_.muted)
    tier = text.tier(payload.tier)
    tier_face = fit_font(tier, "bold", width, stage.u(13), stage.u(6))
    tier_image = text_layer([tier], tier_face, color)
    tagline_face = font(stage.body_style, stage.u(3.6))
    tagline_image = text_layer(
        wrap(text.tier_tagline(payload.tier), tagline_face, width, 3),
        tagline_face,
        theme_.ink,
        align="left" if landscape else "center",
        width=None if landscape else width,
    )
    if payload.next_year is not None:
        closing = text(N_("See you in {year}!"), year=str(payload.next_year))
    else:
        closing = text(N_("Keep building!"))
    closing_image = text_layer([closing], font("bold", stage.u(4.2)), theme_.accent)
    brand_image = text_layer(
        [text(N_("Made with Mr Bill"))], font(stage.body_style, stage.u(2.6)), theme_.muted
    )
    text_blocks = [kicker_image, tier_image, tagline_image, closing_image]
    gap = stage.u(2.2)
    text_height = sum(image.height for image in text_blocks) + gap * (len(text_blocks) - 1)
    if landscape:
        medal_x = stage.margin + stage.u(2)
        medal_y = (stage.height - medal_size) // 2
        left = medal_x + medal_size + stage.u(8)
        y = (stage.height - text_height) // 2
        positions = []
        for image in text_blocks:
            positions.append((left, y))
            y += image.height + gap
    else:
        total = medal_size + stage.u(5) + text_height
        medal_x = (stage.width - medal_size) // 2
        medal_y = max(stage.margin, (stage.height - total) // 2)
        y = medal_y + medal_size + stage.u(5)
        positions = []
        for image in text_blocks:
            positions.append(((stage.width - image.width) // 2, y))
            y += image.height + gap
    stage.add(medal, medal_x, medal_y, stage.enter(0.0, 0.7, dy=stage.u(6)))
    starts = (0.3, 0.4, 0.7, 0.9)
    for image, (x, y), start in zip(text_blocks, positions, starts, strict=True):
        entrance = (
            stage.enter(start, 0.6, fade=False, clip="bottom")
            if image is tier_image
            else stage.enter(start, 0.45, dy=stage.u(2))
        )
        stage.add(image, x, y, entrance)
    stage.still(brand_image, stage.width - stage.margin - brand_image.width, stage.height - stage.margin)


_COMPOSERS: dict[type, Callable[..., None]] = {
    IntroPayload: _intro,
    CountPayload: _count,
    LanguagesPayload: _languages,
    BusiestMonthPayload: _busiest_month,
    ActivityPayload: _activity,
    TagsPayload: _tags,
    FrameworksPayload: _frameworks,
    MorePayload: _more,
    TimelinePayload: _timeline,
    OutroPayload: _outro,
}


def compose_scene(
    plan: TimelinePlan,
    index: int,
    options: VideoOptions,
    thumbnails: Mapping[str, ThumbnailSource] | None = None,
) -> Composition:
    """The stills and entrances of scene `index` (pure: no files, no clock)."""
    scene = plan.scenes[index]
    stage = Stage(scene, options)
    payload: Payload = scene.payload
    if isinstance(payload, PocPayload):
        _poc(stage, payload, thumbnails or {})
    else:
        _COMPOSERS[type(payload)](stage, payload)
    return stage.composition()
