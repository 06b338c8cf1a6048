"""Paging is the same everywhere: 1-based pages, 1..100 items, totals a client can render."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import get
from litestar.di import NamedDependency, Provide
from litestar.testing import AsyncTestClient

from api.common.app import create_service_app
from api.common.errors import BadRequestError
from api.common.pagination import MAX_PAGE_SIZE, Page, PageParams, provide_page_params
from api.common.schemas import CamelStruct
from api.common.settings import Settings

pytestmark = pytest.mark.unit

NUMBERS = list(range(1, 46))


class Number(CamelStruct):
    value: int
    is_even: bool


@get(
    "/v1/numbers",
    operation_id="listNumbers",
    dependencies={"paging": Provide(provide_page_params, sync_to_thread=False)},
    opt={"public": True},
)
async def list_numbers(paging: NamedDependency[PageParams]) -> Page[Number]:
    window = NUMBERS[paging.offset : paging.offset + paging.limit]
    return Page.build([Number(value=n, is_even=n % 2 == 0) for n in window], len(NUMBERS), paging)


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    app = create_service_app(service="probe", settings=Settings(), route_handlers=[list_numbers])
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


async def test_defaults_are_page_one_of_twenty(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    body = (await client.get("/v1/numbers")).json()
    assert body["page"] == 1
    assert body["pageSize"] == 20
    assert body["totalItems"] == 45
    assert body["totalPages"] == 3
    assert [item["value"] for item in body["items"]] == list(range(1, 21))
    assert body["items"][1] == {"value": 2, "isEven": True}


async def test_last_partial_page_and_beyond(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    last = (await client.get("/v1/numbers", params={"page": 3, "pageSize": 20})).json()
    assert [item["value"] for item in last["items"]] == list(range(41, 46))
    beyond = (await client.get("/v1/numbers", params={"page": 9})).json()
    assert beyond["items"] == []
    assert beyond["totalPages"] == 3


async def test_page_size_bounds_are_inclusive(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    assert len((await client.get("/v1/numbers", params={"pageSize": 1})).json()["items"]) == 1
    biggest = (await client.get("/v1/numbers", params={"pageSize": MAX_PAGE_SIZE})).json()
    assert len(biggest["items"]) == 45
    assert biggest["totalPages"] == 1


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"page": 0}, "page", "Must be greater than or equal to 1."),
        ({"page": -3}, "page", "Must be greater than or equal to 1."),
        ({"pageSize": 0}, "pageSize", "Must be greater than or equal to 1."),
        ({"pageSize": 101}, "pageSize", "Must be less than or equal to 100."),
        ({"page": "two"}, "page", "Expected a value of type int, got str."),
    ],
)
async def test_invalid_paging_is_a_400_problem(
    client: AsyncTestClient,  # type: ignore[type-arg]
    params: dict[str, Any],
    field: str,
    message: str,
) -> None:
    response = await client.get("/v1/numbers", params=params, headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [{"field": field, "message": message}]


async def test_paging_parameters_are_documented(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    document = (await client.get("/schema/openapi.json")).json()
    parameters = {p["name"]: p["schema"] for p in document["paths"]["/v1/numbers"]["get"]["parameters"]}
    assert parameters["page"]["minimum"] == 1
    assert parameters["pageSize"]["maximum"] == MAX_PAGE_SIZE


def test_page_params_validate_when_built_directly() -> None:
    assert PageParams(page=3, page_size=10).offset == 20
    with pytest.raises(BadRequestError) as caught:
        PageParams(page=0, page_size=500)
    assert [error["field"] for error in caught.value.errors] == ["page", "pageSize"]


def test_empty_results_have_zero_pages() -> None:
    page: Page[int] = Page.build([], 0, PageParams())
    assert (page.total_items, page.total_pages, page.items) == (0, 0, [])
