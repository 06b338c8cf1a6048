"""Lists are paged the same way in every service: ``?page=1&pageSize=20`` in, `Page` out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from litestar.params import QueryParameter

from api.common.errors import BadRequestError, FieldError
from api.common.i18n import N_
from api.common.schemas import CamelStruct

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageParams:
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    def __post_init__(self) -> None:
        errors: list[FieldError] = []
        if self.page < 1:
            errors.append(
                {
                    "field": "page",
                    "message": N_("Must be greater than or equal to {limit}."),
                    "params": {"limit": 1},
                }
            )
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            errors.append(
                {
                    "field": "pageSize",
                    "message": N_("Must be between {low} and {high}."),
                    "params": {"low": 1, "high": MAX_PAGE_SIZE},
                }
            )
        if errors:
            raise BadRequestError(N_("Some request parameters are invalid."), errors=errors)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    @property
    def limit(self) -> int:
        return self.page_size


class Page(CamelStruct, Generic[T]):
    items: list[T]
    total_items: int
    page: int
    page_size: int
    total_pages: int

    @classmethod
    def build(cls, items: Sequence[T], total: int, params: PageParams) -> Page[T]:
        return cls(
            items=list(items),
            total_items=total,
            page=params.page,
            page_size=params.page_size,
            total_pages=math.ceil(total / params.page_size) if total > 0 else 0,
        )


def provide_page_params(
    page: Annotated[int, QueryParameter(name="page", ge=1, description="1-based page number.")] = 1,
    page_size: Annotated[
        int,
        QueryParameter(name="pageSize", ge=1, le=MAX_PAGE_SIZE, description="Items per page (at most 100)."),
    ] = DEFAULT_PAGE_SIZE,
) -> PageParams:
    """Litestar dependency: ``{"paging": Provide(provide_page_params, sync_to_thread=False)}``.

    The handler declares ``paging: NamedDependency[PageParams]``.
    """
    return PageParams(page=page, page_size=page_size)
