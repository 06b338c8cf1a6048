"""Benchmark: the recap video through the real YearlyVideo workflow on a real worker (issue 5).

Run with ``uv run python -m bench.video.run``. It writes results.json and results.md beside this
file, with the machine they ran on.

For 50 POCs and a 60-second video at 720p30, then 1080p and story (1080x1920): the wall time from
the workflow's start (update-with-start, as the API starts it) to the video uploaded and the
request COMPLETED, on one ``python -m temporal.worker video`` process with its production
settings (two scenes at once on this 2-core machine), PostgreSQL, Temporal's dev server and the
local store, all on free ports in a temporary folder. Goal: at most 20 s (3x realtime).

Against it, in the same run: an encode-only ffmpeg run of the same frames
(`bench.video.render`'s baseline: the finished video decoded and encoded again with the same
x264 settings on every core). Goal: at most 1.5x. Measured, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from piccolo.engine.postgres import PostgresEngine
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from api.catalog import repository as catalog_repository
from api.catalog.piccolo_conf import build_engine as catalog_engine
from api.common.settings import Settings
from api.common.storage import local_blob_storage
from api.common.tenancy import tenant_transaction
from api.content import repository as content_repository
from api.content.piccolo_conf import build_engine as content_engine
from api.identity import onboarding
from bench.machine import machine_facts
from bench.video.render import GOAL_RATIO, GOAL_SECONDS, _baseline, _probe
from infra.database import migrate
from infra.readiness import probe_task_queue
from infra.seed_pocs import generate_pocs
from infra.stack import free_port, running_stack
from temporal.client import connect_client
from workflows.yearly_video_types import (
    SELECTION_UPDATE,
    VIDEO_REQUEST_TYPE,
    WORKFLOW_NAME,
    SelectionOutcome,
    VideoJob,
    VideoResult,
    video_workflow_id,
)

HERE = Path(__file__).parent
POCS = 50
SECONDS = 60.0
FORMATS: dict[str, str] = {"720p": "landscape-720", "1080p": "landscape-1080", "story": "story"}


async def prepare(settings: Settings) -> tuple[str, str]:
    """Databases migrated; an owner with `POCS` POCs in 2025; (tenant, user)."""
    for service in ("identity", "catalog", "content"):
        await migrate(settings, service)
    tenant_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
    identity = PostgresEngine(config={"dsn": settings.database_url("identity")}, log_queries=False)
    await onboarding.create_pending_tenant(
        identity,
        tenant_id=tenant_id,
        name="Bench Videos",
        slug="bench-videos",
        domain="bench-videos.mrbill.local",
        plan="PRO",
        default_locale="pt_BR",
    )
    await onboarding.create_owner(
        identity,
        tenant_id=tenant_id,
        user_id=user_id,
        email="video@bench.example",
        password_hash="$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$bench",  # noqa: S106 - nobody logs in
        full_name="Conceição Araújo",
        locale="pt_BR",
    )
    await onboarding.activate_tenant(identity, tenant_id)
    pocs = generate_pocs(
        UUID(tenant_id),
        [UUID(user_id)],
        POCS,
        until=datetime(2026, 1, 1, tzinfo=UTC),
        years=1,
        deleted_ratio=0.0,
    )
    async with tenant_transaction(catalog_engine(settings), tenant_id) as transaction:
        await catalog_repository.bulk_insert_pocs(transaction.connection, pocs)
    return tenant_id, user_id


async def one_video(
    client: Client, settings: Settings, tenant_id: str, user_id: str, fmt: str
) -> dict[str, Any]:
    job = VideoJob(
        request_id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        user_id=user_id,
        title="Retrospectiva de POCs",
        format=fmt,
        style="aurora",
        music_track="bright",
        locale="pt_BR",
        year=2025,
        target_seconds=SECONDS,
    )
    async with tenant_transaction(content_engine(settings), UUID(tenant_id)) as transaction:
        await content_repository.insert_request(
            transaction.connection,
            content_repository.NewContentRequest(
                request_id=UUID(job.request_id),
                tenant_id=UUID(tenant_id),
                user_id=UUID(user_id),
                type=VIDEO_REQUEST_TYPE,
                title=job.title,
                locale=job.locale,
                format=fmt,
                workflow_id=video_workflow_id(tenant_id, job.request_id),
            ),
        )
    load_before = [round(value, 2) for value in os.getloadavg()]
    started = time.perf_counter()
    operation: WithStartWorkflowOperation[object, VideoResult] = WithStartWorkflowOperation(
        WORKFLOW_NAME,
        job,
        id=video_workflow_id(tenant_id, job.request_id),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        task_queue="video",
        result_type=VideoResult,
    )
    outcome = await client.execute_update_with_start_workflow(
        SELECTION_UPDATE, start_workflow_operation=operation, result_type=SelectionOutcome
    )
    selected = time.perf_counter() - started
    result = await (await operation.workflow_handle()).result()
    wall = time.perf_counter() - started
    if result.status != "COMPLETED" or result.result_key is None:
        raise RuntimeError(f"the video did not complete: {result}")
    folder = Path(tempfile.mkdtemp(prefix="mrbill-video-baseline-"))
    try:
        video = folder / "video.mp4"
        video.write_bytes(await local_blob_storage(settings).get(result.result_key))
        baseline = await asyncio.to_thread(_baseline, video, folder)
        probe = _probe(video)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "format": fmt,
        "poc_count": outcome.poc_count,
        "video_seconds": probe["duration_seconds"],
        "load_average_before": load_before,
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
        "selection_answered_seconds": round(selected, 3),
        "wall_seconds": round(wall, 3),
        "realtime_factor": round(SECONDS / wall, 2),
        "baseline": {name: round(value, 3) for name, value in baseline.items()},
        "ratio_to_baseline": round(wall / baseline["seconds"], 3),
        "meets_wall_goal": wall <= GOAL_SECONDS,
        "meets_ratio_goal": wall / baseline["seconds"] <= GOAL_RATIO,
        "output": probe,
    }


WORKER_START_SECONDS = 120.0


async def wait_for_worker(settings: Settings) -> None:
    """Until the worker polls its queue: a request is timed from its start, not the worker's."""
    deadline = time.monotonic() + WORKER_START_SECONDS
    while not (probe := await probe_task_queue(settings, "video")).up:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the video worker never polled: {probe.detail}")
        await asyncio.sleep(0.2)


async def measure(settings: Settings, tenant_id: str, user_id: str) -> dict[str, Any]:
    """One untimed-for-the-goal video on the fresh worker (fonts, music and codecs load on first use,
    once per worker process), then every format on the warm worker, as a long-running worker serves them."""
    client = await connect_client(settings, wait_seconds=60)
    await wait_for_worker(settings)
    first = await one_video(client, settings, tenant_id, user_id, FORMATS["720p"])
    videos = [await one_video(client, settings, tenant_id, user_id, fmt) for fmt in FORMATS.values()]
    return {"first_on_fresh_worker": first, "videos": videos}


def run() -> dict[str, Any]:
    var_dir = Path(tempfile.mkdtemp(prefix="mrbill-bench-video-"))
    os.chmod(var_dir, 0o755)  # noqa: S103 - PostgreSQL runs as another user when root
    env = {
        "MRBILL_ENVIRONMENT": "test",
        "MRBILL_VAR_DIR": str(var_dir),
        "MRBILL_PG_PORT": str(free_port()),
        "MRBILL_VALKEY_URL": f"redis://127.0.0.1:{free_port()}/0",
        "MRBILL_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "MRBILL_TEMPORAL_UI_PORT": str(free_port()),
        "MRBILL_LOG_JSON": "false",
        "MRBILL_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    settings = Settings()
    try:
        with running_stack(settings, ("postgres", "temporal")):
            tenant_id, user_id = asyncio.run(prepare(settings))
            with (var_dir / "worker.log").open("ab") as log:
                worker = subprocess.Popen(
                    [sys.executable, "-m", "temporal.worker", "video"],
                    env={**os.environ, **env},
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
            try:
                measured = asyncio.run(measure(settings, tenant_id, user_id))
            finally:
                worker.terminate()
                try:
                    worker.wait(30)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait(10)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    return {
        "benchmark": "recap video through the YearlyVideo workflow on one real worker",
        "goal": (
            f"{POCS} POCs, {SECONDS:g} s: <= {GOAL_SECONDS:g} s wall and <= {GOAL_RATIO}x encode-only ffmpeg"
        ),
        "machine": machine_facts(),
        "render_concurrency": settings.video_render_concurrency,
        **measured,
    }


def write_results(results: dict[str, Any]) -> None:
    (HERE / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    machine = results["machine"]
    lines = [
        "# Recap video benchmark",
        "",
        f"Machine: {json.dumps(machine, ensure_ascii=False)}",
        "",
        results["goal"] + f" (scenes at once: {results['render_concurrency']}).",
        "",
        "| format | POCs | video s | wall s | realtime x | encode-only s | ratio | goals (wall, ratio) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for video in results["videos"]:
        goals = (
            f"{'yes' if video['meets_wall_goal'] else 'no'}, {'yes' if video['meets_ratio_goal'] else 'no'}"
        )
        lines.append(
            f"| {video['format']} | {video['poc_count']} | {video['video_seconds']} "
            f"| {video['wall_seconds']} "
            f"| {video['realtime_factor']} | {video['baseline']['seconds']} | {video['ratio_to_baseline']} "
            f"| {goals} |"
        )
    first = results["first_on_fresh_worker"]
    lines += [
        "",
        "Each format is timed on a worker that is already polling and has served one video,",
        "as a long-running worker does. The first video on the freshly started worker",
        f"({first['format']}, not counted for the goal): {first['wall_seconds']} s wall,",
        f"{first['ratio_to_baseline']}x its encode-only run of {first['baseline']['seconds']} s;",
        f"its selection answered after {first['selection_answered_seconds']} s.",
    ]
    (HERE / "results.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    results = run()
    write_results(results)
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
