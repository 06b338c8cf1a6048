"""Real bubblewrap runs. Limits are lowered so the suite stays quick; the behaviour is the same.

The session's engines use a block of uids of their own (`support.claim_uid_block`), so their
checks for leftover processes never see another session's or the benchmark's runs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from realtime.sandbox.errors import SandboxUnavailable
from realtime.sandbox.limits import COMPILE_LIMITS, Limits, SandboxLimits
from realtime.sandbox.runner import SandboxEngine
from tests.integration.sandbox.support import EngineFactory, UidBlock, claim_uid_block

FAST_RUN = Limits(cpu_seconds=1, wall_seconds=3, output_bytes=64 * 1024, tmp_bytes=4 * 1024 * 1024)


@pytest.fixture(scope="session")
def uid_block() -> Iterator[UidBlock]:
    with claim_uid_block() as block:
        yield block


@pytest.fixture(scope="session")
async def sandbox_available(uid_block: UidBlock) -> None:
    try:
        await uid_block.engine().probe()
    except SandboxUnavailable as exc:
        pytest.skip(f"the sandbox cannot run on this host: {exc.reason}")


@pytest.fixture
def make_engine(sandbox_available: None, uid_block: UidBlock) -> EngineFactory:
    """An engine whose run limits are `FAST_RUN` with the given changes."""

    def make(slots: int = 4, **run_changes: float) -> SandboxEngine:
        run = FAST_RUN.with_overrides(run_changes)
        return uid_block.engine(SandboxLimits(run=run, compile=COMPILE_LIMITS), slots=slots)

    return make


@pytest.fixture
def engine(make_engine: EngineFactory) -> SandboxEngine:
    return make_engine()
