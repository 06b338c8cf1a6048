"""A coding dojo through the edge of a real `mrbill dev`: the demo owner and two colleagues of the demo
tenant (one PARTICIPANT, one OBSERVER) edit the same code live, with cursors, chat, follow the
randori timer, run the code in the sandbox and all see its output; a Node Yjs client (yjs +
y-websocket, as the web app uses them) converges with the Python (pycrdt) ones; ending the dojo
closes every socket and leaves a replay with the final code and the chat.

Everything runs as `make dev` runs it (identity, the realtime service with its code rooms and
session channel, the ``sandbox`` worker, PostgreSQL, Valkey, Temporal, Caddy), on free ports and in
a temporary var/ folder. The Yjs clients and the Node client's packages are those of the live room
tests (`tests.integration.realtime_live`), the session client that of the session channel tests.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from infra.demo import DEMO_TENANT
from realtime.live import MEMBER_FIELD
from tests.e2e.platform import DevRun, dev_environment
from tests.integration.realtime_live import conftest as live_rooms_conftest
from tests.integration.realtime_live.support import (
    NodeClient,
    RawClient,
    awareness_message,
    close_reason,
    eventually,
    node_client,
    python_client,
    raw_client,
    wait_for,
)
from tests.integration.realtime_session.support import Frame, SessionClient, chat_text_is

pytestmark = pytest.mark.e2e

node_client_dir = live_rooms_conftest.node_client_dir
"""The Node client (client.mjs) beside yjs, y-websocket and ws from the committed lock file."""

WAIT_SECONDS = 30.0
"""For anything that crosses the edge once or twice; generous, as the machine is shared."""
RUN_SECONDS = 120.0
"""For "Run": a workflow on the ``sandbox`` queue, a bubblewrap start and the program."""
HOST_CANNOT_SANDBOX = frozenset({"bwrap_missing", "sandbox_probe_failed", "sandbox_unsupported_architecture"})
"""The errorCodes of SANDBOX_UNAVAILABLE that the sandbox engine gives when this host cannot sandbox
anything (then that clear status is expected instead of the output); a missing worker or a lost run
is a failure of the platform instead."""
PASSWORD = "dojo-colega-2026-senha"

INITIAL_CODE = 'def saudacao(nome):\n    return f"Olá, {nome}!"\n'
HEADER = "# Kata da saudação: Demo, Bruno e Carla\n"
"""Typed first by the participant's web client (Node)."""
DOCSTRING = '    """Cumprimenta em português."""\n'
"""Typed by the participant in Python, inside the function, at the same time."""
CALL = 'print(saudacao("Conceição"))\n'
"""Typed by the owner in Python, at the end, at the same time."""
FAREWELL = 'print("Até a próxima, pessoal!")\n'
"""Typed by the participant's web client once the observer's edit was refused."""
OBSERVER_LINE = "# a observadora passou aqui\n"
CONVERGED = HEADER + "def saudacao(nome):\n" + DOCSTRING + '    return f"Olá, {nome}!"\n' + CALL
FINAL_CODE = CONVERGED + FAREWELL
EXPECTED_STDOUT = "Olá, Conceição!\nAté a próxima, pessoal!\n"
CHAT = "Bom dia, pessoal! Quem pilota primeiro? 🥋"


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def platform() -> Iterator[str]:
    """`mrbill dev` on free ports; yields the edge's URL and stops everything afterwards."""
    with dev_environment("mrbill-dojos-e2e-") as (env, ports):
        run = DevRun(env)
        try:
            run.wait_for_banner()
            yield ports.edge_url
            assert run.interrupt() == 0, run.tail()
        finally:
            if run.process.poll() is None:
                run.force_stop()


async def sign_in(edge: httpx.AsyncClient, email: str, password: str, name: str) -> Person:
    response = await edge.post(
        "/v1/auth/login", json={"tenantSlug": DEMO_TENANT.slug, "email": email, "password": password}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return Person(user_id=body["userId"], name=name, token=body["accessToken"])


async def new_colleague(edge: httpx.AsyncClient, owner: Person, email: str, full_name: str) -> Person:
    """A MEMBER of the demo tenant, created by its owner with a password (identity's createUser)."""
    created = await edge.post(
        "/v1/users",
        json={
            "email": email,
            "fullName": full_name,
            "role": "MEMBER",
            "locale": "pt_BR",
            "password": PASSWORD,
        },
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "ACTIVE", created.text
    return await sign_in(edge, email, PASSWORD, full_name)


def with_token(url: str, person: Person) -> str:
    return f"{url}?access_token={person.token}"


@asynccontextmanager
async def session_of(dojo: dict[str, Any], person: Person) -> AsyncIterator[SessionClient]:
    """The dojo's session channel at its ``sessionUrl`` (through the edge), the welcome read."""
    async with connect(with_token(dojo["sessionUrl"], person), open_timeout=WAIT_SECONDS) as socket:
        welcome: Frame = json.loads(await asyncio.wait_for(socket.recv(), WAIT_SECONDS))
        assert welcome["type"] == "welcome", welcome
        yield SessionClient(socket, welcome)


async def node_code(client: NodeClient, wanted: str) -> None:
    await client.wait_event(
        lambda event: event["event"] in ("synced", "text") and event["text"] == wanted, within=WAIT_SECONDS
    )


def node_presence(client: NodeClient) -> dict[str, dict[str, Any]]:
    """The latest presence a Node client holds, by the userId the server stamped on it."""
    states: list[tuple[int, Any]] = next(
        (event["states"] for event in reversed(client.events) if event["event"] == "awareness"), []
    )
    return {
        state[MEMBER_FIELD]["userId"]: state
        for _client_id, state in states
        if isinstance(state, dict) and isinstance(state.get(MEMBER_FIELD), dict)
    }


def raw_presence(client: RawClient) -> dict[str, dict[str, Any]]:
    """The presence a raw socket has received, latest state per userId."""
    latest: dict[int, dict[str, object] | None] = {}
    for entry in client.awareness():
        latest[entry.client_id] = entry.state
    people: dict[str, dict[str, Any]] = {}
    for state in latest.values():
        member = state.get(MEMBER_FIELD) if state else None
        if isinstance(state, dict) and isinstance(member, dict):
            people[str(member["userId"])] = state
    return people


def shows(presence: dict[str, dict[str, Any]], person: Person, role: str, **fields: Any) -> bool:
    state = presence.get(person.user_id)
    return (
        state is not None
        and state[MEMBER_FIELD]["role"] == role
        and all(state.get(name) == value for name, value in fields.items())
    )


async def presence_of_all(client: SessionClient, people: list[Person]) -> list[dict[str, Any]]:
    """The members once everyone in `people` is connected (the welcome, else the next presence)."""
    wanted = {person.user_id for person in people}
    members: list[dict[str, Any]] = client.welcome["presence"]
    if {member["userId"] for member in members} >= wanted:
        return members
    frame = await client.expect(
        "presence",
        lambda frame: {member["userId"] for member in frame["members"]} >= wanted,
        within=WAIT_SECONDS,
    )
    found: list[dict[str, Any]] = frame["members"]
    return found


def same_instant(first: str, second: str) -> bool:
    return datetime.fromisoformat(first) == datetime.fromisoformat(second)


@pytest.mark.timeout(900)
async def test_two_colleagues_and_an_observer_code_chat_follow_the_timer_and_run_together(
    platform: str, node_client_dir: Path
) -> None:
    async with httpx.AsyncClient(base_url=platform, timeout=WAIT_SECONDS) as edge:
        owner = await sign_in(edge, DEMO_TENANT.admin_email, DEMO_TENANT.password, DEMO_TENANT.full_name)
        bruno = await new_colleague(edge, owner, "bruno.dojo@mrbill.local", "Bruno Araújo")
        carla = await new_colleague(edge, owner, "carla.dojo@mrbill.local", "Carla Nogueira")

        # -- the dojo: created private, joined by code, started -------------------------------------
        created = await edge.post(
            "/v1/dojos",
            json={
                "name": "Randori da saudação",
                "language": "python",
                "initialCode": INITIAL_CODE,
                "rotationMinutes": 1,
                "displayName": owner.name,
            },
            headers=owner.headers,
        )
        assert created.status_code == 201, created.text
        dojo: dict[str, Any] = created.json()
        dojo_id = dojo["dojoId"]
        assert (dojo["status"], dojo["rotationMinutes"], dojo["isPrivate"]) == ("SCHEDULED", 1, True)
        assert dojo["wsUrl"] == f"{platform.replace('http://', 'ws://')}/v1/dojos/{dojo_id}"
        assert dojo["codeUrl"] == f"{dojo['wsUrl']}/{dojo['codeRoom']}"

        for person, role in ((bruno, "PARTICIPANT"), (carla, "OBSERVER")):
            hidden = await edge.get(f"/v1/dojos/{dojo_id}", headers=person.headers)
            assert hidden.status_code == 404, "a private dojo is found only with its code"
            joined = await edge.post(
                "/v1/dojos/join",
                json={"joinCode": dojo["joinCode"].lower(), "role": role, "displayName": person.name},
                headers=person.headers,
            )
            assert joined.status_code == 200, joined.text
            assert joined.json()["viewer"] == {"role": role, "facilitator": False}
        started = await edge.post(f"/v1/dojos/{dojo_id}/start", headers=owner.headers)
        assert started.status_code == 200, started.text
        dojo = started.json()
        assert dojo["status"] == "ACTIVE"
        assert {(item["userId"], item["role"], item["facilitator"]) for item in dojo["participants"]} == {
            (owner.user_id, "PARTICIPANT", True),
            (bruno.user_id, "PARTICIPANT", False),
            (carla.user_id, "OBSERVER", False),
        }

        # -- the code room: a web client first, then Python clients; all converge --------------------
        async with node_client(node_client_dir, dojo["wsUrl"], bruno.token) as bruno_web:
            synced = await bruno_web.wait_event(lambda event: event["event"] == "synced", within=WAIT_SECONDS)
            assert synced["text"] == INITIAL_CODE, "a web client opening the room first syncs"
            async with (
                python_client(with_token(dojo["codeUrl"], owner)) as owner_py,
                python_client(with_token(dojo["codeUrl"], bruno)) as bruno_py,
                raw_client(with_token(dojo["codeUrl"], owner)) as owner_eyes,
                node_client(node_client_dir, dojo["wsUrl"], carla.token) as carla_web,
            ):
                await carla_web.wait_event(lambda event: event["event"] == "synced", within=WAIT_SECONDS)
                assert owner_py.code == bruno_py.code == INITIAL_CODE

                # Three edits at once, at three places: the start, inside the function, the end.
                await bruno_web.insert(0, HEADER)
                bruno_py.text.insert(bruno_py.code.index("    return"), DOCSTRING)
                owner_py.append(CALL)

                async def pythons_converged() -> bool:
                    return owner_py.code == bruno_py.code == CONVERGED

                await eventually(pythons_converged, within=WAIT_SECONDS)
                await node_code(bruno_web, CONVERGED)
                await node_code(carla_web, CONVERGED)

                # Presence: everyone's cursor and name reach the others, stamped with who they are.
                owner_cursor = {"anchor": 4, "head": 12}
                bruno_cursor = {"anchor": 60, "head": 60}
                await owner_py.socket.send_bytes(
                    awareness_message(
                        owner_py.doc.client_id,
                        1,
                        {"user": {"name": owner.name, "color": "#1d3557"}, "cursor": owner_cursor},
                    )
                )
                await bruno_web.command(
                    awareness={"user": {"name": bruno.name, "color": "#e63946"}, "cursor": bruno_cursor}
                )
                await carla_web.command(awareness={"user": {"name": carla.name, "color": "#2a9d8f"}})
                owner_user = {"name": owner.name, "color": "#1d3557"}
                bruno_user = {"name": bruno.name, "color": "#e63946"}
                await wait_for(
                    lambda: (
                        shows(
                            raw_presence(owner_eyes),
                            bruno,
                            "PARTICIPANT",
                            cursor=bruno_cursor,
                            user=bruno_user,
                        )
                        and shows(raw_presence(owner_eyes), carla, "OBSERVER")
                    ),
                    within=WAIT_SECONDS,
                )
                for web, other in ((carla_web, bruno), (bruno_web, carla)):

                    def sees_owner_and_other(
                        event: dict[str, Any], web: NodeClient = web, other: Person = other
                    ) -> bool:
                        presence = node_presence(web)
                        return (
                            event["event"] == "awareness"
                            and shows(presence, owner, "PARTICIPANT", cursor=owner_cursor, user=owner_user)
                            and other.user_id in presence
                        )

                    await web.wait_event(sees_owner_and_other, within=WAIT_SECONDS)
                stamped = node_presence(carla_web)[owner.user_id][MEMBER_FIELD]
                assert (stamped["facilitator"], stamped["role"]) == (True, "PARTICIPANT")
                assert node_presence(bruno_web)[carla.user_id][MEMBER_FIELD]["role"] == "OBSERVER"

                # The observer types: refused and told so, while it keeps seeing the others' edits.
                await carla_web.insert(0, OBSERVER_LINE)
                denied = await carla_web.wait_event(
                    lambda event: event["event"] == "permission-denied", within=WAIT_SECONDS
                )
                assert denied["message"]
                await bruno_web.insert(-1, FAREWELL)
                await carla_web.wait_event(
                    lambda event: event["event"] == "text" and event["text"].endswith(FAREWELL),
                    within=WAIT_SECONDS,
                )

                async def everyone_has_the_final_code() -> bool:
                    return owner_py.code == bruno_py.code == FINAL_CODE

                await eventually(everyone_has_the_final_code, within=WAIT_SECONDS)
                await node_code(bruno_web, FINAL_CODE)
                assert OBSERVER_LINE not in owner_py.code

                # -- the session channel: presence, chat, the randori timer, "Run" ----------------------
                async with (
                    session_of(dojo, owner) as owner_session,
                    session_of(dojo, bruno) as bruno_session,
                    session_of(dojo, carla) as carla_session,
                ):
                    sessions = (owner_session, bruno_session, carla_session)
                    assert carla_session.welcome["you"]["readOnly"] is True
                    assert owner_session.welcome["you"]["facilitator"] is True
                    for client in sessions:
                        members = await presence_of_all(client, [owner, bruno, carla])
                        assert {(member["userId"], member["role"]) for member in members} == {
                            (owner.user_id, "PARTICIPANT"),
                            (bruno.user_id, "PARTICIPANT"),
                            (carla.user_id, "OBSERVER"),
                        }

                    await bruno_session.send("chat.send", text=CHAT)
                    for client in sessions:
                        posted = (
                            await client.expect("chat.message", chat_text_is(CHAT), within=WAIT_SECONDS)
                        )["message"]
                        assert (posted["userId"], posted["displayName"]) == (bruno.user_id, bruno.name)
                    history = await edge.get(f"/v1/dojos/{dojo_id}/messages", headers=carla.headers)
                    assert history.status_code == 200, history.text
                    assert [item["message"] for item in history.json()["items"]] == [CHAT]
                    async with session_of(dojo, carla) as carla_again:
                        assert [line["message"] for line in carla_again.welcome["chat"]] == [CHAT], (
                            "the history comes with the welcome"
                        )

                    await owner_session.send("randori.start")
                    timers = [
                        (
                            await client.expect(
                                "randori.state",
                                lambda frame: frame["reason"] == "started",
                                within=WAIT_SECONDS,
                            )
                        )["randori"]
                        for client in sessions
                    ]
                    first = timers[0]
                    assert first["status"] == "RUNNING"
                    assert first["turnSeconds"] == 60
                    assert first["driverId"] == owner.user_id, "drivers take turns in the order they joined"
                    assert first["order"] == [owner.user_id, bruno.user_id]
                    assert 0 < first["remainingSeconds"] <= 60
                    for timer in timers[1:]:
                        assert same_instant(timer["deadline"], first["deadline"])
                        assert timer["version"] == first["version"]
                    tick = await carla_session.expect("randori.tick", within=WAIT_SECONDS)
                    assert same_instant(tick["deadline"], first["deadline"]), "every tick counts down to it"

                    run_id = str(uuid.uuid4())
                    await bruno_session.send("run.request", runId=run_id)
                    for client in sessions:
                        run = (await client.expect("run.started", within=WAIT_SECONDS))["run"]
                        assert (run["runId"], run["userId"], run["language"]) == (
                            run_id,
                            bruno.user_id,
                            "python",
                        )
                    results = [
                        (
                            await client.expect(
                                "run.result",
                                lambda frame: frame["result"]["runId"] == run_id,
                                within=RUN_SECONDS,
                            )
                        )["result"]
                        for client in sessions
                    ]
                    assert results[0] == results[1] == results[2], "everyone sees the same result"
                    result = results[0]
                    if result["status"] == "SANDBOX_UNAVAILABLE":
                        assert result["errorCode"] in HOST_CANNOT_SANDBOX, result
                        assert result["stdout"] == "", result
                    else:
                        assert (result["status"], result["stdout"], result["stderr"], result["exitCode"]) == (
                            "OK",
                            EXPECTED_STDOUT,
                            "",
                            0,
                        ), result

                    # -- the end: every socket closed with the documented code ----------------------------
                    ended = await edge.post(f"/v1/dojos/{dojo_id}/end", headers=owner.headers)
                    assert ended.status_code == 200, ended.text
                    assert ended.json()["status"] == "COMPLETED"
                    for client in sessions:
                        close_code, reason, frames = await client.closed(within=WAIT_SECONDS)
                        assert (close_code, reason) == (4409, {"reason": "dojo-ended"}), frames
                        assert any(
                            frame["type"] == "session.ended" and frame["closeCode"] == 4409
                            for frame in frames
                        ), "told before the close"

                live_code, live_reason = await owner_eyes.wait_closed(within=WAIT_SECONDS)
                assert (live_code, close_reason(live_reason)["code"]) == (4409, "dojo-ended")
                for web in (bruno_web, carla_web):
                    closed = await web.wait_event(
                        lambda event: event["event"] == "closed", within=WAIT_SECONDS
                    )
                    assert (closed["code"], json.loads(closed["reason"])["code"]) == (4409, "dojo-ended")

        # -- the replay: the final snapshot with the converged code, and the chat ----------------------
        replay = await edge.get(f"/v1/dojos/{dojo_id}/replay", headers=bruno.headers)
        assert replay.status_code == 200, replay.text
        history_of_dojo = replay.json()
        assert (history_of_dojo["status"], history_of_dojo["initialCode"]) == ("COMPLETED", INITIAL_CODE)
        assert history_of_dojo["finalCode"] == FINAL_CODE
        finals = [
            event
            for event in history_of_dojo["events"]
            if event["type"] == "snapshot" and event["kind"] == "FINAL"
        ]
        assert [event["code"] for event in finals] == [FINAL_CODE]
        chat = [event for event in history_of_dojo["events"] if event["type"] == "chat"]
        assert [(event["userId"], event["displayName"], event["message"]) for event in chat] == [
            (bruno.user_id, bruno.name, CHAT)
        ]
        moments = [event["at"] for event in history_of_dojo["events"]]
        assert moments == sorted(moments, key=datetime.fromisoformat), "in time order"
