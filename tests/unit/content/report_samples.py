"""POCs and options the report tests share: accents, several years, a POC without language."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from api.content.reports.model import ReportOptions
from workflows.report_generation_types import ReportPoc

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
GENERATED_AT = datetime(2026, 1, 10, 15, 30, tzinfo=UTC)
TITLE = "Retrospectiva de POCs — Programação & Dados"
OWNER = "Conceição Araújo"
OWNER_EMAIL = "conceicao@example.com"

_LANGUAGES = ("Python", "TypeScript", "Python", "Go", "Rust", "Python", "TypeScript", None, "Elixir", "Other")
"""Ten long, against seven names and tags: languages don't follow the names, and Python leads."""
_TAGS: tuple[list[str], ...] = (
    ["Programação funcional", "estudo"],
    ["Integração contínua", "devops", "docker"],
    ["api", "backend"],
    ["machine learning", "dados", "api"],
    [],
    ["programacao funcional", "haskell-like"],
    ["frontend", "acessibilidade", "api"],
)
_FRAMEWORKS: tuple[list[str], ...] = (
    ["FastAPI"],
    ["React", "Next.js"],
    ["Gin"],
    [],
    ["Phoenix"],
    [],
    ["Django"],
)
_NAMES = (
    "Programação funcional em produção",
    "Integração contínua com GitHub Actions",
    "Busca por similaridade de imóveis",
    "Classificador de currículos",
    "Painel de métricas em tempo real",
    "Análise de sentimentos em notícias",
    "Protótipo de app de receitas culinárias",
)


def poc_id(index: int) -> str:
    return str(uuid.UUID(int=index + 1, version=4))


def sample_pocs(count: int = 42) -> list[ReportPoc]:
    """`count` POCs from 2023 to 2025, about two weeks apart, in several languages and tags."""
    start = datetime(2023, 1, 3, 13, 0, tzinfo=UTC)
    pocs: list[ReportPoc] = []
    for index in range(count):
        variant = index % len(_NAMES)
        created = start + timedelta(days=index * 17 % 1090, hours=index % 11)
        pocs.append(
            ReportPoc(
                poc_id=poc_id(index),
                name=f"{_NAMES[variant]} #{index + 1}",
                repository_url=f"https://github.com/exemplo/poc-{index + 1}",
                created_at=created.isoformat(),
                description=f'Descrição da POC {index + 1}: código, testes; e "aspas".',
                language=_LANGUAGES[index % len(_LANGUAGES)],
                is_public=index % 3 == 0,
                tags=list(_TAGS[variant]),
                frameworks=list(_FRAMEWORKS[variant]),
            )
        )
    return pocs


def options(
    format: str = "pdf",
    locale: str = "pt_BR",
    *,
    group_by: tuple[str, ...] = (),
    period_from: datetime | None = None,
    period_to: datetime | None = None,
    time_zone: str = "America/Sao_Paulo",
    title: str = TITLE,
) -> ReportOptions:
    return ReportOptions(
        title=title,
        owner_name=OWNER,
        owner_email=OWNER_EMAIL,
        format=format,
        locale=locale,
        time_zone=time_zone,
        generated_at=GENERATED_AT,
        period_from=period_from,
        period_to=period_to,
        group_by=group_by,
    )


def local(poc: ReportPoc) -> datetime:
    return datetime.fromisoformat(poc.created_at).astimezone(SAO_PAULO)
