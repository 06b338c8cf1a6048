"""The real Caddy edge in front of a real upstream: routes, docs rewrite, WebSockets, 404s.

The upstream is a small Litestar app standing where identity stands, so the edge is tested
on its own, whatever state the services are in.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from litestar import Litestar, Request, WebSocket, get, websocket
from websockets.sync.client import connect

from api.common.settings import SERVICES, Settings
from infra.edge import caddy_command, caddy_environment, write_caddyfile
from infra.stack import free_port, port_open

pytestmark = pytest.mark.e2e


@get("/v1/me", operation_id="getMe")
async def me(request: Request[object, object, object]) -> dict[str, str]:
    return {
        "path": request.url.path,
        "forwardedFor": request.headers.get("x-forwarded-for", ""),
        "host": request.headers.get("host", ""),
    }


@get("/.well-known/jwks.json", operation_id="getJwks")
async def jwks() -> dict[str, list[str]]:
    return {"keys": []}


@websocket("/v1/me/echo")
async def echo(socket: WebSocket[object, object, object]) -> None:
    await socket.accept()
    text = await socket.receive_text()
    await socket.send_text(f"echo:{text}")
    await socket.close()


@pytest.fixture(scope="module")
def upstream_port() -> Iterator[int]:
    port = free_port()
    app = Litestar([me, jwks, echo])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not port_open(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def edge(upstream_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    var_dir: Path = tmp_path_factory.mktemp("edge")
    settings = Settings(var_dir=var_dir, edge_port=free_port(), service_ports={"identity": upstream_port})
    write_caddyfile(settings)
    caddy = subprocess.Popen(  # noqa: S603 - our own binaries, fixed arguments
        caddy_command(settings),
        env={**caddy_environment(settings), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while not port_open(settings.edge_port):
            assert caddy.poll() is None, caddy.stdout.read() if caddy.stdout else ""
            assert time.monotonic() < deadline, "caddy did not open the edge port"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{settings.edge_port}"
    finally:
        caddy.terminate()
        caddy.wait(10)
    assert not port_open(settings.edge_port)


def test_edge_health_answers_without_any_service(edge: str) -> None:
    response = httpx.get(f"{edge}/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert "identity" in response.json()["services"]


def test_identity_paths_reach_identity_with_forwarding_headers(edge: str) -> None:
    response = httpx.get(f"{edge}/v1/me")
    assert response.status_code == 200
    assert response.json()["path"] == "/v1/me"
    assert response.json()["forwardedFor"] == "127.0.0.1"
    assert httpx.get(f"{edge}/.well-known/jwks.json").json() == {"keys": []}


def test_openapi_documents_are_served_under_docs(edge: str) -> None:
    document = httpx.get(f"{edge}/docs/identity/openapi.json")
    assert document.status_code == 200
    assert {"/v1/me", "/.well-known/jwks.json"} <= set(document.json()["paths"])
    swagger = httpx.get(f"{edge}/docs/identity/swagger")
    assert swagger.status_code == 200
    assert "SwaggerUIBundle" in swagger.text
    assert json.loads(httpx.get(f"{edge}/docs").text) == {
        service: f"/docs/{service}/swagger" for service in SERVICES
    }


def test_websockets_pass_through_the_edge(edge: str) -> None:
    with connect(edge.replace("http://", "ws://") + "/v1/me/echo", open_timeout=10) as ws:
        ws.send("olá")
        assert ws.recv(timeout=10) == "echo:olá"


@pytest.mark.parametrize("path", ["/nothing", "/v1/meh", "/docs/identityx", "/v1/pocsx", "/v1/searching"])
def test_unclaimed_paths_get_problem_json_404(edge: str, path: str) -> None:
    response = httpx.get(f"{edge}{path}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404
