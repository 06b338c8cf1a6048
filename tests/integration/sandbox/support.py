"""A block of dedicated uids of its own for each test session.

Tests assert that no process of their runs' uids is left; two sessions on one host (or a session
and the benchmark) using the same uids would see each other's runs. Each session therefore claims
a block of uids above the production default with a ``flock`` held until it ends, and its
engines use that block and a slot folder of their own.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from realtime.sandbox.limits import SandboxLimits
from realtime.sandbox.runner import SandboxEngine, processes_of_uid

EngineFactory = Callable[..., SandboxEngine]

FIRST_TEST_UID = 61000
BLOCK_SIZE = 8
BLOCKS = 400


@dataclass(frozen=True)
class UidBlock:
    first_uid: int
    state_dir: Path

    def engine(self, limits: SandboxLimits | None = None, slots: int = 4) -> SandboxEngine:
        if slots > BLOCK_SIZE:
            raise ValueError(f"a test block holds {BLOCK_SIZE} uids")
        return SandboxEngine(
            first_uid=self.first_uid,
            first_gid=self.first_uid,
            slots=slots,
            state_dir=self.state_dir,
            limits=limits or SandboxLimits(),
        )

    def processes(self) -> list[int]:
        """Every process on the host running as one of this block's uids."""
        return [
            pid for uid in range(self.first_uid, self.first_uid + BLOCK_SIZE) for pid in processes_of_uid(uid)
        ]


@contextlib.contextmanager
def claim_uid_block() -> Iterator[UidBlock]:
    locks = Path(tempfile.gettempdir()) / "mrbill-sandbox-test-blocks"
    locks.mkdir(mode=0o700, exist_ok=True)
    for index in range(BLOCKS):
        descriptor = os.open(locks / f"{index}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            continue
        try:
            with tempfile.TemporaryDirectory(prefix="mrbill-sandbox-test-") as state_dir:
                yield UidBlock(first_uid=FIRST_TEST_UID + index * BLOCK_SIZE, state_dir=Path(state_dir))
        finally:
            os.close(descriptor)
        return
    raise RuntimeError("every test block of sandbox uids is taken")


def sandbox_processes(engine: SandboxEngine) -> list[int]:
    """Every process on the host running as one of `engine`'s dedicated uids."""
    return [pid for index in range(engine.slots) for pid in processes_of_uid(engine.first_uid + index)]
