"""The video API over the real stack: accepted only once a (stand-in) YearlyVideo has counted the POCs.

The stand-in (`video_standins`) answers the ``selection`` update on the test's own task queue;
everything else (PostgreSQL as the application role, Temporal's dev server, storage) is real.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from api.common.settings import Settings
from api.content import repository
from api.content.quotas import year_window
from infra.stack import free_port
from temporal.search_attributes import REQUEST_TYPE, TENANT_ID, USER_ID
from tests.integration.content.support import (
    Caller,
    ContentClient,
    TokenMint,
    path_of,
    running_content,
)
from tests.integration.content.video_standins import (
    NO_POCS_TAG,
    SLOW_TAG,
    STAND_IN_POC_COUNT,
    running_videos,
)
from workflows.yearly_video_types import VideoJob, video_result_key, video_thumbnail_key, video_workflow_id

pytestmark = pytest.mark.integration

MP4_BYTES = b"\x00\x00\x00\x18ftypmp42 a stand-in for a rendered video"
JPEG_BYTES = b"\xff\xd8\xff\xe0 a stand-in thumbnail \xff\xd9"
THIS_YEAR = datetime.now(UTC).year


@pytest.fixture(scope="module")
async def videos(settings: Settings, mint: TokenMint, temporal: Client) -> AsyncIterator[ContentClient]:
    async with running_videos(settings, mint, temporal) as client:
        yield client


def video_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"year": THIS_YEAR - 1, "includeTags": ["api"], "format": "landscape-720"}
    body.update(overrides)
    return body


async def create_video(client: ContentClient, caller: Caller, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/v1/videos", json=video_body(**overrides), headers=caller.headers)
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    return created


async def _complete(client: ContentClient, owner: Caller, video_id: str, *, year: int) -> None:
    """Done the way the workflow finishes: files in storage, then the request marked completed."""
    request_id = uuid.UUID(video_id)
    key = video_result_key(str(owner.tenant_id), str(owner.user_id), year, video_id)
    thumbnail = video_thumbnail_key(str(owner.tenant_id), str(owner.user_id), video_id)
    await client.runtime.storage.put(key, MP4_BYTES, content_type="video/mp4")
    await client.runtime.storage.put(thumbnail, JPEG_BYTES, content_type="image/jpeg")
    async with client.runtime.work(owner.tenant_id) as work:
        assert await repository.claim_request(work.connection, request_id) is not None
        await work.connection.execute(
            "UPDATE content_requests SET thumbnail_key = $2 WHERE request_id = $1", request_id, thumbnail
        )
        assert await repository.mark_completed(
            work.connection,
            request_id,
            result_key=key,
            media_type="video/mp4",
            size=len(MP4_BYTES),
            poc_count=3,
        )


async def test_a_video_is_accepted_once_its_pocs_are_counted(
    videos: ContentClient, mint: TokenMint, temporal: Client
) -> None:
    owner = mint.caller(locale="pt_BR", plan="PRO")
    response = await videos.post(
        "/v1/videos",
        json={"year": THIS_YEAR - 1, "includeTags": ["API", "Programação"], "timeZone": "America/Manaus"},
        headers=owner.headers,
    )

    assert response.status_code == 202, response.text
    created = response.json()
    assert response.headers["location"] == f"/v1/videos/{created['id']}"
    assert created["type"] == "VIDEO"
    assert created["title"] == f"Meu ano em POCs {THIS_YEAR - 1}", (
        "the default title, in the caller's language"
    )
    assert (created["format"], created["style"], created["musicTrack"]) == ("square", "aurora", "bright")
    assert created["year"] == THIS_YEAR - 1
    assert created["from"].startswith(f"{THIS_YEAR - 1}-01-01T04:00:00"), "midnight in Manaus"
    assert created["includeTags"] == ["API", "Programação"]
    assert created["links"] == {
        "self": f"/v1/videos/{created['id']}",
        "cancel": f"/v1/videos/{created['id']}/cancel",
        "download": None,
        "thumbnail": None,
    }
    assert created["downloadUrl"] is None
    assert created["thumbnailUrl"] is None

    handle = temporal.get_workflow_handle(video_workflow_id(str(owner.tenant_id), created["id"]))
    job = await handle.query("job", result_type=VideoJob)
    assert job.request_id == created["id"]
    assert job.year == THIS_YEAR - 1
    assert (job.from_date, job.to_date) == (None, None)
    assert job.include_tags == ["api", "programacao"]
    assert (job.locale, job.time_zone, job.music_track) == ("pt_BR", "America/Manaus", "bright")
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(TENANT_ID) == str(owner.tenant_id)
    assert attributes.get(USER_ID) == str(owner.user_id)
    assert attributes.get(REQUEST_TYPE) == "VIDEO"

    silent = await create_video(
        videos,
        owner,
        year=None,
        **{"from": f"{THIS_YEAR - 1}-03-01", "to": f"{THIS_YEAR - 1}-06-30"},
        musicTrack=None,
        style="terminal",
        format="story",
        title="Meu semestre",
        locale="en",
    )
    assert silent["musicTrack"] is None
    assert (silent["style"], silent["format"], silent["locale"], silent["year"]) == (
        "terminal",
        "story",
        "en",
        None,
    )
    silent_job = await temporal.get_workflow_handle(
        video_workflow_id(str(owner.tenant_id), silent["id"])
    ).query("job", result_type=VideoJob)
    assert silent_job.music_track is None
    assert silent_job.year is None
    assert silent_job.from_date is not None
    assert silent_job.from_date.startswith(f"{THIS_YEAR - 1}-03-01T03:00:00")


async def test_a_period_without_pocs_is_refused_and_costs_nothing(
    videos: ContentClient, mint: TokenMint
) -> None:
    owner = mint.caller(locale="pt_BR")
    key = f"recap-{uuid.uuid4()}"
    body = video_body(includeTags=[NO_POCS_TAG])

    refused = await videos.post(
        "/v1/videos", json=body, headers=owner.with_headers(Idempotency_Key=key, Accept_Language="en")
    )

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["code"] == "no-pocs-in-period"
    assert problem["detail"].startswith("Você não tem POCs neste período"), "the token's locale (pt_BR) wins"
    stored = (await videos.get(f"/v1/videos/{problem['videoId']}", headers=owner.headers)).json()
    assert (stored["status"], stored["errorCode"]) == ("FAILED", "NO_POCS")
    assert stored["errorMessage"].startswith("Não havia POCs neste período")

    replayed = await videos.post("/v1/videos", json=body, headers=owner.with_headers(Idempotency_Key=key))
    assert replayed.status_code == 422
    assert replayed.json()["videoId"] == problem["videoId"], "the same request, refused the same way"

    window = year_window(datetime.now(UTC))
    async with videos.runtime.work(owner.tenant_id) as work:
        used = await repository.count_requests(
            work.connection, owner.tenant_id, "VIDEO", since=window.starts_at, until=window.resets_at
        )
    assert used == 0
    accepted = await create_video(videos, owner)
    assert accepted["pocCount"] in (None, STAND_IN_POC_COUNT), "the free plan's one video is still there"


async def test_every_invalid_field_is_listed_in_the_callers_language(
    videos: ContentClient, mint: TokenMint
) -> None:
    owner = mint.caller(locale="en")
    response = await videos.post(
        "/v1/videos",
        json={
            "year": THIS_YEAR + 1,
            "from": "2020-01-01",
            "style": "neon",
            "musicTrack": "pirated-hit",
            "format": "8k",
            "timeZone": "Mars/Olympus",
            "includeTags": ["api"],
            "excludeTags": ["API"],
        },
        headers=owner.headers,
    )

    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation-failed"
    fields = sorted(error["field"] for error in problem["errors"])
    assert fields == sorted(["year", "year", "style", "musicTrack", "format", "timeZone", "excludeTags[0]"])
    messages = {error["field"]: error["message"] for error in problem["errors"]}
    assert messages["style"].startswith('Unknown value "neon". Use one of: aurora')

    unknown = await videos.post("/v1/videos", json={"year": 2025, "colour": "red"}, headers=owner.headers)
    assert unknown.status_code in (400, 422), "unknown fields are refused"
    missing_start = await videos.post(
        "/v1/videos",
        json={"to": f"{THIS_YEAR - 1}-12-31"},
        headers=owner.with_headers(Accept_Language="pt-BR"),
    )
    assert missing_start.status_code == 422
    assert [error["field"] for error in missing_start.json()["errors"]] == ["from"]


async def test_the_yearly_quota_answers_429_until_january(
    settings: Settings, mint: TokenMint, temporal: Client
) -> None:
    async with running_videos(settings, mint, temporal) as client:
        owner = mint.caller(plan="FREE")
        await create_video(client, owner)
        teammate = mint.caller(owner.tenant_id, plan="FREE")

        refused = await client.post(
            "/v1/videos", json=video_body(), headers=teammate.with_headers(Accept_Language="en")
        )

        assert refused.status_code == 429
        problem = refused.json()
        assert problem["code"] == "quota-exceeded"
        assert (problem["plan"], problem["limit"], problem["used"]) == ("FREE", 1, 1)
        assert problem["resetsAt"] == f"{THIS_YEAR + 1}-01-01T00:00:00Z"
        assert int(refused.headers["retry-after"]) > 0
        assert "1 video per year" in problem["detail"] or "1 vídeo por ano" in problem["detail"]
        pro = mint.caller(owner.tenant_id, plan="PRO")
        assert (await client.post("/v1/videos", json=video_body(), headers=pro.headers)).status_code == 202


async def test_an_idempotency_key_replays_the_same_request(videos: ContentClient, mint: TokenMint) -> None:
    owner = mint.caller(plan="PRO")
    key = str(uuid.uuid4())
    first = await videos.post(
        "/v1/videos", json=video_body(), headers=owner.with_headers(Idempotency_Key=key)
    )
    again = await videos.post(
        "/v1/videos", json=video_body(includeTags=["API"]), headers=owner.with_headers(Idempotency_Key=key)
    )

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    other = await videos.post(
        "/v1/videos", json=video_body(format="story"), headers=owner.with_headers(Idempotency_Key=key)
    )
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency-key-reused"
    listed = (await videos.get("/v1/videos", headers=owner.headers)).json()
    assert listed["totalItems"] == 1


async def test_list_get_and_cancel_only_my_videos(
    videos: ContentClient, mint: TokenMint, temporal: Client
) -> None:
    owner = mint.caller(plan="PRO")
    square = await create_video(videos, owner, format="square")
    story = await create_video(videos, owner, format="story")

    listed = (await videos.get("/v1/videos", params={"format": "story"}, headers=owner.headers)).json()
    assert [item["id"] for item in listed["items"]] == [story["id"]]
    everything = (await videos.get("/v1/videos", headers=owner.headers)).json()
    assert [item["id"] for item in everything["items"]] == [story["id"], square["id"]]
    bad_filter = await videos.get("/v1/videos", params={"format": "pdf"}, headers=owner.headers)
    assert bad_filter.status_code == 400
    reports = (await videos.get("/v1/reports", headers=owner.headers)).json()
    assert reports["totalItems"] == 0, "videos are not reports"
    assert (await videos.get(f"/v1/reports/{square['id']}", headers=owner.headers)).status_code == 404

    cancelled = await videos.post(f"/v1/videos/{square['id']}/cancel", headers=owner.headers)
    assert cancelled.status_code == 202
    assert cancelled.json()["cancelRequestedAt"] is not None
    handle = temporal.get_workflow_handle(video_workflow_id(str(owner.tenant_id), square["id"]))
    for _ in range(50):
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            break
    assert (await handle.describe()).status in (
        WorkflowExecutionStatus.CANCELED,
        WorkflowExecutionStatus.RUNNING,
    ), "the cancellation reached the run"

    await _complete(videos, owner, story["id"], year=THIS_YEAR - 1)
    finished = await videos.post(
        f"/v1/videos/{story['id']}/cancel", headers=owner.with_headers(Accept_Language="en")
    )
    assert finished.status_code == 409
    assert finished.json()["code"] == "video-already-finished"
    assert finished.json()["videoStatus"] == "COMPLETED"


async def test_a_completed_video_and_its_thumbnail_download_through_signed_links(
    videos: ContentClient, mint: TokenMint
) -> None:
    owner = mint.caller(plan="PRO")
    created = await create_video(videos, owner, title="Meu ano: 2025 / POCs")
    not_ready = await videos.get(f"/v1/videos/{created['id']}/download", headers=owner.headers)
    assert not_ready.status_code == 409
    assert not_ready.json()["code"] == "video-not-ready"
    await _complete(videos, owner, created["id"], year=THIS_YEAR - 1)

    detail = (await videos.get(f"/v1/videos/{created['id']}", headers=owner.headers)).json()
    assert detail["status"] == "COMPLETED"
    assert detail["mediaType"] == "video/mp4"
    assert detail["fileName"] == "Meu ano 2025 POCs.mp4"
    assert urlsplit(detail["downloadUrl"]).path.startswith(f"/v1/downloads/videos/{owner.tenant_id}/")
    assert "/thumbnails/" in urlsplit(detail["thumbnailUrl"]).path
    assert detail["links"]["thumbnail"] == f"/v1/videos/{created['id']}/thumbnail"

    redirect = await videos.get(f"/v1/videos/{created['id']}/download", headers=owner.headers)
    assert redirect.status_code == 303
    downloaded = await videos.get(path_of(redirect.headers["location"]))
    assert downloaded.status_code == 200
    assert downloaded.content == MP4_BYTES
    assert downloaded.headers["content-type"] == "video/mp4"
    assert 'filename="Meu ano 2025 POCs.mp4"' in downloaded.headers["content-disposition"]

    thumbnail = await videos.get(f"/v1/videos/{created['id']}/thumbnail", headers=owner.headers)
    assert thumbnail.status_code == 303
    image = await videos.get(path_of(thumbnail.headers["location"]))
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    assert image.content == JPEG_BYTES

    work_key = f"videos/{owner.tenant_id}/{owner.user_id}/work/{created['id']}/plan.json"
    await videos.runtime.storage.put(work_key, b"{}")
    forged = videos.runtime.storage.sign_url(work_key, 60, filename="plan.json")
    assert (await videos.get(path_of(forged))).status_code == 403, "work files are never served"


async def test_the_options_a_client_offers(videos: ContentClient, mint: TokenMint) -> None:
    caller = mint.caller(locale="en")
    english = (await videos.get("/v1/videos/options", headers=caller.headers)).json()
    portuguese = (await videos.get("/v1/videos/options", headers=mint.caller(locale="pt_BR").headers)).json()

    assert [style["name"] for style in english["styles"]][:1] == ["aurora"]
    assert len(english["styles"]) >= 3
    assert len(english["musicTracks"]) >= 3
    assert {item["name"]: (item["width"], item["height"]) for item in english["formats"]} == {
        "square": (1080, 1080),
        "landscape-720": (1280, 720),
        "landscape-1080": (1920, 1080),
        "story": (1080, 1920),
    }
    assert english["musicTracks"][0]["title"] == "Bright Morning"
    assert portuguese["musicTracks"][0]["title"] != "Bright Morning", "titles are translated"


async def test_temporal_down_or_silent_fails_the_request_clearly(
    settings: Settings, mint: TokenMint, temporal: Client
) -> None:
    unreachable = settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    async with running_content(unreachable, mint) as client:
        owner = mint.caller(locale="en")
        refused = await client.post("/v1/videos", json=video_body(), headers=owner.headers)
        assert refused.status_code == 503
        assert refused.json()["code"] == "queue-unavailable"
        assert int(refused.headers["retry-after"]) > 0
        stored = (await client.get(f"/v1/videos/{refused.json()['videoId']}", headers=owner.headers)).json()
        assert (stored["status"], stored["errorCode"]) == ("FAILED", "QUEUE_UNAVAILABLE")

    async with running_videos(settings, mint, temporal, selection_timeout=1.0) as client:
        owner = mint.caller()
        slow = await client.post("/v1/videos", json=video_body(includeTags=[SLOW_TAG]), headers=owner.headers)
        assert slow.status_code == 503, "a run that does not answer in time is given up"
        video_id = slow.json()["videoId"]
        stored = (await client.get(f"/v1/videos/{video_id}", headers=owner.headers)).json()
        assert stored["status"] == "FAILED"
        handle = temporal.get_workflow_handle(video_workflow_id(str(owner.tenant_id), video_id))
        assert (await handle.describe()).status in (
            WorkflowExecutionStatus.CANCELED,
            WorkflowExecutionStatus.RUNNING,
        )
        assert (await create_video(client, owner))["status"] in ("PENDING", "PROCESSING"), "it did not count"


async def test_the_yearly_recap_is_started_by_the_platform_or_a_tenants_owner(
    videos: ContentClient, mint: TokenMint, temporal: Client
) -> None:
    year = THIS_YEAR - 1
    owner = mint.caller(roles=("OWNER",))
    platform = mint.caller(roles=("SUPERADMIN",))
    started: list[str] = []
    try:
        mine = await videos.post("/v1/videos/yearly-recaps", json={"year": year}, headers=owner.headers)
        assert mine.status_code == 202, mine.text
        assert mine.json() == {
            "workflowId": f"yearly-recap/{year}/{owner.tenant_id}",
            "year": year,
            "tenantId": str(owner.tenant_id),
            "started": True,
        }
        started.append(mine.json()["workflowId"])
        again = await videos.post("/v1/videos/yearly-recaps", json={"year": year}, headers=owner.headers)
        assert again.json()["started"] is False, "a run already going on is not started twice"

        other = await videos.post(
            "/v1/videos/yearly-recaps",
            json={"year": year, "tenantId": str(uuid.uuid4())},
            headers=owner.with_headers(Accept_Language="en"),
        )
        assert other.status_code == 403
        assert other.json()["code"] == "recap-forbidden"
        member = mint.caller(owner.tenant_id, roles=("MEMBER",))
        refused = await videos.post("/v1/videos/yearly-recaps", json={"year": year}, headers=member.headers)
        assert refused.status_code == 403

        tenant = str(uuid.uuid4())
        any_tenant = await videos.post(
            "/v1/videos/yearly-recaps", json={"year": year, "tenantId": tenant}, headers=platform.headers
        )
        assert any_tenant.json()["workflowId"] == f"yearly-recap/{year}/{tenant}"
        started.append(any_tenant.json()["workflowId"])
        future = await videos.post(
            "/v1/videos/yearly-recaps", json={"year": THIS_YEAR + 1}, headers=platform.headers
        )
        assert future.status_code == 422
    finally:
        for workflow_id in started:
            await temporal.get_workflow_handle(workflow_id).terminate("test over")
