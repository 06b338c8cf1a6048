"""The state machine: SCHEDULED -> ACTIVE -> COMPLETED, SCHEDULED|ACTIVE -> CANCELLED, nothing after.

Ending or cancelling a dojo asks its live rooms to close, once the change has committed; the
REST side neither reads nor stores the code. The FINAL snapshot is kept by the rooms it is given
(the session channel's `SessionEndingRooms` in the assembled app), which
tests/integration/realtime_session/test_snapshots.py covers.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from realtime.dojos import repository
from tests.integration.realtime.dojos_support import (
    Caller,
    DojoClient,
    StandInChangeListener,
    StandInLiveRooms,
    TokenMint,
    create_dojo,
    start_dojo,
)

pytestmark = pytest.mark.integration


@dataclass
class StandInCommitWitness(StandInLiveRooms):
    """The live rooms' stand-in, noting at each close the dojo's status as another request sees it
    then: a close asked before the commit would find the dojo still running."""

    status_readers: dict[uuid.UUID, Callable[[], Awaitable[str]]] = field(default_factory=dict)
    status_at_close: dict[uuid.UUID, str] = field(default_factory=dict)

    async def close_room(self, dojo_id: uuid.UUID, code: int, reason: str) -> None:
        reader = self.status_readers.get(dojo_id)
        if reader is not None:
            self.status_at_close[dojo_id] = await reader()
        await super().close_room(dojo_id, code, reason)


@pytest.fixture(scope="module")
def live_rooms() -> StandInCommitWitness:
    """Replaces the conftest's stand-in for this module (the app is built with it)."""
    return StandInCommitWitness()


def witness_closes(
    live_rooms: StandInCommitWitness, client: DojoClient, caller: Caller, dojo_id: uuid.UUID
) -> None:
    """At the dojo's close, read its status through the API: a request, a transaction, of its own."""

    async def status() -> str:
        response = await client.get(f"/v1/dojos/{dojo_id}", headers=caller.headers)
        assert response.status_code == 200, response.text
        found: str = response.json()["status"]
        return found

    live_rooms.status_readers[dojo_id] = status


def calls_for(live_rooms: StandInCommitWitness, dojo_id: uuid.UUID) -> list[tuple[str, uuid.UUID]]:
    return [call for call in live_rooms.calls if call[1] == dojo_id]


async def test_a_dojo_runs_from_scheduled_to_completed(
    client: DojoClient, mint: TokenMint, live_rooms: StandInCommitWitness
) -> None:
    maria = mint.caller()
    dojo = await create_dojo(client, maria)
    dojo_id = uuid.UUID(dojo["dojoId"])
    witness_closes(live_rooms, client, maria, dojo_id)
    started = await start_dojo(client, maria, dojo["dojoId"])
    assert started["status"] == "ACTIVE"
    assert started["startedAt"] is not None
    assert started["endedAt"] is None
    assert started["version"] == dojo["version"] + 1
    assert calls_for(live_rooms, dojo_id) == [], "starting touches no room"

    live_rooms.codes[dojo_id] = "def bowling():\n    return 300\n"
    ended = await client.post(f"/v1/dojos/{dojo_id}/end", headers=maria.headers)
    assert ended.status_code == 200, ended.text
    body = ended.json()
    assert body["status"] == "COMPLETED"
    assert body["endedAt"] is not None
    assert body["joinCode"] == dojo["joinCode"]

    assert calls_for(live_rooms, dojo_id) == [("close_room", dojo_id)], "one close, and no code read here"
    assert live_rooms.closed[-1] == (dojo_id, 4409, "dojo-ended")
    assert live_rooms.status_at_close[dojo_id] == "COMPLETED", "closed only once the end had committed"
    async with client.runtime.work(maria.tenant_id) as work:
        assert await repository.all_snapshots(work.connection, maria.tenant_id, dojo_id) == [], (
            "the REST side keeps no snapshot of its own"
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
    client: DojoClient, mint: TokenMint, live_rooms: StandInCommitWitness
) -> None:
    maria = mint.caller()
    scheduled = await create_dojo(client, maria)
    scheduled_id = uuid.UUID(scheduled["dojoId"])
    witness_closes(live_rooms, client, maria, scheduled_id)
    cancelled = await client.post(f"/v1/dojos/{scheduled_id}/cancel", headers=maria.headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "CANCELLED"
    assert cancelled.json()["startedAt"] is None
    assert calls_for(live_rooms, scheduled_id) == [("close_room", scheduled_id)], "sockets of the lobby too"
    assert live_rooms.closed[-1] == (scheduled_id, 4409, "dojo-cancelled")
    assert live_rooms.status_at_close[scheduled_id] == "CANCELLED"

    running = await create_dojo(client, maria)
    running_id = uuid.UUID(running["dojoId"])
    witness_closes(live_rooms, client, maria, running_id)
    await start_dojo(client, maria, running["dojoId"])
    live_rooms.codes[running_id] = "console.log('cancelado')"
    assert (await client.post(f"/v1/dojos/{running_id}/cancel", headers=maria.headers)).json()["status"] == (
        "CANCELLED"
    )
    assert calls_for(live_rooms, running_id) == [("close_room", running_id)]
    assert live_rooms.closed[-1] == (running_id, 4409, "dojo-cancelled")
    assert live_rooms.status_at_close[running_id] == "CANCELLED", "closed only once the cancel had committed"
    async with client.runtime.work(maria.tenant_id) as work:
        assert await repository.all_snapshots(work.connection, maria.tenant_id, running_id) == []
    twice = await client.post(f"/v1/dojos/{running_id}/cancel", headers=maria.headers)
    assert twice.status_code == 409
    assert twice.json()["dojoStatus"] == "CANCELLED"
    assert calls_for(live_rooms, running_id) == [("close_room", running_id)], (
        "a refused cancel closes nothing"
    )


async def test_only_the_facilitator_starts_ends_cancels_or_draws_a_code(
    client: DojoClient, mint: TokenMint, live_rooms: StandInCommitWitness
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
    client: DojoClient, mint: TokenMint, live_rooms: StandInCommitWitness, dojo_changes: StandInChangeListener
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
