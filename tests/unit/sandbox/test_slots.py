"""Dedicated uids: one run per uid at a time, across every worker process of the host."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from realtime.sandbox.errors import SandboxBusy, SandboxUnavailable
from realtime.sandbox.slots import SlotPool, ensure_private_dir

pytestmark = pytest.mark.unit


async def test_concurrent_claims_get_distinct_uids_and_a_full_pool_says_busy(tmp_path: Path) -> None:
    pool = SlotPool(tmp_path / "slots", first_uid=61000, first_gid=62000, count=2)
    async with pool.claim(1.0) as first, pool.claim(1.0) as second:
        assert {first.uid, second.uid} == {61000, 61001}
        assert {first.gid, second.gid} == {62000, 62001}
        with pytest.raises(SandboxBusy):
            async with pool.claim(0.1):
                pass
    async with pool.claim(0.1) as again:
        assert again.uid == 61000


async def test_a_waiting_claim_gets_the_slot_once_it_is_released(tmp_path: Path) -> None:
    pool = SlotPool(tmp_path / "slots", first_uid=61000, first_gid=61000, count=1)
    released = asyncio.Event()

    async def hold() -> None:
        async with pool.claim(1.0):
            await asyncio.sleep(0.2)
        released.set()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0.05)
    async with pool.claim(2.0) as slot:
        assert released.is_set()
        assert slot.uid == 61000
    await holder


def test_a_folder_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # noqa: S103 - the unsafe case under test
    with pytest.raises(SandboxUnavailable) as raised:
        ensure_private_dir(shared)
    assert raised.value.code == "sandbox_dir_unsafe"
    assert ensure_private_dir(tmp_path / "fresh").stat().st_mode & 0o777 == 0o700


def test_privileged_uids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unprivileged"):
        SlotPool(tmp_path, first_uid=0, first_gid=60000, count=1)
