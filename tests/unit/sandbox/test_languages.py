"""Languages: names people type, where interpreters may come from, how each one is started."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from realtime.sandbox.errors import LanguageUnavailable
from realtime.sandbox.languages import (
    GIB,
    SPECS,
    Language,
    canonical_language_id,
    find_executable,
    get_language_support,
    resolve_language,
)

pytestmark = pytest.mark.unit

MIB = 1024 * 1024


def spec(language_id: str) -> Language:
    found = next(item for item in SPECS if item.id == language_id)
    return Language(spec=found, executable=f"/usr/bin/{found.executables[0]}", version="1.0")


@pytest.mark.parametrize(
    ("typed", "language_id"),
    [
        ("Python", "python"),
        ("py", "python"),
        (" python3 ", "python"),
        ("JavaScript", "javascript"),
        ("node", "javascript"),
        ("C++", "cpp"),
        ("cpp", "cpp"),
        ("Java", "java"),
        ("sh", "bash"),
        ("cobol", None),
    ],
)
def test_canonical_ids(typed: str, language_id: str | None) -> None:
    assert canonical_language_id(typed) == language_id


def test_python_and_javascript_are_specified() -> None:
    assert {"python", "javascript"} <= {item.id for item in SPECS}


def test_interpreters_outside_usr_are_not_offered(tmp_path: Path) -> None:
    """A binary the sandbox cannot see (only /usr is bound) must not be offered."""
    private = tmp_path / "python3"
    private.write_text("#!/bin/sh\n")
    private.chmod(0o755)
    assert find_executable(("python3",), (str(tmp_path),)) is None
    link = tmp_path / "sh"
    os.symlink("/usr/bin/sh", link)
    assert find_executable(("sh",), (str(tmp_path),)) == os.path.realpath("/usr/bin/sh")


def test_commands_are_filled_in_per_run() -> None:
    python, node, java, c = spec("python"), spec("javascript"), spec("java"), spec("c")
    assert python.run_argv(128 * MIB) == ["/usr/bin/python3", "-I", "main.py"]
    assert node.run_argv(128 * MIB)[1] == "--max-old-space-size=128"
    assert "-Xmx64m" in java.run_argv(128 * MIB)
    assert c.compile_argv(512 * MIB) == [
        "/usr/bin/gcc",
        "-std=gnu17",
        "-O2",
        "-pipe",
        "-o",
        "/build/main",
        "main.c",
        "-lm",
    ]
    assert c.run_argv(128 * MIB) == ["/build/main"]
    assert python.compile_argv(128 * MIB) is None


def test_address_space_is_the_memory_limit_unless_the_runtime_reserves_more() -> None:
    assert spec("python").address_space(128 * MIB) == 128 * MIB
    assert spec("c").address_space(128 * MIB) == 128 * MIB
    assert spec("javascript").address_space(128 * MIB) == 128 * MIB + 1 * GIB


def test_resolving_a_missing_language_names_the_reason() -> None:
    installed = (spec("python"),)
    assert resolve_language("py", installed).id == "python"
    with pytest.raises(LanguageUnavailable, match="not installed"):
        resolve_language("javascript", installed)
    with pytest.raises(LanguageUnavailable, match="unknown"):
        resolve_language("brainfuck", installed)


def test_language_support_lists_what_is_installed() -> None:
    support = get_language_support((spec("python"), spec("c")))
    assert [(item.id, item.name, item.version, item.compiled) for item in support] == [
        ("python", "Python", "1.0", False),
        ("c", "C", "1.0", True),
    ]
