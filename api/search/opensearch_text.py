"""Text rules both OpenSearch read models (POCs and dojos) share: folding analyzers and word clauses.

Accents and case are folded at index time (``asciifolding``) and on keyword filters (the
``folded`` normalizer, `fold` on the values sent), so "programacao" meets "Programação".
"""

from __future__ import annotations

import copy
import unicodedata
from datetime import UTC, datetime
from typing import Any

FOLDING_ANALYZERS: dict[str, Any] = {
    "folding": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "asciifolding"]},
    "folding_pt": {
        "type": "custom",
        "tokenizer": "standard",
        "filter": ["lowercase", "asciifolding", "portuguese_stemmer"],
    },
    "folding_en": {
        "type": "custom",
        "tokenizer": "standard",
        "filter": ["lowercase", "asciifolding", "english_stemmer"],
    },
}
FOLDING_NORMALIZERS: dict[str, Any] = {"folded": {"type": "custom", "filter": ["lowercase", "asciifolding"]}}
STEMMER_FILTERS: dict[str, Any] = {
    "portuguese_stemmer": {"type": "stemmer", "language": "light_portuguese"},
    "english_stemmer": {"type": "stemmer", "language": "english"},
}


def folding_analysis() -> dict[str, Any]:
    """The ``analysis`` settings of an index with folded, stemmed text fields (a fresh copy)."""
    return {
        "analyzer": copy.deepcopy(FOLDING_ANALYZERS),
        "normalizer": copy.deepcopy(FOLDING_NORMALIZERS),
        "filter": copy.deepcopy(STEMMER_FILTERS),
    }


def fold(value: str) -> str:
    """What the ``folded`` normalizer does to Latin text: lowercase without accents."""
    decomposed = unicodedata.normalize("NFKD", value.strip().lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def parse_instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def word_clause(word: str, fields: list[str], prefix_fields: list[str]) -> dict[str, Any]:
    """Each word must match some field: exactly, stemmed, misspelt (AUTO) or as a prefix."""
    should: list[dict[str, Any]] = [
        {"multi_match": {"query": word, "fields": fields, "fuzziness": "AUTO", "prefix_length": 1}}
    ]
    if len(word) >= 3:
        should.append({"multi_match": {"query": word, "type": "phrase_prefix", "fields": prefix_fields}})
    return {"bool": {"should": should, "minimum_should_match": 1}}
