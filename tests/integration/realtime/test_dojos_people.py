"""The facilitator manages the people of a dojo: removes a person (who may not come back) or changes
a person's role (within the dojo's limits). Only the facilitator may; another tenant's dojo does not
exist. Every such change (and a leave) is announced with its version and, once committed, asks the
dojo's open sockets to check their admission again (`LiveRooms.recheck`)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.integration.realtime.dojos_support import (
    Caller,
    DojoClient,
    StandInChangeListener,
    StandInLiveRooms,
    TokenMint,
    create_dojo,
    join,
    start_dojo,
)

pytestmark = pytest.mark.integration


@dataclass
class StandInRecheckWitness(StandInLiveRooms):
    """The live rooms' stand-in, noting at each recheck who is in the dojo as another request sees
    it then: a recheck asked before the commit would still find the old roles."""

    readers: dict[uuid.UUID, Callable[[], Awaitable[dict[str, str]]]] = field(default_factory=dict)
    seen_at_recheck: list[dict[str, str]] = field(default_factory=list)

    async def recheck(self, dojo_id: uuid.UUID) -> None:
        reader = self.readers.get(dojo_id)
        if reader is not None:
            self.seen_at_recheck.append(await reader())
        await super().recheck(dojo_id)


@pytest.fixture(scope="module")
def live_rooms() -> StandInRecheckWitness:
    """Replaces the conftest's stand-in for this module (the app is built with it)."""
    return StandInRecheckWitness()


def witness_rechecks(
    live_rooms: StandInRecheckWitness, client: DojoClient, caller: Caller, dojo_id: str
) -> None:
    async def people() -> dict[str, str]:
        response = await client.get(f"/v1/dojos/{dojo_id}", headers=caller.headers)
        assert response.status_code == 200, response.text
        return {person["userId"]: person["role"] for person in response.json()["participants"]}

    live_rooms.readers[uuid.UUID(dojo_id)] = people


def rechecks_of(live_rooms: StandInLiveRooms, dojo_id: str) -> int:
    return live_rooms.calls.count(("recheck", uuid.UUID(dojo_id)))


def participant_path(dojo_id: str, person: Caller) -> str:
    return f"/v1/dojos/{dojo_id}/participants/{person.user_id}"


async def a_dojo_with(
    client: DojoClient, mint: TokenMint, **overrides: Any
) -> tuple[Caller, Caller, Caller, dict[str, Any]]:
    """A public dojo of Maria's, with João participating and Olga observing."""
    maria = mint.caller()
    dojo = await create_dojo(client, maria, isPrivate=False, **overrides)
    joao, olga = mint.caller(maria.tenant_id), mint.caller(maria.tenant_id)
    assert (await join(client, joao, dojo["dojoId"])).status_code == 200
    assert (await join(client, olga, dojo["dojoId"], "OBSERVER")).status_code == 200
    return maria, joao, olga, dojo


async def test_the_facilitator_removes_a_person_who_then_cannot_join_again(
    client: DojoClient,
    mint: TokenMint,
    live_rooms: StandInRecheckWitness,
    dojo_changes: StandInChangeListener,
) -> None:
    maria, joao, olga, dojo = await a_dojo_with(client, mint)
    dojo_id = dojo["dojoId"]
    witness_rechecks(live_rooms, client, maria, dojo_id)
    before = (await client.get(f"/v1/dojos/{dojo_id}", headers=maria.headers)).json()

    removed = await client.delete(participant_path(dojo_id, joao), headers=maria.headers)
    assert removed.status_code == 200, removed.text
    body = removed.json()
    assert [person["userId"] for person in body["participants"]] == [str(maria.user_id), str(olga.user_id)]
    assert body["participantCount"] == 1
    assert body["version"] == before["version"] + 1
    assert (maria.tenant_id, uuid.UUID(dojo_id), body["version"]) in dojo_changes.changes
    assert live_rooms.seen_at_recheck[-1] == {
        str(maria.user_id): "PARTICIPANT",
        str(olga.user_id): "OBSERVER",
    }

    by_id = await join(client, joao, dojo_id)
    assert by_id.status_code == 403
    assert by_id.headers["content-type"].startswith("application/problem+json")
    assert by_id.json()["code"] == "dojo-participant-removed"
    by_code = await client.post(
        "/v1/dojos/join",
        json={"joinCode": before["joinCode"], "role": "OBSERVER"},
        headers=joao.in_language("pt-BR"),
    )
    assert by_code.status_code == 403
    assert by_code.json()["code"] == "dojo-participant-removed"
    assert by_code.json()["detail"] == (
        "O facilitador removeu você deste dojo, então você não pode entrar nele de novo."
    )
    history = await client.get(f"/v1/dojos/{dojo_id}", headers=joao.headers)
    assert history.status_code == 200, "the dojo stays in the history of those who took part"
    assert history.json()["viewer"]["role"] is None

    rechecks = rechecks_of(live_rooms, dojo_id)
    again = await client.delete(participant_path(dojo_id, joao), headers=maria.headers)
    assert again.status_code == 200
    assert again.json()["version"] == body["version"], "removing twice changes nothing"
    assert rechecks_of(live_rooms, dojo_id) == rechecks


async def test_a_person_who_left_may_still_be_removed_and_then_stays_out(
    client: DojoClient, mint: TokenMint
) -> None:
    maria, joao, _, dojo = await a_dojo_with(client, mint)
    dojo_id = dojo["dojoId"]
    assert (await client.post(f"/v1/dojos/{dojo_id}/leave", headers=joao.headers)).status_code == 200
    assert (await client.delete(participant_path(dojo_id, joao), headers=maria.headers)).status_code == 200
    assert (await join(client, joao, dojo_id)).status_code == 403


async def test_the_facilitator_cannot_remove_themself_nor_someone_never_in_the_dojo(
    client: DojoClient, mint: TokenMint, live_rooms: StandInRecheckWitness
) -> None:
    maria, _, _, dojo = await a_dojo_with(client, mint)
    dojo_id = dojo["dojoId"]
    rechecks = rechecks_of(live_rooms, dojo_id)
    itself = await client.delete(participant_path(dojo_id, maria), headers=maria.in_language("en"))
    assert itself.status_code == 409
    assert itself.json()["code"] == "dojo-facilitator-stays"
    assert itself.json()["detail"] == (
        "The facilitator cannot be removed from their own dojo; end or cancel it instead."
    )
    stranger = mint.caller(maria.tenant_id)
    for method, body in (("DELETE", None), ("PATCH", {"role": "OBSERVER"})):
        missing = await client.request(
            method, participant_path(dojo_id, stranger), json=body, headers=maria.in_language("pt-BR")
        )
        assert missing.status_code == 404, method
        assert missing.json()["code"] == "dojo-participant-not-found"
        assert missing.json()["detail"] == "Esta pessoa não está no dojo."
    assert rechecks_of(live_rooms, dojo_id) == rechecks
    current = (await client.get(f"/v1/dojos/{dojo_id}", headers=maria.headers)).json()
    assert current["version"] == dojo["version"] + 2, "only the two joins changed the dojo"


async def test_only_the_facilitator_manages_people_and_other_tenants_dojos_do_not_exist(
    client: DojoClient, mint: TokenMint
) -> None:
    maria, joao, olga, dojo = await a_dojo_with(client, mint)
    dojo_id = dojo["dojoId"]
    admin = mint.caller(maria.tenant_id, roles=("OWNER",))
    assert (await join(client, admin, dojo_id)).status_code == 200
    for caller in (joao, admin):
        removal = await client.delete(participant_path(dojo_id, olga), headers=caller.headers)
        change = await client.patch(
            participant_path(dojo_id, olga), json={"role": "PARTICIPANT"}, headers=caller.headers
        )
        for refused in (removal, change):
            assert refused.status_code == 403, refused.text
            assert refused.json()["code"] == "dojo-facilitator-only"

    private = await create_dojo(client, maria)
    outsider = mint.caller(maria.tenant_id)
    hidden = await client.delete(participant_path(private["dojoId"], maria), headers=outsider.headers)
    assert hidden.status_code == 404, "a private dojo one never took part in does not exist"

    elsewhere = mint.caller()  # another tenant, even its facilitator-like owner
    for method, body in (("DELETE", None), ("PATCH", {"role": "OBSERVER"})):
        foreign = await client.request(
            method, participant_path(dojo_id, joao), json=body, headers=elsewhere.headers
        )
        assert foreign.status_code == 404, method
        assert foreign.json()["code"] == "dojo-not-found"
    people = (await client.get(f"/v1/dojos/{dojo_id}", headers=maria.headers)).json()["participants"]
    assert {person["userId"]: person["role"] for person in people} == {
        str(maria.user_id): "PARTICIPANT",
        str(joao.user_id): "PARTICIPANT",
        str(olga.user_id): "OBSERVER",
        str(admin.user_id): "PARTICIPANT",
    }


async def test_roles_change_within_the_dojos_limits(
    client: DojoClient,
    mint: TokenMint,
    live_rooms: StandInRecheckWitness,
    dojo_changes: StandInChangeListener,
) -> None:
    maria, joao, olga, dojo = await a_dojo_with(client, mint, maxParticipants=2)
    dojo_id = dojo["dojoId"]
    witness_rechecks(live_rooms, client, maria, dojo_id)

    full = await client.patch(
        participant_path(dojo_id, olga), json={"role": "PARTICIPANT"}, headers=maria.in_language("en")
    )
    assert full.status_code == 409
    joining = await client.post(
        f"/v1/dojos/{dojo_id}/join", json={"role": "PARTICIPANT"}, headers=olga.in_language("en")
    )
    fields = ("status", "code", "title", "detail", "maxParticipants")
    assert [full.json()[name] for name in fields] == [joining.json()[name] for name in fields]
    assert (full.json()["code"], full.json()["maxParticipants"]) == ("dojo-full", 2)

    demoted = await client.patch(
        participant_path(dojo_id, joao), json={"role": "OBSERVER"}, headers=maria.headers
    )
    assert demoted.status_code == 200, demoted.text
    assert demoted.json()["participantCount"] == 1
    assert live_rooms.seen_at_recheck[-1][str(joao.user_id)] == "OBSERVER"
    promoted = await client.patch(
        participant_path(dojo_id, olga), json={"role": "PARTICIPANT"}, headers=maria.headers
    )
    assert promoted.status_code == 200, promoted.text
    roles = {person["userId"]: person["role"] for person in promoted.json()["participants"]}
    assert roles == {
        str(maria.user_id): "PARTICIPANT",
        str(joao.user_id): "OBSERVER",
        str(olga.user_id): "PARTICIPANT",
    }
    assert live_rooms.seen_at_recheck[-1] == roles
    announced = [version for _, dojo_of, version in dojo_changes.changes if dojo_of == uuid.UUID(dojo_id)]
    assert announced[-2:] == [demoted.json()["version"], promoted.json()["version"]]

    rechecks = rechecks_of(live_rooms, dojo_id)
    same = await client.patch(
        participant_path(dojo_id, olga), json={"role": "PARTICIPANT"}, headers=maria.headers
    )
    assert same.json()["version"] == promoted.json()["version"], "the same role changes nothing"
    assert rechecks_of(live_rooms, dojo_id) == rechecks

    invalid = await client.patch(
        participant_path(dojo_id, olga), json={"role": "DRIVER"}, headers=maria.in_language("en")
    )
    assert invalid.status_code == 422
    assert [error["field"] for error in invalid.json()["errors"]] == ["role"]
    unknown_field = await client.patch(
        participant_path(dojo_id, olga), json={"role": "OBSERVER", "x": 1}, headers=maria.headers
    )
    assert unknown_field.status_code == 422
    assert [error["field"] for error in unknown_field.json()["errors"]] == ["x"]


async def test_people_of_a_finished_dojo_no_longer_change(client: DojoClient, mint: TokenMint) -> None:
    maria, joao, _, dojo = await a_dojo_with(client, mint)
    dojo_id = dojo["dojoId"]
    await start_dojo(client, maria, dojo_id)
    assert (await client.post(f"/v1/dojos/{dojo_id}/end", headers=maria.headers)).status_code == 200
    for method, body in (("DELETE", None), ("PATCH", {"role": "OBSERVER"})):
        refused = await client.request(
            method, participant_path(dojo_id, joao), json=body, headers=maria.headers
        )
        assert refused.status_code == 409, method
        assert refused.json()["code"] == "dojo-finished"


async def test_leaving_and_changing_role_by_joining_again_ask_the_sockets_to_check(
    client: DojoClient, mint: TokenMint, live_rooms: StandInRecheckWitness
) -> None:
    _, joao, olga, dojo = await a_dojo_with(client, mint)
    dojo_id = dojo["dojoId"]
    rechecks = rechecks_of(live_rooms, dojo_id)
    assert (await join(client, olga, dojo_id, "OBSERVER")).status_code == 200
    assert rechecks_of(live_rooms, dojo_id) == rechecks, "joining again with the same role changes nothing"
    assert (await join(client, olga, dojo_id, "PARTICIPANT")).status_code == 200
    assert (await client.post(f"/v1/dojos/{dojo_id}/leave", headers=joao.headers)).status_code == 200
    assert rechecks_of(live_rooms, dojo_id) == rechecks + 2


async def test_the_openapi_document_describes_the_people_operations(client: DojoClient) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    item = document["paths"]["/v1/dojos/{dojo_id}/participants/{user_id}"]
    assert item["delete"]["operationId"] == "removeDojoParticipant"
    assert item["patch"]["operationId"] == "changeDojoParticipantRole"
    assert {"200", "403", "404", "409"} <= set(item["delete"]["responses"])
    assert {"200", "403", "404", "409", "422"} <= set(item["patch"]["responses"])
    assert "role" in document["components"]["schemas"]["RoleChange"]["properties"]
    join_responses = document["paths"]["/v1/dojos/{dojo_id}/join"]["post"]["responses"]
    assert "403" in join_responses
