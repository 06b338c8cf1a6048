"""Benchmark: a dojo's "Run" to result through the session channel, against a bare subprocess.

Run with `uv run python -m bench.realtime.run_bench` (as root: the sandbox switches to its
dedicated uids). It starts its own PostgreSQL, Valkey and Temporal on free ports, migrates the
dojo database, and serves two session channel instances (the production `build_session_channel`
behind the kernel's app factory, on uvicorn) in this process, with a sandbox worker for the
``sandbox`` queue (`temporal.worker.build_worker`, the real activity and engine) beside them.
Only the other halves of the realtime service are stood in for: the dojo records admit the two
benchmark people as participants, and the live room's code is the program below.

Measured round by round, interleaved so background load hits every path alike:

- **bare**: ``python3 -c`` as an asyncio subprocess with the sandbox's environment (the baseline
  of `bench.sandbox.run`);
- **workflow**: the SandboxRun workflow started and awaited directly (what the channel adds on top
  of this is the channel's own cost);
- **channel, sender**: a participant's ``run.request`` on instance one until ``run.result`` is back
  on that socket (the whole "Run" a person sees);
- **channel, peer on the other instance**: the same run's ``run.result`` reaching a participant
  connected to instance two (relayed through Valkey pub/sub).

Results go to run_results.md beside this file, with the machine they ran on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from activities.sandbox import SandboxActivities
from api.common.app import create_service_app
from api.common.auth import StaticKeySet, TokenClaims, ValkeyDenylist
from api.common.logging import configure_logging
from api.common.settings import Settings
from api.common.storage import local_blob_storage
from api.common.tenancy import tenant_transaction
from api.common.valkey import create_valkey
from bench.machine import machine_facts
from bench.sandbox.run import EXPECTED, PYTHON_HELLO, bare, summary, timed
from infra.database import migrate
from infra.stack import free_port, running_stack
from realtime.dojos.piccolo_conf import build_engine
from realtime.ports import Admission
from realtime.sandbox import SandboxEngine
from realtime.sandbox.languages import resolve_language
from realtime.session import SessionConfig, build_session_channel
from temporal.client import connect_client
from temporal.worker import build_worker
from tests.unit.common.token_factory import new_signing_key, sign_access_token
from workflows.sandbox_run import SandboxRun
from workflows.sandbox_run_types import SandboxRunRequest, SandboxRunResult, sandbox_run_workflow_id

HERE = Path(__file__).parent
RESULTS = HERE / "run_results.md"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "60"))
WARMUP = 5
RESULT_TIMEOUT_SECONDS = 30.0


async def insert_dojo(engine: Any, tenant: UUID, dojo: UUID, people: list[UUID]) -> None:
    """The dojo's rows, so the channel's own writes (snapshots) land as in production."""
    async with tenant_transaction(engine, tenant) as transaction:
        await transaction.connection.execute(
            """
            INSERT INTO dojos (dojo_id, creator_id, tenant_id, name, language, initial_code, join_code,
                               status, started_at)
            VALUES ($1, $2, $3, 'Bench', 'python', $4, $5, 'ACTIVE', now())
            """,
            dojo,
            people[0],
            tenant,
            PYTHON_HELLO,
            uuid.uuid4().hex[:12].upper(),
        )
        for person in people:
            await transaction.connection.execute(
                "INSERT INTO dojo_participants (tenant_id, dojo_id, user_id, display_name)"
                " VALUES ($1, $2, $3, 'bench')",
                tenant,
                dojo,
                person,
            )


class StandInRoomAccess:
    """Stands in for the dojo records: every holder of a benchmark token is a participant of the dojo."""

    async def admit(self, claims: TokenClaims, dojo_id: UUID) -> Admission:
        return Admission(
            tenant_id=claims.tenant_id,
            dojo_id=dojo_id,
            user_id=claims.user_id,
            display_name="bench",
            role="PARTICIPANT",
            facilitator=False,
            status="ACTIVE",
            language="python",
            initial_code=PYTHON_HELLO,
        )

    async def touch(self, admission: Admission) -> None:
        return None


class StandInLiveRooms:
    """Stands in for the live Yjs rooms: the code is the hello world."""

    async def code_of(self, dojo_id: UUID) -> str | None:
        return PYTHON_HELLO

    async def close_room(self, dojo_id: UUID, code: int, reason: str) -> None:
        return None


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[int]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning")
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def next_result(socket: ClientConnection, run_id: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await socket.recv())
        if frame["type"] == "run.result" and frame["result"]["runId"] == run_id:
            result: dict[str, Any] = frame["result"]
            return result
        if frame["type"] == "error":
            raise RuntimeError(f"the channel refused the run: {frame}")


async def benchmark(settings: Settings) -> dict[str, Any]:
    load_at_start = list(os.getloadavg())
    await migrate(settings, "realtime")
    engine = build_engine(settings)
    await engine.start_connection_pool(min_size=1, max_size=4)
    sandbox = SandboxEngine(state_dir=None)
    await sandbox.probe()
    python = resolve_language("python").executable
    client = await connect_client(settings, wait_seconds=60)
    queue = f"bench-session-run-{uuid.uuid4().hex[:8]}"
    key = new_signing_key()
    key_set = StaticKeySet([key])
    config = SessionConfig(run_task_queue=queue)
    tenant, dojo = uuid.uuid4(), uuid.uuid4()
    people = [uuid.uuid4(), uuid.uuid4()]
    await insert_dojo(engine, tenant, dojo, people)
    tokens = [
        sign_access_token(key, settings, sub=str(person), tid=str(tenant), exp=int(time.time()) + 3600)
        for person in people
    ]

    def instance() -> tuple[Any, Any]:
        valkey = create_valkey(settings)
        denylist = ValkeyDenylist(valkey)
        runtime = build_session_channel(
            settings,
            access=StandInRoomAccess(),
            live=StandInLiveRooms(),
            key_set=key_set,
            denylist=denylist,
            valkey=valkey,
            temporal_client=client,
            storage=local_blob_storage(settings),
            engine=engine,
            config=config,
        )
        app = create_service_app(
            service="realtime",
            settings=settings,
            route_handlers=runtime.route_handlers,
            key_set=key_set,
            denylist=denylist,
            lifespan=[runtime.lifespan],
        )
        return cast("Any", app), valkey

    (app_one, valkey_one), (app_two, valkey_two) = instance(), instance()
    activities = SandboxActivities(sandbox)
    worker = build_worker("sandbox", client, settings, task_queue=queue, activities=activities)

    async def through_workflow() -> str:
        request = SandboxRunRequest(
            tenant_id=str(tenant),
            user_id="bench-user",
            dojo_id=str(uuid.uuid4()),
            run_id=str(uuid.uuid4()),
            language="python",
            source=PYTHON_HELLO,
        )
        result: SandboxRunResult = await client.execute_workflow(
            SandboxRun.run,
            request,
            id=sandbox_run_workflow_id(request.tenant_id, request.dojo_id, request.run_id),
            task_queue=queue,
        )
        return result.stdout

    latencies: dict[str, list[float]] = {name: [] for name in ("bare", "workflow", "sender", "peer")}
    async with activities, worker, serving(app_one) as port_one, serving(app_two) as port_two:
        url = "ws://127.0.0.1:{port}/v1/dojos/{dojo}/session?access_token={token}"
        async with (
            connect(url.format(port=port_one, dojo=dojo, token=tokens[0])) as sender,
            connect(url.format(port=port_two, dojo=dojo, token=tokens[1])) as peer,
        ):
            for socket in (sender, peer):
                assert json.loads(await socket.recv())["type"] == "welcome"

            async def through_channel() -> tuple[float, float, str]:
                run_id = str(uuid.uuid4())
                began = time.perf_counter()
                await sender.send(json.dumps({"type": "run.request", "runId": run_id}))
                timings: dict[str, float] = {}

                async def wait(name: str, socket: ClientConnection) -> dict[str, Any]:
                    result = await next_result(socket, run_id)
                    timings[name] = (time.perf_counter() - began) * 1000
                    return result

                mine, theirs = await asyncio.wait_for(
                    asyncio.gather(wait("sender", sender), wait("peer", peer)), RESULT_TIMEOUT_SECONDS
                )
                if mine != theirs or mine["status"] != "OK":
                    raise RuntimeError(f"unexpected results {mine} / {theirs}")
                return timings["sender"], timings["peer"], str(mine["stdout"])

            paths: dict[str, Callable[[], Awaitable[str]]] = {
                "bare": lambda: bare(python, "-c", PYTHON_HELLO),
                "workflow": through_workflow,
            }
            for round_index in range(WARMUP + ROUNDS):
                measured = round_index >= WARMUP
                for name, call in paths.items():
                    elapsed = await timed(call)
                    if measured:
                        latencies[name].append(elapsed)
                to_sender, to_peer, stdout = await through_channel()
                if stdout != EXPECTED:
                    raise RuntimeError(f"unexpected output {stdout!r}")
                if measured:
                    latencies["sender"].append(to_sender)
                    latencies["peer"].append(to_peer)
    await valkey_one.aclose()
    await valkey_two.aclose()
    await engine.close_connection_pool()
    results = {name: summary(values) for name, values in latencies.items()}

    def overhead(path: str, baseline: str) -> dict[str, float]:
        ours, base = results[path], results[baseline]
        return {
            "p50_ms": round(float(ours["p50_ms"]) - float(base["p50_ms"]), 2),
            "p95_ms": round(float(ours["p95_ms"]) - float(base["p95_ms"]), 2),
            "p50_ratio": round(float(ours["p50_ms"]) / float(base["p50_ms"]), 2),
        }

    return {
        "machine": machine_facts(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": list(os.getloadavg()),
        "rounds": ROUNDS,
        "warmup_rounds": WARMUP,
        "interpreter": f"{python} {resolve_language('python').version}",
        "latency": results,
        "overhead": {
            "sender_vs_bare": overhead("sender", "bare"),
            "sender_vs_workflow": overhead("sender", "workflow"),
            "peer_vs_sender": overhead("peer", "sender"),
        },
        "program": PYTHON_HELLO,
    }


def write_results(results: dict[str, Any]) -> None:
    machine, latency, overhead = results["machine"], results["latency"], results["overhead"]
    rows = [
        ("Bare `python3 -c` subprocess, the sandbox's environment (baseline)", "bare"),
        ("SandboxRun workflow started and awaited directly (no channel)", "workflow"),
        ('"Run" through the session channel: `run.request` to `run.result`, same socket', "sender"),
        ("... the same run's `run.result` at a peer on the other instance", "peer"),
    ]
    lines = [
        '# "Run" to result through the session channel',
        "",
        f"{machine['date']} on {machine['cpu']} ({machine['cores']} cores, {machine['memory_gib']} GiB), "
        f"{machine['os']}, Python {machine['python']}, commit {machine['git_commit']}. "
        f"Interpreter: {results['interpreter']}. PostgreSQL, Valkey and the Temporal dev server (SQLite) "
        "started by the benchmark; two session channel instances (uvicorn), the sandbox worker and the "
        "clients in one process.",
        "",
        f"Program: `{results['program']}`. {results['rounds']} rounds after {results['warmup_rounds']}"
        " warm-up rounds; each round runs every path once, one after the other (sequential runs).",
        "",
        "| path | p50 ms | p95 ms | min ms | max ms | mean ms |",
        "|---|---|---|---|---|---|",
    ]
    for label, key in rows:
        row = latency[key]
        cells = [row[name] for name in ("p50_ms", "p95_ms", "min_ms", "max_ms", "mean_ms")]
        lines.append(f"| {label} | " + " | ".join(str(cell) for cell in cells) + " |")
    sender, channel, peer = (
        overhead["sender_vs_bare"],
        overhead["sender_vs_workflow"],
        overhead["peer_vs_sender"],
    )
    lines += [
        "",
        "Overhead:",
        "",
        f'- "Run" in a dojo against the bare subprocess: **+{sender["p50_ms"]} ms at p50** '
        f"({sender['p50_ratio']}x), +{sender['p95_ms']} ms at p95;",
        "- of which the channel itself (the WebSocket frames, the one-run-per-dojo claim in Valkey, the "
        "code read, `run.started` and `run.result` relayed through Valkey pub/sub) adds "
        f"{channel['p50_ms']} ms at p50 over the workflow alone ({channel['p95_ms']} ms at p95);",
        f"- a peer connected to the other instance gets the result {peer['p50_ms']} ms after the sender at"
        " p50: both receive it from the same pub/sub message.",
        "",
        "The rest is the sandbox (bubblewrap, setpriv, prlimit, seccomp, a dedicated uid) and Temporal's"
        " task dispatch, measured apart in `bench/sandbox/results.md`.",
        "",
        f"Load average at the start: {[round(value, 2) for value in results['load_average_at_start']]}, "
        f"at the end: {[round(value, 2) for value in results['load_average_at_end']]}.",
        "",
    ]
    RESULTS.write_text("\n".join(lines))


def main() -> None:
    var_dir = Path(tempfile.mkdtemp(prefix="mrbill-bench-session-run-"))
    os.chmod(var_dir, 0o755)  # noqa: S103 - PostgreSQL runs as another user when root
    os.environ.update(
        {
            "MRBILL_VAR_DIR": str(var_dir),
            "MRBILL_PG_PORT": str(free_port()),
            "MRBILL_VALKEY_URL": f"redis://127.0.0.1:{free_port()}/0",
            "MRBILL_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
            "MRBILL_TEMPORAL_UI_PORT": str(free_port()),
            "MRBILL_LOG_JSON": "false",
            "MRBILL_LOG_LEVEL": "WARNING",
        }
    )
    settings = Settings()
    configure_logging(settings, "bench-session-run")
    try:
        with running_stack(settings):
            results = asyncio.run(benchmark(settings))
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    write_results(results)
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
