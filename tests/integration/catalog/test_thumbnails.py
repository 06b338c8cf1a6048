"""Thumbnails: upload, resize, storage layout, signed links, and every way an upload goes wrong."""

from __future__ import annotations

import asyncio
import io
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar.testing import AsyncTestClient
from PIL import Image

from api.catalog.thumbnails import MAX_THUMBNAIL_UPLOAD_BYTES
from tests.integration.catalog.support import TokenMint, create_poc, file_path, image_bytes, runtime_of

pytestmark = pytest.mark.integration


def _upload_headers(headers: dict[str, str], content_type: str = "image/png") -> dict[str, str]:
    return {**headers, "Content-Type": content_type}


@pytest.mark.parametrize(
    ("format", "extension", "media_type"),
    [("PNG", "png", "image/png"), ("JPEG", "jpg", "image/jpeg"), ("WEBP", "webp", "image/webp")],
)
async def test_upload_resizes_stores_and_serves_by_signed_link(
    client: AsyncTestClient[Any], mint: TokenMint, format: str, extension: str, media_type: str
) -> None:
    owner = mint.caller()
    poc = await create_poc(client, owner)
    # The declared Content-Type is wrong on purpose: the bytes decide.
    response = await client.put(
        f"/v1/pocs/{poc['pocId']}/thumbnail",
        content=image_bytes(format, (1600, 900)),
        headers=_upload_headers(owner.headers, "application/octet-stream"),
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["version"] == poc["version"] + 1
    link = updated["thumbnailUrl"]
    parts = urlsplit(link)
    expected_key = (
        f"tenants/{owner.tenant_id}/users/{owner.user_id}/pocs/{poc['pocId']}/thumbnail.{extension}"
    )
    assert parts.path == f"/v1/files/{expected_key}"
    assert {"expires", "signature"} <= set(parse_qs(parts.query))

    storage = runtime_of(client).storage
    assert await storage.exists(expected_key)

    served = await client.get(file_path(link))
    assert served.status_code == 200, served.text
    assert served.headers["content-type"] == media_type
    assert served.headers["x-content-type-options"] == "nosniff"
    with Image.open(io.BytesIO(served.content)) as image:
        assert image.format == format
        assert image.size == (512, 288)

    fetched = (await client.get(f"/v1/pocs/{poc['pocId']}", headers=owner.headers)).json()
    assert urlsplit(fetched["thumbnailUrl"]).path == parts.path


async def test_replacing_with_another_type_removes_the_old_file(
    client: AsyncTestClient[Any], mint: TokenMint
) -> None:
    owner = mint.caller()
    poc = await create_poc(client, owner)
    path = f"/v1/pocs/{poc['pocId']}/thumbnail"
    await client.put(path, content=image_bytes("PNG"), headers=_upload_headers(owner.headers))
    replaced = await client.put(path, content=image_bytes("JPEG"), headers=_upload_headers(owner.headers))
    assert replaced.status_code == 200
    storage = runtime_of(client).storage
    prefix = f"tenants/{owner.tenant_id}/users/{owner.user_id}/pocs/{poc['pocId']}/"
    assert await storage.list(prefix) == [f"{prefix}thumbnail.jpg"]


async def test_delete_removes_the_file_and_the_link(client: AsyncTestClient[Any], mint: TokenMint) -> None:
    owner = mint.caller()
    poc = await create_poc(client, owner)
    path = f"/v1/pocs/{poc['pocId']}/thumbnail"
    uploaded = (
        await client.put(path, content=image_bytes("PNG"), headers=_upload_headers(owner.headers))
    ).json()

    assert (await client.delete(path, headers=owner.headers)).status_code == 204
    after = (await client.get(f"/v1/pocs/{poc['pocId']}", headers=owner.headers)).json()
    assert after["thumbnailUrl"] is None
    assert after["version"] == uploaded["version"] + 1
    gone = await client.get(file_path(uploaded["thumbnailUrl"]))
    assert gone.status_code == 404
    again = await client.delete(path, headers=owner.headers)
    assert again.status_code == 404
    assert again.json()["code"] == "thumbnail-not-found"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(image_bytes("GIF"), id="gif"),
        pytest.param(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", id="svg"),
        pytest.param(b"just some text", id="text"),
    ],
)
async def test_other_types_are_415(client: AsyncTestClient[Any], mint: TokenMint, body: bytes) -> None:
    owner = mint.caller()
    poc = await create_poc(client, owner)
    response = await client.put(
        f"/v1/pocs/{poc['pocId']}/thumbnail", content=body, headers=_upload_headers(owner.headers)
    )
    assert response.status_code == 415, response.text
    assert response.json()["code"] == "unsupported-image-type"
    assert response.json()["acceptedTypes"] == ["image/png", "image/jpeg", "image/webp"]


async def test_too_large_is_413_and_damaged_is_422(client: AsyncTestClient[Any], mint: TokenMint) -> None:
    owner = mint.caller()
    poc = await create_poc(client, owner)
    path = f"/v1/pocs/{poc['pocId']}/thumbnail"
    huge = b"\x89PNG\r\n\x1a\n" + b"\x00" * MAX_THUMBNAIL_UPLOAD_BYTES
    too_large = await client.put(path, content=huge, headers=_upload_headers(owner.with_language("pt-BR")))
    assert too_large.status_code == 413
    assert too_large.json()["code"] == "image-too-large"
    assert too_large.json()["detail"] == "A imagem deve ter no máximo 5 MB."

    damaged = await client.put(path, content=image_bytes("PNG")[:60], headers=_upload_headers(owner.headers))
    assert damaged.status_code == 422
    assert damaged.json()["code"] == "invalid-image"
    empty = await client.put(path, content=b"", headers=_upload_headers(owner.headers))
    assert empty.status_code == 400
    unchanged = (await client.get(f"/v1/pocs/{poc['pocId']}", headers=owner.headers)).json()
    assert unchanged["thumbnailUrl"] is None
    assert unchanged["version"] == poc["version"]


async def test_links_expire_and_cannot_be_forged(client: AsyncTestClient[Any], mint: TokenMint) -> None:
    owner = mint.caller()
    poc = await create_poc(client, owner)
    uploaded = await client.put(
        f"/v1/pocs/{poc['pocId']}/thumbnail",
        content=image_bytes("PNG"),
        headers=_upload_headers(owner.headers),
    )
    link = uploaded.json()["thumbnailUrl"]
    key = urlsplit(link).path.removeprefix("/v1/files/")
    storage = runtime_of(client).storage

    short_lived = file_path(storage.sign_url(key, expires_in=1))
    assert (await client.get(short_lived)).status_code == 200
    await asyncio.sleep(2.1)
    expired = await client.get(short_lived)
    assert expired.status_code == 403
    assert expired.json()["code"] == "expired-file-link"

    query = parse_qs(urlsplit(link).query)
    later = int(query["expires"][0]) + 3600
    tampered = await client.get(f"/v1/files/{key}?expires={later}&signature={query['signature'][0]}")
    assert tampered.status_code == 403
    assert tampered.json()["code"] == "invalid-file-link"
    other_key = key.replace(str(poc["pocId"]), "00000000-0000-4000-8000-000000000000")
    moved = await client.get(f"/v1/files/{other_key}?{urlsplit(link).query}")
    assert moved.status_code == 403
    unsigned = await client.get(f"/v1/files/{key}")
    assert unsigned.status_code == 400
