"""The generated Caddyfile is valid for the real Caddy binary and routes what it should."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from api.common.settings import Settings
from infra.edge import FAIL_SECONDS, RETRY_SECONDS, caddy_binary, render_caddyfile, write_caddyfile
from infra.services import SERVICE_SPECS

pytestmark = pytest.mark.unit


@pytest.fixture
def edge_settings(tmp_path: Path) -> Settings:
    return Settings(
        var_dir=tmp_path, edge_port=41000, service_ports=PORTS, extra_instance_ports={"realtime": (41115,)}
    )


PORTS = {"identity": 41101, "catalog": 41102, "search": 41103, "content": 41104, "realtime": 41105}


def _adapted(settings: Settings) -> dict[str, Any]:
    """Caddy's own parser turns the Caddyfile into its JSON config, and validates it."""
    path = write_caddyfile(settings)
    result = subprocess.run(  # noqa: S603 - our own binaries, fixed arguments
        [str(caddy_binary()), "adapt", "--config", str(path), "--adapter", "caddyfile", "--validate"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def _routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    servers = config["apps"]["http"]["servers"]
    assert len(servers) == 1
    (server,) = servers.values()
    routes: list[dict[str, Any]] = server["routes"]
    return routes


def test_edge_listens_on_the_configured_port_without_admin_or_https(edge_settings: Settings) -> None:
    config = _adapted(edge_settings)
    (server,) = config["apps"]["http"]["servers"].values()
    assert server["listen"] == ["127.0.0.1:41000"]
    assert server["automatic_https"] == {"disable": True}
    assert config["admin"]["disabled"] is True
    assert config["storage"]["root"] == str(edge_settings.var_dir.resolve() / "caddy" / "data")


def _proxied(routes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        route
        for route in routes
        if any(
            handler.get("handler") == "reverse_proxy"
            for sub in route["handle"][0].get("routes", [])
            for handler in sub["handle"]
        )
        and "path" in route.get("match", [{}])[0]
    ]


def test_every_service_path_is_proxied_to_its_port(edge_settings: Settings) -> None:
    proxied = _proxied(_routes(_adapted(edge_settings)))
    assert [route["match"][0]["path"] for route in proxied] == [
        list(SERVICE_SPECS[name].edge_paths)
        for name in ("identity", "catalog", "search", "content", "realtime")
    ]
    for route, port in zip(proxied, PORTS.values(), strict=True):
        assert f'"dial": "127.0.0.1:{port}"' in json.dumps(route)
    assert '"dial": "127.0.0.1:41115"' in json.dumps(proxied[-1]), "the second realtime instance"
    for required in (
        "/v1/auth/*",
        "/v1/signup",
        "/v1/me",
        "/v1/users/*",
        "/v1/invitations",
        "/v1/invitations/*",
        "/v1/tenants",
        "/.well-known/*",
    ):
        assert required in SERVICE_SPECS["identity"].edge_paths
    for required in (
        "/v1/pocs",
        "/v1/pocs/*",
        "/v1/tags/*",
        "/v1/frameworks/*",
        "/v1/languages",
        "/v1/files/*",
    ):
        assert required in SERVICE_SPECS["catalog"].edge_paths
    assert set(SERVICE_SPECS["search"].edge_paths) == {"/v1/search", "/v1/search/*"}
    # The dojos' REST routes and their WebSockets (/v1/dojos/{id}/code, /v1/dojos/{id}/session).
    assert set(SERVICE_SPECS["realtime"].edge_paths) == {"/v1/dojos", "/v1/dojos/*"}


def _proxies(route: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        handler
        for sub in route["handle"][0]["routes"]
        for handler in sub["handle"]
        if handler["handler"] == "reverse_proxy"
    ]


def test_the_realtime_instances_share_the_load_and_a_dead_one_is_skipped(edge_settings: Settings) -> None:
    routes = _routes(_adapted(edge_settings))
    realtime = [
        route
        for route in routes
        if route.get("match", [{}])[0].get("path") == list(SERVICE_SPECS["realtime"].edge_paths)
        or route.get("match", [{}])[0].get("path_regexp", {}).get("name") == "docs_realtime"
    ]
    assert len(realtime) == 2, "its API and its docs"
    for route in realtime:
        (proxy,) = _proxies(route)
        assert [upstream["dial"] for upstream in proxy["upstreams"]] == ["127.0.0.1:41105", "127.0.0.1:41115"]
        assert proxy["load_balancing"]["selection_policy"] == {"policy": "least_conn"}
        assert proxy["load_balancing"]["try_duration"] == RETRY_SECONDS * 1_000_000_000
        assert proxy["health_checks"]["passive"]["fail_duration"] == FAIL_SECONDS * 1_000_000_000
    identity_paths = list(SERVICE_SPECS["identity"].edge_paths)
    identity = next(r for r in routes if r.get("match", [{}])[0].get("path") == identity_paths)
    (single,) = _proxies(identity)
    assert [upstream["dial"] for upstream in single["upstreams"]] == ["127.0.0.1:41101"]
    assert "load_balancing" not in single
    assert "health_checks" not in single


def test_no_path_is_claimed_by_two_services() -> None:
    claimed = [path for spec in SERVICE_SPECS.values() for path in spec.edge_paths]
    assert len(claimed) == len(set(claimed))


def test_docs_are_rewritten_to_the_service_schema(edge_settings: Settings) -> None:
    routes = _routes(_adapted(edge_settings))
    docs = [r for r in routes if "path_regexp" in r.get("match", [{}])[0]]
    assert [r["match"][0]["path_regexp"]["pattern"] for r in docs] == [
        f"^/docs/{name}(/.*)?$" for name in ("identity", "catalog", "search", "content", "realtime")
    ]
    body = json.dumps(docs[0])
    assert "/schema{http.regexp.docs_identity.1}" in body
    assert "127.0.0.1:41101" in body
    assert "127.0.0.1:41103" in json.dumps(docs[2])


def test_unknown_paths_get_a_problem_json_404(edge_settings: Settings) -> None:
    routes = _routes(_adapted(edge_settings))
    fallback = routes[-1]
    assert "match" not in fallback
    response = fallback["handle"][0]["routes"][0]["handle"]
    assert response[0]["response"]["set"]["Content-Type"] == ["application/problem+json"]
    assert response[1]["status_code"] == 404
    assert json.loads(response[1]["body"])["status"] == 404


def test_health_answers_on_the_edge_itself(edge_settings: Settings) -> None:
    routes = _routes(_adapted(edge_settings))
    health = [r for r in routes if r.get("match") == [{"path": ["/health"]}]]
    assert len(health) == 1
    static = health[0]["handle"][0]["routes"][0]["handle"][1]
    assert static["status_code"] == 200
    assert json.loads(static["body"])["status"] == "ok"


def test_moving_a_port_changes_only_that_upstream(tmp_path: Path) -> None:
    first = render_caddyfile(Settings(var_dir=tmp_path, service_ports={"identity": 41101}))
    second = render_caddyfile(Settings(var_dir=tmp_path, service_ports={"identity": 41199}))
    changed = [(a, b) for a, b in zip(first.splitlines(), second.splitlines(), strict=True) if a != b]
    assert changed
    assert all("41101" in a and "41199" in b and "reverse_proxy" in a for a, b in changed)
