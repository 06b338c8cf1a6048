"""The programming languages a POC may declare, and the spellings people actually type.

One canonical name per language keeps filters, facets and reports from splitting "py",
"Python" and "python3" into three buckets. Anything outside the list is "Other".
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

OTHER = "Other"

KNOWN_LANGUAGES: tuple[str, ...] = (
    "Python",
    "JavaScript",
    "TypeScript",
    "Java",
    "Kotlin",
    "Go",
    "Rust",
    "C",
    "C++",
    "C#",
    "F#",
    "Ruby",
    "PHP",
    "Swift",
    "Objective-C",
    "Dart",
    "Scala",
    "Elixir",
    "Erlang",
    "Haskell",
    "Clojure",
    "R",
    "Julia",
    "Lua",
    "Perl",
    "Shell",
    "PowerShell",
    "SQL",
    "HTML",
    "CSS",
    "Groovy",
    "MATLAB",
    "Solidity",
    "Zig",
    "OCaml",
    "COBOL",
    OTHER,
)

_ALIASES: dict[str, str] = {
    "py": "Python",
    "python3": "Python",
    "python 3": "Python",
    "js": "JavaScript",
    "node": "JavaScript",
    "nodejs": "JavaScript",
    "node.js": "JavaScript",
    "ecmascript": "JavaScript",
    "ts": "TypeScript",
    "golang": "Go",
    "rs": "Rust",
    "cpp": "C++",
    "cxx": "C++",
    "c plus plus": "C++",
    "csharp": "C#",
    "c sharp": "C#",
    "cs": "C#",
    "fsharp": "F#",
    "rb": "Ruby",
    "kt": "Kotlin",
    "objc": "Objective-C",
    "objective c": "Objective-C",
    "bash": "Shell",
    "sh": "Shell",
    "zsh": "Shell",
    "ps1": "PowerShell",
    "pwsh": "PowerShell",
    "postgresql": "SQL",
    "plpgsql": "SQL",
    "html5": "HTML",
    "css3": "CSS",
    "ex": "Elixir",
    "erl": "Erlang",
    "hs": "Haskell",
    "clj": "Clojure",
    "jl": "Julia",
    "ml": "OCaml",
    "sol": "Solidity",
    "outra": OTHER,
    "outro": OTHER,
}

LANGUAGE_ALIASES: Mapping[str, str] = MappingProxyType(
    {**{name.casefold(): name for name in KNOWN_LANGUAGES}, **_ALIASES}
)
"""Every accepted spelling, case-folded, to its canonical name."""


def canonical_language(value: str) -> str | None:
    """The canonical name for `value` ("golang" -> "Go"), or None when nobody knows it."""
    spelling = " ".join(value.split()).casefold()
    return LANGUAGE_ALIASES.get(spelling)
