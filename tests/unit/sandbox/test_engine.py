"""What the engine refuses or answers before it starts any process."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.common.settings import Settings
from realtime.sandbox.errors import InvalidRunRequest
from realtime.sandbox.languages import SPECS, Language
from realtime.sandbox.limits import Limits, SandboxLimits
from realtime.sandbox.runner import RunStatus, SandboxEngine

pytestmark = pytest.mark.unit

PYTHON = Language(spec=next(item for item in SPECS if item.id == "python"), executable="/usr/bin/python3")


def engine(tmp_path: Path, **changes: object) -> SandboxEngine:
    values: dict[str, object] = {"state_dir": tmp_path / "sandbox", "languages": (PYTHON,)}
    values.update(changes)
    return SandboxEngine(**values)  # type: ignore[arg-type]


async def test_an_unknown_or_missing_language_answers_unavailable(tmp_path: Path) -> None:
    for name in ("brainfuck", "javascript"):
        outcome = await engine(tmp_path).run(name, "print(1)")
        assert (outcome.status, outcome.error_code) == (RunStatus.SANDBOX_UNAVAILABLE, "language_unavailable")


async def test_a_missing_bubblewrap_fails_closed(tmp_path: Path) -> None:
    outcome = await engine(tmp_path, bwrap_path=str(tmp_path / "no-bwrap")).run("python", "print(1)")
    assert (outcome.status, outcome.error_code) == (RunStatus.SANDBOX_UNAVAILABLE, "bwrap_missing")
    assert (outcome.stdout, outcome.exit_code) == ("", None)


async def test_oversized_programs_and_inputs_are_refused(tmp_path: Path) -> None:
    small = engine(tmp_path, limits=SandboxLimits(run=Limits(source_bytes=10, stdin_bytes=4)))
    with pytest.raises(InvalidRunRequest, match="program"):
        await small.run("python", "print('more than ten bytes')")
    with pytest.raises(InvalidRunRequest, match="input"):
        await small.run("python", "input()", stdin="12345")


def test_settings_reach_the_engine(tmp_path: Path) -> None:
    settings = Settings(
        sandbox_uid=61000,
        sandbox_gid=61500,
        sandbox_slots=3,
        sandbox_dir=tmp_path,
        sandbox_limits={"wall_seconds": 4, "compile_cpu_seconds": 7},
    )
    built = SandboxEngine.from_settings(settings)
    assert (built.first_uid, built.first_gid, built.slots, built.work_dir) == (61000, 61500, 3, tmp_path)
    assert (built.limits.run.wall_seconds, built.limits.compile.cpu_seconds) == (4.0, 7.0)
