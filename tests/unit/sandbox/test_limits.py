"""Limits: Judge0's defaults or stricter, and only deliberate changes."""

from __future__ import annotations

import pytest

from realtime.sandbox.errors import SandboxConfigurationError
from realtime.sandbox.limits import COMPILE_LIMITS, MIB, RUN_LIMITS, Limits, SandboxLimits

pytestmark = pytest.mark.unit


def test_run_limits_are_at_least_as_strict_as_judge0s_defaults() -> None:
    assert RUN_LIMITS.cpu_seconds <= 5
    assert RUN_LIMITS.wall_seconds <= 10
    assert RUN_LIMITS.memory_bytes <= 128 * MIB
    assert RUN_LIMITS.processes <= 60
    assert RUN_LIMITS.output_bytes <= 1 * MIB
    assert RUN_LIMITS.file_bytes <= 1 * MIB
    assert RUN_LIMITS.stack_bytes <= 64 * MIB
    assert RUN_LIMITS.tmp_bytes == 16 * MIB


def test_compilers_get_judge0s_compile_budget_at_most() -> None:
    assert COMPILE_LIMITS.cpu_seconds <= 15
    assert COMPILE_LIMITS.wall_seconds <= 20
    assert COMPILE_LIMITS.memory_bytes <= 512 * MIB


def test_cpu_rlimit_rounds_a_fraction_up() -> None:
    assert Limits(cpu_seconds=0.2).cpu_rlimit == 1
    assert Limits(cpu_seconds=2.5).cpu_rlimit == 3
    assert Limits(cpu_seconds=5).cpu_rlimit == 5


def test_overrides_change_the_run_or_the_compiler() -> None:
    limits = SandboxLimits.from_overrides(
        {"wall_seconds": 3, "memory_bytes": 64 * MIB, "compile_wall_seconds": 4}
    )
    assert limits.run.wall_seconds == 3.0
    assert limits.run.memory_bytes == 64 * MIB
    assert isinstance(limits.run.memory_bytes, int)
    assert limits.run.cpu_seconds == RUN_LIMITS.cpu_seconds
    assert limits.compile.wall_seconds == 4.0
    assert limits.compile.memory_bytes == COMPILE_LIMITS.memory_bytes


def test_unknown_or_non_positive_limits_are_refused() -> None:
    with pytest.raises(SandboxConfigurationError, match="walltime"):
        SandboxLimits.from_overrides({"walltime": 3})
    with pytest.raises(SandboxConfigurationError, match="processes"):
        Limits(processes=0)
    with pytest.raises(SandboxConfigurationError, match="cpu_seconds"):
        SandboxLimits.from_overrides({"cpu_seconds": -1})
