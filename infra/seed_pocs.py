"""Realistic POCs for the demo tenant and the benchmarks, written straight into the catalog.

The same seed, tenant, users and end date always give the same POCs, with the same ids, so a
second run inserts nothing and two benchmark runs measure the same data. Names and
descriptions are in pt-BR or en, languages follow a plausible popularity, frameworks fit
their language, tags repeat the way real tags do (a few very common, a long tail), and dates
spread over several years.

Rows go in with multi-row inserts through the catalog's own data layer, as the catalog's
application role inside the tenant's transaction, so row-level security checks every row.
The search read model learns about them from the reconciliation (or a reindex).
"""

from __future__ import annotations

import random
import re
import time
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from api.catalog import repository
from api.catalog.indexing import IndexingGateway
from api.catalog.labels import parse_label, unique_labels
from api.catalog.piccolo_conf import build_engine
from api.catalog.repository import NewPoc
from api.common.settings import Settings
from api.common.tenancy import tenant_transaction
from workflows.poc_indexing_types import TASK_QUEUE as INDEXING_QUEUE
from workflows.poc_indexing_types import PocIndexRequest

DEFAULT_SEED = 20_260_101
DEFAULT_YEARS = 5
BATCH_SIZE = 2000
FALLBACK_LANGUAGE_TEXT = "Elm"
"""What the texts of an "Other" POC name as its language and framework."""

# (language, weight, frameworks)
LANGUAGES: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("Python", 24, ("Django", "FastAPI", "Flask", "Litestar", "Pandas", "PyTorch", "scikit-learn", "Celery")),
    ("JavaScript", 16, ("React", "Vue.js", "Express", "Next.js", "Svelte", "Three.js")),
    ("TypeScript", 14, ("Angular", "NestJS", "React", "Next.js", "Deno", "Prisma")),
    ("Java", 9, ("Spring Boot", "Quarkus", "Micronaut", "Hibernate")),
    ("Go", 7, ("Gin", "Echo", "Fiber", "gRPC")),
    ("Kotlin", 5, ("Ktor", "Spring Boot", "Jetpack Compose")),
    ("C#", 5, ("ASP.NET Core", "Blazor", "Unity", "Entity Framework")),
    ("Rust", 4, ("Actix Web", "Axum", "Tokio", "Bevy")),
    ("Dart", 3, ("Flutter",)),
    ("PHP", 3, ("Laravel", "Symfony")),
    ("Ruby", 2, ("Rails", "Sinatra")),
    ("Elixir", 2, ("Phoenix", "LiveView")),
    ("Swift", 2, ("SwiftUI", "Vapor")),
    ("C++", 1, ("Qt", "Unreal Engine")),
    ("R", 1, ("Shiny", "tidyverse")),
    ("Other", 2, ()),
)

# (tag, weight): a few tags everyone uses and a long tail, in both languages, accents included.
TAGS: tuple[tuple[str, int], ...] = (
    ("api", 30),
    ("backend", 22),
    ("frontend", 18),
    ("estudo", 16),
    ("microsserviços", 12),
    ("machine learning", 12),
    ("aprendizado de máquina", 6),
    ("dados", 10),
    ("automação", 10),
    ("testes", 9),
    ("docker", 9),
    ("kubernetes", 7),
    ("nuvem", 7),
    ("aws", 7),
    ("segurança", 6),
    ("observabilidade", 5),
    ("performance", 5),
    ("tempo real", 5),
    ("websocket", 4),
    ("graphql", 4),
    ("mobile", 6),
    ("cli", 4),
    ("jogos", 3),
    ("iot", 3),
    ("llm", 6),
    ("chatbot", 4),
    ("visão computacional", 3),
    ("computer vision", 2),
    ("nlp", 3),
    ("serverless", 3),
    ("webassembly", 2),
    ("scraping", 3),
    ("relatórios", 3),
    ("finanças", 3),
    ("pagamentos", 3),
    ("autenticação", 3),
    ("e-commerce", 3),
    ("saúde", 2),
    ("educação", 2),
    ("logística", 2),
    ("hackathon", 3),
    ("programação funcional", 2),
    ("concorrência", 2),
    ("cache", 2),
    ("busca", 2),
    ("acessibilidade", 1),
    ("devops", 4),
    ("ci-cd", 3),
    ("open source", 3),
    ("refatoração", 1),
)

_PT_NAMES = (
    "API de {thing_pt} com {framework}",
    "Chat em tempo real com {framework}",
    "Painel de métricas de {thing_pt}",
    "Classificador de {thing_pt} em {language}",
    "Bot de Telegram para {thing_pt}",
    "Scraper de preços de {thing_pt}",
    "Gerador de relatórios de {thing_pt}",
    "Fila de tarefas para {thing_pt} com {framework}",
    "Autenticação sem senha em {language}",
    "Cache distribuído para {thing_pt}",
    "Busca por similaridade de {thing_pt}",
    "Agenda de {thing_pt} com notificações",
    "Protótipo de app de {thing_pt}",
    "Migração de {thing_pt} para {framework}",
)
_EN_NAMES = (
    "{thing_en} API with {framework}",
    "Realtime chat using {framework}",
    "{thing_en} metrics dashboard",
    "{thing_en} classifier in {language}",
    "Slack bot for {thing_en}",
    "Price scraper for {thing_en}",
    "{thing_en} report generator",
    "Job queue for {thing_en} with {framework}",
    "Passwordless login in {language}",
    "Distributed cache for {thing_en}",
    "Similarity search over {thing_en}",
    "Offline-first {thing_en} app",
    "Event sourcing for {thing_en}",
    "Rate limiter in {language}",
)
_THINGS: tuple[tuple[str, str], ...] = (
    ("pedidos", "orders"),
    ("pagamentos", "payments"),
    ("faturas", "invoices"),
    ("consultas médicas", "medical appointments"),
    ("receitas culinárias", "recipes"),
    ("entregas", "deliveries"),
    ("imóveis", "real estate listings"),
    ("vagas de emprego", "job postings"),
    ("eventos", "events"),
    ("livros", "books"),
    ("filmes", "movies"),
    ("tickets de suporte", "support tickets"),
    ("sensores", "sensor readings"),
    ("transações", "transactions"),
    ("currículos", "résumés"),
    ("músicas", "songs"),
    ("cursos", "courses"),
    ("estoque", "inventory"),
    ("notícias", "news articles"),
    ("despesas", "expenses"),
)
_PT_SENTENCES = (
    "Prova de conceito para validar {framework} em um caso real de {thing_pt}.",
    "Explora como {language} lida com {tag} sem complicar o código.",
    "Feito em um fim de semana para aprender {framework} na prática.",
    "Compara duas abordagens de {tag} e mede o tempo de resposta.",
    "Inclui testes automatizados e um README explicando as decisões.",
    "A ideia é reaproveitar este código no produto principal se der certo.",
    "Roda localmente com um comando e não depende de serviços pagos.",
    "Mostra o fluxo completo, da entrada de dados até o relatório final.",
)
_EN_SENTENCES = (
    "A proof of concept to check whether {framework} fits a real {thing_en} use case.",
    "Explores how {language} handles {tag} without making the code hard to follow.",
    "Built over a weekend to learn {framework} hands-on.",
    "Compares two approaches to {tag} and measures response times.",
    "Comes with automated tests and a README explaining the trade-offs.",
    "If it works out, the code moves into the main product.",
    "Runs locally with one command and needs no paid services.",
    "Shows the whole flow, from data input to the final report.",
)


def _without_framework(templates: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(template for template in templates if "{framework}" not in template)


_TEMPLATES: dict[tuple[bool, bool], tuple[tuple[str, ...], tuple[str, ...]]] = {
    (True, True): (_EN_NAMES, _EN_SENTENCES),
    (True, False): (_without_framework(_EN_NAMES), _without_framework(_EN_SENTENCES)),
    (False, True): (_PT_NAMES, _PT_SENTENCES),
    (False, False): (_without_framework(_PT_NAMES), _without_framework(_PT_SENTENCES)),
}
"""(English?, has a framework?) -> name and sentence templates: no POC names a framework it lacks."""


@dataclass(frozen=True, slots=True)
class SeedReport:
    tenant_id: uuid.UUID
    generated: int
    inserted: int
    seconds: float
    poc_ids: tuple[uuid.UUID, ...]
    indexing_started: int = 0

    def index_requests(self) -> list[PocIndexRequest]:
        """Seeded POCs are at version 1 (soft-deleted ones too: the read model drops those)."""
        return [
            PocIndexRequest(tenant_id=str(self.tenant_id), poc_id=str(poc_id), version=1)
            for poc_id in self.poc_ids
        ]


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60] or "poc"


class _Vocabulary:
    """Parsed once: labels and cumulative weights for fast weighted choices."""

    def __init__(self) -> None:
        self.languages = [name for name, _, _ in LANGUAGES]
        self.language_weights = [weight for _, weight, _ in LANGUAGES]
        self.frameworks = {
            name: [parse_label(framework) for framework in frameworks] for name, _, frameworks in LANGUAGES
        }
        self.tags = [parse_label(tag) for tag, _ in TAGS]
        self.tag_weights = [weight for _, weight in TAGS]


_VOCABULARY = _Vocabulary()


def _user_handles(user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    return {user_id: f"dev-{user_id.hex[:8]}" for user_id in user_ids}


def generate_pocs(
    tenant_id: uuid.UUID,
    user_ids: Sequence[uuid.UUID],
    count: int,
    *,
    seed: int = DEFAULT_SEED,
    until: datetime | None = None,
    years: int = DEFAULT_YEARS,
    public_ratio: float = 0.45,
    deleted_ratio: float = 0.02,
    english_ratio: float = 0.4,
) -> list[NewPoc]:
    """`count` POCs of `user_ids` in `tenant_id`; deterministic for the same arguments.

    `until` (default: today, midnight UTC) is the newest possible creation time; the oldest
    is `years` before it. Users own POCs unevenly, as in real teams.
    """
    if not user_ids:
        raise ValueError("at least one user is needed to own the POCs")
    if count < 0:
        raise ValueError("count must not be negative")
    end = (until or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)).astimezone(UTC)
    span_seconds = int(timedelta(days=365 * years).total_seconds())
    start = end - timedelta(seconds=span_seconds)
    rng = random.Random(f"{seed}:{tenant_id}")  # noqa: S311 - demo data, not secrets
    owners = list(user_ids)
    owner_weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(owners))]
    handles = _user_handles(owners)
    vocabulary = _VOCABULARY
    languages = rng.choices(vocabulary.languages, vocabulary.language_weights, k=count)
    chosen_owners = rng.choices(owners, owner_weights, k=count)
    pocs: list[NewPoc] = []
    for index in range(count):
        language = languages[index]
        owner = chosen_owners[index]
        framework_pool = vocabulary.frameworks[language]
        frameworks = rng.sample(framework_pool, k=min(len(framework_pool), rng.choice((0, 1, 1, 1, 2, 2, 3))))
        tags = unique_labels(rng.choices(vocabulary.tags, vocabulary.tag_weights, k=rng.randint(1, 6)))
        thing_pt, thing_en = rng.choice(_THINGS)
        if frameworks:
            framework_name = frameworks[0].display
        else:
            framework_name = framework_pool[0].display if framework_pool else FALLBACK_LANGUAGE_TEXT
        context = {
            "framework": framework_name,
            "language": language if language != "Other" else FALLBACK_LANGUAGE_TEXT,
            "thing_pt": thing_pt,
            "thing_en": thing_en,
            "tag": tags[0].display,
        }
        english = rng.random() < english_ratio
        names, sentences = _TEMPLATES[(english, bool(frameworks))]
        name = rng.choice(names).format(**context)
        name = (name[0].upper() + name[1:])[:100]
        description = " ".join(
            sentence.format(**context) for sentence in rng.sample(sentences, k=rng.randint(1, 3))
        )
        # Growth over the years: later dates are likelier (square root of a uniform draw).
        offset = int(span_seconds * rng.random() ** 0.5)
        created_at = start + timedelta(seconds=offset, microseconds=rng.randrange(1_000_000))
        updated_at = min(end, created_at + timedelta(days=rng.choice((0, 0, 0, 1, 3, 10, 40))))
        deleted_at = updated_at + timedelta(hours=1) if rng.random() < deleted_ratio else None
        poc_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        pocs.append(
            NewPoc(
                poc_id=poc_id,
                tenant_id=tenant_id,
                user_id=owner,
                name=name,
                description=description,
                repository_url=f"https://github.com/{handles[owner]}/{_slug(name)}-{poc_id.hex[:6]}",
                language=language,
                is_public=rng.random() < public_ratio,
                tags=tuple(tags),
                frameworks=tuple(frameworks),
                created_at=created_at,
                updated_at=updated_at,
                deleted_at=deleted_at,
            )
        )
    return pocs


async def write_pocs(
    engine: Any, tenant_id: uuid.UUID, pocs: Sequence[NewPoc], *, batch_size: int = BATCH_SIZE
) -> int:
    """Insert `pocs` (all of `tenant_id`) in one tenant transaction, `batch_size` per statement."""
    inserted = 0
    async with tenant_transaction(engine, tenant_id) as transaction:
        for start in range(0, len(pocs), batch_size):
            inserted += await repository.bulk_insert_pocs(
                transaction.connection, pocs[start : start + batch_size]
            )
    return inserted


async def seed_pocs(
    engine: Any,
    tenant_id: uuid.UUID,
    user_ids: Sequence[uuid.UUID],
    count: int,
    *,
    seed: int = DEFAULT_SEED,
    until: datetime | None = None,
    years: int = DEFAULT_YEARS,
    batch_size: int = BATCH_SIZE,
) -> SeedReport:
    """Generate and write `count` POCs through `engine` (the catalog's application role)."""
    started = time.perf_counter()
    pocs = generate_pocs(tenant_id, user_ids, count, seed=seed, until=until, years=years)
    inserted = await write_pocs(engine, tenant_id, pocs, batch_size=batch_size)
    return SeedReport(
        tenant_id=tenant_id,
        generated=len(pocs),
        inserted=inserted,
        seconds=time.perf_counter() - started,
        poc_ids=tuple(poc.poc_id for poc in pocs if poc.poc_id is not None),
    )


async def seed_pocs_with_settings(
    settings: Settings,
    tenant_id: uuid.UUID,
    user_ids: Sequence[uuid.UUID],
    count: int,
    *,
    seed: int = DEFAULT_SEED,
    until: datetime | None = None,
    index: bool = False,
    indexing_task_queue: str = INDEXING_QUEUE,
) -> SeedReport:
    """`seed_pocs` with an engine of its own (``mrbill seed-demo``, ``make dev``), closed afterwards.

    With `index`, each seeded POC's PocIndexing workflow is started too, so a demo tenant is
    searchable at once; for bulk loads (benchmarks) a reindex is the faster way.
    """
    engine = build_engine(settings)
    await engine.start_connection_pool(min_size=1, max_size=2)
    try:
        report = await seed_pocs(engine, tenant_id, user_ids, count, seed=seed, until=until)
    finally:
        await engine.close_connection_pool()
    if not index:
        return report
    gateway = IndexingGateway(settings, task_queue=indexing_task_queue)
    started = await gateway.request_indexing(report.index_requests())
    return replace(report, indexing_started=started)
