"""Text rules both engines share: query words, typo budgets, and safe highlight HTML."""

from __future__ import annotations

import html
import re

from api.search.engine import HIGHLIGHT_END, HIGHLIGHT_START

MAX_QUERY_WORDS = 8
MAX_WORD_LENGTH = 40
_WORD = re.compile(r"[^\W_]+")


def query_words(text: str | None) -> list[str]:
    """Letters and digits only, so no word can carry query syntax into either engine."""
    if not text:
        return []
    words = [word for word in _WORD.findall(text.lower()) if len(word) <= MAX_WORD_LENGTH]
    return list(dict.fromkeys(words))[:MAX_QUERY_WORDS]


def allowed_edits(word: str) -> int:
    """OpenSearch's ``fuzziness: AUTO``: none up to 2 characters, one up to 5, then two."""
    if len(word) <= 2:
        return 0
    return 1 if len(word) <= 5 else 2


def edit_distance(left: str, right: str, *, limit: int | None = None) -> int:
    """Optimal string alignment distance: a swap of neighbours ("pyhton") costs one edit.

    Stops early once every path exceeds `limit` and answers ``limit + 1``.
    """
    if abs(len(left) - len(right)) > (limit if limit is not None else max(len(left), len(right))):
        return (limit or 0) + 1
    previous_previous: list[int] = []
    previous = list(range(len(right) + 1))
    for i, left_char in enumerate(left, start=1):
        current = [i] + [0] * len(right)
        for j, right_char in enumerate(right, start=1):
            cost = 0 if left_char == right_char else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and left_char == right[j - 2] and left[i - 2] == right_char:
                current[j] = min(current[j], previous_previous[j - 2] + 1)
        if limit is not None and min(current) > limit:
            return limit + 1
        previous_previous, previous = previous, current
    return previous[-1]


def highlight_html(fragment: str) -> str:
    """Escape the stored text, then turn the engines' match markers into ``<mark>`` tags."""
    escaped = html.escape(fragment, quote=False)
    return escaped.replace(HIGHLIGHT_START, "<mark>").replace(HIGHLIGHT_END, "</mark>")
