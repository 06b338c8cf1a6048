"""Join codes: what a person types (or pastes from a chat) to enter a private dojo.

A code is `JOIN_CODE_LENGTH` characters drawn with `secrets` from an alphabet without the
characters people confuse (0/O, 1/I/L), so it survives being read aloud or retyped: 31^12 is
about 2^59 codes, unique across every tenant (a unique index), and a wrong guess only counts
against the guesser's rate limit. Codes are shown in groups of four (``ABCD-EFGH-JKMN``);
hyphens, spaces and case are ignored when one is typed back.
"""

from __future__ import annotations

import re
import secrets

JOIN_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
JOIN_CODE_LENGTH = 12
MIN_JOIN_CODE_LENGTH = 10
MAX_JOIN_CODE_LENGTH = 20
_SEPARATORS = re.compile(r"[\s\-_.]+")
_WELL_FORMED = re.compile(f"^[{JOIN_CODE_ALPHABET}]{{{MIN_JOIN_CODE_LENGTH},{MAX_JOIN_CODE_LENGTH}}}$")


def new_join_code(length: int = JOIN_CODE_LENGTH) -> str:
    """A fresh random code (its uniqueness is the database's to check)."""
    if not MIN_JOIN_CODE_LENGTH <= length <= MAX_JOIN_CODE_LENGTH:
        raise ValueError(f"join codes have {MIN_JOIN_CODE_LENGTH} to {MAX_JOIN_CODE_LENGTH} characters")
    return "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(length))


def normalize_join_code(typed: str) -> str | None:
    """The stored form of what a person typed, or None when it cannot be any code."""
    candidate = _SEPARATORS.sub("", typed.strip()).upper()
    return candidate if _WELL_FORMED.match(candidate) else None


def display_join_code(code: str) -> str:
    """``ABCDEFGHJKMN`` -> ``ABCD-EFGH-JKMN``, easier to read aloud."""
    return "-".join(code[start : start + 4] for start in range(0, len(code), 4))
