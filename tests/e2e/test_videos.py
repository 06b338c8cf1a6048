"""Recap videos through the edge of a real `mrbill dev`: the demo owner asks for one in Portuguese and
one in English, watches them progress, and downloads both videos and a poster through their signed
links, then plays them back.

Everything runs as `make dev` runs it (the content API, the ``video`` worker rendering with the
bundled ffmpeg, the catalog and identity it reads, PostgreSQL, Temporal, Caddy), on free ports and
in a temporary var/ folder. Sign-up gives the FREE plan (one video a year); `make dev` has the
platform's SUPERADMIN move the demo tenant to PRO, which the test checks through identity's API.

The videos are checked the way a viewer would notice a fault: H.264 and AAC streams, the
format's resolution, a length from 30 to 90 seconds as the planner promises, music that can be
heard, a frame from the middle that is not blank, the title in the file's metadata and a poster
of the same size.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import av
import httpx
import numpy as np
import pytest
from PIL import Image, ImageStat

from infra.demo import DEMO_SUPERADMIN, DEMO_TENANT
from tests.e2e.platform import DevRun, dev_environment

pytestmark = pytest.mark.e2e

VIDEO_TIMEOUT_SECONDS = 600.0
POLL_SECONDS = 0.1
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
ZONE = ZoneInfo("America/Sao_Paulo")
NEW_POCS = (
    ("Estação Meteorológica do Quintal", "Python", ["iot", "e2e-video"]),
    ("Cardápio do Bandejão", "TypeScript", ["web", "e2e-video"]),
    ("Placar do Futebol de Várzea", "Kotlin", ["mobile", "e2e-video"]),
)
MIN_SECONDS, MAX_SECONDS = 30.0, 90.0
"""The length the planner keeps every recap within (the issue's 30-90 s)."""


@dataclass(frozen=True)
class Played:
    codecs: list[str]
    size: tuple[int, int]
    duration: float
    title: str | None
    middle: Image.Image
    audio_rms: float


@pytest.fixture(scope="module")
def platform() -> Iterator[str]:
    """`mrbill dev` on free ports; yields the edge's URL and stops everything afterwards."""
    with dev_environment("mrbill-videos-e2e-") as (env, ports):
        run = DevRun(env)
        try:
            run.wait_for_banner()
            yield ports.edge_url
            assert run.interrupt() == 0, run.tail()
        finally:
            if run.process.poll() is None:
                run.force_stop()


def login(edge: str, tenant_slug: str, email: str, password: str) -> dict[str, str]:
    response = httpx.post(
        f"{edge}/v1/auth/login",
        json={"tenantSlug": tenant_slug, "email": email, "password": password},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


@pytest.fixture(scope="module")
def owner(platform: str) -> dict[str, str]:
    """The demo owner on the PRO plan `make dev` gave the demo, with three new POCs of this year."""
    admin = login(platform, DEMO_SUPERADMIN.tenant_slug, DEMO_SUPERADMIN.email, DEMO_SUPERADMIN.password)
    tenants = httpx.get(f"{platform}/v1/tenants", params={"q": DEMO_TENANT.slug}, headers=admin, timeout=30)
    assert tenants.status_code == 200, tenants.text
    demo = next(item for item in tenants.json()["items"] if item["slug"] == DEMO_TENANT.slug)
    assert demo["subscriptionPlan"] == DEMO_TENANT.plan == "PRO"

    headers = login(platform, DEMO_TENANT.slug, DEMO_TENANT.admin_email, DEMO_TENANT.password)
    for name, language, tags in NEW_POCS:
        created = httpx.post(
            f"{platform}/v1/pocs",
            json={
                "name": name,
                "repositoryUrl": f"https://github.com/demo-owner/{name.lower().replace(' ', '-')}",
                "description": f"{name}: uma POC criada pelo teste dos vídeos.",
                "language": language,
                "tags": tags,
                "isPublic": True,
            },
            headers=headers,
            timeout=30,
        )
        assert created.status_code == 201, created.text
    return headers


def ask_for_video(edge: str, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"year": datetime.now(ZONE).year, "timeZone": "America/Sao_Paulo", **fields}
    response = httpx.post(f"{edge}/v1/videos", json=body, headers=headers, timeout=60)
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/v1/videos/{created['id']}"
    return created


def watch(
    edge: str, headers: dict[str, str], video_ids: list[str]
) -> dict[str, tuple[dict[str, Any], list[tuple[str, str | None, int]]]]:
    """Poll every request through the edge, side by side, until all end; each one's last state and
    every (status, step, progress) it showed on the way."""
    seen: dict[str, list[tuple[str, str | None, int]]] = {video_id: [] for video_id in video_ids}
    last: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + VIDEO_TIMEOUT_SECONDS
    with httpx.Client(base_url=edge, headers=headers, timeout=30) as client:
        while True:
            for video_id in video_ids:
                if video_id in last and last[video_id]["status"] in TERMINAL:
                    continue
                video: dict[str, Any] = client.get(f"/v1/videos/{video_id}").json()
                state = (video["status"], video["step"], video["progress"])
                if not seen[video_id] or seen[video_id][-1] != state:
                    seen[video_id].append(state)
                last[video_id] = video
            if all(video["status"] in TERMINAL for video in last.values()):
                return {video_id: (last[video_id], seen[video_id]) for video_id in video_ids}
            assert time.monotonic() < deadline, f"still running after {VIDEO_TIMEOUT_SECONDS:.0f} s: {seen}"
            time.sleep(POLL_SECONDS)


def fetch(url: str, media_type: str) -> bytes:
    """Through the signed link alone: no token, as a browser or a phone opening it would."""
    response = httpx.get(url, timeout=120)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media_type)
    return response.content


def play(video: bytes) -> Played:
    """Streams, size, length and title; the frame in the middle; the loudness of the soundtrack."""
    with av.open(io.BytesIO(video), mode="r") as container:
        codecs = sorted(f"{stream.type}:{stream.codec_context.name}" for stream in container.streams)
        stream = container.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        duration = float(container.duration or 0) / 1_000_000
        title = container.metadata.get("title")
        samples = [frame.to_ndarray().astype(np.float64) for frame in container.decode(audio=0)]
    audio = np.concatenate([block.reshape(-1) for block in samples]) if samples else np.zeros(1)
    with av.open(io.BytesIO(video), mode="r") as container:
        container.seek(int(duration / 2 * 1_000_000))
        middle = next(container.decode(video=0)).to_image()  # type: ignore[no-untyped-call]
    return Played(codecs, size, duration, title, middle, float(np.sqrt(np.mean(audio**2))))


@pytest.mark.timeout(1800)
def test_the_demo_owner_gets_a_recap_in_portuguese_and_one_in_english(
    platform: str, owner: dict[str, str]
) -> None:
    offered = httpx.get(f"{platform}/v1/videos/options", headers=owner, timeout=30).json()
    sizes = {item["name"]: (item["width"], item["height"]) for item in offered["formats"]}
    year = datetime.now(ZONE).year
    requests = {
        "pt_BR": ask_for_video(
            platform,
            owner,
            title=f"Minha retrospectiva {year} — programação & café",
            locale="pt-BR",
            format="square",
            style="aurora",
            musicTrack="lofi",
        ),
        "en": ask_for_video(
            platform,
            owner,
            title=f"My {year} in POCs",
            locale="en",
            format="landscape-720",
            style="terminal",
            musicTrack="drive",
        ),
    }

    ended = watch(platform, owner, [created["id"] for created in requests.values()])
    in_between = {value for _video, seen in ended.values() for _status, _step, value in seen} & set(
        range(1, 100)
    )
    assert in_between, f"no progress between 0 and 100 was seen: {ended}"
    steps = {step for _video, seen in ended.values() for _status, step, _value in seen}
    assert steps & {"planning", "rendering", "assembling"}, steps

    for locale, created in requests.items():
        video, seen = ended[created["id"]]
        assert video["status"] == "COMPLETED", (locale, video)
        assert video["pocCount"] >= len(NEW_POCS)
        assert video["mediaType"] == "video/mp4"
        progress = [value for _status, _step, value in seen]
        assert progress == sorted(progress), f"progress went backwards: {seen}"

        played = play(fetch(video["downloadUrl"], "video/mp4"))
        assert played.codecs == ["audio:aac", "video:h264"], locale
        assert played.size == sizes[video["format"]], locale
        assert MIN_SECONDS - 0.1 <= played.duration <= MAX_SECONDS + 0.1, (locale, played.duration)
        assert played.title == created["title"], locale
        assert played.audio_rms > 0.01, f"the {video['musicTrack']} track should be heard ({locale})"
        assert max(ImageStat.Stat(played.middle.convert("L")).stddev) > 5, f"a blank middle frame ({locale})"

        poster = Image.open(io.BytesIO(fetch(video["thumbnailUrl"], "image/jpeg")))
        poster.load()
        assert poster.size == sizes[video["format"]], locale
        assert max(ImageStat.Stat(poster.convert("L")).stddev) > 5, f"a blank poster ({locale})"

    listed = httpx.get(f"{platform}/v1/videos", params={"status": "COMPLETED"}, headers=owner, timeout=30)
    assert listed.status_code == 200, listed.text
    assert {created["id"] for created in requests.values()} <= {item["id"] for item in listed.json()["items"]}
