"""Chat: stored, broadcast to the room on every instance, sent again on join, size- and rate-limited."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from api.common.tenancy import tenant_transaction
from tests.integration.realtime_session.support import (
    Parts,
    chat_text_is,
    create_dojo,
    get_json,
    running_instance,
    session,
)

pytestmark = pytest.mark.integration


async def test_chat_is_stored_broadcast_and_sent_to_newcomers(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint, participants=2, observers=1)
    ana, bia = dojo.participants
    observer = dojo.observers[0]
    async with running_instance(parts) as instance:
        async with session(instance, dojo, ana) as first, session(instance, dojo, observer) as watcher:
            await first.send("chat.send", text="  Bom dia, dojo!  ")
            posted = await first.expect("chat.message")
            echoed = await watcher.expect("chat.message")
            assert posted == echoed
            message = posted["message"]
            assert (message["message"], message["userId"], message["displayName"]) == (
                "Bom dia, dojo!",
                str(ana.user_id),
                "Participant 1",
            )
            await watcher.send("chat.send", text="Observers may chat too \U0001f440")
            assert (await first.expect("chat.message"))["message"]["displayName"] == "Observer 1"

            async with session(instance, dojo, bia) as late:
                history = late.welcome["chat"]
                assert [line["message"] for line in history] == [
                    "Bom dia, dojo!",
                    "Observers may chat too \U0001f440",
                ]
                assert history[0]["messageId"] == message["messageId"]

    async with tenant_transaction(parts.engine, dojo.tenant_id) as transaction:
        rows = await transaction.connection.fetch(
            "SELECT user_id, message FROM dojo_chat_messages WHERE dojo_id = $1 ORDER BY timestamp",
            dojo.dojo_id,
        )
    assert [(row["user_id"], row["message"]) for row in rows] == [
        (ana.user_id, "Bom dia, dojo!"),
        (observer.user_id, "Observers may chat too \U0001f440"),
    ]


async def test_history_on_join_is_the_last_messages_only(parts: Parts) -> None:
    config = parts.config.model_copy(update={"chat_history_size": 3, "chat_rate_count": 100})
    dojo = await create_dojo(parts.engine, parts.mint)
    async with running_instance(parts, config=config) as instance:
        async with session(instance, dojo, dojo.facilitator) as client:
            for number in range(5):
                await client.send("chat.send", text=f"message {number}")
                await client.expect("chat.message", chat_text_is(f"message {number}"))
        async with session(instance, dojo, dojo.participants[1]) as late:
            assert [line["message"] for line in late.welcome["chat"]] == [
                "message 2",
                "message 3",
                "message 4",
            ]


async def test_too_long_empty_and_too_fast_messages_are_refused_to_the_sender_only(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint)
    ana, bia = dojo.participants
    async with running_instance(parts) as instance:
        async with session(instance, dojo, ana) as sender, session(instance, dojo, bia) as other:
            await sender.send("chat.send", text="x" * 2001)
            too_long = await sender.expect("error")
            assert too_long["code"] == "chat-too-long"
            assert "2000" in too_long["message"]
            await sender.send("chat.send", text=" \n\t ")
            assert (await sender.expect("error"))["code"] == "chat-empty"
            await sender.send("chat.send", text="x" * 2000)
            assert len((await sender.expect("chat.message"))["message"]["message"]) == 2000

            for number in range(4):
                await sender.send("chat.send", text=f"fast {number}")
            await sender.send("chat.send", text="one too many")
            limited = await sender.expect("error")
            assert limited["code"] == "chat-rate-limited"
            assert 0 < limited["retryAfter"] <= 10
            assert "5" in limited["message"]

            received = [await other.expect("chat.message") for _ in range(5)]
            assert [frame["message"]["message"][:6] for frame in received[1:]] == [
                f"fast {n}" for n in range(4)
            ]
            await other.send("ping")
            pong_or_more = await other.next()
            assert pong_or_more["type"] == "pong", "the refusals went to the sender only"

    async with tenant_transaction(parts.engine, dojo.tenant_id) as transaction:
        stored = await transaction.connection.fetchval(
            "SELECT count(*) FROM dojo_chat_messages WHERE dojo_id = $1", dojo.dojo_id
        )
    assert stored == 5


async def test_the_rate_is_counted_per_person_across_sockets_and_instances(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint)
    async with running_instance(parts) as one, running_instance(parts) as two:
        async with (
            session(one, dojo, dojo.facilitator) as here,
            session(two, dojo, dojo.facilitator) as there,
        ):
            for number in range(5):
                client = here if number % 2 == 0 else there
                await client.send("chat.send", text=f"line {number}")
                await client.expect("chat.message", chat_text_is(f"line {number}"))
            await there.send("chat.send", text="sixth")
            assert (await there.expect("error"))["code"] == "chat-rate-limited"


async def test_chat_crosses_instances_in_one_order(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint, participants=2)
    ana, bia = dojo.participants
    async with running_instance(parts) as one, running_instance(parts) as two:
        async with session(one, dojo, ana) as on_one, session(two, dojo, bia) as on_two:
            joined = await on_one.expect("presence", lambda frame: frame["joined"] == str(bia.user_id))
            assert {member["userId"] for member in joined["members"]} == {str(ana.user_id), str(bia.user_id)}
            await asyncio.gather(
                *(on_one.send("chat.send", text=f"ana {n}") for n in range(2)),
                *(on_two.send("chat.send", text=f"bia {n}") for n in range(2)),
            )
            seen_on_one = [(await on_one.expect("chat.message"))["message"]["messageId"] for _ in range(4)]
            seen_on_two = [(await on_two.expect("chat.message"))["message"]["messageId"] for _ in range(4)]
            assert seen_on_one == seen_on_two


async def test_chat_history_over_rest_is_for_members_only(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint)
    other_tenant = await create_dojo(parts.engine, parts.mint)
    outsider = parts.mint.person(dojo.tenant_id, "Outsider")
    async with running_instance(parts) as instance:
        async with session(instance, dojo, dojo.facilitator) as client:
            for text in ("um", "dois", "três"):
                await client.send("chat.send", text=text)
                await client.expect("chat.message", chat_text_is(text))
        page = await get_json(
            instance, f"/v1/dojos/{dojo.dojo_id}/messages?page=2&pageSize=2", dojo.observers[0]
        )
        assert page.status_code == 200, page.text
        body = page.json()
        assert (body["totalItems"], body["page"], body["totalPages"]) == (3, 2, 2)
        assert [item["message"] for item in body["items"]] == ["três"]
        assert body["items"][0]["displayName"] == "Participant 1"
        for person, dojo_id in (
            (outsider, dojo.dojo_id),
            (other_tenant.facilitator, dojo.dojo_id),
            (dojo.facilitator, uuid.uuid4()),
        ):
            refused = await get_json(instance, f"/v1/dojos/{dojo_id}/messages", person)
            assert refused.status_code == 404, refused.text
            assert refused.json()["code"] == "not-found"
