"""The yearly recap video: plan a timeline, draw scenes, join them with music, make a thumbnail.

A pure library that the YearlyVideo activities call: `timeline.plan_timeline` decides the
scenes (pure, JSON-serialisable, so the plan travels between activities through storage),
`scenes.render_scene` turns one scene into a short MP4 segment, `encode.assemble` joins the
segments with the music and `encode.make_thumbnail` draws the poster. It reads no clock,
database or request, and writes only the files it is asked to write. Importing the package
adds its gettext catalog to every translation.
"""

from __future__ import annotations

from pathlib import Path

import api.content.reports  # noqa: F401 - its catalog first, so this package's entries win
from api.common.i18n import register_catalog_dir

LOCALE_DIR = Path(__file__).resolve().parent / "locale"

register_catalog_dir(LOCALE_DIR)
