"""Reports through the edge of a real `mrbill dev`: the demo owner asks for a PDF in Portuguese and a
spreadsheet in English, watches them progress, cancels a third, and downloads and opens the others
through their signed links.

Everything runs as `make dev` runs it (the content API, the ``content`` worker with its real
activities, the catalog and identity it reads, PostgreSQL, Temporal, Caddy), on free ports and
in a temporary var/ folder, beside a developer's own platform and the rest of the test session.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import openpyxl  # type: ignore[import-untyped]
import pytest
from pypdf import PdfReader

from infra.demo import DEMO_TENANT
from tests.e2e.platform import DevRun, dev_environment

pytestmark = pytest.mark.e2e

REPORT_TIMEOUT_SECONDS = 180.0
POLL_SECONDS = 0.02
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
ZONE = ZoneInfo("America/Sao_Paulo")
NEW_POCS = (
    ("Estação Meteorológica Caseira", "Python", ["iot", "e2e-relatorio"]),
    ("Cardápio do Bandejão", "TypeScript", ["web", "e2e-relatorio"]),
    ("Placar do Futebol de Várzea", "Kotlin", ["mobile", "e2e-relatorio"]),
)


@pytest.fixture(scope="module")
def platform() -> Iterator[str]:
    """`mrbill dev` on free ports; yields the edge's URL and stops everything afterwards."""
    with dev_environment("mrbill-reports-e2e-") as (env, ports):
        run = DevRun(env)
        try:
            run.wait_for_banner()
            yield ports.edge_url
            assert run.interrupt() == 0, run.tail()
        finally:
            if run.process.poll() is None:
                run.force_stop()


@pytest.fixture(scope="module")
def owner(platform: str) -> dict[str, str]:
    login = httpx.post(
        f"{platform}/v1/auth/login",
        json={
            "tenantSlug": DEMO_TENANT.slug,
            "email": DEMO_TENANT.admin_email,
            "password": DEMO_TENANT.password,
        },
        timeout=30,
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
    for name, language, tags in NEW_POCS:
        created = httpx.post(
            f"{platform}/v1/pocs",
            json={
                "name": name,
                "repositoryUrl": f"https://github.com/demo-owner/{name.lower().replace(' ', '-')}",
                "description": f"{name}: uma POC criada pelo teste de relatórios.",
                "language": language,
                "tags": tags,
                "isPublic": False,
            },
            headers=headers,
            timeout=30,
        )
        assert created.status_code == 201, created.text
    return headers


def ask_for_report(edge: str, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    today = datetime.now(ZONE).date()
    body = {
        "title": "Relatório de ponta a ponta",
        "from": (today - timedelta(days=3 * 365)).isoformat(),
        "to": today.isoformat(),
        "groupBy": ["language", "month"],
        "timeZone": "America/Sao_Paulo",
        **fields,
    }
    response = httpx.post(f"{edge}/v1/reports", json=body, headers=headers, timeout=30)
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/v1/reports/{response.json()['id']}"
    created: dict[str, Any] = response.json()
    return created


def watch(edge: str, headers: dict[str, str], report_id: str) -> tuple[dict[str, Any], list[tuple[str, int]]]:
    """Poll the request through the edge until it ends; every (status, progress) seen on the way."""
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + REPORT_TIMEOUT_SECONDS
    with httpx.Client(base_url=edge, headers=headers, timeout=30) as client:
        while True:
            report: dict[str, Any] = client.get(f"/v1/reports/{report_id}").json()
            if not seen or seen[-1] != (report["status"], report["progress"]):
                seen.append((report["status"], report["progress"]))
            if report["status"] in TERMINAL:
                return report, seen
            assert time.monotonic() < deadline, f"{report_id} still {report['status']}: {seen}"
            time.sleep(POLL_SECONDS)


def download(report: dict[str, Any]) -> bytes:
    """Through the signed link alone: no token, as a browser opening it would."""
    response = httpx.get(report["downloadUrl"], timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(report["mediaType"].split(";")[0])
    return response.content


@pytest.mark.timeout(1200)
def test_the_demo_owner_gets_a_pdf_and_a_spreadsheet_and_cancels_a_third(
    platform: str, owner: dict[str, str]
) -> None:
    pdf = ask_for_report(platform, owner, format="pdf", locale="pt-BR", title="Minhas POCs")
    xlsx = ask_for_report(platform, owner, format="xlsx", locale="en", title="My POCs")
    doomed = ask_for_report(platform, owner, format="pdf", locale="en", title="Never mind")
    cancel = httpx.post(f"{platform}/v1/reports/{doomed['id']}/cancel", headers=owner, timeout=30)
    assert cancel.status_code == 202, cancel.text

    pdf_report, pdf_seen = watch(platform, owner, pdf["id"])
    xlsx_report, xlsx_seen = watch(platform, owner, xlsx["id"])
    cancelled, _ = watch(platform, owner, doomed["id"])

    assert pdf_report["status"] == "COMPLETED", pdf_report
    assert xlsx_report["status"] == "COMPLETED", xlsx_report
    assert cancelled["status"] == "CANCELLED", cancelled
    assert cancelled["downloadUrl"] is None
    progress_seen = {progress for _status, progress in [*pdf_seen, *xlsx_seen]}
    assert progress_seen & set(range(1, 100)), (
        f"no progress between 0 and 100 was seen: {pdf_seen} {xlsx_seen}"
    )
    for seen in (pdf_seen, xlsx_seen):
        assert [progress for _status, progress in seen] == sorted(progress for _status, progress in seen)
    assert pdf_report["pocCount"] == xlsx_report["pocCount"] >= len(NEW_POCS)

    text = " ".join(
        " ".join((page.extract_text() or "").split())
        for page in PdfReader(io.BytesIO(download(pdf_report))).pages
    )
    assert "Minhas POCs" in text
    assert DEMO_TENANT.full_name in text
    for name, _language, _tags in NEW_POCS:
        assert name in text

    workbook = openpyxl.load_workbook(io.BytesIO(download(xlsx_report)))
    assert "Summary" in workbook.sheetnames
    names = [row[0] for row in workbook["POCs"].iter_rows(min_row=2, values_only=True)]
    assert len(names) == xlsx_report["pocCount"]
    assert {name for name, _language, _tags in NEW_POCS} <= set(names)

    listed = httpx.get(
        f"{platform}/v1/reports", params={"status": ["COMPLETED", "CANCELLED"]}, headers=owner, timeout=30
    ).json()
    assert {pdf["id"], xlsx["id"], doomed["id"]} <= {item["id"] for item in listed["items"]}
