"""Who sees a dojo, who may join it and how: visibility, join by id or code, roles and limits."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from realtime.dojos.joincode import JOIN_CODE_ALPHABET
from realtime.dojos.service import MAX_OBSERVERS
from realtime.dojos.throttle import MAX_FAILED_ATTEMPTS
from tests.integration.realtime.dojos_support import (
    Caller,
    DojoClient,
    TokenMint,
    create_dojo,
    join,
    start_dojo,
)

pytestmark = pytest.mark.integration


async def _visible(client: DojoClient, caller: Caller, dojo_id: str) -> bool:
    response = await client.get(f"/v1/dojos/{dojo_id}", headers=caller.headers)
    assert response.status_code in (200, 404), response.text
    listed = await client.get("/v1/dojos?status=SCHEDULED&status=ACTIVE&pageSize=100", headers=caller.headers)
    in_list = dojo_id in [item["dojoId"] for item in listed.json()["items"]]
    assert in_list == (response.status_code == 200), "the list and the resource agree"
    return response.status_code == 200


async def test_the_seeds_visibility_rule_public_mine_or_taking_part(
    client: DojoClient, mint: TokenMint
) -> None:
    maria = mint.caller()
    colleague = mint.caller(maria.tenant_id)
    private = await create_dojo(client, maria)
    public = await create_dojo(client, maria, isPrivate=False)

    assert await _visible(client, maria, private["dojoId"])
    assert await _visible(client, colleague, public["dojoId"])
    assert not await _visible(client, colleague, private["dojoId"])

    joined = await client.post(
        "/v1/dojos/join", json={"joinCode": private["joinCode"]}, headers=colleague.headers
    )
    assert joined.status_code == 200, joined.text
    assert await _visible(client, colleague, private["dojoId"])
    assert (
        await client.post(f"/v1/dojos/{private['dojoId']}/leave", headers=colleague.headers)
    ).status_code == 200
    assert await _visible(client, colleague, private["dojoId"]), (
        "a dojo one took part in stays in one's history"
    )


async def test_join_by_id_needs_a_public_dojo_or_earlier_participation(
    client: DojoClient, mint: TokenMint
) -> None:
    maria = mint.caller()
    private = await create_dojo(client, maria)
    stranger = mint.caller(maria.tenant_id)
    refused = await join(client, stranger, private["dojoId"])
    assert refused.status_code == 404
    assert refused.json()["code"] == "dojo-not-found"

    public = await create_dojo(client, maria, isPrivate=False)
    joined = await join(client, stranger, public["dojoId"], displayName="João")
    assert joined.status_code == 200
    body = joined.json()
    assert body["viewer"] == {"role": "PARTICIPANT", "facilitator": False}
    assert body["participantCount"] == 2
    assert [p["displayName"] for p in body["participants"]] == [f"user-{maria.user_id.hex[:8]}", "João"]
    assert body["joinCode"] == public["joinCode"], "people in the dojo may pass the code on"

    outsider = mint.caller(maria.tenant_id)
    seen = (await client.get(f"/v1/dojos/{public['dojoId']}", headers=outsider.headers)).json()
    assert seen["joinCode"] is None
    assert seen["viewer"] == {"role": None, "facilitator": False}

    by_code = await client.post(
        "/v1/dojos/join", json={"joinCode": private["joinCode"], "role": "OBSERVER"}, headers=stranger.headers
    )
    assert by_code.status_code == 200
    await client.post(f"/v1/dojos/{private['dojoId']}/leave", headers=stranger.headers)
    back = await join(client, stranger, private["dojoId"])
    assert back.status_code == 200, "someone who took part may come back by id"
    assert back.json()["viewer"]["role"] == "PARTICIPANT"


async def test_join_codes_are_random_unambiguous_and_forgiving(client: DojoClient, mint: TokenMint) -> None:
    maria = mint.caller()
    codes = {(await create_dojo(client, maria))["joinCode"] for _ in range(20)}
    assert len(codes) == 20
    for code in codes:
        groups = code.split("-")
        assert [len(group) for group in groups] == [4, 4, 4]
        assert set("".join(groups)) <= set(JOIN_CODE_ALPHABET)
        assert not set("".join(groups)) & set("01OIL")

    dojo = await create_dojo(client, maria)
    guest = mint.caller(maria.tenant_id)
    typed = f"  {dojo['joinCode'].replace('-', ' ').lower()} "
    response = await client.post("/v1/dojos/join", json={"joinCode": typed}, headers=guest.headers)
    assert response.status_code == 200, response.text
    assert response.json()["dojoId"] == dojo["dojoId"]


async def test_a_new_join_code_replaces_the_old_one(client: DojoClient, mint: TokenMint) -> None:
    maria = mint.caller()
    dojo = await create_dojo(client, maria)
    renewed = await client.post(f"/v1/dojos/{dojo['dojoId']}/join-code", headers=maria.headers)
    assert renewed.status_code == 200
    new_code = renewed.json()["joinCode"]
    assert new_code != dojo["joinCode"]
    guest = mint.caller(maria.tenant_id)
    old = await client.post("/v1/dojos/join", json={"joinCode": dojo["joinCode"]}, headers=guest.headers)
    assert old.status_code == 404
    assert (
        await client.post("/v1/dojos/join", json={"joinCode": new_code}, headers=guest.headers)
    ).status_code == 200


async def test_join_bodies_are_checked_field_by_field(client: DojoClient, mint: TokenMint) -> None:
    guest = mint.caller()
    response = await client.post(
        "/v1/dojos/join",
        json={"joinCode": "no!", "role": "DRIVER", "displayName": "x" * 101},
        headers=guest.in_language("en"),
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "joinCode", "message": "Has an invalid format."},
        {"field": "role", "message": "Must be one of: PARTICIPANT, OBSERVER."},
        {"field": "displayName", "message": "Must have at most 100 characters."},
    ]
    portuguese = await client.post(
        "/v1/dojos/join", json={"joinCode": "no!", "role": "DRIVER"}, headers=guest.in_language("pt-BR")
    )
    assert [error["message"] for error in portuguese.json()["errors"]] == [
        "Tem um formato inválido.",
        "Deve ser um destes: PARTICIPANT, OBSERVER.",
    ]


async def test_max_participants_counts_participants_only(client: DojoClient, mint: TokenMint) -> None:
    maria = mint.caller()
    dojo = await create_dojo(client, maria, isPrivate=False, maxParticipants=2)
    second = mint.caller(maria.tenant_id)
    assert (await join(client, second, dojo["dojoId"])).status_code == 200
    third = mint.caller(maria.tenant_id)
    full = await join(client, third, dojo["dojoId"])
    assert full.status_code == 409
    assert full.json()["code"] == "dojo-full"
    assert full.json()["maxParticipants"] == 2
    watching = await join(client, third, dojo["dojoId"], "OBSERVER")
    assert watching.status_code == 200
    assert (watching.json()["participantCount"], watching.json()["observerCount"]) == (2, 1)
    promote = await join(client, third, dojo["dojoId"], "PARTICIPANT")
    assert promote.status_code == 409, "an observer becomes a participant only when there is room"

    await client.post(f"/v1/dojos/{dojo['dojoId']}/leave", headers=second.headers)
    promoted = await join(client, third, dojo["dojoId"], "PARTICIPANT")
    assert promoted.status_code == 200
    assert (promoted.json()["participantCount"], promoted.json()["observerCount"]) == (2, 0)
    again = await join(client, third, dojo["dojoId"], "PARTICIPANT")
    assert again.status_code == 200
    assert again.json()["version"] == promoted.json()["version"], "joining with the same role changes nothing"


async def test_concurrent_joins_never_overfill_a_dojo(client: DojoClient, mint: TokenMint) -> None:
    maria = mint.caller()
    dojo = await create_dojo(client, maria, isPrivate=False, maxParticipants=3)
    hopefuls = [mint.caller(maria.tenant_id) for _ in range(8)]
    answers = await asyncio.gather(*(join(client, hopeful, dojo["dojoId"]) for hopeful in hopefuls))
    assert sorted(answer.status_code for answer in answers) == [200, 200] + [409] * 6
    final = (await client.get(f"/v1/dojos/{dojo['dojoId']}", headers=maria.headers)).json()
    assert final["participantCount"] == 3


async def test_observers_have_a_cap_of_their_own(client: DojoClient, mint: TokenMint) -> None:
    maria = mint.caller()
    dojo = await create_dojo(client, maria, isPrivate=False)
    async with client.runtime.work(maria.tenant_id) as work:
        await work.connection.execute(
            "INSERT INTO dojo_participants (tenant_id, dojo_id, user_id, role, display_name)"
            " SELECT $1, $2, gen_random_uuid(), 'OBSERVER', 'watcher' FROM generate_series(1, $3)",
            maria.tenant_id,
            uuid.UUID(dojo["dojoId"]),
            MAX_OBSERVERS,
        )
    late = mint.caller(maria.tenant_id)
    refused = await join(client, late, dojo["dojoId"], "OBSERVER")
    assert refused.status_code == 409
    assert (refused.json()["code"], refused.json()["maxObservers"]) == ("dojo-observers-full", MAX_OBSERVERS)
    assert (await join(client, late, dojo["dojoId"], "PARTICIPANT")).status_code == 200


async def test_leave_and_rejoin_keep_the_history(client: DojoClient, mint: TokenMint) -> None:
    maria = mint.caller()
    dojo = await create_dojo(client, maria, isPrivate=False)
    guest = mint.caller(maria.tenant_id)
    first = (await join(client, guest, dojo["dojoId"], displayName="Ana")).json()
    left = await client.post(f"/v1/dojos/{dojo['dojoId']}/leave", headers=guest.headers)
    assert left.status_code == 200
    assert left.json()["participantCount"] == 1
    assert left.json()["viewer"]["role"] is None
    twice = await client.post(f"/v1/dojos/{dojo['dojoId']}/leave", headers=guest.in_language("en"))
    assert twice.status_code == 409
    assert twice.json()["code"] == "not-a-participant"

    back = (await join(client, guest, dojo["dojoId"], "OBSERVER")).json()
    [me] = [p for p in back["participants"] if p["userId"] == str(guest.user_id)]
    assert me["displayName"] == "Ana", "the name given before is kept"
    assert me["role"] == "OBSERVER"
    assert me["joinTime"] > first["participants"][1]["joinTime"]

    elsewhere = await create_dojo(client, maria, isPrivate=False)
    there = (await join(client, guest, elsewhere["dojoId"])).json()
    assert [p["displayName"] for p in there["participants"] if p["userId"] == str(guest.user_id)] == ["Ana"]


async def test_finished_dojos_take_nobody_in(client: DojoClient, mint: TokenMint) -> None:
    maria = mint.caller()
    dojo = await create_dojo(client, maria, isPrivate=False)
    await start_dojo(client, maria, dojo["dojoId"])
    guest = mint.caller(maria.tenant_id)
    assert (await join(client, guest, dojo["dojoId"])).status_code == 200, "a running dojo takes people in"
    await client.post(f"/v1/dojos/{dojo['dojoId']}/end", headers=maria.headers)
    late = mint.caller(maria.tenant_id)
    for response in (
        await join(client, late, dojo["dojoId"]),
        await client.post("/v1/dojos/join", json={"joinCode": dojo["joinCode"]}, headers=late.headers),
    ):
        assert response.status_code == 409
        assert response.json()["code"] == "dojo-finished"


async def test_guessing_join_codes_is_throttled(client: DojoClient, mint: TokenMint) -> None:
    guesser = mint.caller()
    for _ in range(MAX_FAILED_ATTEMPTS):
        miss = await client.post(
            "/v1/dojos/join", json={"joinCode": "ABCD-EFGH-JKMN"}, headers=guesser.headers
        )
        assert miss.status_code == 404
    blocked = await client.post(
        "/v1/dojos/join", json={"joinCode": "ABCD-EFGH-JKMP"}, headers=guesser.in_language("en")
    )
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "join-code-attempts"
    assert 0 < int(blocked.headers["retry-after"]) <= 300
    someone_else = mint.caller(guesser.tenant_id)
    maria_dojo = await create_dojo(client, someone_else)
    other = mint.caller(guesser.tenant_id)
    assert (
        await client.post("/v1/dojos/join", json={"joinCode": maria_dojo["joinCode"]}, headers=other.headers)
    ).status_code == 200, "only the guesser is slowed down"
