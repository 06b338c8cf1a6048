"""Benchmark: reports, measured three ways (issue 4), with the machine they ran on.

Run with ``uv run python -m bench.content.run``. It writes results.json and results.md beside
this file.

1. Rendering: `bench.content.render.measure_pdf_render` on 1,000 POCs (goal: the PDF with its
   charts in <= 1.5 s), before anything else starts, so nothing competes for the CPU.
2. ``POST /v1/reports`` to its 202, which comes only once Temporal has accepted the workflow's
   start (goal: p95 <= 50 ms), against ``GET /v1/reports/{id}`` on the same app as a baseline,
   interleaved one for one so drift weighs on both alike. The content API runs exactly as in
   production, ``mrbill serve content`` (uvicorn, one process), with identity beside it for its
   JWKS; the client is one keep-alive httpx connection, requests one after another, as a
   person clicking. No worker polls the queue meanwhile: the workflows started here wait, and
   are terminated before step 3, so the renders of step 3 never overlap this measurement.
3. Request to downloadable, end to end, for 100 POCs per format: ``POST`` through polling
   ``GET /v1/reports/{id}`` (every 20 ms) to COMPLETED, then the file fetched through its
   signed link. The ``mrbill worker content`` process runs the real activities (content,
   catalog, identity) on the stack's PostgreSQL, Temporal dev server and local store. The
   server-side time (the request's completed_at - created_at) is reported beside it.

Everything (PostgreSQL, Valkey, Temporal, both APIs, the worker) runs on free ports in a
temporary folder, on the same machine as the client.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from piccolo.engine.postgres import PostgresEngine
from temporalio.client import Client

from api.catalog import repository as catalog_repository
from api.catalog.piccolo_conf import build_engine as catalog_engine
from api.common.settings import Settings
from api.common.tenancy import tenant_transaction
from api.identity import onboarding
from api.identity.passwords import PasswordHasher
from bench.content.render import GOAL_SECONDS, measure_pdf_render
from bench.machine import machine_facts
from infra.database import migrate
from infra.seed_pocs import generate_pocs
from infra.stack import free_port, running_stack, wait_for_port
from temporal.client import connect_client
from workflows.report_generation_types import REPORT_FORMATS, report_workflow_id

HERE = Path(__file__).parent
RENDER_POCS = 1000
RENDER_REPEATS = int(os.environ.get("BENCH_RENDER_REPEATS", "5"))
POSTS = int(os.environ.get("BENCH_POSTS", "300"))
POST_WARMUP = 20
POST_GOAL_MS = 50.0
E2E_POCS = 100
E2E_RUNS = int(os.environ.get("BENCH_E2E_RUNS", "10"))
POLL_SECONDS = 0.02
PASSWORD = "bench-password-2026"
TENANT_SLUG = "bench-reports"
EMAIL = "owner@bench-reports.example"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index]


def latency_summary(values_ms: list[float]) -> dict[str, float | int]:
    return {
        "samples": len(values_ms),
        "p50_ms": round(percentile(values_ms, 50), 2),
        "p95_ms": round(percentile(values_ms, 95), 2),
        "p99_ms": round(percentile(values_ms, 99), 2),
        "max_ms": round(max(values_ms), 2),
        "mean_ms": round(statistics.fmean(values_ms), 2),
    }


# -- the stack, the people, the POCs ----------------------------------------------------------------


async def prepare(settings: Settings) -> tuple[str, str]:
    """Databases migrated; a PRO tenant whose owner has `E2E_POCS` POCs in 2025; (tenant, user)."""
    for service in ("identity", "catalog", "content"):
        await migrate(settings, service)
    tenant_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
    identity = PostgresEngine(config={"dsn": settings.database_url("identity")}, log_queries=False)
    await onboarding.create_pending_tenant(
        identity,
        tenant_id=tenant_id,
        name="Bench Reports",
        slug=TENANT_SLUG,
        domain=f"{TENANT_SLUG}.mrbill.local",
        plan="PRO",
        default_locale="pt_BR",
    )
    await onboarding.create_owner(
        identity,
        tenant_id=tenant_id,
        user_id=user_id,
        email=EMAIL,
        password_hash=PasswordHasher(settings).hash_sync(PASSWORD),
        full_name="Conceição Araújo",
        locale="pt_BR",
    )
    await onboarding.activate_tenant(identity, tenant_id)
    pocs = generate_pocs(
        uuid.UUID(tenant_id),
        [uuid.UUID(user_id)],
        E2E_POCS,
        until=datetime(2025, 12, 1, tzinfo=UTC),
        years=1,
        deleted_ratio=0.0,
    )
    async with tenant_transaction(catalog_engine(settings), tenant_id) as transaction:
        await catalog_repository.bulk_insert_pocs(transaction.connection, pocs)
    return tenant_id, user_id


def serve(
    command: list[str], env: dict[str, str], log: Path, port: int | None = None
) -> subprocess.Popen[bytes]:
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=log_file
        )
    if port is not None:
        wait_for_port(port, 120, process)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def mrbill(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "infra.cli", *arguments]


def report_body(report_format: str, title: str) -> dict[str, Any]:
    return {
        "title": title,
        "format": report_format,
        "from": "2024-01-01",
        "to": "2025-12-31",
        "groupBy": ["language", "month"],
        "locale": "pt-BR",
        "timeZone": "America/Sao_Paulo",
    }


# -- 2: POST /v1/reports against GET /v1/reports/{id} --------------------------------------------


def measure_api(client: httpx.Client) -> tuple[dict[str, Any], list[str]]:
    """Sequential POSTs, each followed by a GET of the request it created; returns the ids too."""
    created: list[str] = []
    posts: list[float] = []
    gets: list[float] = []
    for index in range(POST_WARMUP + POSTS):
        body = report_body(REPORT_FORMATS[index % len(REPORT_FORMATS)], f"Bench {index}")
        started = time.perf_counter()
        response = client.post("/v1/reports", json=body)
        post_ms = (time.perf_counter() - started) * 1000
        if response.status_code != 202:
            raise RuntimeError(f"POST /v1/reports answered {response.status_code}: {response.text}")
        report_id = response.json()["id"]
        created.append(report_id)
        started = time.perf_counter()
        answer = client.get(f"/v1/reports/{report_id}")
        get_ms = (time.perf_counter() - started) * 1000
        if answer.status_code != 200:
            raise RuntimeError(f"GET /v1/reports/{report_id} answered {answer.status_code}: {answer.text}")
        if index >= POST_WARMUP:
            posts.append(post_ms)
            gets.append(get_ms)
    post, get = latency_summary(posts), latency_summary(gets)
    return {
        "post_reports": post,
        "get_report_baseline": get,
        "p95_ratio_post_over_get": round(float(post["p95_ms"]) / float(get["p95_ms"]), 2),
        "p50_ratio_post_over_get": round(float(post["p50_ms"]) / float(get["p50_ms"]), 2),
        "warmup_requests": POST_WARMUP,
        "goal_p95_ms": POST_GOAL_MS,
        "meets_goal": float(post["p95_ms"]) <= POST_GOAL_MS,
        "path": "httpx keep-alive client -> `mrbill serve content` (uvicorn) -> quota check, insert and "
        "commit in PostgreSQL, Temporal start_workflow (dev server, SQLite) -> 202; sequential requests",
        "baseline_path": "same client and app: GET /v1/reports/{id} (token check, one RLS-scoped read, "
        "a signed link when completed); each POST is followed by a GET of the request it created",
    }, created


async def terminate_started(settings: Settings, tenant_id: str, report_ids: list[str]) -> int:
    """The API measurement's workflows never ran (no worker polled): end them before the next step."""
    client: Client = await connect_client(settings, wait_seconds=30)
    for report_id in report_ids:
        await client.get_workflow_handle(report_workflow_id(tenant_id, report_id)).terminate(
            reason="benchmark: only the API's answer was measured"
        )
    return len(report_ids)


# -- 3: request to downloadable ---------------------------------------------------------------------


def end_to_end(client: httpx.Client, report_format: str, title: str) -> dict[str, Any]:
    started = time.perf_counter()
    response = client.post("/v1/reports", json=report_body(report_format, title))
    if response.status_code != 202:
        raise RuntimeError(f"POST /v1/reports answered {response.status_code}: {response.text}")
    report_id = response.json()["id"]
    while True:
        report = client.get(f"/v1/reports/{report_id}").json()
        if report["status"] == "COMPLETED":
            break
        if report["status"] in ("FAILED", "CANCELLED"):
            raise RuntimeError(f"report {report_id} ended {report['status']}: {report.get('errorMessage')}")
        time.sleep(POLL_SECONDS)
    link = urlsplit(report["downloadUrl"])
    download = client.get(f"{link.path}?{link.query}", headers={"Authorization": ""})
    if download.status_code != 200 or len(download.content) != report["sizeBytes"]:
        raise RuntimeError(f"download of {report_id} answered {download.status_code}")
    total = time.perf_counter() - started
    server = datetime.fromisoformat(report["completedAt"]) - datetime.fromisoformat(report["createdAt"])
    if report["pocCount"] != E2E_POCS:
        raise RuntimeError(f"report {report_id} has {report['pocCount']} POCs, not {E2E_POCS}")
    return {
        "total_ms": total * 1000,
        "server_ms": server.total_seconds() * 1000,
        "bytes": len(download.content),
        "report_id": report_id,
    }


async def history_breakdown(settings: Settings, workflow_ids: list[str]) -> list[dict[str, Any]]:
    """Per run, from its Temporal history: time waiting in task queues, and each activity's run time.

    Waiting (scheduled -> started, for workflow and activity tasks) is the dev server's and the
    worker's scheduling; running (started -> completed) is the activities' own work.
    """
    client = await connect_client(settings, wait_seconds=30)
    breakdowns: list[dict[str, Any]] = []
    for workflow_id in workflow_ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        times: dict[int, datetime] = {}
        names: dict[int, str] = {}
        waiting_ms = 0.0
        longest_wait = (0.0, "")
        running: dict[str, float] = {}
        for event in history.events:
            moment = event.event_time.ToDatetime(tzinfo=UTC)
            times[event.event_id] = moment
            if event.HasField("activity_task_scheduled_event_attributes"):
                names[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
            elif event.HasField("activity_task_started_event_attributes"):
                scheduled = event.activity_task_started_event_attributes.scheduled_event_id
                wait = (moment - times[scheduled]).total_seconds() * 1000
                waiting_ms += wait
                longest_wait = max(longest_wait, (wait, f"activity task {names[scheduled]}"))
                names[event.event_id] = names[scheduled]
            elif event.HasField("activity_task_completed_event_attributes"):
                started = event.activity_task_completed_event_attributes.started_event_id
                running[names[started]] = round((moment - times[started]).total_seconds() * 1000, 1)
            elif event.HasField("workflow_task_started_event_attributes"):
                scheduled = event.workflow_task_started_event_attributes.scheduled_event_id
                wait = (moment - times[scheduled]).total_seconds() * 1000
                waiting_ms += wait
                longest_wait = max(longest_wait, (wait, f"workflow task (event {scheduled})"))
        total = (times[max(times)] - times[min(times)]).total_seconds() * 1000
        breakdowns.append(
            {
                "workflow_ms": round(total, 1),
                "queue_wait_ms": round(waiting_ms, 1),
                "longest_wait": {"ms": round(longest_wait[0], 1), "task": longest_wait[1]},
                "activities_ms": running,
            }
        )
    return breakdowns


def measure_end_to_end(client: httpx.Client, settings: Settings, tenant_id: str) -> dict[str, Any]:
    end_to_end(client, "pdf", "Aquecimento")  # the worker's first run loads fonts and warms caches
    runs: dict[str, list[dict[str, Any]]] = {report_format: [] for report_format in REPORT_FORMATS}
    for index in range(E2E_RUNS):
        for report_format in REPORT_FORMATS:  # round robin, so drift weighs on every format alike
            runs[report_format].append(end_to_end(client, report_format, f"Bench e2e {index}"))
    results: dict[str, Any] = {}
    for report_format, samples in runs.items():
        total = latency_summary([sample["total_ms"] for sample in samples])
        server = latency_summary([sample["server_ms"] for sample in samples])
        breakdowns = asyncio.run(
            history_breakdown(
                settings, [report_workflow_id(tenant_id, sample["report_id"]) for sample in samples]
            )
        )
        slowest = max(breakdowns, key=lambda breakdown: float(breakdown["workflow_ms"]))
        results[report_format] = {
            "runs": len(samples),
            "p50_ms": total["p50_ms"],
            "p95_ms": total["p95_ms"],
            "max_ms": total["max_ms"],
            "server_p50_ms": server["p50_ms"],
            "server_p95_ms": server["p95_ms"],
            "bytes": int(samples[-1]["bytes"]),
            "queue_wait_p50_ms": round(percentile([float(b["queue_wait_ms"]) for b in breakdowns], 50), 1),
            "render_p50_ms": round(
                percentile([float(b["activities_ms"].get("render_report", 0.0)) for b in breakdowns], 50), 1
            ),
            "slowest_run": slowest,
        }
    return {
        "poc_count": E2E_POCS,
        "group_by": ["language", "month"],
        "locale": "pt_BR",
        "poll_interval_ms": POLL_SECONDS * 1000,
        "formats": results,
        "path": "POST /v1/reports -> ReportGeneration on `mrbill worker content` (claim, owner profile, "
        "selection, summary, render, publish, complete) -> GET /v1/reports/{id} polled until COMPLETED "
        "-> file fetched through its signed link; one request at a time",
    }


# -- the run ----------------------------------------------------------------------------------------


def run() -> dict[str, Any]:
    load_before = os.getloadavg()
    rendering = measure_pdf_render(RENDER_POCS, RENDER_REPEATS)
    var_dir = Path(tempfile.mkdtemp(prefix="mrbill-bench-content-"))
    os.chmod(var_dir, 0o755)  # noqa: S103 - PostgreSQL runs as another user when root
    identity_port, content_port = free_port(), free_port()
    env = {
        "MRBILL_ENVIRONMENT": "test",
        "MRBILL_VAR_DIR": str(var_dir),
        "MRBILL_PG_PORT": str(free_port()),
        "MRBILL_VALKEY_URL": f"redis://127.0.0.1:{free_port()}/0",
        "MRBILL_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "MRBILL_TEMPORAL_UI_PORT": str(free_port()),
        "MRBILL_EDGE_PORT": str(free_port()),
        "MRBILL_SERVICE_PORTS": json.dumps({"identity": identity_port, "content": content_port}),
        "MRBILL_LOG_JSON": "false",
        "MRBILL_LOG_LEVEL": "WARNING",
        # One login only: a cheap hash keeps the set-up short and changes nothing measured.
        "MRBILL_ARGON2_TIME_COST": "1",
        "MRBILL_ARGON2_MEMORY_COST_KIB": "1024",
        "MRBILL_ARGON2_PARALLELISM": "1",
        # A PRO tenant whose monthly quota the benchmark's few hundred requests cannot exhaust.
        "MRBILL_PLANS": json.dumps(
            {
                "FREE": {"max_users": 5, "reports_per_month": 10, "videos_per_year": 1},
                "PRO": {"max_users": 500, "reports_per_month": 100_000, "videos_per_year": 50},
            }
        ),
    }
    os.environ.update(env)
    settings = Settings()
    log = var_dir / "bench-servers.log"
    try:
        with running_stack(settings):
            tenant_id, _user_id = asyncio.run(prepare(settings))
            identity = serve(
                mrbill("serve", "identity", "--port", str(identity_port)), env, log, identity_port
            )
            content = serve(mrbill("serve", "content", "--port", str(content_port)), env, log, content_port)
            worker: subprocess.Popen[bytes] | None = None
            try:
                login = httpx.post(
                    f"http://127.0.0.1:{identity_port}/v1/auth/login",
                    json={"tenantSlug": TENANT_SLUG, "email": EMAIL, "password": PASSWORD},
                    timeout=60,
                )
                login.raise_for_status()
                headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
                with httpx.Client(
                    base_url=f"http://127.0.0.1:{content_port}", headers=headers, timeout=60
                ) as client:
                    api, started = measure_api(client)
                    api["workflows_started"] = asyncio.run(terminate_started(settings, tenant_id, started))
                    worker = serve(mrbill("worker", "content"), env, log)
                    e2e = measure_end_to_end(client, settings, tenant_id)
            finally:
                for process in (worker, content, identity):
                    if process is not None:
                        stop(process)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    return {
        "benchmark": "reports: render time, POST /v1/reports latency, request to downloadable",
        "machine": machine_facts(),
        "load_average_1_5_15": {
            "at_start": [round(value, 2) for value in load_before],
            "at_end": [round(value, 2) for value in os.getloadavg()],
        },
        "render": rendering,
        "api": api,
        "end_to_end": e2e,
    }


def write_results(results: dict[str, Any]) -> None:
    (HERE / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    machine, render, api, e2e = results["machine"], results["render"], results["api"], results["end_to_end"]
    load = results["load_average_1_5_15"]
    pdf = render["pdf"]
    post, get = api["post_reports"], api["get_report_baseline"]
    met = {True: "met", False: "NOT met"}
    lines = [
        "# Reports benchmark",
        "",
        f"{machine['date']} on {machine['cpu']} ({machine['cores']} cores, {machine['memory_gib']} GiB), "
        f"{machine['os']}, Python {machine['python']}, commit {machine['git_commit']}. "
        "PostgreSQL 18 (embedded), Temporal dev server (SQLite), local file store; every process on this "
        "one machine. Load average (1, 5, 15 min) at the start "
        f"{load['at_start']}, at the end {load['at_end']}.",
        "",
        "## 1. Rendering (`bench/content/render.py`)",
        "",
        f"{render['poc_count']:,} POCs from the demo seed generator, pt-BR, {render['repeats']} timed runs "
        "after one warm-up run (a long-lived worker is warm).",
        "",
        "| file | median s | max s | first run s | pages | bytes |",
        "|---|---|---|---|---|---|",
    ]
    for name, label in (
        ("pdf", "PDF with charts (the goal)"),
        ("pdf_all_groups", "PDF, grouped by language, tag, framework and month"),
        ("xlsx", "XLSX with native charts"),
        ("csv", "CSV"),
    ):
        entry = render[name]
        lines.append(
            f"| {label} | {entry['median_seconds']} | {entry['max_seconds']} | {entry['first_seconds']} "
            f"| {entry['pages'] if entry['pages'] is not None else '-'} | {entry['bytes']:,} |"
        )
    lines += [
        "",
        f"Summary (the aggregate activity's work): median {render['aggregate']['median_seconds']} s.",
        f"Goal: the 1,000-POC PDF in <= {GOAL_SECONDS} s, slowest run {pdf['max_seconds']} s: "
        f"**{met[bool(pdf['meets_goal'])]}**.",
        "",
        "## 2. `POST /v1/reports` to 202 (the workflow started)",
        "",
        f"{post['samples']} requests after {api['warmup_requests']} warm-up ones. Path: {api['path']}.",
        f"Baseline: {api['baseline_path']}.",
        "",
        "| | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|",
        f"| POST /v1/reports | {post['p50_ms']} | {post['p95_ms']} | {post['p99_ms']} | {post['max_ms']} |",
        f"| GET /v1/reports/{{id}} (baseline) | {get['p50_ms']} | {get['p95_ms']} | {get['p99_ms']} "
        f"| {get['max_ms']} |",
        "",
        f"p95 ratio POST/GET: **{api['p95_ratio_post_over_get']}x** "
        f"(p50: {api['p50_ratio_post_over_get']}x). "
        f"Goal p95 <= {api['goal_p95_ms']:.0f} ms: **{met[bool(api['meets_goal'])]}**. "
        f"{api['workflows_started']} workflows were started and, no worker polling meanwhile, terminated "
        "afterwards.",
        "",
        f"## 3. Request to downloadable, {e2e['poc_count']} POCs",
        "",
        f"Path: {e2e['path']}. Grouped by {', '.join(e2e['group_by'])}, pt-BR; "
        f"polling every {e2e['poll_interval_ms']:.0f} ms adds up to that much to each run.",
        "",
        "| format | runs | p50 ms | p95 ms | max ms | server p50 ms | server p95 ms | render p50 ms "
        "| queue wait p50 ms | bytes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for report_format, entry in e2e["formats"].items():
        lines.append(
            f"| {report_format} | {entry['runs']} | {entry['p50_ms']} | {entry['p95_ms']} "
            f"| {entry['max_ms']} | {entry['server_p50_ms']} | {entry['server_p95_ms']} "
            f"| {entry['render_p50_ms']} | {entry['queue_wait_p50_ms']} | {entry['bytes']:,} |"
        )
    lines += [
        "",
        "Server time: the request's completed_at minus its created_at (both PostgreSQL's clock), i.e. "
        "without the client's polling and download. From each run's Temporal history: render is the render "
        "activity's own time; queue wait sums the time workflow and activity tasks waited for the worker "
        "(scheduled -> started).",
        "",
        "Slowest run of each format, from its history (milliseconds):",
        "",
    ]
    for report_format, entry in e2e["formats"].items():
        slowest = entry["slowest_run"]
        steps = ", ".join(f"{name} {ms}" for name, ms in slowest["activities_ms"].items())
        lines.append(
            f"- {report_format}: workflow {slowest['workflow_ms']}, waiting in queues "
            f"{slowest['queue_wait_ms']} (longest: {slowest['longest_wait']['ms']} for the "
            f"{slowest['longest_wait']['task']}); activities: {steps}."
        )
    lines.append("")
    (HERE / "results.md").write_text("\n".join(lines))


def main() -> None:
    results = run()
    write_results(results)
    print((HERE / "results.md").read_text())


if __name__ == "__main__":
    main()
