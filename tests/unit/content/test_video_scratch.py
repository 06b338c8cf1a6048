"""The renderer's scratch folders and partial files, and the sweep of those a killed process left.

Owners really die here: a child Python process opens a scratch folder (or writes a partial file)
and is killed with SIGKILL, exactly as a worker killed mid-render.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from api.content.video.scratch import (
    LOCK_NAME,
    UNLOCKED_GRACE_SECONDS,
    partial_name,
    pid_alive,
    scratch_dir,
    sweep_stale_partials,
    sweep_stale_scratch,
)

pytestmark = pytest.mark.unit

HOLD_A_FOLDER = """
import sys, time
from pathlib import Path
from api.content.video.scratch import scratch_dir
with scratch_dir("scene", root=Path(sys.argv[1])) as folder:
    (folder / "base.rgb").write_bytes(b"frame")
    print(folder, flush=True)
    time.sleep(600)
"""


def killed_owner_folder(root: Path) -> Path:
    """A scratch folder whose owner process was killed while it held it."""
    owner = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", HOLD_A_FOLDER, str(root)], stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None
    folder = Path(owner.stdout.readline().strip())
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait(10)
    assert folder.is_dir(), "SIGKILL leaves the folder behind"
    return folder


def dead_pid() -> int:
    """The pid of a process that has ended (and was reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(10)
    return process.pid


def test_a_scratch_folder_names_its_owner_and_is_removed_at_its_end(tmp_path: Path) -> None:
    with scratch_dir("scene", root=tmp_path) as folder:
        assert folder.parent == tmp_path
        assert folder.name.startswith(f"mrbill-scene-{os.getpid()}-")
        assert [path.name for path in folder.iterdir()] == [LOCK_NAME]
        (folder / "atlas.rgba").write_bytes(b"pixels")
    assert list(tmp_path.iterdir()) == []


def test_a_scratch_folder_is_removed_when_its_job_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), scratch_dir("assemble", root=tmp_path):
        raise RuntimeError("ffmpeg failed")
    assert list(tmp_path.iterdir()) == []


def test_the_sweep_removes_folders_of_killed_owners_and_keeps_live_ones(tmp_path: Path) -> None:
    stale = killed_owner_folder(tmp_path)
    unrelated = tmp_path / "mrbill-test-12345-abc"
    unrelated.mkdir()
    with scratch_dir("scene", root=tmp_path) as mine:
        removed = sweep_stale_scratch(tmp_path)

        assert removed == [stale]
        assert not stale.exists()
        assert mine.is_dir(), "a live owner's folder, this very process's, stays"
        assert unrelated.is_dir(), "only the renderer's own folders are touched"


def test_a_reused_pid_does_not_protect_a_folder_whose_lock_is_free(tmp_path: Path) -> None:
    """The folder names a live pid (ours), but nobody holds its lock: its owner is gone."""
    folder = tmp_path / f"mrbill-scene-{os.getpid()}-reused"
    folder.mkdir()
    (folder / LOCK_NAME).touch()

    assert sweep_stale_scratch(tmp_path) == [folder]


def test_a_folder_without_a_lock_falls_back_to_its_pid_once_old_enough(tmp_path: Path) -> None:
    gone = dead_pid()
    young = tmp_path / f"mrbill-scene-{gone}-young"
    old = tmp_path / f"mrbill-assemble-{gone}-old"
    alive = tmp_path / f"mrbill-scene-{os.getpid()}-alive"
    for folder in (young, old, alive):
        folder.mkdir()
    past = time.time() - UNLOCKED_GRACE_SECONDS - 5
    os.utime(old, (past, past))
    os.utime(alive, (past, past))

    assert sweep_stale_scratch(tmp_path) == [old]
    assert young.is_dir(), "its owner may still be creating it"
    assert alive.is_dir()


def test_partial_files_of_dead_writers_are_swept_and_others_kept(tmp_path: Path) -> None:
    mine = tmp_path / partial_name("lofi-30000ms", ".m4a")
    theirs = tmp_path / f".lofi-30000ms.{dead_pid()}-abcd1234.partial.wav"
    finished = tmp_path / "lofi-30000ms-48000-v1.m4a"
    for path in (mine, theirs, finished):
        path.write_bytes(b"audio")

    assert sweep_stale_partials(tmp_path) == [theirs]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([mine.name, finished.name])
    assert sweep_stale_partials(tmp_path / "missing") == []


def test_pid_alive_knows_this_process_and_a_finished_one() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(dead_pid())
    assert pid_alive(0), "a pid that cannot be asked about counts as alive"
