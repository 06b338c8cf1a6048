"""Tenant isolation and ownership of video requests and their files, through the API and the database.

The app connects as ``content_app`` (no ownership, no BYPASSRLS), so every request here runs
under forced row-level security; the direct query uses that same role.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client

from api.common.settings import Settings
from api.content import repository
from tests.integration.content.support import Caller, ContentClient, TokenMint, path_of
from tests.integration.content.video_standins import running_videos
from workflows.yearly_video_types import video_result_key, video_thumbnail_key

pytestmark = [pytest.mark.integration, pytest.mark.security]

YEAR = datetime.now(UTC).year - 1


@pytest.fixture(scope="module")
async def videos(settings: Settings, mint: TokenMint, temporal: Client) -> AsyncIterator[ContentClient]:
    async with running_videos(settings, mint, temporal) as client:
        yield client


async def _video(client: ContentClient, owner: Caller, *, completed: bool) -> dict[str, Any]:
    response = await client.post("/v1/videos", json={"year": YEAR}, headers=owner.headers)
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    if completed:
        request_id = uuid.UUID(created["id"])
        key = video_result_key(str(owner.tenant_id), str(owner.user_id), YEAR, created["id"])
        thumbnail = video_thumbnail_key(str(owner.tenant_id), str(owner.user_id), created["id"])
        await client.runtime.storage.put(key, b"secret video")
        await client.runtime.storage.put(thumbnail, b"secret image")
        async with client.runtime.work(owner.tenant_id) as work:
            await repository.claim_request(work.connection, request_id)
            await work.connection.execute(
                "UPDATE content_requests SET thumbnail_key = $2 WHERE request_id = $1", request_id, thumbnail
            )
            assert await repository.mark_completed(
                work.connection, request_id, result_key=key, media_type="video/mp4", size=12, poc_count=1
            )
    return created


async def _probe(client: ContentClient, intruder: Caller, video_id: str) -> None:
    base = f"/v1/videos/{video_id}"
    for method, path in (
        ("GET", base),
        ("GET", f"{base}/download"),
        ("GET", f"{base}/thumbnail"),
        ("POST", f"{base}/cancel"),
    ):
        response = await client.request(method, path, headers=intruder.headers)
        assert response.status_code == 404, (intruder.roles, method, path, response.text)
        assert response.json()["code"] == "video-not-found"
    listed = await client.get("/v1/videos", headers=intruder.headers)
    assert video_id not in [item["id"] for item in listed.json()["items"]]


async def test_another_tenants_videos_do_not_exist(videos: ContentClient, mint: TokenMint) -> None:
    victim = mint.caller(roles=("OWNER",), plan="PRO")
    completed = await _video(videos, victim, completed=True)
    pending = await _video(videos, victim, completed=False)
    for roles in (("MEMBER",), ("ADMIN",), ("OWNER",), ("SUPERADMIN",)):
        intruder = mint.caller(roles=roles)
        for video in (completed, pending):
            await _probe(videos, intruder, video["id"])
    untouched = (await videos.get(f"/v1/videos/{pending['id']}", headers=victim.headers)).json()
    assert untouched["cancelRequestedAt"] is None


async def test_another_users_videos_do_not_exist_even_for_managers(
    videos: ContentClient, mint: TokenMint
) -> None:
    owner = mint.caller()
    video = await _video(videos, owner, completed=True)
    for roles in (("MEMBER",), ("ADMIN",), ("OWNER",)):
        await _probe(videos, mint.caller(owner.tenant_id, roles=roles), video["id"])
    own = await videos.get(f"/v1/videos/{video['id']}/download", headers=owner.headers)
    assert own.status_code == 303


async def test_a_signed_link_opens_only_the_file_it_names(videos: ContentClient, mint: TokenMint) -> None:
    owner, other = mint.caller(), mint.caller()
    mine = await _video(videos, owner, completed=True)
    theirs = await _video(videos, other, completed=True)
    link = (await videos.get(f"/v1/videos/{mine['id']}", headers=owner.headers)).json()["downloadUrl"]
    their_key = video_result_key(str(other.tenant_id), str(other.user_id), YEAR, theirs["id"])
    my_key = video_result_key(str(owner.tenant_id), str(owner.user_id), YEAR, mine["id"])

    tampered = path_of(link).replace(my_key, their_key)
    assert (await videos.get(tampered)).status_code == 403
    assert (await videos.get(path_of(link))).content == b"secret video"


async def test_the_application_role_sees_only_the_transactions_tenant(
    videos: ContentClient, mint: TokenMint, settings: Settings
) -> None:
    first, second = mint.caller(), mint.caller()
    mine = await _video(videos, first, completed=False)
    await _video(videos, second, completed=False)
    connection = await asyncpg.connect(settings.database_url("content"))
    try:
        assert await connection.fetchval("SELECT count(*) FROM content_requests WHERE type = 'VIDEO'") == 0
        async with connection.transaction():
            await connection.execute("SELECT set_config('app.tenant_id', $1, true)", str(first.tenant_id))
            rows = await connection.fetch("SELECT request_id FROM content_requests WHERE type = 'VIDEO'")
    finally:
        await connection.close()
    assert [str(row["request_id"]) for row in rows] == [mine["id"]]


async def test_only_the_platform_starts_another_tenants_recap(videos: ContentClient, mint: TokenMint) -> None:
    for roles in (("MEMBER",), ("ADMIN",), ("OWNER",)):
        intruder = mint.caller(roles=roles)
        response = await videos.post(
            "/v1/videos/yearly-recaps",
            json={"year": YEAR, "tenantId": str(uuid.uuid4())},
            headers=intruder.headers,
        )
        assert response.status_code == 403, roles
    everyone = await videos.post(
        "/v1/videos/yearly-recaps", json={"year": YEAR}, headers=mint.caller(roles=("ADMIN",)).headers
    )
    assert everyone.status_code == 403
    anonymous = await videos.post("/v1/videos/yearly-recaps", json={"year": YEAR})
    assert anonymous.status_code == 401
