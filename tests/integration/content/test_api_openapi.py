"""Content's OpenAPI document is part of the product: every route named, bodies and errors described."""

from __future__ import annotations

import pytest

from tests.integration.content.support import ContentClient

pytestmark = pytest.mark.integration

EXPECTED_OPERATIONS = {
    "createReport",
    "listReports",
    "getReport",
    "cancelReport",
    "downloadReport",
    "getDownload",
    "getLiveness",
    "getReadiness",
}


async def test_every_operation_has_an_id_and_the_contract_is_described(client: ContentClient) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document = response.json()
    operations = {
        operation["operationId"]: (path, method)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    }
    missing_ids = [
        (path, method)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "responses" in operation and "operationId" not in operation
    ]
    assert missing_ids == []
    assert operations.keys() >= EXPECTED_OPERATIONS

    create = document["paths"]["/v1/reports"]["post"]
    assert set(create["responses"]) >= {"202", "422", "429", "503"}
    assert "Location" in create["responses"]["202"]["headers"]
    assert create["responses"]["429"]["content"]["application/problem+json"]["schema"]["$ref"].endswith(
        "ProblemOut"
    )
    assert {"name": "Idempotency-Key", "in": "header"}.items() <= next(
        parameter for parameter in create["parameters"] if parameter["name"] == "Idempotency-Key"
    ).items()
    schemas = document["components"]["schemas"]
    assert set(schemas["ReportCreate"]["properties"]) == {
        "title",
        "format",
        "from",
        "to",
        "includeTags",
        "excludeTags",
        "groupBy",
        "locale",
        "timeZone",
    }
    assert schemas["ReportCreate"]["required"] == ["format", "title"]
    assert schemas["ReportCreate"]["properties"]["format"]["enum"] == ["pdf", "xlsx", "csv"]
    assert schemas["ReportCreate"]["properties"]["groupBy"]["items"]["enum"] == [
        "language",
        "tag",
        "framework",
        "month",
    ]
    assert {"id", "status", "progress", "estimatedCompletionAt", "downloadUrl", "links"} <= set(
        schemas["ReportOut"]["properties"]
    )

    download_path, download_method = operations["getDownload"]
    assert document["paths"][download_path][download_method]["security"] == [{}], "served without a token"
    redirect_path, redirect_method = operations["downloadReport"]
    assert "303" in document["paths"][redirect_path][redirect_method]["responses"]
