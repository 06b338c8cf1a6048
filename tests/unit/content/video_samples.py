"""POCs, options and images the video tests share: one year, accents, times of day, some pictures."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image, ImageDraw

from api.content.video.model import VideoOptions
from workflows.report_generation_types import ReportPoc

YEAR = 2025
OWNER = "Conceição Araújo"
TITLE = "Retrospectiva de POCs — Programação & Dados"

_NAMES = (
    "Programação funcional em produção",
    "Integração contínua com GitHub Actions",
    "Busca por similaridade de imóveis",
    "Classificador de currículos",
    "Painel de métricas em tempo real",
    "Análise de sentimentos em notícias",
    "Protótipo de app de receitas culinárias",
)
_LANGUAGES = ("Python", "TypeScript", "Python", "Go", "Rust", None, "Elixir", "Other")
_TAGS: tuple[list[str], ...] = (
    ["Programação funcional", "estudo"],
    ["Integração contínua", "devops", "docker"],
    ["api", "backend"],
    ["machine learning", "dados", "api"],
    [],
    ["programacao funcional", "acessibilidade"],
)
_FRAMEWORKS: tuple[list[str], ...] = (["FastAPI"], ["React", "Next.js"], [], ["Phoenix"], ["Django"])


def poc_id(index: int) -> str:
    return str(uuid.UUID(int=index + 1, version=4))


def year_pocs(count: int, year: int = YEAR) -> list[ReportPoc]:
    """`count` POCs spread over `year` (UTC), at varied hours, in several languages and tags."""
    start = datetime(year, 1, 2, 13, 0, tzinfo=UTC)
    pocs: list[ReportPoc] = []
    for index in range(count):
        created = start + timedelta(days=(index * 29) % 360, hours=(index * 5) % 11)
        pocs.append(
            ReportPoc(
                poc_id=poc_id(index),
                name=f"{_NAMES[index % len(_NAMES)]} #{index + 1}",
                repository_url=f"https://example.com/poc-{index + 1}",
                created_at=created.isoformat(),
                description=(
                    None
                    if index % 5 == 4
                    else f"Prova de conceito nº {index + 1}: ações, decisões e lições aprendidas em produção."
                ),
                language=_LANGUAGES[index % len(_LANGUAGES)],
                is_public=index % 3 == 0,
                tags=list(_TAGS[index % len(_TAGS)]),
                frameworks=list(_FRAMEWORKS[index % len(_FRAMEWORKS)]),
            )
        )
    return pocs


def options(**overrides: Any) -> VideoOptions:
    values: dict[str, Any] = {
        "title": TITLE,
        "owner_name": OWNER,
        "year": YEAR,
        "format": "landscape-720",
        "style": "aurora",
        "music_track": "bright",
        "locale": "pt_BR",
        "time_zone": "America/Sao_Paulo",
    }
    values.update(overrides)
    return VideoOptions(**values)


def picture_bytes(size: tuple[int, int] = (640, 400), image_format: str = "PNG") -> bytes:
    """A small picture with coloured shapes: what a POC's screenshot stands in for."""
    image = Image.new("RGB", size, (30, 120, 200))
    draw = ImageDraw.Draw(image)
    width, height = size
    draw.ellipse((width // 8, height // 8, width // 2, height * 7 // 8), fill=(250, 200, 50))
    draw.rectangle((width * 9 // 16, height // 4, width * 15 // 16, height * 3 // 4), fill=(200, 50, 90))
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()
