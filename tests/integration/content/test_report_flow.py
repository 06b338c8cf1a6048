"""ReportGeneration end to end on the real stack: the content API, the real ``content`` worker and
its real activities (content's, catalog's and identity's, each as its own application role),
PostgreSQL, Temporal's dev server and the local store under the session's var folder.

A report is asked for through ``POST /v1/reports`` as a person would, polled to its end, and
the file it links to is opened (pypdf, openpyxl, csv) and read back against the POCs.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import openpyxl  # type: ignore[import-untyped]
import pytest
from piccolo.engine.postgres import PostgresEngine
from pypdf import PdfReader
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import ActivityEnvironment

from activities.catalog import CatalogActivities, CatalogReportActivities
from activities.content import ContentActivities
from activities.identity import IdentityProfileActivities
from api.catalog import repository as catalog_repository
from api.catalog.labels import parse_label
from api.catalog.piccolo_conf import build_engine as catalog_engine
from api.catalog.repository import NewPoc
from api.common.settings import Settings
from api.common.storage import LocalBlobStorage, local_blob_storage
from api.common.tenancy import tenant_transaction
from api.content import repository as content_repository
from api.content.piccolo_conf import build_engine as content_engine
from api.content.reports.aggregate import ReportSummary
from api.content.reports.model import ReportOptions
from api.content.reports.render import RenderedReport, render_report
from api.identity import onboarding
from infra.seed_pocs import generate_pocs
from temporal.worker import CompositeActivities, build_worker, content_activities
from tests.integration.content.support import Caller, ContentClient, TokenMint, path_of, running_content
from workflows.report_generation_types import (
    STEP_STARTS_AT,
    TASK_QUEUE,
    TOO_MANY_POCS_ERROR,
    PocSelectionRequest,
    ReportPoc,
    report_work_prefix,
    report_workflow_id,
)

pytestmark = pytest.mark.integration

POLL_SECONDS = 0.05
REPORT_TIMEOUT_SECONDS = 120.0
PERIOD_FROM = datetime(2025, 1, 1, 3, tzinfo=UTC)  # 2025-01-01 00:00 in São Paulo
PERIOD_TO = datetime(2026, 1, 1, 3, tzinfo=UTC)
SHEETS = {"pt_BR": "Resumo", "en": "Summary"}
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")


@dataclass
class Person:
    """A user with POCs in catalog; `caller` has a token for content, `in_identity` a row in identity."""

    caller: Caller
    full_name: str
    email: str
    pocs: dict[str, UUID] = field(default_factory=dict)
    """Name -> id of the POCs the reports of this period should include."""
    others: dict[str, UUID] = field(default_factory=dict)
    """Name -> id of POCs that must never appear (deleted, outside the period)."""


@dataclass
class Population:
    owner: Person
    colleague: Person
    """Same tenant, other user: private and public POCs in the period, never in the owner's report."""
    stranger: Person
    """Another tenant altogether."""


# -- the worker, the app and the people -----------------------------------------------------------


@pytest.fixture(scope="module")
async def worker_queue(settings: Settings, temporal: Client) -> AsyncIterator[str]:
    """The real content worker (its production registration and activities) on a queue of its own."""
    queue = f"content-flow-{uuid4().hex[:8]}"
    provider = content_activities(settings)
    async with provider, build_worker(TASK_QUEUE, temporal, settings, task_queue=queue, activities=provider):
        yield queue


@pytest.fixture(scope="module")
async def app(
    settings: Settings, mint: TokenMint, temporal: Client, worker_queue: str
) -> AsyncIterator[ContentClient]:
    async with running_content(settings, mint, task_queue=worker_queue, temporal_client=temporal) as client:
        yield client


@pytest.fixture(scope="module")
def storage(settings: Settings) -> LocalBlobStorage:
    return local_blob_storage(settings)


async def register_in_identity(settings: Settings, person: Person, *, tenant_exists: bool = False) -> None:
    """The person as identity knows them (as identity's application role, with its own code)."""
    engine = PostgresEngine(config={"dsn": settings.database_url("identity")}, log_queries=False)
    tenant_id, slug = str(person.caller.tenant_id), f"rep-{uuid4().hex[:10]}"
    if not tenant_exists:
        await onboarding.create_pending_tenant(
            engine,
            tenant_id=tenant_id,
            name=f"Empresa {slug}",
            slug=slug,
            domain=f"{slug}.example",
            plan="PRO",
            default_locale="pt_BR",
        )
        await onboarding.activate_tenant(engine, tenant_id)
    await onboarding.create_owner(
        engine,
        tenant_id=tenant_id,
        user_id=str(person.caller.user_id),
        email=person.email,
        password_hash="$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$integration",
        full_name=person.full_name,
        locale="pt_BR",
    )


async def add_poc(
    settings: Settings,
    person: Person,
    name: str,
    created_at: datetime,
    *,
    tags: Iterable[str] = (),
    language: str | None = "Python",
    public: bool = False,
    deleted: bool = False,
) -> UUID:
    engine = catalog_engine(settings)
    async with tenant_transaction(engine, person.caller.tenant_id) as transaction:
        poc = await catalog_repository.insert_poc(
            transaction.connection,
            NewPoc(
                tenant_id=person.caller.tenant_id,
                user_id=person.caller.user_id,
                name=name,
                repository_url=f"https://github.com/exemplo/{name.lower().replace(' ', '-')}",
                description=f"Descrição de {name}",
                language=language,
                is_public=public,
                tags=tuple(parse_label(tag) for tag in tags),
                frameworks=(parse_label("FastAPI"),),
                created_at=created_at,
                deleted_at=created_at + timedelta(days=1) if deleted else None,
            ),
        )
    return poc.poc_id


@pytest.fixture(scope="module")
async def population(settings: Settings, mint: TokenMint) -> Population:
    owner = Person(mint.caller(plan="PRO"), "Ana Conceição", f"ana-{uuid4().hex[:6]}@exemplo.com.br")
    colleague = Person(mint.caller(owner.caller.tenant_id, plan="PRO"), "Bruno Lima", "bruno@exemplo.com.br")
    stranger = Person(mint.caller(plan="PRO"), "Carla Dias", "carla@exemplo.com.br")
    await register_in_identity(settings, owner)
    await register_in_identity(settings, colleague, tenant_exists=True)
    await register_in_identity(settings, stranger)
    month = timedelta(days=30)
    for index, (name, tags, language, public) in enumerate(
        [
            ("Dirigível de Carga", ["iot", "Programação"], "Python", False),
            ("Zeppelin Logbook", ["api"], "Go", True),
            ("Açaí Tracker", ["api", "mobile"], "Kotlin", False),
            ("Ônibus em Tempo Real", ["mapas"], "TypeScript", True),
            ("Pão de Queijo Index", ["dados"], None, False),
        ]
    ):
        created = PERIOD_FROM + month * (2 * index + 1)
        owner.pocs[name] = await add_poc(
            settings, owner, name, created, tags=tags, language=language, public=public
        )
    owner.others["Apagada Antiga"] = await add_poc(
        settings, owner, "Apagada Antiga", PERIOD_FROM + month, tags=["api"], deleted=True
    )
    owner.others["Antes do Período"] = await add_poc(
        settings, owner, "Antes do Período", PERIOD_FROM - timedelta(seconds=1), tags=["api"]
    )
    owner.others["Depois do Período"] = await add_poc(settings, owner, "Depois do Período", PERIOD_TO)
    for person, label in ((colleague, "Colega"), (stranger, "Estranha")):
        for public in (False, True):
            name = f"{label} {'Pública' if public else 'Privada'}"
            person.others[name] = await add_poc(
                settings, person, name, PERIOD_FROM + month, tags=["api"], public=public
            )
    return Population(owner=owner, colleague=colleague, stranger=stranger)


# -- asking for a report, as a person would ---------------------------------------------------------


async def request_report(client: ContentClient, caller: Caller, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Minhas POCs de 2025",
        "format": "pdf",
        "from": "2025-01-01",
        "to": "2025-12-31",
        "groupBy": ["language", "month"],
        "timeZone": "America/Sao_Paulo",
        **fields,
    }
    response = await client.post("/v1/reports", json=body, headers=caller.headers)
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    return created


async def poll_until(
    client: ContentClient, caller: Caller, report_id: str, *, done: tuple[str, ...]
) -> tuple[dict[str, Any], list[tuple[int, str | None]]]:
    """The report once its status is in `done`, and every (progress, step) seen on the way."""
    seen: list[tuple[int, str | None]] = []
    deadline = time.monotonic() + REPORT_TIMEOUT_SECONDS
    while True:
        response = await client.get(f"/v1/reports/{report_id}", headers=caller.headers)
        assert response.status_code == 200, response.text
        report: dict[str, Any] = response.json()
        if not seen or seen[-1] != (report["progress"], report["step"]):
            seen.append((report["progress"], report["step"]))
        if report["status"] in done:
            return report, seen
        assert time.monotonic() < deadline, f"report {report_id} still {report['status']}: {seen}"
        await asyncio.sleep(POLL_SECONDS)


async def download(client: ContentClient, report: dict[str, Any]) -> bytes:
    url = report["downloadUrl"]
    assert url, report
    response = await client.get(path_of(url))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(report["mediaType"].split(";")[0])
    return response.content


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def xlsx_names(data: bytes, locale: str) -> tuple[list[str], list[str]]:
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    assert SHEETS[locale] in workbook.sheetnames
    rows = list(workbook["POCs"].iter_rows(values_only=True))
    return [str(row[0]) for row in rows[1:]], [str(row[8]) for row in rows[1:]]


def csv_rows(data: bytes, locale: str) -> list[list[str]]:
    delimiter = ";" if locale == "pt_BR" else ","
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=delimiter))


async def files_under(storage: LocalBlobStorage, caller: Caller) -> list[str]:
    return await storage.list(f"tenants/{caller.tenant_id}/users/{caller.user_id}/reports/")


async def selected_pocs(app: ContentClient, caller: Caller, report_id: str) -> list[UUID]:
    async with tenant_transaction(app.runtime.engine, caller.tenant_id) as transaction:
        return await content_repository.selected_poc_ids(transaction.connection, UUID(report_id))


# -- the tests -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("report_format", "locale"),
    [("pdf", "pt_BR"), ("pdf", "en"), ("xlsx", "pt_BR"), ("xlsx", "en"), ("csv", "pt_BR"), ("csv", "en")],
)
async def test_a_report_completes_with_exactly_the_owners_pocs_in_a_file_that_opens(
    app: ContentClient,
    storage: LocalBlobStorage,
    population: Population,
    report_format: str,
    locale: str,
) -> None:
    owner = population.owner
    created = await request_report(
        app,
        owner.caller,
        format=report_format,
        locale=locale.replace("_", "-"),
        title=f"POCs {report_format}",
    )
    report, seen = await poll_until(app, owner.caller, created["id"], done=TERMINAL)

    assert report["status"] == "COMPLETED", report
    assert report["progress"] == 100
    assert report["pocCount"] == len(owner.pocs)
    assert [progress for progress, _step in seen] == sorted(progress for progress, _step in seen)
    data = await download(app, report)
    expected = set(owner.pocs)
    forbidden = {*owner.others, *population.colleague.others, *population.stranger.others}
    if report_format == "pdf":
        assert data.startswith(b"%PDF")
        text = pdf_text(data)
        assert all(name in text for name in expected), text[:2000]
        assert not [name for name in forbidden if name in text]
        assert owner.full_name in text
    elif report_format == "xlsx":
        names, ids = xlsx_names(data, locale)
        assert set(names) == expected
        assert set(ids) == {str(poc_id) for poc_id in owner.pocs.values()}
    else:
        rows = csv_rows(data, locale)
        assert {row[0] for row in rows[1:]} == expected
        assert len(rows) == len(expected) + 1
    assert sorted(await selected_pocs(app, owner.caller, created["id"])) == sorted(owner.pocs.values())
    files = await files_under(storage, owner.caller)
    assert (
        f"tenants/{owner.caller.tenant_id}/users/{owner.caller.user_id}/reports/{created['id']}.{report_format}"
        in files
    )
    work = report_work_prefix(str(owner.caller.tenant_id), str(owner.caller.user_id), created["id"])
    assert not [key for key in files if key.startswith(work)]


async def test_tags_narrow_the_selection_and_match_whatever_the_spelling(
    app: ContentClient, population: Population
) -> None:
    """``programacao`` finds "Programação"; excluded tags win; deleted and out-of-period POCs never come."""
    owner = population.owner
    created = await request_report(
        app,
        owner.caller,
        format="csv",
        locale="en",
        includeTags=["API", "programacao"],
        excludeTags=["Mobile"],
    )
    report, _seen = await poll_until(app, owner.caller, created["id"], done=("COMPLETED", "FAILED"))

    assert report["status"] == "COMPLETED", report
    names = {row[0] for row in csv_rows(await download(app, report), "en")[1:]}
    assert names == {"Dirigível de Carga", "Zeppelin Logbook"}
    assert sorted(await selected_pocs(app, owner.caller, created["id"])) == sorted(
        [owner.pocs["Dirigível de Carga"], owner.pocs["Zeppelin Logbook"]]
    )


async def test_the_colleagues_report_never_includes_the_owners_pocs(
    app: ContentClient, population: Population
) -> None:
    colleague = population.colleague
    created = await request_report(app, colleague.caller, format="xlsx", locale="en")
    report, _seen = await poll_until(app, colleague.caller, created["id"], done=("COMPLETED", "FAILED"))

    assert report["status"] == "COMPLETED", report
    names, _ids = xlsx_names(await download(app, report), "en")
    assert set(names) == set(colleague.others)  # private and public alike, both the colleague's own


def slowed_renderer(
    pocs: Sequence[ReportPoc],
    summary: ReportSummary,
    options: ReportOptions,
    *,
    progress: Callable[[float], None] | None = None,
) -> RenderedReport:
    """The real renderer, slowed down: each progress report waits a moment, as a huge table would."""

    def slowly(fraction: float) -> None:
        time.sleep(0.25)
        if progress is not None:
            progress(fraction)

    return render_report(pocs, summary, options, progress=slowly)


async def test_cancelling_while_rendering_stops_the_renderer_and_leaves_no_file(
    storage: LocalBlobStorage, settings: Settings, mint: TokenMint, temporal: Client
) -> None:
    person = Person(mint.caller(plan="PRO"), "Dora Nogueira", "dora@exemplo.com.br")
    await register_in_identity(settings, person)
    many = generate_pocs(person.caller.tenant_id, [person.caller.user_id], 400, until=PERIOD_TO, years=1)
    engine = catalog_engine(settings)
    async with tenant_transaction(engine, person.caller.tenant_id) as transaction:
        await catalog_repository.bulk_insert_pocs(transaction.connection, many)
    queue = f"content-slow-{uuid4().hex[:8]}"
    provider = CompositeActivities(
        ContentActivities(content_engine(settings), storage, renderer=slowed_renderer),
        CatalogReportActivities.from_settings(settings),
        IdentityProfileActivities.from_settings(settings),
    )
    async with (
        provider,
        build_worker(TASK_QUEUE, temporal, settings, task_queue=queue, activities=provider),
        running_content(settings, mint, task_queue=queue, temporal_client=temporal) as app,
    ):
        created = await request_report(app, person.caller, format="pdf", locale="pt-BR", title="Cancelada")
        deadline = time.monotonic() + REPORT_TIMEOUT_SECONDS
        while True:  # until the renderer itself has reported progress
            state = (await app.get(f"/v1/reports/{created['id']}", headers=person.caller.headers)).json()
            if state["step"] == "rendering" and state["progress"] > STEP_STARTS_AT["render"]:
                break
            assert state["status"] in ("PENDING", "PROCESSING"), state
            assert time.monotonic() < deadline, state
            await asyncio.sleep(0.05)
        cancel = await app.post(f"/v1/reports/{created['id']}/cancel", headers=person.caller.headers)
        assert cancel.status_code == 202, cancel.text
        report, _seen = await poll_until(app, person.caller, created["id"], done=TERMINAL)
        # The request reads CANCELLED first; the run then deletes the files and ends as Cancelled.
        handle = temporal.get_workflow_handle(report_workflow_id(str(person.caller.tenant_id), created["id"]))
        with pytest.raises(WorkflowFailureError) as ended:
            await handle.result()
        history = await handle.fetch_history()

    assert report["status"] == "CANCELLED", report
    assert report["progress"] < STEP_STARTS_AT["publish"]
    assert report["downloadUrl"] is None
    assert isinstance(ended.value.cause, CancelledError)
    stopped = [
        event for event in history.events if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED
    ]
    assert len(stopped) == 1  # the renderer stopped mid-way, before the files were deleted
    assert await files_under(storage, person.caller) == []


async def test_an_owner_unknown_to_identity_gets_a_failed_request_with_a_message(
    app: ContentClient, mint: TokenMint, settings: Settings
) -> None:
    nobody = Person(mint.caller(plan="PRO"), "Ninguém", "ninguem@exemplo.com.br")
    await add_poc(settings, nobody, "Órfã", PERIOD_FROM + timedelta(days=3))
    created = await request_report(app, nobody.caller, format="csv", locale="pt-BR")
    report, _seen = await poll_until(app, nobody.caller, created["id"], done=("COMPLETED", "FAILED"))

    assert report["status"] == "FAILED"
    assert report["errorCode"] == "owner_not_found"
    assert report["errorMessage"] == (
        "Sua conta não foi encontrada nesta organização, então o relatório não foi gerado."
    )


async def test_the_selection_refuses_more_pocs_than_its_limit_with_the_count(
    settings: Settings, population: Population
) -> None:
    """The real catalog activity: too many POCs is non-retryable and says how many, without writing."""
    owner = population.owner
    activities = CatalogActivities.from_settings(settings)
    request_id = str(uuid4())
    request = PocSelectionRequest(
        tenant_id=str(owner.caller.tenant_id),
        user_id=str(owner.caller.user_id),
        request_id=request_id,
        from_date=PERIOD_FROM.isoformat(),
        to_date=PERIOD_TO.isoformat(),
        limit=2,
    )
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(activities.select_report_pocs, request)

    assert refused.value.type == TOO_MANY_POCS_ERROR
    assert refused.value.non_retryable
    assert refused.value.details == ({"count": len(owner.pocs), "limit": 2},)
    assert activities.storage is not None
    work = report_work_prefix(str(owner.caller.tenant_id), str(owner.caller.user_id), request_id)
    assert await activities.storage.list(work) == []
