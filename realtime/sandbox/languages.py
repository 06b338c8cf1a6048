"""The languages a dojo can run, and which of them this host has.

Each language is described once (`LanguageSpec`): where its interpreter or compiler may live,
how it runs a file, what memory it reserves, how it says it ran out of memory. At first use the
host is searched for each one (`detect_languages`), only in the system's own folders under
``/usr``, since ``/usr`` is what the sandbox sees: a Python under ``/root/.pyenv`` or a Rust
under ``/root/.cargo`` is invisible to a run, so it is not offered. `get_language_support`
answers what the dojo offers (``getLanguageSupport``).
"""

from __future__ import annotations

import functools
import glob
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from realtime.sandbox.errors import LanguageUnavailable

SYSTEM_BIN_DIRS: tuple[str, ...] = ("/usr/local/bin", "/usr/bin")
"""Where interpreters and compilers are looked for; whatever they resolve to must be under /usr."""
SANDBOX_ROOT = "/usr"
BUILD_DIR = "/build"
"""Where a compiler writes the program inside the sandbox (a host folder of the run, read-only later)."""
GIB = 1024 * 1024 * 1024
VERSION_PATTERN = re.compile(r"(\d+\.\d+(?:\.\d+)?)")
VERSION_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class LanguageSpec:
    """How one language runs; ``{exe}``, ``{compiler}``, ``{file}``, ``{build}``, ``{memory_mb}`` and
    ``{half_memory_mb}`` in the commands are filled in per run."""

    id: str
    name: str
    file_name: str
    executables: tuple[str, ...]
    """Names of the interpreter (or of the compiler, for compiled languages), first found wins."""
    run: tuple[str, ...]
    compile: tuple[str, ...] | None = None
    version_args: tuple[str, ...] = ("--version",)
    address_space_reserve: int = 0
    """Virtual memory the runtime reserves without using it (V8's code range, the JVM's spaces).
    Zero: the address-space limit is the memory limit itself. Otherwise it is the memory limit
    plus this, and the parent's watch on actual memory enforces the memory limit."""
    memory_markers: tuple[str, ...] = ()
    """What the runtime writes to stderr when it runs out of memory (the status becomes MEMORY)."""
    config_globs: tuple[str, ...] = ()
    """Host folders outside /usr the runtime reads (bound read-only when present)."""
    aliases: tuple[str, ...] = ()

    @property
    def compiled(self) -> bool:
        return self.compile is not None


SPECS: tuple[LanguageSpec, ...] = (
    LanguageSpec(
        id="python",
        name="Python",
        file_name="main.py",
        executables=("python3",),
        run=("{exe}", "-I", "{file}"),
        memory_markers=("MemoryError",),
        aliases=("py", "python3"),
    ),
    LanguageSpec(
        id="javascript",
        name="JavaScript",
        file_name="main.js",
        executables=("node", "nodejs"),
        run=("{exe}", "--max-old-space-size={memory_mb}", "{file}"),
        address_space_reserve=1 * GIB,
        memory_markers=(
            "JavaScript heap out of memory",
            "Fatal process out of memory",
            "Fatal process OOM",
            "Array buffer allocation failed",
        ),
        aliases=("js", "node", "nodejs", "node.js"),
    ),
    LanguageSpec(
        id="c",
        name="C",
        file_name="main.c",
        executables=("gcc", "cc"),
        compile=("{compiler}", "-std=gnu17", "-O2", "-pipe", "-o", "{build}/main", "{file}", "-lm"),
        run=("{build}/main",),
    ),
    LanguageSpec(
        id="cpp",
        name="C++",
        file_name="main.cpp",
        executables=("g++", "c++"),
        compile=("{compiler}", "-std=gnu++17", "-O2", "-pipe", "-o", "{build}/main", "{file}"),
        run=("{build}/main",),
        memory_markers=("std::bad_alloc",),
        aliases=("c++", "cxx"),
    ),
    LanguageSpec(
        id="java",
        name="Java",
        file_name="Main.java",
        executables=("java",),
        # Source-file mode: the JVM compiles the file in memory, so no separate javac step.
        run=(
            "{exe}",
            "-Xmx{half_memory_mb}m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-XX:ActiveProcessorCount=1",
            "-XX:ReservedCodeCacheSize=32m",
            "-XX:CompressedClassSpaceSize=32m",
            "-XX:-UsePerfData",
            "{file}",
        ),
        version_args=("-version",),
        address_space_reserve=1 * GIB,
        memory_markers=("java.lang.OutOfMemoryError",),
        config_globs=("/etc/java-*",),
    ),
    LanguageSpec(
        id="bash",
        name="Bash",
        file_name="main.sh",
        executables=("bash",),
        run=("{exe}", "{file}"),
        aliases=("sh", "shell"),
    ),
    LanguageSpec(
        id="perl",
        name="Perl",
        file_name="main.pl",
        executables=("perl",),
        run=("{exe}", "{file}"),
        version_args=("-e", "print $^V"),
        memory_markers=("Out of memory!",),
        aliases=("pl",),
    ),
)


@dataclass(frozen=True)
class Language:
    """A language this host can run: its spec and where its program lives."""

    spec: LanguageSpec
    executable: str
    """Resolved path of the interpreter or compiler (under /usr, so the sandbox sees it)."""
    version: str | None = None
    config_dirs: tuple[str, ...] = field(default_factory=tuple)

    @property
    def id(self) -> str:
        return self.spec.id

    def _values(self, memory_bytes: int) -> Mapping[str, str]:
        memory_mb = max(16, memory_bytes // (1024 * 1024))
        return {
            "exe": self.executable,
            "compiler": self.executable,
            "file": self.spec.file_name,
            "build": BUILD_DIR,
            "memory_mb": str(memory_mb),
            "half_memory_mb": str(max(8, memory_mb // 2)),
        }

    def run_argv(self, memory_bytes: int) -> list[str]:
        values = self._values(memory_bytes)
        return [part.format_map(values) for part in self.spec.run]

    def compile_argv(self, memory_bytes: int) -> list[str] | None:
        if self.spec.compile is None:
            return None
        values = self._values(memory_bytes)
        return [part.format_map(values) for part in self.spec.compile]

    def address_space(self, memory_bytes: int) -> int:
        return memory_bytes + self.spec.address_space_reserve


@dataclass(frozen=True)
class LanguageSupport:
    """One entry of ``getLanguageSupport``."""

    id: str
    name: str
    version: str | None
    compiled: bool
    file_name: str


def find_executable(names: tuple[str, ...], bin_dirs: tuple[str, ...] = SYSTEM_BIN_DIRS) -> str | None:
    """The first of `names` in `bin_dirs` that resolves to an executable file under /usr."""
    for name in names:
        for directory in bin_dirs:
            candidate = Path(directory) / name
            resolved = Path(os.path.realpath(candidate))
            if resolved.is_file() and os.access(resolved, os.X_OK) and resolved.is_relative_to(SANDBOX_ROOT):
                return str(resolved)
    return None


def _version_of(executable: str, version_args: tuple[str, ...]) -> str | None:
    """Asked once per process, of a system program outside the sandbox (it runs no user code)."""
    try:
        completed = subprocess.run(  # noqa: S603 - a system binary found under /usr, fixed arguments
            [executable, *version_args],
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT_SECONDS,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = VERSION_PATTERN.search(completed.stdout + "\n" + completed.stderr)
    return match.group(1) if match else None


def detect_language(spec: LanguageSpec, bin_dirs: tuple[str, ...] = SYSTEM_BIN_DIRS) -> Language | None:
    executable = find_executable(spec.executables, bin_dirs)
    if executable is None:
        return None
    config_dirs = tuple(
        sorted(path for pattern in spec.config_globs for path in glob.glob(pattern) if Path(path).is_dir())
    )
    return Language(
        spec=spec,
        executable=executable,
        version=_version_of(executable, spec.version_args),
        config_dirs=config_dirs,
    )


@functools.cache
def detect_languages() -> tuple[Language, ...]:
    """Every language of `SPECS` this host has, in the order of `SPECS` (cached for the process)."""
    found = (detect_language(spec) for spec in SPECS)
    return tuple(language for language in found if language is not None)


def canonical_language_id(name: str) -> str | None:
    """``"Python"``, ``"py"`` and ``"python3"`` are all ``"python"``; None when no spec matches."""
    key = name.strip().lower()
    for spec in SPECS:
        if key == spec.id or key == spec.name.lower() or key in spec.aliases:
            return spec.id
    return None


def resolve_language(name: str, languages: tuple[Language, ...] | None = None) -> Language:
    """The installed language called `name`, or `LanguageUnavailable`."""
    language_id = canonical_language_id(name)
    if language_id is None:
        raise LanguageUnavailable(f"unknown language {name!r}")
    for language in detect_languages() if languages is None else languages:
        if language.id == language_id:
            return language
    raise LanguageUnavailable(f"{language_id} is not installed on this sandbox host")


def get_language_support(languages: tuple[Language, ...] | None = None) -> list[LanguageSupport]:
    """What a dojo can run on this host, with each interpreter's or compiler's version."""
    return [
        LanguageSupport(
            id=language.id,
            name=language.spec.name,
            version=language.version,
            compiled=language.spec.compiled,
            file_name=language.spec.file_name,
        )
        for language in (detect_languages() if languages is None else languages)
    ]
