"""How much one run may use: the defaults are Judge0's, or stricter.

Judge0's defaults are 5 s of CPU, 10 s of wall time, 128 MB of memory, 60 processes or threads,
1 MB of output and files of at most 1 MB. We add what Judge0 leaves open: a 16 MB private /tmp,
no core dumps, 64 open files and an 8 MB stack (Judge0 allows 64 MB, which also makes every
thread reserve 64 MB of address space). Compilers get their own, roomier budget, as in Judge0
(which compiles with 15 s of CPU and 512 MB).

Operators may change any field through ``MRBILL_SANDBOX_LIMITS`` (JSON, e.g. ``{"wall_seconds":
5}``); tests lower them to keep the suite fast.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

from realtime.sandbox.errors import SandboxConfigurationError

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The budget of one process tree in the sandbox (one compile, or one run)."""

    cpu_seconds: float = 5.0
    """CPU time of each process (RLIMIT_CPU: SIGXCPU at the limit, SIGKILL a second later)."""
    wall_seconds: float = 10.0
    """From start to the whole sandbox being killed, whatever it is doing."""
    memory_bytes: int = 128 * MIB
    """Address space of each process for languages that need no more than they use, and the
    total anonymous memory of all the run's processes, watched by the parent for every language."""
    processes: int = 60
    """Processes and threads of the run's dedicated uid (RLIMIT_NPROC)."""
    output_bytes: int = 1 * MIB
    """stdout and stderr together: the parent never reads more, and kills the run once it has."""
    file_bytes: int = 1 * MIB
    """Largest file the program may write (RLIMIT_FSIZE)."""
    tmp_bytes: int = 16 * MIB
    """Size of the private /tmp (tmpfs), the only writable place of a run."""
    open_files: int = 64
    stack_bytes: int = 8 * MIB
    source_bytes: int = 256 * 1024
    """Largest program accepted."""
    stdin_bytes: int = 1 * MIB
    """Largest standard input accepted."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise SandboxConfigurationError(f"sandbox limit {field.name} must be positive, not {value!r}")

    @property
    def cpu_rlimit(self) -> int:
        """RLIMIT_CPU counts whole seconds; a fraction rounds up, so the limit is never lower than asked."""
        return max(1, math.ceil(self.cpu_seconds))

    def with_overrides(self, overrides: Mapping[str, float]) -> Limits:
        """A copy with some fields changed; an unknown name is refused, so a typo cannot pass unnoticed."""
        known = {field.name: field.type for field in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise SandboxConfigurationError(f"unknown sandbox limits: {', '.join(unknown)}")
        changes: dict[str, float | int] = {}
        for name, value in overrides.items():
            current = getattr(self, name)
            changes[name] = int(value) if isinstance(current, int) else float(value)
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


RUN_LIMITS = Limits()
"""Every run of a dojo's code."""

COMPILE_LIMITS = Limits(
    cpu_seconds=10.0,
    wall_seconds=15.0,
    memory_bytes=512 * MIB,
    processes=60,
    output_bytes=64 * 1024,
    file_bytes=16 * MIB,
    tmp_bytes=64 * MIB,
)
"""Compilers (C, C++): Judge0 gives them 15 s and 512 MB; their messages are capped at 64 KB."""


@dataclass(frozen=True)
class SandboxLimits:
    run: Limits = RUN_LIMITS
    compile: Limits = COMPILE_LIMITS

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, float]) -> SandboxLimits:
        """``{"wall_seconds": 5, "compile_wall_seconds": 20}``: plain names change the run's limits,
        ``compile_``-prefixed names the compiler's."""
        run = {name: value for name, value in overrides.items() if not name.startswith("compile_")}
        compile_ = {
            name.removeprefix("compile_"): value
            for name, value in overrides.items()
            if name.startswith("compile_")
        }
        return cls(run=RUN_LIMITS.with_overrides(run), compile=COMPILE_LIMITS.with_overrides(compile_))
