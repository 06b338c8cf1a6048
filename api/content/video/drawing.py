"""Pillow primitives the scenes are drawn with: fonts, fitted text, rounded shapes, backgrounds.

Everything here draws a still once; ffmpeg animates the stills. So the costs that matter are
per scene, not per frame, and a few caches keep them to milliseconds: fonts per size, the
anti-aliased corner of each radius, the background of each theme and size.

Text layers are transparent images whose colour channels already hold the text colour (only
alpha varies), so the anti-aliased edges blend without dark fringes when ffmpeg overlays them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from api.content.video.themes import Color, Theme

FONTS_DIR = Path(__file__).resolve().parent.parent / "fonts"
FONT_FILES: dict[str, str] = {
    "regular": "DejaVuSans.ttf",
    "bold": "DejaVuSans-Bold.ttf",
    "italic": "DejaVuSans-Oblique.ttf",
    "mono": "DejaVuSansMono.ttf",
}
"""DejaVu covers Portuguese (and most Latin, Greek and Cyrillic) with composed accents."""
ELLIPSIS = "…"

Font = ImageFont.FreeTypeFont


@lru_cache(maxsize=256)
def font(style: str, size: int) -> Font:
    """A DejaVu face at `size` pixels; the basic layout engine is enough for Latin text and faster."""
    return ImageFont.truetype(
        str(FONTS_DIR / FONT_FILES[style]), max(4, size), layout_engine=ImageFont.Layout.BASIC
    )


def text_width(face: Font, text: str) -> float:
    return float(face.getlength(text))


def line_height(face: Font) -> int:
    ascent, descent = face.getmetrics()
    return int(ascent + descent)


def fit_font(text: str, style: str, max_width: float, size: int, min_size: int) -> Font:
    """The largest face from `size` down to `min_size` that prints `text` within `max_width`."""
    face = font(style, size)
    width = text_width(face, text)
    if width <= max_width or size <= min_size:
        return face
    return font(style, max(min_size, int(size * max_width / width)))


def truncate(text: str, face: Font, max_width: float) -> str:
    """`text` cut with an ellipsis so it fits `max_width`."""
    if text_width(face, text) <= max_width:
        return text
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if text_width(face, text[:middle].rstrip() + ELLIPSIS) <= max_width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + ELLIPSIS


def wrap(text: str, face: Font, max_width: float, max_lines: int) -> list[str]:
    """Words in lines of at most `max_width`; the last line ends with an ellipsis when text is left."""
    words = text.split()
    lines: list[str] = []
    current = ""
    index = 0
    while index < len(words):
        word = words[index]
        candidate = f"{current} {word}" if current else word
        if text_width(face, candidate) <= max_width:
            current = candidate
            index += 1
            continue
        if not current:
            current = truncate(word, face, max_width)
            index += 1
        lines.append(current)
        current = ""
        if len(lines) == max_lines:
            break
    if current and len(lines) < max_lines:
        lines.append(current)
        current = ""
    if index < len(words) and lines:
        lines[-1] = truncate(lines[-1] + " " + " ".join(words[index:]), face, max_width)
    return lines


def text_layer(
    lines: Sequence[str],
    face: Font,
    color: Color,
    *,
    align: str = "left",
    spacing: float = 1.15,
    width: int | None = None,
) -> Image.Image:
    """Transparent RGBA holding `lines`; `width` fixes the box (for centred or right-aligned text)."""
    step = round(line_height(face) * spacing)
    box_width = width or max(1, max((round(text_width(face, line)) for line in lines), default=1)) + 2
    box_height = max(1, step * (len(lines) - 1) + line_height(face) + 2)
    layer = Image.new("RGBA", (box_width, box_height), (*color, 0))
    draw = ImageDraw.Draw(layer)
    for number, line in enumerate(lines):
        if align == "center":
            x = (box_width - text_width(face, line)) / 2
        elif align == "right":
            x = box_width - text_width(face, line) - 1
        else:
            x = 1
        draw.text((x, 1 + number * step), line, font=face, fill=(*color, 255))
    return layer


@lru_cache(maxsize=64)
def _corner(radius: int) -> Image.Image:
    """An anti-aliased quarter disc (top-left corner) drawn at 4x and reduced."""
    scale = 4
    big = Image.new("L", (radius * scale, radius * scale), 0)
    ImageDraw.Draw(big).ellipse((0, 0, radius * 2 * scale - 1, radius * 2 * scale - 1), fill=255)
    return big.resize((radius, radius), Image.Resampling.LANCZOS)


def rounded_mask(width: int, height: int, radius: int) -> Image.Image:
    radius = max(0, min(radius, width // 2, height // 2))
    mask = Image.new("L", (width, height), 255)
    if radius:
        corner = _corner(radius)
        mask.paste(corner, (0, 0))
        mask.paste(corner.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (width - radius, 0))
        mask.paste(corner.transpose(Image.Transpose.FLIP_TOP_BOTTOM), (0, height - radius))
        mask.paste(corner.transpose(Image.Transpose.ROTATE_180), (width - radius, height - radius))
    return mask


def rounded_box(image: Image.Image, box: tuple[int, int, int, int], radius: int, color: Color) -> None:
    """Fill an anti-aliased rounded rectangle (left, top, right, bottom exclusive) on an RGB or RGBA image."""
    left, top, right, bottom = box
    width, height = right - left, bottom - top
    if width <= 0 or height <= 0:
        return
    fill = color if image.mode == "RGB" else (*color, 255)
    image.paste(fill, (left, top, right, bottom), rounded_mask(width, height, radius))


def card(width: int, height: int, radius: int, color: Color) -> Image.Image:
    """An opaque rounded RGBA card, transparent only outside its corners."""
    layer = Image.new("RGBA", (width, height), (*color, 0))
    layer.paste((*color, 255), (0, 0, width, height), rounded_mask(width, height, radius))
    return layer


def pill(text: str, face: Font, background: Color, ink: Color, padding: tuple[int, int]) -> Image.Image:
    """A label in a fully rounded capsule: tags, language badges, stat chips."""
    horizontal, vertical = padding
    height = line_height(face) + 2 * vertical
    width = round(text_width(face, text)) + 2 * horizontal
    layer = card(width, height, height // 2, background)
    ImageDraw.Draw(layer).text((horizontal, vertical), text, font=face, fill=(*ink, 255))
    return layer


def dot_pill(
    text: str, face: Font, background: Color, ink: Color, dot: Color, padding: tuple[int, int]
) -> Image.Image:
    """A pill with a coloured dot before its text (a language and its colour)."""
    horizontal, vertical = padding
    height = line_height(face) + 2 * vertical
    diameter = max(4, round(height * 0.38))
    gap = round(diameter * 0.8)
    width = round(text_width(face, text)) + 2 * horizontal + diameter + gap
    layer = card(width, height, height // 2, background)
    top = (height - diameter) // 2
    rounded_box(layer, (horizontal, top, horizontal + diameter, top + diameter), diameter // 2, dot)
    ImageDraw.Draw(layer).text((horizontal + diameter + gap, vertical), text, font=face, fill=(*ink, 255))
    return layer


def paste(target: Image.Image, layer: Image.Image, position: tuple[int, int]) -> None:
    """Composite an RGBA layer onto `target` (RGB or RGBA) at `position`."""
    if layer.mode == "RGBA":
        target.paste(layer, position, layer)
    else:
        target.paste(layer, position)


@lru_cache(maxsize=16)
def _background(theme: Theme, width: int, height: int, variant: int) -> Image.Image:
    top, bottom = theme.background
    ramp = np.linspace(0.0, 1.0, height)[:, None]
    column = np.array(top, dtype=np.float64) + (np.array(bottom) - np.array(top)) * ramp
    pixels = np.repeat(column[:, None, :], width, axis=1).round().astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    _decorate(image, theme, variant)
    return image


def background(theme: Theme, width: int, height: int, variant: int = 0) -> Image.Image:
    """The theme's backdrop for one scene (a copy: callers draw on it); `variant` moves the decoration."""
    return _background(theme, width, height, variant % 3).copy()


def _decorate(image: Image.Image, theme: Theme, variant: int) -> None:
    """Soft shapes in the theme's glow colour, blended through one mask (one full-frame composite)."""
    width, height = image.size
    unit = min(width, height) / 100
    mask = Image.new("L", image.size, 0)
    draw = ImageDraw.Draw(mask)
    if theme.decoration == "orbs":
        spots = ((0.85, 0.15, 30), (0.1, 0.9, 24), (0.55, 1.05, 18))
        for index, (fx, fy, radius) in enumerate(spots):
            fx = 1 - fx if (variant + index) % 2 else fx
            cx, cy, r = fx * width, fy * height, radius * unit
            for ring in range(6):
                shrink = 1 - ring * 0.14
                draw.ellipse(
                    (cx - r * shrink, cy - r * shrink, cx + r * shrink, cy + r * shrink), fill=10 + ring * 7
                )
    elif theme.decoration == "rays":
        cx, cy = (0.85 if variant % 2 else 0.15) * width, -0.1 * height
        for ray in range(9):
            angle = np.pi * (0.2 + ray * 0.07 + variant * 0.02)
            far = 2.2 * max(width, height)
            spread = 0.018
            points = [
                (cx, cy),
                (cx + far * np.cos(angle - spread), cy + far * np.sin(angle - spread)),
                (cx + far * np.cos(angle + spread), cy + far * np.sin(angle + spread)),
            ]
            draw.polygon(points, fill=26)
    elif theme.decoration == "grid":
        step = round(8 * unit)
        offset = (variant * step) // 3
        for x in range(offset, width, step):
            draw.line((x, 0, x, height), fill=22, width=max(1, round(unit * 0.15)))
        for y in range(offset, height, step):
            draw.line((0, y, width, y), fill=22, width=max(1, round(unit * 0.15)))
    elif theme.decoration == "scanlines":
        step = max(3, round(unit * 0.6))
        for y in range(0, height, step):
            draw.line((0, y, width, y), fill=14)
        r = 40 * unit
        cx, cy = (0.9 if variant % 2 else 0.1) * width, 0.5 * height
        for ring in range(5):
            shrink = 1 - ring * 0.18
            draw.ellipse(
                (cx - r * shrink, cy - r * shrink, cx + r * shrink, cy + r * shrink), fill=6 + ring * 4
            )
    glow = Image.new("RGB", image.size, theme.glow)
    image.paste(glow, (0, 0), mask)
