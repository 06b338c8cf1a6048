"""Bodies of searchDojos (camelCase on the wire), the seed's Dojo fields a listing shows."""

from __future__ import annotations

from datetime import datetime

from api.common.schemas import CamelStruct
from api.search.dojo_engine import DojoHit


class DojoSearchHit(CamelStruct):
    dojo_id: str
    creator_id: str
    name: str
    description: str | None
    language: str
    status: str
    is_private: bool
    scheduled_start_time: datetime | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    participant_count: int
    """People in the dojo now (participants and observers)."""
    version: int
    score: float | None = None

    @classmethod
    def from_hit(cls, hit: DojoHit) -> DojoSearchHit:
        return cls(
            dojo_id=hit.dojo_id,
            creator_id=hit.creator_id,
            name=hit.name,
            description=hit.description,
            language=hit.language,
            status=hit.status,
            is_private=hit.is_private,
            scheduled_start_time=hit.scheduled_start_time,
            created_at=hit.created_at,
            started_at=hit.started_at,
            ended_at=hit.ended_at,
            participant_count=hit.participant_count,
            version=hit.version,
            score=round(hit.score, 6) if hit.score is not None else None,
        )


class DojoSearchResults(CamelStruct):
    """The seed's SearchResult~Dojo~: one page of dojos and how many match in all."""

    items: list[DojoSearchHit]
    total_items: int
    page: int
    page_size: int
    total_pages: int
