"""Two realtime instances behind the edge of a real `mrbill dev`: clients of one dojo's code room on
different instances converge, and a client that reconnects, to whichever instance, loses no edit.

`make dev` runs the realtime service twice (``realtime`` and ``realtime-2``); every response and
WebSocket handshake of the service says which one answered (``X-Instance``), so the test knows
where each client landed. A last test runs the generated edge alone in front of one live instance
and one dead port: the edge keeps answering, over HTTP and WebSocket.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar, WebSocket, get, websocket
from pycrdt import Doc, Text
from websockets.sync.client import connect

from api.common.settings import Settings
from infra.demo import DEMO_TENANT
from infra.edge import caddy_command, caddy_environment, write_caddyfile
from infra.stack import free_port, port_open
from realtime.app import INSTANCE_HEADER
from tests.e2e.platform import REPO, DevPorts, DevRun, dev_environment
from tests.e2e.test_dojos import WAIT_SECONDS, Person, sign_in, with_token
from tests.integration.realtime_live.support import (
    PythonClient,
    RawClient,
    eventually,
    python_client,
    raw_client,
)

pytestmark = pytest.mark.e2e

INSTANCES = ("realtime", "realtime-2")
MAX_CONNECTIONS = 12
"""Sockets opened at most while looking for one on the other instance (each lands by the balancer)."""


@dataclass(frozen=True)
class Platform:
    edge: str
    ports: DevPorts
    env: dict[str, str]
    banner: str


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    """`mrbill dev` on free ports (both realtime instances included); stopped afterwards."""
    with dev_environment("mrbill-instances-e2e-") as (env, ports):
        run = DevRun(env)
        try:
            run.wait_for_banner()
            yield Platform(ports.edge_url, ports, env, run.output)
            assert run.interrupt() == 0, run.tail()
        finally:
            if run.process.poll() is None:
                run.force_stop()


def instance_of(client: PythonClient | RawClient) -> str:
    """The instance that accepted the client's socket, from the handshake's response."""
    assert client.socket.response is not None
    return client.socket.response.headers[INSTANCE_HEADER]


async def active_dojo(edge: httpx.AsyncClient, owner: Person) -> dict[str, Any]:
    created = await edge.post(
        "/v1/dojos",
        json={"name": "Kata em duas instâncias", "language": "python", "initialCode": "total = 0\n"},
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    started = await edge.post(f"/v1/dojos/{created.json()['dojoId']}/start", headers=owner.headers)
    assert started.status_code == 200, started.text
    dojo: dict[str, Any] = started.json()
    return dojo


@asynccontextmanager
async def on_another_instance(
    url: str, than: str, doc: Doc[Text] | None = None
) -> AsyncIterator[PythonClient]:
    """A client (of `doc`, else of a new document) that the edge gave to an instance other than `than`.

    A try that lands on `than` is a complete (re)connection there too; it is closed, and a bare
    socket is left open in its place, so whatever the balancing policy the next tries go elsewhere.
    """
    async with AsyncExitStack() as ballast:
        for _ in range(MAX_CONNECTIONS):
            async with python_client(url, Doc() if doc is None else doc) as client:
                if instance_of(client) != than:
                    yield client
                    return
            await ballast.enter_async_context(raw_client(url))
        pytest.fail(f"{MAX_CONNECTIONS} sockets through the edge all landed on {than}")


@pytest.mark.timeout(900)
def test_make_dev_runs_both_instances_and_says_so(platform: Platform) -> None:
    assert "realtime instances" in platform.banner
    realtime = platform.ports.services["realtime"]
    (second,) = platform.ports.extra_instances["realtime"]
    assert f"2 behind the edge (realtime :{realtime}, realtime-2 :{second})" in platform.banner

    for name, port in zip(INSTANCES, (realtime, second), strict=True):
        ready = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=WAIT_SECONDS)
        assert ready.status_code == 200, ready.text
        assert ready.headers[INSTANCE_HEADER] == name

    seen = Counter(
        httpx.get(f"{platform.edge}/docs/realtime/openapi.json", timeout=WAIT_SECONDS).headers[
            INSTANCE_HEADER
        ]
        for _ in range(30)
    )
    assert set(seen) == set(INSTANCES), f"the edge spreads requests over both instances: {seen}"

    status = subprocess.run(  # noqa: S603 - our own binaries, fixed arguments
        [str(Path(sys.executable).parent / "mrbill"), "status"],
        cwd=REPO,
        env={**platform.env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in status.stdout.splitlines()]
    rows = {row[0]: row for row in cells if len(row) == 5}
    for name, port in zip(INSTANCES, (realtime, second), strict=True):
        assert rows[name][1:4] == ["service", f"http://127.0.0.1:{port}", "up"], status.stdout


@pytest.mark.timeout(900)
async def test_clients_on_two_instances_converge_and_a_reconnecting_client_loses_no_edit(
    platform: Platform,
) -> None:
    async with httpx.AsyncClient(base_url=platform.edge, timeout=WAIT_SECONDS) as edge:
        owner = await sign_in(edge, DEMO_TENANT.admin_email, DEMO_TENANT.password, DEMO_TENANT.full_name)
        dojo = await active_dojo(edge, owner)
    url = with_token(dojo["codeUrl"], owner)

    async with python_client(url) as ada:
        here = instance_of(ada)
        assert here in INSTANCES
        async with on_another_instance(url, than=here) as bob:
            there = instance_of(bob)
            assert {here, there} == set(INSTANCES)
            assert ada.code == bob.code == "total = 0\n"

            # An edit on one instance reaches the client on the other, both ways.
            ada.append("total += 1\n")
            bob.text.insert(0, "# duas instâncias\n")

            async def both_edits_on_both() -> bool:
                return ada.code == bob.code == "# duas instâncias\ntotal = 0\ntotal += 1\n"

            await eventually(both_edits_on_both, within=WAIT_SECONDS)
            bob.append("total += 2\n")  # typed as the connection drops

        # While Bob is away, Ada goes on typing on her instance, and Bob types offline.
        for step in (3, 4, 5):
            ada.append(f"total += {step}\n")
        bob.append("total += 6\n")
        every_line = ["# duas instâncias", "total = 0", *(f"total += {step}" for step in range(1, 7))]

        async with on_another_instance(url, than=there, doc=bob.doc) as bob_again:
            assert instance_of(bob_again) == here, "Bob came back on Ada's instance, not his own"

            async def nothing_lost() -> bool:
                return ada.code == bob_again.code and sorted(ada.code.splitlines()) == sorted(every_line)

            await eventually(nothing_lost, within=WAIT_SECONDS)

        # A client with nothing at all, wherever it lands, starts from every edit.
        async with python_client(url) as newcomer:
            assert instance_of(newcomer) in INSTANCES
            assert newcomer.code == ada.code


@get("/v1/dojos", operation_id="listDojos", sync_to_thread=False)
def dojos() -> dict[str, str]:
    return {"instance": "alive"}


@websocket("/v1/dojos/echo")
async def echo(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    await socket.send_text(f"echo:{await socket.receive_text()}")
    await socket.close()


@pytest.fixture(scope="module")
def edge_with_a_dead_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The generated edge, realtime's first instance alive (a stand-in app), its second a dead port."""
    alive, dead = free_port(), free_port()
    server = uvicorn.Server(
        uvicorn.Config(Litestar([dojos, echo]), host="127.0.0.1", port=alive, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    settings = Settings(
        var_dir=tmp_path_factory.mktemp("edge"),
        edge_port=free_port(),
        service_ports={"realtime": alive},
        extra_instance_ports={"realtime": (dead,)},
    )
    write_caddyfile(settings)
    caddy = subprocess.Popen(  # noqa: S603 - our own binaries, fixed arguments
        caddy_command(settings),
        env={**caddy_environment(settings), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while not (port_open(settings.edge_port) and port_open(alive)):
            assert caddy.poll() is None, "caddy stopped"
            assert time.monotonic() < deadline, "the edge or the instance did not open its port"
            time.sleep(0.05)
        assert not port_open(dead)
        yield f"http://127.0.0.1:{settings.edge_port}"
    finally:
        caddy.terminate()
        caddy.wait(10)
        server.should_exit = True
        thread.join(10)


def test_a_dead_instance_does_not_break_the_edge(edge_with_a_dead_instance: str) -> None:
    edge = edge_with_a_dead_instance
    for _ in range(20):
        response = httpx.get(f"{edge}/v1/dojos", timeout=WAIT_SECONDS)
        assert (response.status_code, response.json()) == (200, {"instance": "alive"})
    for _ in range(4):
        with connect(edge.replace("http://", "ws://") + "/v1/dojos/echo", open_timeout=WAIT_SECONDS) as ws:
            ws.send("olá")
            assert ws.recv(timeout=WAIT_SECONDS) == "echo:olá"
