"""The catalog's OpenAPI document is part of the product: every route named, bodies described."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

pytestmark = pytest.mark.integration

EXPECTED_OPERATIONS = {
    "createPoc",
    "listPocs",
    "getPoc",
    "updatePoc",
    "deletePoc",
    "restorePoc",
    "putPocThumbnail",
    "deletePocThumbnail",
    "listPocTags",
    "addPocTag",
    "removePocTag",
    "listPocFrameworks",
    "getPopularTags",
    "suggestTags",
    "getPopularFrameworks",
    "suggestFrameworks",
    "listLanguages",
    "getFile",
}


async def test_every_operation_has_an_id_and_the_upload_body_is_declared(
    client: AsyncTestClient[Any],
) -> None:
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
    path, method = operations["putPocThumbnail"]
    upload = document["paths"][path][method]["requestBody"]["content"]
    assert set(upload) == {"image/png", "image/jpeg", "image/webp"}
    assert upload["image/png"]["schema"]["format"] == "binary"
    create_schema = document["paths"]["/v1/pocs"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    assert create_schema["$ref"].endswith("PocCreate")
    assert set(document["components"]["schemas"]["PocCreate"]["properties"]) == {
        "name",
        "repositoryUrl",
        "description",
        "language",
        "isPublic",
        "tags",
        "frameworks",
    }
    file_path, file_method = operations["getFile"]
    assert document["paths"][file_path][file_method]["security"] == [{}], "served without a token"
