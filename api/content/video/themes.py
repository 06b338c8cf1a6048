"""The visual styles a person picks for the video: colours, type, decoration and transitions.

A theme is data only; scenes read it. Transition names are xfade's own (``fade``,
``slideleft``, ``wipedown``...): the cheap ones are drawn with moving overlays and the rest with
the xfade filter (see `scenes.NATIVE_TRANSITIONS`), so a theme may name any of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from api.common.i18n import N_

Color = tuple[int, int, int]


@dataclass(frozen=True)
class Theme:
    name: str
    label: str
    """Msgid of the name a person chooses from."""
    background: tuple[Color, Color]
    """Top and bottom of the vertical gradient behind every scene."""
    decoration: str
    """``orbs``, ``grid``, ``rays`` or ``scanlines``: drawn once per video behind the content."""
    glow: Color
    """Colour of the decoration, blended softly into the background."""
    ink: Color
    muted: Color
    accent: Color
    accent_ink: Color
    """Text printed on `accent`."""
    highlight: Color
    panel: Color
    """Cards (POCs, frameworks)."""
    panel_ink: Color
    panel_muted: Color
    chip: Color
    chip_ink: Color
    track: Color
    """Empty part of charts (the bar tracks, the hour strip's cold cells)."""
    palette: tuple[Color, ...]
    """Bars and badges of languages without a colour of their own."""
    body_font: str = "sans"
    """``sans`` or ``mono``; titles are always bold."""
    title_font: str = "bold"
    transitions: tuple[str, ...] = ("fade",)
    """Into each scene in turn (the first scene fades in from black)."""


THEMES: dict[str, Theme] = {
    "aurora": Theme(
        name="aurora",
        label=N_("Aurora"),
        background=((14, 17, 48), (52, 22, 84)),
        decoration="orbs",
        glow=(56, 189, 248),
        ink=(248, 250, 252),
        muted=(165, 180, 212),
        accent=(45, 212, 191),
        accent_ink=(8, 22, 32),
        highlight=(244, 114, 182),
        panel=(30, 33, 78),
        panel_ink=(248, 250, 252),
        panel_muted=(165, 180, 212),
        chip=(49, 46, 106),
        chip_ink=(226, 232, 240),
        track=(40, 40, 92),
        palette=((45, 212, 191), (244, 114, 182), (250, 204, 21), (129, 140, 248), (251, 146, 60)),
        transitions=("slideleft", "fade", "coverup", "revealleft"),
    ),
    "sunset": Theme(
        name="sunset",
        label=N_("Sunset"),
        background=((255, 126, 95), (106, 48, 147)),
        decoration="rays",
        glow=(255, 236, 179),
        ink=(255, 255, 255),
        muted=(255, 228, 214),
        accent=(255, 214, 10),
        accent_ink=(61, 20, 64),
        highlight=(255, 255, 255),
        panel=(74, 27, 92),
        panel_ink=(255, 255, 255),
        panel_muted=(244, 200, 222),
        chip=(122, 45, 120),
        chip_ink=(255, 240, 245),
        track=(150, 70, 130),
        palette=((255, 214, 10), (255, 255, 255), (72, 202, 228), (255, 159, 28), (171, 255, 196)),
        transitions=("coverleft", "fade", "slideup", "revealup"),
    ),
    "paper": Theme(
        name="paper",
        label=N_("Paper"),
        background=((250, 246, 238), (236, 228, 212)),
        decoration="grid",
        glow=(120, 100, 70),
        ink=(31, 41, 51),
        muted=(110, 110, 110),
        accent=(217, 72, 15),
        accent_ink=(255, 255, 255),
        highlight=(25, 113, 194),
        panel=(255, 255, 255),
        panel_ink=(31, 41, 51),
        panel_muted=(110, 110, 110),
        chip=(231, 222, 204),
        chip_ink=(31, 41, 51),
        track=(226, 218, 200),
        palette=((217, 72, 15), (25, 113, 194), (47, 158, 68), (174, 62, 201), (240, 140, 0)),
        transitions=("fade", "slideleft", "fade", "slideup"),
    ),
    "terminal": Theme(
        name="terminal",
        label=N_("Terminal"),
        background=((6, 12, 9), (10, 24, 16)),
        decoration="scanlines",
        glow=(60, 255, 140),
        ink=(170, 255, 200),
        muted=(95, 170, 125),
        accent=(255, 191, 71),
        accent_ink=(10, 14, 10),
        highlight=(120, 255, 170),
        panel=(14, 32, 22),
        panel_ink=(190, 255, 215),
        panel_muted=(95, 170, 125),
        chip=(22, 52, 34),
        chip_ink=(170, 255, 200),
        track=(20, 44, 30),
        palette=((120, 255, 170), (255, 191, 71), (110, 200, 255), (255, 120, 120), (220, 160, 255)),
        body_font="mono",
        transitions=("wipedown", "fade", "wipeleft", "fade"),
    ),
}

LANGUAGE_COLORS: dict[str, Color] = {
    "python": (53, 114, 165),
    "javascript": (241, 224, 90),
    "typescript": (49, 120, 198),
    "java": (176, 114, 25),
    "kotlin": (169, 123, 255),
    "go": (0, 173, 216),
    "rust": (222, 165, 132),
    "c": (85, 85, 85),
    "c++": (243, 75, 125),
    "c#": (23, 134, 0),
    "f#": (184, 69, 252),
    "ruby": (112, 21, 22),
    "php": (79, 93, 149),
    "swift": (240, 81, 56),
    "objective-c": (67, 142, 255),
    "dart": (0, 180, 171),
    "scala": (194, 45, 64),
    "elixir": (110, 74, 126),
    "erlang": (184, 57, 152),
    "haskell": (94, 80, 134),
    "clojure": (219, 88, 85),
    "r": (25, 140, 231),
    "julia": (162, 112, 186),
    "lua": (0, 0, 128),
    "perl": (2, 152, 195),
    "shell": (137, 224, 81),
    "powershell": (1, 36, 86),
    "sql": (227, 140, 0),
    "html": (227, 76, 38),
    "css": (86, 61, 124),
    "groovy": (66, 152, 184),
    "matlab": (224, 97, 0),
    "solidity": (170, 103, 70),
    "zig": (236, 145, 92),
    "ocaml": (239, 122, 8),
    "cobol": (120, 120, 120),
}
"""The colours people know languages by (as code hosts show them), keyed by lowercased name."""


def theme(name: str) -> Theme:
    return THEMES[name]


def language_color(language: str | None, current: Theme) -> Color:
    """A language's own colour, else one of the theme's, chosen by the name so it never changes."""
    if language is None:
        return current.muted
    known = LANGUAGE_COLORS.get(language.casefold())
    if known is not None:
        return known
    digest = hashlib.sha256(language.casefold().encode()).digest()
    return current.palette[digest[0] % len(current.palette)]


def readable_ink(background: Color) -> Color:
    """Black or white, whichever reads better on `background` (WCAG relative luminance)."""

    def channel(value: int) -> float:
        scaled = value / 255
        return scaled / 12.92 if scaled <= 0.03928 else ((scaled + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(value) for value in background)
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return (17, 17, 17) if luminance > 0.4 else (255, 255, 255)


def mix(first: Color, second: Color, amount: float) -> Color:
    """`first` moved towards `second` by `amount` (0-1)."""
    return (
        round(first[0] + (second[0] - first[0]) * amount),
        round(first[1] + (second[1] - first[1]) * amount),
        round(first[2] + (second[2] - first[2]) * amount),
    )
