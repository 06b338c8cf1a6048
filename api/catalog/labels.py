"""The catalog's tags and frameworks use the shared label rules of `api.common.labels`.

They moved to the shared kernel because report filters (content) must match the keys the
catalog stores; this module keeps the catalog's imports where they were.
"""

from __future__ import annotations

from api.common.labels import (
    MAX_LABEL_LENGTH,
    InvalidLabelError,
    Label,
    display_form,
    label_key,
    parse_label,
    unique_labels,
)

__all__ = [
    "MAX_LABEL_LENGTH",
    "InvalidLabelError",
    "Label",
    "display_form",
    "label_key",
    "parse_label",
    "unique_labels",
]
