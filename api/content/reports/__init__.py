"""Report files of the content service: PDF, XLSX and CSV from the POCs a request selected.

A pure library: `aggregate.summarise` counts, `render.render_report` draws. No I/O beyond
reading the fonts, so the ReportGeneration activities decide where inputs come from and where
files go. Importing the package adds its gettext catalog to every translation.
"""

from __future__ import annotations

from pathlib import Path

from api.common.i18n import register_catalog_dir

LOCALE_DIR = Path(__file__).resolve().parent / "locale"

register_catalog_dir(LOCALE_DIR)
