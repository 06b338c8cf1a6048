"""Scratch space of the renderer, and the sweep of what a process killed outright left there.

Rendering writes its inputs to temporary folders (``mrbill-scene-*`` and ``mrbill-assemble-*``
under the system's temporary directory) and its outputs through hidden partial files beside
their final names. Python removes both when a job ends, fails or is cancelled; a process killed
outright (SIGKILL, the OOM killer, a container stopped hard) cannot, and a worker that renders all
day would fill its disk with them. So each folder is named after its owner's pid
(``mrbill-scene-<pid>-<random>``) and holds a lock file its owner keeps locked while the folder
lives, and each partial file carries its owner's pid (``.<name>.<pid>-<random>.partial.<ext>``).
The video worker sweeps both when it starts (`activities.video.VideoActivities`).

For folders the lock decides, not the pid: pids are reused, and a temporary directory shared by
containers may name a pid of another namespace. The kernel drops a lock when its holder dies,
whatever killed it (ffmpeg children never inherit it: Python opens files non-inheritable). The
lock file is created under another name and renamed into place once locked, so a sweeper never
finds an unlocked lock of a live owner. Only a folder without a lock (the microseconds between
its creation and the lock's rename) falls back to the pid, and only once it is old enough that
no owner can still be creating it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

SCRATCH_KINDS: tuple[str, ...] = ("scene", "assemble")
"""The renderer's temporary folders: ``mrbill-<kind>-<pid>-<random>``."""
LOCK_NAME = ".owner.lock"
UNLOCKED_GRACE_SECONDS = 60.0
"""A folder without a lock file is left alone this long (its owner may be creating it)."""

_FOLDER = re.compile(r"^mrbill-(?P<kind>[a-z]+)-(?P<pid>\d+)-[A-Za-z0-9_]+$")
_PARTIAL = re.compile(r"^\..+\.(?P<pid>\d+)-[A-Za-z0-9_]+\.partial(\.[A-Za-z0-9]+)?$")


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs (in this pid namespace); unknown owners count as alive."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temp_root() -> Path:
    return Path(tempfile.gettempdir())


@contextlib.contextmanager
def scratch_dir(kind: str, *, root: Path | None = None) -> Iterator[Path]:
    """A temporary folder of this process, locked while it lives and removed at the end."""
    if kind not in SCRATCH_KINDS:
        raise ValueError(f"unknown scratch kind {kind!r}; known: {', '.join(SCRATCH_KINDS)}")
    folder = Path(tempfile.mkdtemp(prefix=f"mrbill-{kind}-{os.getpid()}-", dir=root))
    descriptor = -1
    try:
        unlocked = folder / f"{LOCK_NAME}.{secrets.token_hex(4)}"
        descriptor = os.open(unlocked, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        os.rename(unlocked, folder / LOCK_NAME)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if descriptor >= 0:
            os.close(descriptor)


def partial_name(stem: str, suffix: str) -> str:
    """The hidden name a file is written under before it is renamed to ``<stem><suffix>``."""
    return f".{stem}.{os.getpid()}-{secrets.token_hex(4)}.partial{suffix}"


def partial_prefix(stem: str) -> str:
    """`partial_name`'s prefix, for `tempfile.mkstemp` (which adds the random part)."""
    return f".{stem}.{os.getpid()}-"


def _owner_gone(folder: Path, pid: int) -> bool:
    """Whether `folder`'s owner is gone: nobody holds its lock (or, lockless, its pid is dead)."""
    try:
        descriptor = os.open(folder / LOCK_NAME, os.O_RDONLY)
    except FileNotFoundError:
        try:
            age = time.time() - folder.stat().st_mtime
        except FileNotFoundError:
            return False
        return age > UNLOCKED_GRACE_SECONDS and not pid_alive(pid)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)
    return True


def sweep_stale_scratch(root: Path | None = None) -> list[Path]:
    """Remove the renderer's temporary folders whose owner process is gone; the removed ones.

    Folders of live processes, this one's included, are left alone, and so is anything that is
    not named as `scratch_dir` names its folders.
    """
    folder_root = root or temp_root()
    removed: list[Path] = []
    try:
        entries = list(folder_root.iterdir())
    except FileNotFoundError:
        return removed
    for folder in entries:
        match = _FOLDER.match(folder.name)
        if match is None or match["kind"] not in SCRATCH_KINDS or not folder.is_dir():
            continue
        if _owner_gone(folder, int(match["pid"])):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def sweep_stale_partials(folder: Path) -> list[Path]:
    """Remove the hidden partial files in `folder` whose writing process no longer runs."""
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return removed
    for path in entries:
        match = _PARTIAL.match(path.name)
        if match is None or pid_alive(int(match["pid"])):
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed
