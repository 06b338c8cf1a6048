"""The state machine: SCHEDULED -> ACTIVE -> COMPLETED, SCHEDULED|ACTIVE -> CANCELLED, nothing after.

Ending or cancelling a running dojo keeps the live room's last code as the FINAL snapshot (row
and storage copy, the seed's layout) and then closes the room's sockets, only once committed.
"""

from __future__ import annotations

import json
import uuid

import pytest

from realtime.dojos import repository
from tests.integration.realtime.dojos_support import (
    DojoClient,
    StandInChangeListener,
    StandInLiveRooms,
    TokenMint,
    create_dojo,
    start_dojo,
)

pytestmark = pytest.mark.integration


async def test_a_dojo_runs_from_scheduled_to_completed(
    client: DojoClient, mint: TokenMint, live_rooms: StandInLiveRooms
) -> None:
    maria = mint.caller()
    dojo = await create_dojo(client, maria)
    dojo_id = uuid.UUID(dojo["dojoId"])
    started = await start_dojo(client, maria, dojo["dojoId"])
    assert started["status"] == "ACTIVE"
    assert started["startedAt"] is not None
    assert started["endedAt"] is None
    assert started["version"] == dojo["version"] + 1

    live_rooms.codes[dojo_id] = "def bowling():\n    return 300\n"
    ended = await client.post(f"/v1/dojos/{dojo_id}/end", headers=maria.headers)
    assert ended.status_code == 200, ended.text
    body = ended.json()
    assert body["status"] == "COMPLETED"
    assert body["endedAt"] is not None
    assert body["joinCode"] == dojo["joinCode"]

    assert live_rooms.closed[-1] == (dojo_id, 4409, "dojo-ended")
    mine = [call for call in live_rooms.calls if call[1] == dojo_id]
    assert mine == [("code_of", dojo_id), ("close_room", dojo_id)]
    async with client.runtime.work(maria.tenant_id) as work:
        [snapshot] = await repository.code_snapshots(work.connection, dojo_id)
    assert (snapshot.kind, snapshot.code, snapshot.user_id) == ("FINAL", live_rooms.codes[dojo_id], None)
    assert snapshot.storage_key is not None
    assert snapshot.storage_key.startswith(f"dojos/{maria.tenant_id}/{dojo_id}/snapshots/")
    assert snapshot.storage_key.endswith("Z.json")
    stored = json.loads(await client.runtime.storage.get(snapshot.storage_key))
    assert stored["code"] == live_rooms.codes[dojo_id]
    assert (stored["kind"], stored["dojoId"], stored["snapshotId"]) == (
        "FINAL",
        str(dojo_id),
        str(snapshot.snapshot_id),
    )


async def test_wrong_transitions_are_409_with_the_status_named(client: DojoClient, mint: TokenMint) -> None:
    maria = mint.caller()
    dojo = await create_dojo(client, maria)
    path = f"/v1/dojos/{dojo['dojoId']}"
    not_started = await client.post(f"{path}/end", headers=maria.in_language("en"))
    assert not_started.status_code == 409
    assert not_started.json()["code"] == "dojo-not-started"
    assert not_started.json()["dojoStatus"] == "SCHEDULED"
    assert not_started.json()["detail"] == "The dojo has not started yet (scheduled)."

    await start_dojo(client, maria, dojo["dojoId"])
    again = await client.post(f"{path}/start", headers=maria.in_language("pt-BR"))
    assert again.status_code == 409
    assert again.json()["code"] == "dojo-already-started"
    assert again.json()["detail"] == "O dojo já começou (em andamento)."

    assert (await client.post(f"{path}/end", headers=maria.headers)).status_code == 200
    for method, action in (
        ("POST", "start"),
        ("POST", "end"),
        ("POST", "cancel"),
        ("POST", "join-code"),
        ("POST", "leave"),
        ("PATCH", ""),
    ):
        refused = await client.request(
            method, f"{path}/{action}".rstrip("/"), json={}, headers=maria.in_language("en")
        )
        assert refused.status_code == 409, (action, refused.text)
        assert refused.json()["code"] == "dojo-finished", action
        assert refused.json()["dojoStatus"] == "COMPLETED"
    assert (await client.post(f"{path}/end", headers=maria.in_language("en"))).json()["detail"] == (
        "The dojo has ended (completed); it can no longer change."
    )


async def test_cancel_works_before_and_during_the_session(
    client: DojoClient, mint: TokenMint, live_rooms: StandInLiveRooms
) -> None:
    maria = mint.caller()
    scheduled = await create_dojo(client, maria)
    cancelled = await client.post(f"/v1/dojos/{scheduled['dojoId']}/cancel", headers=maria.headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "CANCELLED"
    assert cancelled.json()["startedAt"] is None
    assert ("code_of", uuid.UUID(scheduled["dojoId"])) not in live_rooms.calls

    running = await create_dojo(client, maria)
    running_id = uuid.UUID(running["dojoId"])
    await start_dojo(client, maria, running["dojoId"])
    live_rooms.codes[running_id] = "console.log('cancelado')"
    assert (await client.post(f"/v1/dojos/{running_id}/cancel", headers=maria.headers)).json()["status"] == (
        "CANCELLED"
    )
    assert live_rooms.closed[-1] == (running_id, 4409, "dojo-cancelled")
    async with client.runtime.work(maria.tenant_id) as work:
        snapshots = await repository.code_snapshots(work.connection, running_id)
    assert [(s.kind, s.code) for s in snapshots] == [("FINAL", "console.log('cancelado')")]
    twice = await client.post(f"/v1/dojos/{running_id}/cancel", headers=maria.headers)
    assert twice.status_code == 409
    assert twice.json()["dojoStatus"] == "CANCELLED"


async def test_no_open_room_means_no_final_snapshot(
    client: DojoClient, mint: TokenMint, live_rooms: StandInLiveRooms
) -> None:
    maria = mint.caller()
    dojo = await create_dojo(client, maria)
    await start_dojo(client, maria, dojo["dojoId"])
    assert (await client.post(f"/v1/dojos/{dojo['dojoId']}/end", headers=maria.headers)).status_code == 200
    async with client.runtime.work(maria.tenant_id) as work:
        assert await repository.code_snapshots(work.connection, uuid.UUID(dojo["dojoId"])) == []
    assert live_rooms.closed[-1][0] == uuid.UUID(dojo["dojoId"])


async def test_only_the_facilitator_starts_ends_cancels_or_draws_a_code(
    client: DojoClient, mint: TokenMint, live_rooms: StandInLiveRooms
) -> None:
    maria = mint.caller()
    dojo = await create_dojo(client, maria, isPrivate=False)
    path = f"/v1/dojos/{dojo['dojoId']}"
    for roles in (("MEMBER",), ("OWNER",)):
        other = mint.caller(maria.tenant_id, roles=roles)
        assert (await client.post(f"{path}/join", headers=other.headers)).status_code == 200
        for action in ("start", "end", "cancel", "join-code"):
            refused = await client.post(f"{path}/{action}", headers=other.headers)
            assert refused.status_code == 403, (roles, action)
            assert refused.json()["code"] == "dojo-facilitator-only"
    closes = len(live_rooms.closed)
    current = (await client.get(path, headers=maria.headers)).json()
    assert current["status"] == "SCHEDULED"
    assert len(live_rooms.closed) == closes


async def test_a_refused_transition_changes_nothing_and_tells_nobody(
    client: DojoClient, mint: TokenMint, live_rooms: StandInLiveRooms, dojo_changes: StandInChangeListener
) -> None:
    maria = mint.caller()
    dojo = await create_dojo(client, maria)
    dojo_id = uuid.UUID(dojo["dojoId"])
    told = len(dojo_changes.changes)
    closes = len(live_rooms.closed)
    assert (await client.post(f"/v1/dojos/{dojo_id}/end", headers=maria.headers)).status_code == 409
    assert len(dojo_changes.changes) == told
    assert len(live_rooms.closed) == closes
    assert (await client.get(f"/v1/dojos/{dojo_id}", headers=maria.headers)).json()["version"] == dojo[
        "version"
    ]


async def test_every_committed_change_is_announced_with_its_version(
    client: DojoClient, mint: TokenMint, dojo_changes: StandInChangeListener
) -> None:
    maria = mint.caller()
    dojo = await create_dojo(client, maria, isPrivate=False)
    dojo_id = uuid.UUID(dojo["dojoId"])
    guest = mint.caller(maria.tenant_id)
    await client.patch(f"/v1/dojos/{dojo_id}", json={"name": "Renomeado"}, headers=maria.headers)
    await client.post(f"/v1/dojos/{dojo_id}/join", headers=guest.headers)
    await client.post(f"/v1/dojos/{dojo_id}/leave", headers=guest.headers)
    await client.post(f"/v1/dojos/{dojo_id}/join-code", headers=maria.headers)
    await start_dojo(client, maria, dojo["dojoId"])
    await client.post(f"/v1/dojos/{dojo_id}/end", headers=maria.headers)
    announced = [(tenant, version) for tenant, dojo_of, version in dojo_changes.changes if dojo_of == dojo_id]
    assert announced == [(maria.tenant_id, version) for version in range(1, 8)]
    final = (await client.get(f"/v1/dojos/{dojo_id}", headers=maria.headers)).json()
    assert final["version"] == 7
