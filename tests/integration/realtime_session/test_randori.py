"""The randori timer: one server-side countdown for the whole room, on every instance.

The dojos rotate every minute with a break after every second turn; the tests move the
randori's clock (shared by every instance of the session) instead of waiting for minutes.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

from tests.integration.realtime_session.support import (
    Frame,
    Parts,
    SessionClient,
    create_dojo,
    running_instance,
    session,
)

pytestmark = pytest.mark.integration


def state(reason: str) -> Any:
    return lambda frame: frame["reason"] == reason


async def settled(*clients: SessionClient, reason: str) -> list[Frame]:
    return [(await client.expect("randori.state", state(reason)))["randori"] for client in clients]


async def no_more_state_changes(client: SessionClient, seconds: float = 0.6) -> None:
    """Nothing but ticks and presence for a while: the timer was advanced once, not twice."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            frame = await client.next(left)
        except TimeoutError:
            return
        assert frame["type"] != "randori.state", frame


async def test_only_the_facilitator_controls_the_timer(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint, participants=2, observers=1, rotation_minutes=1)
    async with running_instance(parts) as instance:
        async with (
            session(instance, dojo, dojo.participants[1]) as participant,
            session(instance, dojo, dojo.observers[0]) as observer,
        ):
            for client in (participant, observer):
                for command in ("randori.start", "randori.pause", "randori.skip", "randori.stop"):
                    await client.send(command)
                    refusal = await client.expect("error")
                    assert refusal["code"] == "facilitator-only", command
                    assert "facilitator" in refusal["message"]
                await client.send("randori.reorder", order=[str(dojo.facilitator.user_id)])
                assert (await client.expect("error"))["code"] == "facilitator-only"
            async with session(instance, dojo, dojo.facilitator) as facilitator:
                await facilitator.send("randori.pause")
                assert (await facilitator.expect("error"))["code"] == "randori-not-running"
                await facilitator.send("randori.start")
                started = (await participant.expect("randori.state", state("started")))["randori"]
                assert started["status"] == "RUNNING"


async def test_turns_rotate_by_themselves_with_breaks_on_both_instances(parts: Parts) -> None:
    dojo = await create_dojo(
        parts.engine,
        parts.mint,
        participants=2,
        observers=1,
        rotation_minutes=1,
        break_every=2,
        break_minutes=2,
    )
    ana, bia = dojo.participants
    async with running_instance(parts) as one, running_instance(parts) as two:
        async with (
            session(one, dojo, ana) as ana_client,
            session(two, dojo, bia) as bia_client,
            session(two, dojo, dojo.observers[0]) as observer,
        ):
            clients = (ana_client, bia_client, observer)
            await ana_client.send("randori.start")
            views = await settled(*clients, reason="started")
            assert all(view == views[0] for view in views[1:])
            start = views[0]
            assert (start["status"], start["phase"], start["driverId"], start["nextDriverId"]) == (
                "RUNNING",
                "TURN",
                str(ana.user_id),
                str(bia.user_id),
            )
            assert start["order"] == [str(ana.user_id), str(bia.user_id)], "participants only, as they joined"
            deadline = datetime.fromisoformat(start["deadline"])
            server_time = datetime.fromisoformat(start["serverTime"])
            assert abs((deadline - server_time).total_seconds() - start["remainingSeconds"]) < 0.01
            assert 59 < start["remainingSeconds"] <= 60

            ticks = [await client.expect("randori.tick") for client in (ana_client, bia_client)]
            assert ticks[0]["deadline"] == ticks[1]["deadline"] == start["deadline"]
            assert all(0 < tick["remainingSeconds"] <= 60 for tick in ticks)

            parts.clock.advance(60)
            rotated = await settled(*clients, reason="rotated")
            assert all(view["driverId"] == str(bia.user_id) for view in rotated)
            assert rotated[0]["version"] == start["version"] + 1
            assert rotated[0]["turnsDone"] == 1
            next_deadline = datetime.fromisoformat(rotated[0]["deadline"])
            assert abs((next_deadline - deadline).total_seconds() - 60) < 0.01, "turns keep their length"
            await no_more_state_changes(bia_client)

            parts.clock.advance(60)
            pause = await settled(*clients, reason="break")
            assert (pause[0]["phase"], pause[0]["driverId"], pause[0]["nextDriverId"]) == (
                "BREAK",
                None,
                str(ana.user_id),
            )
            assert 110 < pause[0]["remainingSeconds"] <= 120

            parts.clock.advance(120)
            back = await settled(*clients, reason="rotated")
            assert (back[0]["phase"], back[0]["driverId"]) == ("TURN", str(ana.user_id))
            await no_more_state_changes(ana_client)


async def test_pause_resume_skip_and_reorder(parts: Parts) -> None:
    dojo = await create_dojo(
        parts.engine, parts.mint, participants=3, observers=1, rotation_minutes=1, break_every=0
    )
    ana, bia, caio = dojo.participants
    async with running_instance(parts) as instance:
        async with (
            session(instance, dojo, ana) as facilitator,
            session(instance, dojo, bia) as bia_client,
            session(instance, dojo, caio),
        ):
            await facilitator.send("randori.start")
            started = (await bia_client.expect("randori.state", state("started")))["randori"]
            assert started["order"] == [str(ana.user_id), str(bia.user_id), str(caio.user_id)]

            parts.clock.advance(20)
            await facilitator.send("randori.pause")
            paused = (await bia_client.expect("randori.state", state("paused")))["randori"]
            assert (paused["status"], paused["deadline"]) == ("PAUSED", None)
            assert 39 < paused["remainingSeconds"] <= 40
            parts.clock.advance(300)
            tick = await bia_client.expect("randori.tick")
            assert (tick["status"], tick["driverId"]) == ("PAUSED", str(ana.user_id))
            assert 39 < tick["remainingSeconds"] <= 40, "a paused timer does not run down"

            await facilitator.send("randori.resume")
            resumed = (await bia_client.expect("randori.state", state("resumed")))["randori"]
            assert resumed["status"] == "RUNNING"
            assert 39 < resumed["remainingSeconds"] <= 40

            await facilitator.send("randori.skip")
            skipped = (await bia_client.expect("randori.state", state("skipped")))["randori"]
            assert skipped["driverId"] == str(bia.user_id)
            assert 59 < skipped["remainingSeconds"] <= 60

            new_order = [str(caio.user_id), str(bia.user_id), str(ana.user_id)]
            await facilitator.send("randori.reorder", order=new_order)
            reordered = (await bia_client.expect("randori.state", state("reordered")))["randori"]
            assert reordered["order"] == new_order
            assert reordered["driverId"] == str(bia.user_id), "the driver keeps the wheel"
            assert reordered["nextDriverId"] == str(ana.user_id)

            for bad in ([str(dojo.observers[0].user_id)], [str(ana.user_id), str(ana.user_id)], []):
                await facilitator.send("randori.reorder", order=bad)
                assert (await facilitator.expect("error"))["code"] in {
                    "randori-invalid-order",
                    "randori-no-participants",
                }

            await facilitator.send("randori.stop")
            stopped = (await bia_client.expect("randori.state", state("stopped")))["randori"]
            assert (stopped["status"], stopped["driverId"], stopped["deadline"]) == ("IDLE", None, None)


async def test_absent_participants_are_passed_over_and_time_runs_with_nobody_connected(parts: Parts) -> None:
    dojo = await create_dojo(parts.engine, parts.mint, participants=3, rotation_minutes=1, break_every=0)
    ana, bia, caio = dojo.participants
    async with running_instance(parts) as instance:
        async with session(instance, dojo, ana) as facilitator:
            async with session(instance, dojo, bia), session(instance, dojo, caio):
                await facilitator.send("randori.start")
                await facilitator.expect("randori.state", state("started"))
            await facilitator.expect("presence", lambda frame: len(frame["members"]) == 1)
            async with session(instance, dojo, caio) as caio_client:
                parts.clock.advance(60)
                rotated = (await caio_client.expect("randori.state", state("rotated")))["randori"]
                assert rotated["driverId"] == str(caio.user_id), "Bia is not here: her turn is passed over"

        parts.clock.advance(60)  # nobody is connected at all: the instance's timer still runs
        await asyncio.sleep(0.5)
        async with session(instance, dojo, bia) as bia_client:
            view = bia_client.welcome["randori"]
            assert view["driverId"] == str(ana.user_id)
            assert view["turnsDone"] == 2
            assert bia_client.welcome["presence"][0]["driving"] is False
