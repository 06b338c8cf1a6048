"""Benchmark: authenticated `GET /v1/me` against a raw asyncpg handler, and the argon2 cost.

Run with `uv run python -m bench.identity.run`. It starts its own PostgreSQL, Valkey and
Temporal on free ports, serves both apps with uvicorn (one process each, run one at a time),
drives them with 32 keep-alive clients, and writes results.json and results.md beside this file.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from passlib.hash import argon2

from api.common.settings import Settings
from bench.loadgen import LoadResult, run_load
from bench.machine import machine_facts
from infra.database import migrate
from infra.stack import free_port, running_stack, wait_for_port

HERE = Path(__file__).parent
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
DURATION = float(os.environ.get("BENCH_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
PASSWORD = "bench-password-2026"


def measure_argon2(settings: Settings, samples: int = 15) -> dict[str, Any]:
    hasher = argon2.using(
        type="ID",
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_cost_kib,
        parallelism=settings.argon2_parallelism,
    )
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        hashed = hasher.hash(PASSWORD)
        timings.append((time.perf_counter() - started) * 1000)
    verify_started = time.perf_counter()
    hasher.verify(PASSWORD, hashed)
    return {
        "time_cost": settings.argon2_time_cost,
        "memory_cost_kib": settings.argon2_memory_cost_kib,
        "parallelism": settings.argon2_parallelism,
        "hash_ms_median": round(statistics.median(timings), 1),
        "hash_ms_min": round(min(timings), 1),
        "hash_ms_max": round(max(timings), 1),
        "verify_ms": round((time.perf_counter() - verify_started) * 1000, 1),
        "goal_ms": [50, 150],
    }


async def seed(settings: Settings) -> tuple[str, str]:
    """50 tenants of 20 users each, so RLS filters a real table; returns one tenant and user."""
    hashed = argon2.using(type="ID", time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    admin = await asyncpg.connect(settings.superuser_dsn("identity"))
    try:
        for number in range(50):
            tenant_id = await admin.fetchval(
                "INSERT INTO tenants (name, slug, domain, status) VALUES ($1, $2, $3, 'ACTIVE')"
                " RETURNING tenant_id",
                f"Bench {number}",
                f"bench-{number}",
                f"bench-{number}.mrbill.local",
            )
            await admin.executemany(
                "INSERT INTO users (tenant_id, email, password_hash, full_name, role)"
                " VALUES ($1, $2, $3, $4, 'MEMBER')",
                [(tenant_id, f"user{i}@bench.example", hashed, f"User {i}") for i in range(20)],
            )
        row = await admin.fetchrow(
            "SELECT u.tenant_id, u.user_id FROM users u JOIN tenants t USING (tenant_id)"
            " WHERE t.slug = 'bench-7' AND u.email = 'user3@bench.example'"
        )
        return str(row["tenant_id"]), str(row["user_id"])
    finally:
        await admin.close()


def identity_command(port: int) -> list[str]:
    """Exactly what production runs: `mrbill serve identity` (uvicorn.run with its options)."""
    return [sys.executable, "-m", "infra.cli", "serve", "identity", "--port", str(port)]


def raw_command(port: int, settings: Settings) -> list[str]:
    """The baseline on the same uvicorn options `mrbill serve` passes (see infra/cli.py).

    Loop and HTTP parser stay on uvicorn's "auto" default for both, which picks uvloop and
    httptools (`server_runtime` checks it). Only the access log differs on paper: identity
    turns uvicorn's access logger down to WARNING itself (it writes its own request line),
    so neither server writes uvicorn access lines.
    """
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.identity.raw_app:app",
        "--host",
        settings.service_host,
        "--port",
        str(port),
        "--log-level",
        settings.log_level.lower(),
        "--proxy-headers",
        "--forwarded-allow-ips",
        "127.0.0.1",
        "--no-access-log",
    ]


def serve(command: list[str], port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    wait_for_port(port, 60, process)
    return process


def server_runtime(process: subprocess.Popen[bytes]) -> dict[str, bool]:
    """Which event loop and HTTP parser the server really loaded (Linux: its memory maps)."""
    maps = Path(f"/proc/{process.pid}/maps").read_text()
    return {"uvloop": "/uvloop/" in maps, "httptools": "/httptools/" in maps}


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()


def main() -> None:
    var_dir = Path(tempfile.mkdtemp(prefix="mrbill-bench-"))
    os.chmod(var_dir, 0o755)  # noqa: S103 - PostgreSQL runs as another user when root
    env = {
        "MRBILL_ENVIRONMENT": "test",
        "MRBILL_VAR_DIR": str(var_dir),
        "MRBILL_PG_PORT": str(free_port()),
        "MRBILL_VALKEY_URL": f"redis://127.0.0.1:{free_port()}/0",
        "MRBILL_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "MRBILL_TEMPORAL_UI_PORT": str(free_port()),
        "MRBILL_LOGIN_RATE_PER_MINUTE": "100000",
    }
    os.environ.update(env)
    settings = Settings()
    argon2_cost = measure_argon2(settings)
    identity_port = free_port()
    raw_port = free_port()
    server_log = var_dir / "bench-servers.log"
    runs: dict[str, list[LoadResult]] = {"raw_asyncpg": [], "identity_me": []}
    runtimes: dict[str, dict[str, bool]] = {}
    with running_stack(settings):
        asyncio.run(migrate(settings, "identity"))
        tenant_id, user_id = asyncio.run(seed(settings))
        identity_env = {"MRBILL_SERVICE_PORTS": json.dumps({"identity": identity_port})}
        identity = serve(identity_command(identity_port), identity_port, identity_env, server_log)
        try:
            login = httpx.post(
                f"http://127.0.0.1:{identity_port}/v1/auth/login",
                json={"tenantSlug": "bench-7", "email": "user3@bench.example", "password": PASSWORD},
                timeout=30,
            )
            login.raise_for_status()
            token = login.json()["accessToken"]
        finally:
            stop(identity)
        raw_env = {
            "BENCH_DSN": settings.database_url("identity"),
            "BENCH_TENANT_ID": tenant_id,
            "BENCH_USER_ID": user_id,
            "BENCH_POOL_SIZE": str(settings.db_pool_max),
        }
        servers = [
            ("raw_asyncpg", raw_command(raw_port, settings), raw_port, raw_env),
            ("identity_me", identity_command(identity_port), identity_port, identity_env),
        ]
        for round_number in range(ROUNDS):
            # ABBA order: whatever drifts during the run (the freshly started stack settling,
            # other load on the machine) weighs on both servers alike.
            for name, command, port, extra in servers if round_number % 2 == 0 else servers[::-1]:
                server = serve(command, port, extra, server_log)
                try:
                    runtimes[name] = server_runtime(server)
                    headers = {"Authorization": f"Bearer {token}"} if name == "identity_me" else {}
                    result = asyncio.run(
                        run_load(
                            "127.0.0.1", port, "/v1/me", headers, concurrency=CONCURRENCY, duration=DURATION
                        )
                    )
                    if result.errors:
                        raise RuntimeError(f"{name}: {result.errors} non-200 answers")
                    runs[name].append(result)
                finally:
                    stop(server)
    if runtimes["raw_asyncpg"] != runtimes["identity_me"]:
        raise RuntimeError(f"the servers ran on different uvicorn runtimes: {runtimes}")

    def merged(results: list[LoadResult]) -> LoadResult:
        return LoadResult(
            sum(r.requests for r in results),
            sum(r.errors for r in results),
            sum(r.seconds for r in results),
            [latency for r in results for latency in r.latencies_ms],
        )

    raw, ours = merged(runs["raw_asyncpg"]), merged(runs["identity_me"])
    report = {
        "benchmark": "identity GET /v1/me (JWT check + one RLS-scoped read) vs raw asyncpg handler",
        "machine": machine_facts(),
        "concurrency": CONCURRENCY,
        "seconds_per_round": DURATION,
        "rounds": ROUNDS,
        "raw_asyncpg": {
            **raw.summary(),
            "rps_by_round": [round(r.rps, 1) for r in runs["raw_asyncpg"]],
            "command": _shown(raw_command(0, settings)),
        },
        "identity_me": {
            **ours.summary(),
            "rps_by_round": [round(r.rps, 1) for r in runs["identity_me"]],
            "command": _shown(identity_command(0)),
        },
        "uvicorn_runtime": runtimes["identity_me"],
        "cost_ratio_by_throughput": round(raw.rps / ours.rps, 2),
        "cost_ratio_by_p50": round(ours.percentile(50) / raw.percentile(50), 2),
        "goal_cost_ratio_at_most": 1.5,
        "argon2": argon2_cost,
    }
    (HERE / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    (HERE / "results.md").write_text(render_markdown(report))
    print(json.dumps(report, indent=2))


def _shown(command: list[str]) -> str:
    """The command line without the interpreter's path and with the port left open."""
    return " ".join(["python", *command[1:]]).replace("--port 0", "--port <free>")


def _row(server: str, summary: dict[str, Any]) -> str:
    by_round = ", ".join(str(rps) for rps in summary["rps_by_round"])
    return f"| {server} | {summary['rps']} | {by_round} | {summary['p50_ms']} | {summary['p99_ms']} |"


def render_markdown(report: dict[str, Any]) -> str:
    raw, ours, a2 = report["raw_asyncpg"], report["identity_me"], report["argon2"]
    machine = report["machine"]
    lines = [
        "# Identity benchmark",
        "",
        f"Run {machine['date']} on {machine['cpu']} ({machine['cores']} cores, {machine['memory_gib']} GiB),"
        f" Python {machine['python']}, commit {machine['git_commit']}.",
        f"{report['concurrency']} concurrent keep-alive clients, {report['rounds']} rounds (ABBA order) of"
        f" {report['seconds_per_round']} s per server, one uvicorn process each"
        f" ({', '.join(name for name, used in report['uvicorn_runtime'].items() if used)} for both):"
        f" identity as `{ours['command']}`, the baseline as `{raw['command']}`.",
        "",
        "| server | req/s | req/s by round | p50 ms | p99 ms |",
        "|---|---|---|---|---|",
        _row("raw asyncpg handler (baseline)", raw),
        _row("identity `GET /v1/me`", ours),
        "",
        f"Cost ratio (baseline req/s / ours): **{report['cost_ratio_by_throughput']}x**"
        f" (p50 ratio {report['cost_ratio_by_p50']}x); goal at most {report['goal_cost_ratio_at_most']}x.",
        "",
        f"argon2id (time_cost={a2['time_cost']}, memory={a2['memory_cost_kib']} KiB,"
        f" parallelism={a2['parallelism']}): median {a2['hash_ms_median']} ms per hash"
        f" (min {a2['hash_ms_min']}, max {a2['hash_ms_max']}); goal 50-150 ms.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
