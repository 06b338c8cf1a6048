"""Tags and frameworks: what a person typed, and the key that makes spellings meet.

Shared by the catalog (which stores both forms) and content (whose report filters must match
the catalog's keys exactly), so there is one definition of "the same tag".

"Programação ", "programacao" and "PROGRAMAÇÃO" are one tag: the key is lowercase,
stripped of accents and of repeated spaces, and every match, count and suggestion uses it.
The display form keeps the accents and case the first author typed, so lists read naturally.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from api.common.i18n import N_

MAX_LABEL_LENGTH = 50
_FORBIDDEN = re.compile(r"[/\\,\x00-\x1f\x7f]")
"""Slashes would break ``/tags/{tag}`` paths; commas read as lists; control characters as nothing."""


@dataclass(frozen=True, slots=True)
class Label:
    key: str
    display: str


class InvalidLabelError(ValueError):
    """`reason` is a msgid: the label is empty, too long or has a forbidden character."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def display_form(text: str) -> str:
    """Trimmed, single spaces, composed Unicode (so "ç" typed two ways is one character)."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def label_key(text: str) -> str:
    """The matching key: no accents, lowercase, single spaces."""
    decomposed = unicodedata.normalize("NFKD", display_form(text))
    without_marks = "".join(char for char in decomposed if not unicodedata.combining(char))
    return unicodedata.normalize("NFC", without_marks).lower()


def parse_label(text: str) -> Label:
    display = display_form(text)
    if not display:
        raise InvalidLabelError(N_("Must not be empty."))
    if len(display) > MAX_LABEL_LENGTH:
        raise InvalidLabelError(N_("Must have at most {limit} characters."))
    if _FORBIDDEN.search(display):
        raise InvalidLabelError(N_("Must not contain slashes, backslashes, commas or control characters."))
    key = label_key(display)
    if not key.strip():
        raise InvalidLabelError(N_("Must not be empty."))
    if len(key) > MAX_LABEL_LENGTH:
        raise InvalidLabelError(N_("Must have at most {limit} characters."))
    return Label(key=key, display=display)


def unique_labels(labels: list[Label]) -> list[Label]:
    """The first spelling of each key wins, in the order given."""
    seen: dict[str, Label] = {}
    for label in labels:
        seen.setdefault(label.key, label)
    return list(seen.values())
