"""Opening the session socket: who gets in, who is refused, and with which close code and reason."""

from __future__ import annotations

import time
import uuid

import pytest
from websockets.asyncio.client import connect

from api.common.valkey import create_valkey
from realtime.session.presence import Presence, PresenceEntry
from tests.integration.realtime_session.support import (
    Parts,
    SessionClient,
    create_dojo,
    refused,
    running_instance,
    session,
    set_status,
)

pytestmark = [pytest.mark.integration, pytest.mark.security]


async def test_a_member_is_welcomed_with_the_room_as_it_is(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint, participants=2, observers=1)
    async with running_instance(parts) as instance:
        async with session(instance, dojo, dojo.facilitator) as facilitator:
            welcome = facilitator.welcome
            assert welcome["you"] == {
                "userId": str(dojo.facilitator.user_id),
                "displayName": "Participant 1",
                "role": "PARTICIPANT",
                "facilitator": True,
                "readOnly": False,
                "connectionId": welcome["you"]["connectionId"],
            }
            assert welcome["dojo"] == {"dojoId": str(dojo.dojo_id), "status": "ACTIVE", "language": "python"}
            assert [member["userId"] for member in welcome["presence"]] == [str(dojo.facilitator.user_id)]
            assert welcome["randori"]["status"] == "IDLE"
            assert welcome["randori"]["order"] == [str(dojo.facilitator.user_id)]
            assert welcome["randori"]["turnSeconds"] == 300
            assert welcome["randori"]["breakEvery"] == 4
            assert welcome["chat"] == []
            assert {language["id"] for language in welcome["languages"]} >= {"python", "javascript"}
            assert welcome["run"] is None
            assert welcome["limits"]["chatMaxChars"] == 2000

            observer = dojo.observers[0]
            async with session(instance, dojo, observer) as watcher:
                assert watcher.welcome["you"]["readOnly"] is True
                assert watcher.welcome["you"]["role"] == "OBSERVER"
                presence = await facilitator.expect(
                    "presence", lambda frame: frame["joined"] == str(observer.user_id)
                )
                assert [member["role"] for member in presence["members"]] == ["PARTICIPANT", "OBSERVER"]
            left = await facilitator.expect("presence", lambda frame: frame["left"] == str(observer.user_id))
            assert [member["userId"] for member in left["members"]] == [str(dojo.facilitator.user_id)]
        assert dojo.facilitator.user_id in parts.access.touched


async def test_the_token_may_come_in_the_authorization_header(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint)
    async with running_instance(parts) as instance:
        headers = {"Authorization": f"Bearer {dojo.facilitator.token}"}
        async with connect(instance.url(dojo.dojo_id), additional_headers=headers) as socket:
            assert '"type":"welcome"' in str(await socket.recv())


async def test_refusals_close_with_the_contract_codes_and_a_json_reason(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint)
    stranger_tenant = await create_dojo(parts.engine, parts.mint)
    outsider = parts.mint.person(dojo.tenant_id, "Outsider")
    expired = parts.mint.token_for(dojo.facilitator, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)
    async with running_instance(parts) as instance:
        cases = {
            "no token": (await refused(instance, dojo.dojo_id), 4401, "token-missing"),
            "garbage": (await refused(instance, dojo.dojo_id, token="not.a.token"), 4401, "token-invalid"),
            "expired": (await refused(instance, dojo.dojo_id, token=expired), 4401, "token-expired"),
            "bad header": (
                await refused(instance, dojo.dojo_id, headers={"Authorization": "Basic abc"}),
                4401,
                "token-missing",
            ),
            "another tenant's dojo": (
                await refused(instance, stranger_tenant.dojo_id, token=dojo.facilitator.token),
                4404,
                "dojo-not-found",
            ),
            "no such dojo": (
                await refused(instance, uuid.uuid4(), token=dojo.facilitator.token),
                4404,
                "dojo-not-found",
            ),
            "not a member": (
                await refused(instance, dojo.dojo_id, token=outsider.token),
                4403,
                "not-a-participant",
            ),
        }
        await instance.denylist.revoke(dojo.participants[1].jti, 600)
        cases["revoked"] = (
            await refused(instance, dojo.dojo_id, token=dojo.participants[1].token),
            4401,
            "token-revoked",
        )
    for name, ((code, reason, frames), expected_code, expected_reason) in cases.items():
        assert (code, reason) == (expected_code, {"reason": expected_reason}), name
        assert [frame["type"] for frame in frames] == ["refused"], name
        assert frames[0]["closeCode"] == expected_code, name
        assert frames[0]["reason"] == expected_reason, name
        assert frames[0]["message"], name


async def test_refusals_speak_the_callers_language(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint)
    async with running_instance(parts) as instance:
        async with connect(
            instance.url(dojo.dojo_id), additional_headers={"Accept-Language": "pt-BR"}
        ) as socket:
            code, _, frames = await SessionClient(socket, welcome={}).closed()
    assert code == 4401
    assert frames[0]["message"].startswith("Envie o token de acesso")


async def test_a_finished_dojo_refuses_new_sockets(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint)
    await set_status(parts.engine, dojo, "COMPLETED")
    async with running_instance(parts) as instance:
        code, reason, _ = await refused(instance, dojo.dojo_id, token=dojo.facilitator.token)
    assert (code, reason) == (4409, {"reason": "dojo-not-running"})


async def test_unreadable_and_oversized_frames(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint)
    async with running_instance(parts) as instance:
        async with session(instance, dojo, dojo.facilitator) as client:
            await client.socket.send("{not json")
            assert (await client.expect("error"))["code"] == "invalid-message"
            await client.send("no.such.type")
            assert (await client.expect("error"))["code"] == "invalid-message"
            await client.send("ping")
            assert (await client.expect("pong"))["serverTime"]
            await client.send("chat.send", text="x" * (parts.config.max_frame_bytes + 1))
            code, reason, frames = await client.closed()
    assert (code, reason) == (4413, {"reason": "message-too-large"})
    assert frames[-1]["type"] == "refused"


async def test_a_socket_closes_when_its_token_expires_unless_refreshed(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint)
    config = parts.config.model_copy(update={"token_leeway_seconds": 0})
    soon = int(time.time()) + 2
    short = parts.mint.token_for(dojo.facilitator, exp=soon)
    async with running_instance(parts, config=config) as instance:
        async with session(instance, dojo, dojo.facilitator, token=short) as refreshed:
            fresh = parts.mint.token_for(dojo.facilitator)
            await refreshed.send("token.refresh", accessToken=fresh)
            assert (await refreshed.expect("token.refreshed"))["expiresAt"]
            other = parts.mint.token_for(dojo.participants[1])
            await refreshed.send("token.refresh", accessToken=other)
            assert (await refreshed.expect("error"))["code"] == "token-mismatch"
            async with session(
                instance,
                dojo,
                dojo.participants[1],
                token=parts.mint.token_for(dojo.participants[1], exp=soon),
            ) as lapsing:
                code, reason, _ = await lapsing.closed(within=15)
            assert (code, reason) == (4401, {"reason": "token-expired"})
            await refreshed.send("ping")
            assert await refreshed.expect("pong")


async def test_a_client_that_floods_is_slowed_then_closed(parts: Parts) -> None:
    config = parts.config.model_copy(update={"messages_per_second": 5.0, "message_burst": 5})
    dojo = await create_dojo(parts.engine, parts.mint)
    async with running_instance(parts, config=config) as instance:
        async with session(instance, dojo, dojo.facilitator) as client:
            for _ in range(40):
                await client.send("ping")
            code, reason, frames = await client.closed()
    kinds = [frame["type"] for frame in frames]
    assert (code, reason) == (4429, {"reason": "too-fast"})
    assert kinds.count("pong") == 5
    assert "error" in kinds
    assert frames[-1]["type"] == "refused"


async def test_sockets_of_a_crashed_instance_leave_the_presence_list(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint, participants=2)
    ana, bia = dojo.participants
    async with running_instance(parts) as instance:
        async with session(instance, dojo, ana) as client:
            ghost = PresenceEntry(
                connection_id="crashed-instance-socket",
                user_id=bia.user_id,
                display_name=bia.name,
                role="PARTICIPANT",
                facilitator=False,
                instance_id="crashed",
                connected_at=time.time(),
            )
            valkey = create_valkey(parts.settings)  # the crashed instance's own client
            await Presence(valkey, ttl_seconds=1.0).add(dojo.dojo_id, ghost)
            await valkey.aclose()
            async with session(instance, dojo, ana) as second_tab:
                members = {member["userId"]: member for member in second_tab.welcome["presence"]}
                assert set(members) == {str(ana.user_id), str(bia.user_id)}
                assert members[str(ana.user_id)]["connections"] == 2
            gone = await client.expect("presence", lambda frame: len(frame["members"]) == 1, within=10)
            assert gone["members"][0]["userId"] == str(ana.user_id)
