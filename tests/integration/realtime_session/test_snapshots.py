"""Snapshots of the code (database and storage, the seed's layout), the end of a dojo, and its replay.

The session channel is the only place that takes them, the FINAL one included: the dojo records
close a dojo's rooms through `SessionEndingRooms`, which keeps it before the live rooms close.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime

import httpx
import pytest

from api.common.tenancy import tenant_transaction
from api.common.valkey import create_valkey
from realtime.dojos.snapshots import MAX_SNAPSHOT_BYTES, SnapshotTooLargeError, snapshot_key
from realtime.session import SessionEndingRooms
from realtime.session.snapshots import SnapshotService
from tests.integration.realtime_session.support import (
    Dojo,
    Parts,
    create_dojo,
    eventually,
    get_json,
    running_instance,
    session,
    set_status,
)

pytestmark = pytest.mark.integration


async def snapshot_rows(parts: Parts, tenant_id: uuid.UUID, dojo_id: uuid.UUID) -> list[dict[str, object]]:
    async with tenant_transaction(parts.engine, tenant_id) as transaction:
        rows = await transaction.connection.fetch(
            "SELECT snapshot_id, timestamp, code, kind, storage_key, user_id FROM dojo_code_snapshots"
            " WHERE dojo_id = $1 ORDER BY timestamp",
            dojo_id,
        )
    return [dict(row) for row in rows]


async def assert_stored_as_the_seed_lays_out(parts: Parts, dojo: Dojo, row: dict[str, object]) -> None:
    """The row's storage copy: under ``dojos/{tenant}/{dojo}/snapshots/{UTC timestamp}Z.json``, a
    JSON document with the row's fields (the session's format: an RFC 3339 timestamp ending in Z)."""
    timestamp = row["timestamp"]
    assert isinstance(timestamp, datetime)
    key = str(row["storage_key"])
    assert key == snapshot_key(dojo.tenant_id, dojo.dojo_id, timestamp)
    assert key.startswith(f"dojos/{dojo.tenant_id}/{dojo.dojo_id}/snapshots/")
    assert key.endswith("Z.json")
    stored = json.loads(await parts.storage.get(key))
    assert stored == {
        "snapshotId": str(row["snapshot_id"]),
        "tenantId": str(dojo.tenant_id),
        "dojoId": str(dojo.dojo_id),
        "timestamp": stored["timestamp"],
        "kind": row["kind"],
        "code": row["code"],
        "userId": None,
    }
    assert stored["timestamp"].endswith("Z")
    assert datetime.fromisoformat(stored["timestamp"]) == timestamp
    assert row["user_id"] is None, "the service takes them by itself"


async def test_snapshots_while_the_code_changes_then_a_final_one_and_a_replay(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint, participants=2, observers=1)
    ana, bia = dojo.participants
    parts.live.code[dojo.dojo_id] = "def soma(a, b):\n    pass\n"

    async def count_is(expected: int) -> bool:
        return len(await snapshot_rows(parts, dojo.tenant_id, dojo.dojo_id)) == expected

    async with running_instance(parts) as one, running_instance(parts) as two:
        async with (
            session(one, dojo, ana) as ana_client,
            session(two, dojo, bia) as bia_client,
            session(two, dojo, dojo.observers[0]) as observer,
        ):
            await eventually(lambda: count_is(1))
            await ana_client.send("chat.send", text="vamos começar pelo teste")
            await observer.expect("chat.message")
            await asyncio.sleep(4 * parts.config.snapshot_interval_seconds)
            assert await count_is(1), "several intervals with the same code: nothing new, on either instance"

            parts.live.code[dojo.dojo_id] = "def soma(a, b):\n    return a + b\n"
            await eventually(lambda: count_is(2))
            await bia_client.send("chat.send", text="passou!")
            await observer.expect("chat.message", lambda frame: frame["message"]["message"] == "passou!")

            parts.live.code[dojo.dojo_id] = "def soma(a, b):\n    return a + b\n\nprint(soma(2, 3))\n"
            await set_status(parts.engine, dojo, "COMPLETED")
            await one.runtime.close_room(dojo.dojo_id, 4409, "dojo-ended")
            for client in (ana_client, bia_client, observer):
                code, reason, frames = await client.closed()
                assert (code, reason) == (4409, {"reason": "dojo-ended"})
                assert frames[-1] == {"type": "session.ended", "closeCode": 4409, "reason": "dojo-ended"}

        rows = await snapshot_rows(parts, dojo.tenant_id, dojo.dojo_id)
        assert [row["kind"] for row in rows] == ["PERIODIC", "PERIODIC", "FINAL"]
        assert rows[-1]["code"] == "def soma(a, b):\n    return a + b\n\nprint(soma(2, 3))\n"
        for row in rows:
            await assert_stored_as_the_seed_lays_out(parts, dojo, row)

        listed = await get_json(one, f"/v1/dojos/{dojo.dojo_id}/snapshots?pageSize=2", dojo.observers[0])
        assert listed.status_code == 200, listed.text
        assert listed.json()["totalItems"] == 3
        assert [item["kind"] for item in listed.json()["items"]] == ["PERIODIC", "PERIODIC"]

        replay = await get_json(two, f"/v1/dojos/{dojo.dojo_id}/replay", bia)
        assert replay.status_code == 200, replay.text
        body = replay.json()
        assert (body["status"], body["language"], body["initialCode"]) == (
            "COMPLETED",
            "python",
            dojo.initial_code,
        )
        assert body["finalCode"] == rows[-1]["code"]
        assert [(event["type"], event.get("kind") or event.get("message")) for event in body["events"]] == [
            ("snapshot", "PERIODIC"),
            ("chat", "vamos começar pelo teste"),
            ("snapshot", "PERIODIC"),
            ("chat", "passou!"),
            ("snapshot", "FINAL"),
        ]
        times = [event["at"] for event in body["events"]]
        assert times == sorted(times)
        assert body["events"][1]["displayName"] == "Participant 1"

        # The dojo is over: the snapshot loop leaves it alone even if a room still had code for it.
        parts.live.code[dojo.dojo_id] = "changed after the end"
        await asyncio.sleep(4 * parts.config.snapshot_interval_seconds)
        assert len(await snapshot_rows(parts, dojo.tenant_id, dojo.dojo_id)) == 3


async def test_replay_is_for_finished_dojos_and_members_only(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint)
    other_tenant = await create_dojo(parts.engine, parts.mint, status="COMPLETED")
    outsider = parts.mint.person(dojo.tenant_id, "Outsider")
    async with running_instance(parts) as instance:
        running = await get_json(instance, f"/v1/dojos/{dojo.dojo_id}/replay", dojo.facilitator)
        assert running.status_code == 409, running.text
        assert running.json()["code"] == "dojo-not-finished"
        await set_status(parts.engine, dojo, "COMPLETED")
        finished = await get_json(instance, f"/v1/dojos/{dojo.dojo_id}/replay", dojo.observers[0])
        assert finished.status_code == 200, finished.text
        assert finished.json()["events"] == []
        assert finished.json()["finalCode"] == dojo.initial_code
        for person, dojo_id in (
            (outsider, dojo.dojo_id),
            (dojo.facilitator, other_tenant.dojo_id),
            (other_tenant.facilitator, dojo.dojo_id),
        ):
            for path in ("replay", "snapshots"):
                hidden = await get_json(instance, f"/v1/dojos/{dojo_id}/{path}", person)
                assert hidden.status_code == 404, (path, hidden.text)
        async with httpx.AsyncClient(base_url=instance.http_url) as anonymous:
            no_token = await anonymous.get(f"/v1/dojos/{dojo.dojo_id}/replay")
        assert no_token.status_code == 401


async def test_a_dojo_that_starts_while_sockets_are_open_gets_snapshots(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint, status="SCHEDULED")
    parts.live.code[dojo.dojo_id] = "print('lobby')\n"
    async with running_instance(parts) as instance:
        async with session(instance, dojo, dojo.facilitator) as client:
            assert client.welcome["dojo"]["status"] == "SCHEDULED"
            await client.send("run.request")
            assert (await client.expect("error"))["code"] == "dojo-not-active"
            await asyncio.sleep(4 * parts.config.snapshot_interval_seconds)
            assert await snapshot_rows(parts, dojo.tenant_id, dojo.dojo_id) == [], "not before it starts"
            await set_status(parts.engine, dojo, "ACTIVE")

            async def one_snapshot() -> bool:
                return len(await snapshot_rows(parts, dojo.tenant_id, dojo.dojo_id)) == 1

            await eventually(one_snapshot)

            ending = SessionEndingRooms(parts.live, instance.runtime)
            parts.live.code[dojo.dojo_id] = "print('cancelado')\n"
            await set_status(parts.engine, dojo, "CANCELLED")
            await ending.close_room(dojo.dojo_id, 4409, "dojo-cancelled")
            code, reason, _ = await client.closed()
    assert (code, reason) == (4409, {"reason": "dojo-cancelled"})
    assert parts.live.closed == [(dojo.dojo_id, 4409, "dojo-cancelled")]
    rows = await snapshot_rows(parts, dojo.tenant_id, dojo.dojo_id)
    assert [(row["kind"], row["code"]) for row in rows] == [
        ("PERIODIC", "print('lobby')\n"),
        ("FINAL", "print('cancelado')\n"),
    ], "the FINAL one read the room before it closed (the stand-in forgets a closed room's code)"
    await assert_stored_as_the_seed_lays_out(parts, dojo, rows[-1])


async def test_without_a_live_room_the_final_snapshot_repeats_the_last_one_or_there_is_none(
    parts: Parts,
) -> None:
    kept = await create_dojo(parts.engine, parts.mint)
    empty = await create_dojo(parts.engine, parts.mint)
    unseen = await create_dojo(parts.engine, parts.mint)
    parts.live.code[kept.dojo_id] = "x = 1\n"
    async with running_instance(parts) as instance:
        ending = SessionEndingRooms(parts.live, instance.runtime)
        async with (
            session(instance, kept, kept.facilitator) as kept_client,
            session(instance, empty, empty.facilitator) as empty_client,
        ):

            async def kept_has_one() -> bool:
                return len(await snapshot_rows(parts, kept.tenant_id, kept.dojo_id)) == 1

            await eventually(kept_has_one)
            del parts.live.code[kept.dojo_id]  # its room is gone: nobody edits any more
            for dojo, client in ((kept, kept_client), (empty, empty_client), (unseen, None)):
                await set_status(parts.engine, dojo, "COMPLETED")
                await ending.close_room(dojo.dojo_id, 4409, "dojo-ended")
                if client is not None:
                    assert (await client.closed())[:2] == (4409, {"reason": "dojo-ended"})

    rows = await snapshot_rows(parts, kept.tenant_id, kept.dojo_id)
    assert [(row["kind"], row["code"]) for row in rows] == [("PERIODIC", "x = 1\n"), ("FINAL", "x = 1\n")]
    await assert_stored_as_the_seed_lays_out(parts, kept, rows[-1])
    for nothing in (empty, unseen):
        assert await snapshot_rows(parts, nothing.tenant_id, nothing.dojo_id) == [], "no code was ever kept"
        assert await parts.storage.list(f"dojos/{nothing.tenant_id}/{nothing.dojo_id}/") == []
    assert [closed[0] for closed in parts.live.closed] == [kept.dojo_id, empty.dojo_id, unseen.dojo_id]


async def test_code_too_large_to_keep_writes_nothing(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint)
    parts.live.code[dojo.dojo_id] = "é" * (MAX_SNAPSHOT_BYTES // 2 + 1)
    valkey = create_valkey(parts.settings)
    try:
        snapshots = SnapshotService(valkey, parts.engine, parts.storage, parts.live, interval_seconds=1.0)
        with pytest.raises(SnapshotTooLargeError):
            await snapshots.take(dojo.tenant_id, dojo.dojo_id, "FINAL")
    finally:
        await valkey.aclose()
    assert await snapshot_rows(parts, dojo.tenant_id, dojo.dojo_id) == []
    assert await parts.storage.list(f"dojos/{dojo.tenant_id}/{dojo.dojo_id}/") == []
