"""Dedicated uids, one per run in flight on the host, like isolate's boxes (uids 60000 and up).

The process limit (RLIMIT_NPROC) counts every process of a uid on the whole host, and the parent
finds a run's processes (to measure their memory, and to make sure none survives) by their uid.
Both only hold if no two runs share a uid at the same time, whichever worker process started
them: a slot is claimed with an exclusive ``flock`` on its own file in a host-wide folder, which
the kernel releases by itself if the worker dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import stat
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from realtime.sandbox.errors import SandboxBusy, SandboxUnavailable

SLOT_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Slot:
    index: int
    uid: int
    gid: int


def ensure_private_dir(path: Path) -> Path:
    """Create `path` for this user only, or check that an existing one is ours and not writable by
    anyone else (another user could otherwise plant files or hold our slots' locks)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise SandboxUnavailable(
            f"{path} must be a folder owned by uid {os.geteuid()} and writable by it alone",
            code="sandbox_dir_unsafe",
        )
    return path


class SlotPool:
    """Slots ``first_uid .. first_uid + count - 1`` (gids likewise), claimed through lock files."""

    def __init__(self, lock_dir: Path, *, first_uid: int, first_gid: int, count: int) -> None:
        if count < 1:
            raise ValueError("a slot pool needs at least one slot")
        if first_uid < 1000 or first_gid < 1000:
            raise ValueError("sandbox uids and gids must be unprivileged (1000 or more)")
        self.lock_dir = lock_dir
        self.first_uid = first_uid
        self.first_gid = first_gid
        self.count = count

    def _try_claim(self) -> tuple[Slot, int] | None:
        ensure_private_dir(self.lock_dir)
        for index in range(self.count):
            descriptor = os.open(self.lock_dir / f"slot-{index}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                continue
            return Slot(index, self.first_uid + index, self.first_gid + index), descriptor
        return None

    @contextlib.asynccontextmanager
    async def claim(self, wait_seconds: float) -> AsyncIterator[Slot]:
        """A free slot for the duration of the block; `SandboxBusy` if none frees within `wait_seconds`."""
        deadline = time.monotonic() + wait_seconds
        while True:
            claimed = self._try_claim()
            if claimed is not None:
                break
            if time.monotonic() >= deadline:
                raise SandboxBusy(f"all {self.count} sandbox slots stayed busy for {wait_seconds:.0f} s")
            await asyncio.sleep(SLOT_POLL_SECONDS)
        slot, descriptor = claimed
        try:
            yield slot
        finally:
            os.close(descriptor)
