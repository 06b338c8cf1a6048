"""Benchmark: "Run" to result for a Python hello world, against a bare subprocess on the same machine.

Run with `uv run python -m bench.sandbox.run` (as root: the sandbox switches to its dedicated
uids). It starts its own Temporal dev server on free ports and measures, interleaved round by
round so that background load hits every path alike:

- **bare**: ``python3 -c 'print(...)'`` as an asyncio subprocess with the sandbox's environment
  (PATH, HOME, LANG), output read, process reaped;
- **engine**: the same program through `SandboxEngine.run` (bubblewrap, setpriv, prlimit, seccomp,
  the limits, the parent's watch on output and memory, reaping, the check that nothing is left);
- **workflow**: the same program through the SandboxRun workflow on the dev server, from
  ``start_workflow`` to the result, with the real activity on a worker built by
  `temporal.worker.build_worker` for the ``sandbox`` queue (in this process);
- **instant stand-in**: the same workflow with a stand-in activity (named so) that answers at once,
  to show Temporal's own share;

and the same for Node.js (bare and engine) for reference. Results go to results.json and
results.md beside this file, with the machine they ran on.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from temporalio import activity

from activities.sandbox import SandboxActivities
from api.common.logging import configure_logging
from api.common.settings import Settings
from bench.machine import machine_facts
from infra.stack import free_port, running_stack
from realtime.sandbox import RunStatus, SandboxEngine
from realtime.sandbox.languages import resolve_language
from realtime.sandbox.runner import SANDBOX_ENV
from temporal.client import connect_client
from temporal.worker import build_worker
from workflows.sandbox_run import SandboxRun
from workflows.sandbox_run_types import (
    RUN_CODE_ACTIVITY,
    SandboxRunRequest,
    SandboxRunResult,
    sandbox_run_workflow_id,
)

HERE = Path(__file__).parent
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "60"))
WARMUP = 5
PYTHON_HELLO = 'print("hello, dojo")'
NODE_HELLO = 'console.log("hello, dojo")'
EXPECTED = "hello, dojo\n"


class InstantStandInActivities:
    """Stands in for the sandbox activity (named so): answers at once, as if a run took no time,
    so the workflow path measures Temporal's own round trips on this machine."""

    async def __aenter__(self) -> InstantStandInActivities:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    def activities(self) -> list[Callable[..., Any]]:
        return [self.run_sandboxed_code]

    @activity.defn(name=RUN_CODE_ACTIVITY)
    async def run_sandboxed_code(self, request: SandboxRunRequest) -> SandboxRunResult:
        return SandboxRunResult(
            tenant_id=request.tenant_id,
            dojo_id=request.dojo_id,
            run_id=request.run_id,
            user_id=request.user_id,
            language=request.language,
            status="OK",
            stdout=EXPECTED,
        )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index]


def summary(latencies: list[float]) -> dict[str, float | int]:
    return {
        "samples": len(latencies),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "min_ms": round(min(latencies), 2),
        "max_ms": round(max(latencies), 2),
        "mean_ms": round(statistics.fmean(latencies), 2),
    }


BARE_ENV = dict(SANDBOX_ENV)
"""The sandbox's environment, so the comparison is the sandbox alone: this host's own environment
(NODE_EXTRA_CA_CERTS, for one) would slow the bare Node.js down by some 30 ms."""


async def bare(executable: str, *arguments: str) -> str:
    process = await asyncio.create_subprocess_exec(
        executable,
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=BARE_ENV,
    )
    stdout, _ = await process.communicate()
    return stdout.decode()


async def timed(call: Callable[[], Awaitable[str]]) -> float:
    began = time.perf_counter()
    output = await call()
    elapsed = (time.perf_counter() - began) * 1000
    if output != EXPECTED:
        raise RuntimeError(f"unexpected output {output!r}")
    return elapsed


async def benchmark(settings: Settings) -> dict[str, Any]:
    load_at_start = list(os.getloadavg())
    engine = SandboxEngine(state_dir=None)
    await engine.probe()
    python = resolve_language("python").executable
    node = resolve_language("javascript").executable
    client = await connect_client(settings, wait_seconds=60)
    queue = f"bench-sandbox-{uuid.uuid4()}"
    activities = SandboxActivities(engine)
    worker = build_worker("sandbox", client, settings, task_queue=queue, activities=activities)
    noop_queue = f"bench-sandbox-noop-{uuid.uuid4()}"
    noop_worker = build_worker(
        "sandbox", client, settings, task_queue=noop_queue, activities=InstantStandInActivities()
    )

    async def engine_python() -> str:
        outcome = await engine.run("python", PYTHON_HELLO)
        if outcome.status is not RunStatus.OK:
            raise RuntimeError(f"sandbox run failed: {outcome}")
        return outcome.stdout

    async def engine_node() -> str:
        return (await engine.run("javascript", NODE_HELLO)).stdout

    async def through_workflow(task_queue: str = queue) -> str:
        request = SandboxRunRequest(
            tenant_id="bench-tenant",
            user_id="bench-user",
            dojo_id="bench-dojo",
            run_id=str(uuid.uuid4()),
            language="python",
            source=PYTHON_HELLO,
        )
        result: SandboxRunResult = await client.execute_workflow(
            SandboxRun.run,
            request,
            id=sandbox_run_workflow_id(request.tenant_id, request.dojo_id, request.run_id),
            task_queue=task_queue,
        )
        if result.status != "OK":
            raise RuntimeError(f"workflow run failed: {result}")
        return result.stdout

    paths: dict[str, Callable[[], Awaitable[str]]] = {
        "python_bare": lambda: bare(python, "-c", PYTHON_HELLO),
        "python_engine": engine_python,
        "python_workflow": through_workflow,
        "workflow_instant_stand_in": lambda: through_workflow(noop_queue),
        "node_bare": lambda: bare(node, "-e", NODE_HELLO),
        "node_engine": engine_node,
    }
    latencies: dict[str, list[float]] = {name: [] for name in paths}
    async with activities, worker, noop_worker:
        for round_index in range(WARMUP + ROUNDS):
            for name, call in paths.items():
                elapsed = await timed(call)
                if round_index >= WARMUP:
                    latencies[name].append(elapsed)
    sample = await engine.run("python", PYTHON_HELLO)
    results = {name: summary(values) for name, values in latencies.items()}

    def overhead(path: str, baseline: str) -> dict[str, float]:
        ours, base = results[path], results[baseline]
        return {
            "p50_ms": round(float(ours["p50_ms"]) - float(base["p50_ms"]), 2),
            "p95_ms": round(float(ours["p95_ms"]) - float(base["p95_ms"]), 2),
            "p50_ratio": round(float(ours["p50_ms"]) / float(base["p50_ms"]), 2),
            "p95_ratio": round(float(ours["p95_ms"]) / float(base["p95_ms"]), 2),
        }

    return {
        "machine": machine_facts(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": list(os.getloadavg()),
        "rounds": ROUNDS,
        "warmup_rounds": WARMUP,
        "program": PYTHON_HELLO,
        "interpreters": {
            "python": f"{python} {resolve_language('python').version}",
            "node": f"{node} {resolve_language('javascript').version}",
        },
        "limits": {
            "cpu_seconds": engine.limits.run.cpu_seconds,
            "wall_seconds": engine.limits.run.wall_seconds,
            "memory_bytes": engine.limits.run.memory_bytes,
            "processes": engine.limits.run.processes,
            "output_bytes": engine.limits.run.output_bytes,
            "tmp_bytes": engine.limits.run.tmp_bytes,
        },
        "latency": results,
        "overhead": {
            "python_engine_vs_bare": overhead("python_engine", "python_bare"),
            "python_workflow_vs_bare": overhead("python_workflow", "python_bare"),
            "python_workflow_vs_engine": overhead("python_workflow", "python_engine"),
            "python_workflow_vs_instant_stand_in": overhead("python_workflow", "workflow_instant_stand_in"),
            "node_engine_vs_bare": overhead("node_engine", "node_bare"),
        },
        "sample_run": {
            "wall_ms": round(sample.wall_seconds * 1000, 2),
            "cpu_ms": round(sample.cpu_seconds * 1000, 2),
            "memory_bytes": sample.memory_bytes,
        },
    }


def write_results(results: dict[str, Any]) -> None:
    (HERE / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    machine, latency, overhead = results["machine"], results["latency"], results["overhead"]
    rows = [
        ("Python, bare `python3 -c` subprocess, same environment (baseline)", "python_bare"),
        ("Python, sandbox engine (no Temporal)", "python_engine"),
        ('Python, SandboxRun workflow: start to result (the dojo\'s "Run")', "python_workflow"),
        (
            "SandboxRun workflow, instant stand-in activity (Temporal's own round trips)",
            "workflow_instant_stand_in",
        ),
        ("Node.js, bare `node -e` subprocess, same environment (baseline)", "node_bare"),
        ("Node.js, sandbox engine (no Temporal)", "node_engine"),
    ]
    lines = [
        "# Sandbox benchmark",
        "",
        f"{machine['date']} on {machine['cpu']} ({machine['cores']} cores, {machine['memory_gib']} GiB), "
        f"{machine['os']}, Python {machine['python']}, commit {machine['git_commit']}. "
        f"Interpreters: {results['interpreters']['python']}, {results['interpreters']['node']}. "
        "Temporal dev server (SQLite) started by the benchmark; worker, engine and client in one process.",
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
    engine, workflow = overhead["python_engine_vs_bare"], overhead["python_workflow_vs_bare"]
    lines += [
        "",
        "Overhead against the bare subprocess:",
        "",
        f"- sandbox engine: **+{engine['p50_ms']} ms at p50** ({engine['p50_ratio']}x), "
        f"+{engine['p95_ms']} ms at p95 ({engine['p95_ratio']}x);",
        f'- "Run" through the SandboxRun workflow: **+{workflow["p50_ms"]} ms at p50** '
        f"({workflow['p50_ratio']}x), +{workflow['p95_ms']} ms at p95 ({workflow['p95_ratio']}x); of which "
        f"Temporal (start, workflow task, activity task, result) adds "
        f"{overhead['python_workflow_vs_engine']['p50_ms']} ms at p50 over the engine alone;",
        f"- Node.js engine: +{overhead['node_engine_vs_bare']['p50_ms']} ms at p50 "
        f"({overhead['node_engine_vs_bare']['p50_ratio']}x).",
        "",
        "What the engine adds per run: bubblewrap's namespaces and mounts, setpriv and prlimit (two more",
        "execs), the seccomp filter, a host folder for the source, a dedicated uid claimed with a file",
        "lock, the parent's reading of stdout/stderr and its memory watch, and reaping the sandbox's PID 1",
        "for its rusage. Temporal's share is its own task dispatch (dev server, SQLite): the same",
        "workflow with an instant stand-in activity takes "
        f"{latency['workflow_instant_stand_in']['p50_ms']} ms at p50, so the sandbox is a small part of"
        ' a dojo\'s "Run".',
        f"The sandboxed hello world itself measured {results['sample_run']['wall_ms']} ms wall, "
        f"{results['sample_run']['cpu_ms']} ms CPU, "
        f"{results['sample_run']['memory_bytes']:,} bytes peak memory. "
        f"Limits: {results['limits']}.",
        "",
        f"Load average at the start: {[round(value, 2) for value in results['load_average_at_start']]}, "
        f"at the end: {[round(value, 2) for value in results['load_average_at_end']]}.",
        "",
    ]
    (HERE / "results.md").write_text("\n".join(lines))


def main() -> None:
    var_dir = Path(tempfile.mkdtemp(prefix="mrbill-bench-sandbox-"))
    os.environ.update(
        {
            "MRBILL_VAR_DIR": str(var_dir),
            "MRBILL_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
            "MRBILL_TEMPORAL_UI_PORT": str(free_port()),
            "MRBILL_LOG_JSON": "false",
            "MRBILL_LOG_LEVEL": "WARNING",
        }
    )
    settings = Settings()
    configure_logging(settings, "bench-sandbox")
    with running_stack(settings, ("temporal",)):
        results = asyncio.run(benchmark(settings))
    write_results(results)
    print((HERE / "results.md").read_text())


if __name__ == "__main__":
    main()
