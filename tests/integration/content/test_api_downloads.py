"""Downloads: a completed report's file behind a signed, expiring link that names the file."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from api.content import repository
from tests.integration.content.support import Caller, ContentClient, TokenMint, create_report, path_of
from workflows.report_generation_types import report_result_key

pytestmark = pytest.mark.integration

PDF_BYTES = b"%PDF-1.7\n% a stand-in for a rendered report\n%%EOF\n"


async def _completed_report(
    client: ContentClient, owner: Caller, *, title: str, extension: str = "pdf", content: bytes = PDF_BYTES
) -> dict[str, Any]:
    """A request completed the way the workflow completes it: file in storage, then mark_completed."""
    created = await create_report(client, owner, title=title, format=extension)
    key = report_result_key(str(owner.tenant_id), str(owner.user_id), created["id"], extension)
    media_type = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8"}[extension]
    await client.runtime.storage.put(key, content, content_type=media_type)
    async with client.runtime.work(owner.tenant_id) as work:
        request_id = uuid.UUID(created["id"])
        assert await repository.claim_request(work.connection, request_id) is not None
        assert await repository.mark_completed(
            work.connection, request_id, result_key=key, media_type=media_type, size=len(content), poc_count=7
        )
    return created


async def test_a_completed_report_downloads_through_a_signed_link(
    client: ContentClient, mint: TokenMint
) -> None:
    owner = mint.caller()
    created = await _completed_report(client, owner, title='Relatório: 2026/1º "tri"')

    detail = (await client.get(f"/v1/reports/{created['id']}", headers=owner.headers)).json()
    assert detail["status"] == "COMPLETED"
    assert detail["progress"] == 100
    assert detail["pocCount"] == 7
    assert detail["sizeBytes"] == len(PDF_BYTES)
    assert detail["mediaType"] == "application/pdf"
    assert detail["fileName"] == "Relatório 2026 1º tri.pdf"
    assert detail["links"]["download"] == f"/v1/reports/{created['id']}/download"
    expires_at = datetime.fromisoformat(detail["downloadUrlExpiresAt"])
    assert 14 * 60 <= (expires_at - datetime.now(UTC)).total_seconds() <= 15 * 60
    assert urlsplit(detail["downloadUrl"]).path.startswith(f"/v1/downloads/tenants/{owner.tenant_id}/")

    redirect = await client.get(f"/v1/reports/{created['id']}/download", headers=owner.headers)

    assert redirect.status_code == 303
    location = redirect.headers["location"]
    assert redirect.json()["url"] == location
    assert redirect.json()["fileName"] == "Relatório 2026 1º tri.pdf"
    assert redirect.headers["cache-control"] == "no-store"
    served = await client.get(path_of(location))  # no token: the link is the key
    assert served.status_code == 200, served.text
    assert served.content == PDF_BYTES
    assert served.headers["content-type"] == "application/pdf"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["cache-control"].startswith("private, max-age=")
    assert served.headers["content-disposition"] == (
        "attachment; filename=\"Relatorio 2026 1o tri.pdf\"; filename*=UTF-8''"
        + quote("Relatório 2026 1º tri.pdf", safe="")
    )


async def test_csv_files_are_served_as_utf8_text(client: ContentClient, mint: TokenMint) -> None:
    owner = mint.caller()
    content = b"nome;linguagem\nChat em tempo real;Python\n"
    created = await _completed_report(client, owner, title="Planilha", extension="csv", content=content)
    link = (await client.get(f"/v1/reports/{created['id']}/download", headers=owner.headers)).headers[
        "location"
    ]
    served = await client.get(path_of(link))
    assert served.content == content
    assert served.headers["content-type"] == "text/csv; charset=utf-8"
    assert served.headers["content-disposition"] == 'attachment; filename="Planilha.csv"'


async def test_links_expire_and_cannot_be_forged(client: ContentClient, mint: TokenMint) -> None:
    owner = mint.caller()
    created = await _completed_report(client, owner, title="Trimestre")
    link = (await client.get(f"/v1/reports/{created['id']}/download", headers=owner.headers)).headers[
        "location"
    ]
    parts = urlsplit(link)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    key = parts.path.removeprefix("/v1/downloads/")
    storage = client.runtime.storage

    renamed = await client.get(parts.path, params={**query, "filename": "malware.exe"})
    assert renamed.status_code == 403
    assert renamed.json()["code"] == "invalid-download-link"
    extended = await client.get(parts.path, params={**query, "expires": int(query["expires"]) + 3600})
    assert extended.status_code == 403
    other_report = key.replace(created["id"], str(uuid.uuid4()))
    assert (await client.get(f"/v1/downloads/{other_report}", params=query)).status_code == 403
    unsigned = await client.get(parts.path)
    assert unsigned.status_code == 400

    short_lived = path_of(storage.sign_url(key, 1, filename="Trimestre.pdf"))
    assert (await client.get(short_lived)).status_code == 200
    await asyncio.sleep(2.1)
    expired = await client.get(short_lived, headers={"Accept-Language": "en"})
    assert expired.status_code == 403
    assert expired.json()["code"] == "expired-download-link"
    assert expired.json()["detail"] == (
        "This download link has expired; open the report request again to get a new one."
    )


async def test_only_report_files_are_served(client: ContentClient, mint: TokenMint) -> None:
    owner = mint.caller()
    storage = client.runtime.storage
    thumbnail = f"tenants/{owner.tenant_id}/users/{owner.user_id}/pocs/{uuid.uuid4()}/thumbnail.png"
    work_file = f"tenants/{owner.tenant_id}/users/{owner.user_id}/reports/work/{uuid.uuid4()}/pocs.json"
    for key in (thumbnail, work_file, "tenants/x/branding.json"):
        await storage.put(key, b"secret")
        response = await client.get(path_of(storage.sign_url(key, 60)))
        assert response.status_code == 403, key
    traversal = await client.get("/v1/downloads/../keys/storage-signing.key?expires=9999999999&signature=x")
    assert traversal.status_code in (403, 404)

    created = await _completed_report(client, owner, title="Apagado")
    link = (await client.get(f"/v1/reports/{created['id']}/download", headers=owner.headers)).headers[
        "location"
    ]
    await storage.delete(report_result_key(str(owner.tenant_id), str(owner.user_id), created["id"], "pdf"))
    gone = await client.get(path_of(link))
    assert gone.status_code == 404
    assert gone.json()["code"] == "report-file-missing"


async def test_a_report_not_completed_has_no_download(client: ContentClient, mint: TokenMint) -> None:
    owner = mint.caller()
    created = await create_report(client, owner)
    response = await client.get(
        f"/v1/reports/{created['id']}/download", headers=owner.with_headers(Accept_Language="pt-BR")
    )
    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "report-not-ready"
    assert problem["reportStatus"] == "PENDING"
    assert problem["detail"] == (
        "O relatório pode ser baixado quando estiver concluído; agora ele está aguardando início."
    )
    detail = (await client.get(f"/v1/reports/{created['id']}", headers=owner.headers)).json()
    assert detail["downloadUrl"] is None
    assert detail["sizeBytes"] is None
