"""Open sockets follow the facilitator's changes at once, on every instance.

Two whole realtime instances (`realtime.app.create_app`, each on its own uvicorn, sharing the
session's PostgreSQL and Valkey), with the periodic sweep of open sockets set to minutes: only the
push after the change commits (`LiveRooms.recheck`) can explain what happens within seconds. Every
watch's sweep count is checked to be zero at the end, to prove it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from pycrdt import Doc, Text, TransactionEvent, create_update_message
from websockets.asyncio.client import connect

from api.common.settings import Settings
from realtime.live.protocol import AUTH_MESSAGE
from tests.integration.realtime.dojos_support import Caller, ServedInstance, TokenMint, served_realtime
from tests.integration.realtime_live.support import (
    close_reason,
    eventually,
    python_client,
    raw_client,
    wait_for,
)
from tests.integration.realtime_session.support import Frame, SessionClient

pytestmark = [pytest.mark.integration, pytest.mark.security]

SWEEP_SECONDS = 300.0
"""Far beyond any wait of these tests: the sweep never runs while they do."""
PUSH_WITHIN_SECONDS = 5.0


def instance_settings(settings: Settings, name: str) -> Settings:
    return settings.model_copy(update={"dojo_socket_recheck_seconds": SWEEP_SECONDS, "instance_name": name})


@asynccontextmanager
async def two_instances(
    settings: Settings, mint: TokenMint
) -> AsyncIterator[tuple[ServedInstance, ServedInstance]]:
    async with (
        served_realtime(instance_settings(settings, "realtime-one"), mint) as one,
        served_realtime(instance_settings(settings, "realtime-two"), mint) as two,
    ):
        yield one, two
        for instance in (one, two):
            assert instance.live_rooms.watch.checks == 0, "no sweep ran: the push did it all"
            assert instance.session.channel.watch.checks == 0


@asynccontextmanager
async def session_socket(url: str) -> AsyncIterator[SessionClient]:
    async with connect(url, open_timeout=10) as socket:
        welcome: Frame = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert welcome["type"] == "welcome", welcome
        yield SessionClient(socket, welcome)


async def running_dojo(instance: ServedInstance, mint: TokenMint) -> tuple[Caller, str]:
    """A public dojo of a new tenant, started by its facilitator (returned)."""
    maria = mint.caller()
    created = await instance.http.post(
        "/v1/dojos",
        json={"name": "Kata ao vivo", "language": "python", "isPrivate": False},
        headers=maria.headers,
    )
    assert created.status_code == 201, created.text
    dojo_id: str = created.json()["dojoId"]
    started = await instance.http.post(f"/v1/dojos/{dojo_id}/start", headers=maria.headers)
    assert started.status_code == 200, started.text
    return maria, dojo_id


async def joined(instance: ServedInstance, mint: TokenMint, maria: Caller, dojo_id: str, role: str) -> Caller:
    person = mint.caller(maria.tenant_id)
    response = await instance.http.post(
        f"/v1/dojos/{dojo_id}/join", json={"role": role}, headers=person.headers
    )
    assert response.status_code == 200, response.text
    return person


def an_update(text: str) -> bytes:
    """A SYNC update of a document of its own inserting `text`."""
    doc: Doc[Text] = Doc()
    updates: list[bytes] = []

    def collect(event: TransactionEvent) -> None:
        updates.append(create_update_message(event.update))

    doc.observe(collect)
    doc.get("code", type=Text).insert(0, text)
    return updates[0]


def role_in(frame: Frame, person: Caller) -> Any:
    return next(
        (member["role"] for member in frame["members"] if member["userId"] == str(person.user_id)), None
    )


async def test_a_removed_person_is_disconnected_at_once_on_every_instance(
    settings: Settings, mint: TokenMint
) -> None:
    async with two_instances(settings, mint) as (one, two):
        maria, dojo_id = await running_dojo(one, mint)
        joao = await joined(one, mint, maria, dojo_id, "PARTICIPANT")
        async with (
            raw_client(one.code_url(dojo_id, joao)) as code_here,
            raw_client(two.code_url(dojo_id, joao)) as code_there,
            session_socket(one.session_url(dojo_id, joao)) as session_here,
            session_socket(two.session_url(dojo_id, joao)) as session_there,
            python_client(two.code_url(dojo_id, maria)) as maria_code,
            python_client(one.code_url(dojo_id, maria)) as maria_elsewhere,
        ):
            asked_at = time.monotonic()
            removed = await one.http.delete(
                f"/v1/dojos/{dojo_id}/participants/{joao.user_id}", headers=maria.headers
            )
            assert removed.status_code == 200, removed.text

            for code_socket in (code_here, code_there):
                code, reason = await code_socket.wait_closed(within=PUSH_WITHIN_SECONDS)
                assert (code, close_reason(reason)["code"]) == (4403, "not-a-participant")
            for session in (session_here, session_there):
                code, parsed, frames = await session.closed(within=PUSH_WITHIN_SECONDS)
                assert (code, parsed["reason"]) == (4403, "not-a-participant")
                assert frames[-1]["type"] == "refused"
                assert frames[-1]["closeCode"] == 4403
            assert time.monotonic() - asked_at < PUSH_WITHIN_SECONDS

            maria_code.append("# the dojo goes on\n")

            async def the_others_go_on() -> bool:
                return "# the dojo goes on" in maria_elsewhere.code

            await eventually(the_others_go_on)
            refused_again = await one.http.post(f"/v1/dojos/{dojo_id}/join", json={}, headers=joao.headers)
            assert refused_again.status_code == 403


async def test_roles_changed_by_the_facilitator_apply_to_open_sockets_at_once(
    settings: Settings, mint: TokenMint
) -> None:
    async with two_instances(settings, mint) as (one, two):
        maria, dojo_id = await running_dojo(one, mint)
        joao = await joined(one, mint, maria, dojo_id, "PARTICIPANT")
        olga = await joined(one, mint, maria, dojo_id, "OBSERVER")
        async with (
            python_client(one.code_url(dojo_id, maria)) as maria_code,
            raw_client(two.code_url(dojo_id, joao)) as joao_code,
            python_client(two.code_url(dojo_id, olga)) as olga_code,
            session_socket(one.session_url(dojo_id, maria)) as maria_session,
            session_socket(two.session_url(dojo_id, joao)) as joao_session,
        ):
            checked = two.live_rooms.watch.dojo_checks
            demoted = await one.http.patch(
                f"/v1/dojos/{dojo_id}/participants/{joao.user_id}",
                json={"role": "OBSERVER"},
                headers=maria.headers,
            )
            assert demoted.status_code == 200, demoted.text
            # The other instance heard of it through Valkey and checked its sockets of the dojo.
            await wait_for(lambda: two.live_rooms.watch.dojo_checks > checked, within=PUSH_WITHIN_SECONDS)
            await joao_code.send(an_update("demoted_edit = True\n"))
            await wait_for(
                lambda: any(message[0] == AUTH_MESSAGE for message in joao_code.messages),
                within=PUSH_WITHIN_SECONDS,
            )
            presence = await maria_session.expect(
                "presence", lambda frame: role_in(frame, joao) == "OBSERVER", within=PUSH_WITHIN_SECONDS
            )
            assert role_in(presence, maria) == "PARTICIPANT"
            await joao_session.send("run.request")
            refusal = await joao_session.expect("error", within=PUSH_WITHIN_SECONDS)
            assert refusal["code"] == "observer-read-only"

            checked = two.live_rooms.watch.dojo_checks
            promoted = await one.http.patch(
                f"/v1/dojos/{dojo_id}/participants/{olga.user_id}",
                json={"role": "PARTICIPANT"},
                headers=maria.headers,
            )
            assert promoted.status_code == 200, promoted.text
            await wait_for(lambda: two.live_rooms.watch.dojo_checks > checked, within=PUSH_WITHIN_SECONDS)
            olga_code.append("# promoted, olga edits\n")

            async def olgas_edit_arrived() -> bool:
                return "# promoted, olga edits" in maria_code.code

            await eventually(olgas_edit_arrived, within=PUSH_WITHIN_SECONDS)
            assert "demoted_edit" not in maria_code.code
            assert joao_code.closed is None, "an observer stays connected"
