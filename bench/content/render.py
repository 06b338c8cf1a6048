"""Benchmark: how long the report renderers take on realistic POCs, per format.

Goal (issue 4): a 1,000-POC PDF with its charts renders in at most 1.5 s on the reference
machine (2 cores). Measured, never asserted: `measure_pdf_render` times `render_report` (the
work of the render activity, which runs it in a worker thread) on POCs from the demo seed
generator (``infra.seed_pocs.generate_pocs``: names and tags in pt-BR and en, five years of
dates, plausible languages and frameworks), in pt-BR, the product's default locale. The
aggregation (`summarise`) is timed apart, as it runs in its own activity.

Besides the headline PDF it times the PDF with every grouping asked (each POC listed again
under its language, tags, frameworks and month, the heaviest request a person can make), the
XLSX and the CSV. One untimed render first warms Python's caches, as a long-lived worker is;
its time is reported as ``first_seconds``.

Run with ``uv run python -m bench.content.render [poc_count] [repeats]``; it prints JSON and
writes no file (the benchmark runner records the results with the machine's facts).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from api.content.reports.aggregate import summarise
from api.content.reports.model import ReportOptions
from api.content.reports.render import RenderedReport, render_report
from infra.seed_pocs import generate_pocs
from workflows.report_generation_types import GROUP_BY_FIELDS, ReportPoc

GOAL_SECONDS = 1.5
TENANT_ID = uuid.UUID("00000000-0000-4000-8000-00000000c0de")
OWNER_ID = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
UNTIL = datetime(2026, 1, 1, tzinfo=UTC)


def report_pocs(poc_count: int) -> list[ReportPoc]:
    """`poc_count` seeded POCs of one owner, as the selection activity hands them to the renderer."""
    pocs = generate_pocs(TENANT_ID, [OWNER_ID], poc_count, until=UNTIL, deleted_ratio=0.0)
    return [
        ReportPoc(
            poc_id=str(poc.poc_id),
            name=poc.name,
            repository_url=poc.repository_url,
            created_at=(poc.created_at or UNTIL).isoformat(),
            description=poc.description,
            language=poc.language,
            is_public=poc.is_public,
            tags=[tag.display for tag in poc.tags],
            frameworks=[framework.display for framework in poc.frameworks],
        )
        for poc in pocs
    ]


def report_options(format: str = "pdf", group_by: tuple[str, ...] = ()) -> ReportOptions:
    return ReportOptions(
        title="Retrospectiva de POCs 2021-2025",
        owner_name="Conceição Araújo",
        owner_email="conceicao@example.com",
        format=format,
        locale="pt_BR",
        time_zone="America/Sao_Paulo",
        generated_at=UNTIL,
        group_by=group_by,
    )


def _timed(action: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    """(first run's seconds, the timed runs' seconds, the last result)."""
    started = time.perf_counter()
    result = action()
    first = time.perf_counter() - started
    timings: list[float] = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = action()
        timings.append(time.perf_counter() - started)
    return first, timings, result


def _measure_format(pocs: Sequence[ReportPoc], options: ReportOptions, repeats: int) -> dict[str, Any]:
    summary = summarise(pocs, options)
    first, timings, rendered = _timed(lambda: render_report(pocs, summary, options), repeats)
    assert isinstance(rendered, RenderedReport)
    median = statistics.median(timings)
    return {
        "median_seconds": round(median, 4),
        "max_seconds": round(max(timings), 4),
        "min_seconds": round(min(timings), 4),
        "first_seconds": round(first, 4),
        "pages": rendered.page_count,
        "bytes": len(rendered.data),
        "group_by": list(options.group_by),
    }


def measure_pdf_render(poc_count: int = 1000, repeats: int = 5) -> dict[str, Any]:
    """Render times of `poc_count` POCs: the PDF against its goal, then the other formats."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    pocs = report_pocs(poc_count)
    pdf_options = report_options("pdf")
    _, aggregate_timings, _ = _timed(lambda: summarise(pocs, pdf_options), repeats)
    pdf = _measure_format(pocs, pdf_options, repeats)
    pdf["meets_goal"] = pdf["max_seconds"] <= GOAL_SECONDS
    return {
        "benchmark": "report rendering",
        "goal": f"a {poc_count:,}-POC PDF with charts renders in <= {GOAL_SECONDS} s",
        "goal_seconds": GOAL_SECONDS,
        "poc_count": poc_count,
        "repeats": repeats,
        "locale": pdf_options.locale,
        "aggregate": {
            "median_seconds": round(statistics.median(aggregate_timings), 4),
            "max_seconds": round(max(aggregate_timings), 4),
        },
        "pdf": pdf,
        "pdf_all_groups": _measure_format(pocs, replace(pdf_options, group_by=GROUP_BY_FIELDS), repeats),
        "xlsx": _measure_format(pocs, replace(pdf_options, format="xlsx"), repeats),
        "csv": _measure_format(pocs, replace(pdf_options, format="csv"), repeats),
    }


def main(arguments: Sequence[str]) -> None:
    poc_count = int(arguments[0]) if arguments else 1000
    repeats = int(arguments[1]) if len(arguments) > 1 else 5
    print(json.dumps(measure_pdf_render(poc_count, repeats), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])
