"""`mrbill dev` for real: the whole platform starts, answers through the edge, stops cleanly,
and keeps its state for the next start. Through the edge, the demo owner finds the seeded POCs,
registers one more, and search finds it by a misspelt name and by tag, with facet counts.

Every port is moved to a free one and var/ to a temporary folder, so this runs beside a
developer's own `make dev` and beside the rest of the test session.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.common.settings import SERVICES
from infra.demo import DEMO_POC_COUNT, DEMO_SUPERADMIN, DEMO_TENANT
from infra.stack import port_open
from tests.e2e.platform import REPO, DevPorts, DevRun, dev_environment

pytestmark = pytest.mark.e2e

INDEXING_TIMEOUT_SECONDS = 60.0
PROCESSES = 15
"""postgres, valkey, temporal, edge, identity, worker-identity, catalog, search, worker-indexing,
content, worker-content, worker-video, realtime, realtime-2, worker-sandbox."""
E2E_TAG = "e2e-dirigivel"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


@pytest.fixture
def dev_env() -> Iterator[tuple[dict[str, str], DevPorts]]:
    with dev_environment() as (env, ports):
        yield env, ports


def _login(edge: str) -> httpx.Response:
    return httpx.post(
        f"{edge}/v1/auth/login",
        json={
            "tenantSlug": DEMO_TENANT.slug,
            "email": DEMO_TENANT.admin_email,
            "password": DEMO_TENANT.password,
        },
        timeout=30,
    )


def _owner_token(edge: str) -> dict[str, str]:
    login = _login(edge)
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['accessToken']}"}


def _total(edge: str, path: str, headers: dict[str, str], **params: str | list[str]) -> int:
    response = httpx.get(f"{edge}{path}", params={"owner": "me", **params}, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    total = response.json()["totalItems"]
    assert isinstance(total, int)
    return total


def _search_until(
    edge: str, headers: dict[str, str], params: dict[str, str | list[str]], poc_id: str
) -> dict[str, object]:
    """Search is eventually consistent: the POC appears once its indexing workflow ran."""
    deadline = time.monotonic() + INDEXING_TIMEOUT_SECONDS
    while True:
        response = httpx.get(f"{edge}/v1/search/pocs", params=params, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        items = body["items"]
        assert isinstance(items, list)
        if any(item["pocId"] == poc_id for item in items):
            return body
        if time.monotonic() > deadline:
            pytest.fail(
                f"search {params} did not find {poc_id} within {INDEXING_TIMEOUT_SECONDS:.0f}s: {body}"
            )
        time.sleep(0.5)


def _check_catalog_and_search_through_the_edge(edge: str) -> str:
    """The seeded POCs are all searchable; a new one is found by a misspelt name and by tag."""
    headers = _owner_token(edge)
    owned = _total(edge, "/v1/pocs", headers)
    assert owned >= DEMO_POC_COUNT * 0.9  # the seed soft-deletes a few, as real users do
    assert _total(edge, "/v1/search/pocs", headers) == owned

    created = httpx.post(
        f"{edge}/v1/pocs",
        json={
            "name": "Zeppelin flight logbook",
            "repositoryUrl": "https://github.com/demo-owner/zeppelin-logbook",
            "description": "Registra voos de dirigíveis e mostra as rotas num mapa.",
            "language": "Python",
            "tags": [E2E_TAG, "api"],
            "frameworks": ["FastAPI"],
        },
        headers=headers,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    poc_id = created.json()["pocId"]
    assert created.headers["location"] == f"/v1/pocs/{poc_id}"

    by_misspelt_name = _search_until(edge, headers, {"q": "zepelin"}, poc_id)
    assert by_misspelt_name["totalItems"] == 1

    by_tag = _search_until(edge, headers, {"tags": [E2E_TAG]}, poc_id)
    assert by_tag["totalItems"] == 1
    facets = by_tag["facets"]
    assert isinstance(facets, dict)
    assert {"value": E2E_TAG, "count": 1} in facets["tags"]
    assert {"value": "api", "count": 1} in facets["tags"]
    assert {"value": "Python", "count": 1} in facets["languages"]

    common = httpx.get(f"{edge}/v1/search/pocs", params={"tags": ["api"]}, headers=headers, timeout=30).json()
    assert common["totalItems"] > 1  # the seed's commonest tag, and ours
    api_facet = next(bucket for bucket in common["facets"]["tags"] if bucket["value"] == "api")
    assert api_facet["count"] == common["totalItems"]
    return str(poc_id)


def _check_platform_through_the_edge(edge: str, ports: DevPorts) -> None:
    assert httpx.get(f"{edge}/health").json()["status"] == "ok"

    jwks = httpx.get(f"{edge}/.well-known/jwks.json")
    assert jwks.status_code == 200
    keys = jwks.json()["keys"]
    assert keys
    assert all(key["kty"] == "OKP" and key["crv"] == "Ed25519" and "d" not in key for key in keys)

    login = _login(edge)
    assert login.status_code == 200, login.text
    token = login.json()["accessToken"]
    me = httpx.get(f"{edge}/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json()["email"] == DEMO_TENANT.admin_email

    document = httpx.get(f"{edge}/docs/identity/openapi.json")
    assert document.status_code == 200
    assert "/v1/auth/login" in document.json()["paths"]
    assert httpx.get(f"{edge}/docs/identity/swagger").status_code == 200

    ui = httpx.get(f"http://127.0.0.1:{ports.temporal_ui}/", follow_redirects=True, timeout=10)
    assert ui.status_code == 200


def _stop_and_check_nothing_is_left(run: DevRun, ports: DevPorts) -> None:
    pids = run.child_pids()
    assert len(pids) == PROCESSES, run.tail()
    assert run.interrupt() == 0, run.tail()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [pid for pid in pids if _alive(pid)] == [], run.tail()
    assert [port for port in ports.all() if port_open(port)] == [], run.tail()
    assert "database system is shut down" in run.output  # PostgreSQL stopped cleanly, not killed
    assert "SIGKILL" not in run.output


@pytest.mark.timeout(1200)
def test_make_dev_brings_up_the_platform_and_stops_cleanly(
    dev_env: tuple[dict[str, str], DevPorts],
) -> None:
    env, ports = dev_env
    edge = f"http://127.0.0.1:{ports.edge}"

    first = DevRun(env)
    try:
        first.wait_for_banner()
        assert f"demo tenant {DEMO_TENANT.slug!r} created" in first.output
        assert DEMO_TENANT.password in first.output
        assert DEMO_SUPERADMIN.email in first.output
        for service in SERVICES:
            assert f"{edge}/docs/{service}/swagger" in first.output
        assert f"seeded with {DEMO_POC_COUNT} POCs" in first.output
        assert "demo POCs are searchable" in first.output
        _check_platform_through_the_edge(edge, ports)
        created_poc = _check_catalog_and_search_through_the_edge(edge)
        status = subprocess.run(  # noqa: S603 - our own binaries, fixed arguments
            [str(Path(sys.executable).parent / "mrbill"), "status"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert status.returncode == 0, status.stdout + status.stderr
        _stop_and_check_nothing_is_left(first, ports)
    finally:
        if first.process.poll() is None:
            first.force_stop()

    var_dir = Path(env["MRBILL_VAR_DIR"])
    for kept in ("postgres/pgdata/PG_VERSION", "temporal/temporal.db", "Procfile", "caddy/Caddyfile"):
        assert (var_dir / kept).exists(), kept

    second = DevRun(env)
    try:
        second.wait_for_banner()
        assert f"demo tenant {DEMO_TENANT.slug!r} already exists" in second.output
        assert "seeded with" not in second.output  # a tenant with POCs gets no second batch
        headers = _owner_token(edge)
        still_there = httpx.get(f"{edge}/v1/pocs/{created_poc}", headers=headers, timeout=30)
        assert still_there.status_code == 200, still_there.text
        assert _total(edge, "/v1/search/pocs", headers) == _total(edge, "/v1/pocs", headers)
        _stop_and_check_nothing_is_left(second, ports)
    finally:
        if second.process.poll() is None:
            second.force_stop()
