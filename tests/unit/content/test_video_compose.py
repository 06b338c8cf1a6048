"""Scene drawings: every kind in every format and theme fits the frame and rests long enough."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from api.content.video.compose import Composition, compose_scene
from api.content.video.drawing import font, text_width, wrap
from api.content.video.model import VIDEO_FORMATS
from api.content.video.scenes import NATIVE_TRANSITIONS, _atlas, _Inputs, scene_graph, settled_frame
from api.content.video.themes import THEMES
from api.content.video.timeline import PocPayload, TimelinePlan, plan_timeline
from tests.unit.content.video_samples import options, picture_bytes, poc_id, year_pocs

pytestmark = pytest.mark.unit

ALL_KINDS = {
    "intro",
    "count",
    "languages",
    "busiest-month",
    "activity",
    "tags",
    "frameworks",
    "poc",
    "more",
    "timeline",
    "outro",
}


def full_plan(**overrides: object) -> tuple[TimelinePlan, dict[str, bytes]]:
    """A plan with every kind of scene, and a picture for the first POC."""
    pictures = {poc_id(0): picture_bytes()}
    plan = plan_timeline(year_pocs(30), options(**overrides), thumbnails=set(pictures))
    assert {scene.kind for scene in plan.scenes} == ALL_KINDS
    return plan, pictures


def one_of_each(plan: TimelinePlan) -> list[int]:
    seen: dict[str, int] = {}
    for scene in plan.scenes:
        seen.setdefault(scene.kind, scene.index)
    return sorted(seen.values())


def assert_fits(composition: Composition, width: int, height: int) -> None:
    for layer in composition.layers:
        assert 0 <= layer.x <= width - layer.image.width, layer
        assert 0 <= layer.y <= height - layer.image.height, layer
        assert layer.image.mode == "RGBA"
    for sprite in composition.sprites:
        assert 0 <= sprite.x <= width - sprite.frames[0].width
        assert 0 <= sprite.y <= height - sprite.frames[0].height
        assert len({frame.size for frame in sprite.frames}) == 1


@pytest.mark.parametrize("video_format", sorted(VIDEO_FORMATS))
def test_every_kind_of_scene_fits_each_format_and_settles_in_the_first_half(video_format: str) -> None:
    plan, pictures = full_plan(format=video_format)
    size = VIDEO_FORMATS[video_format]

    for index in one_of_each(plan):
        video_options = options(format=video_format)
        composition = compose_scene(plan, index, video_options, pictures)
        settled = composition.settled()

        assert composition.base.mode == "RGB"
        assert settled.size == (size.width, size.height)
        assert_fits(composition, size.width, size.height)
        assert composition.layers or composition.sprites, plan.scenes[index].kind
        assert composition.animation_seconds <= plan.scenes[index].duration * 0.6, plan.scenes[index].kind
        assert np.asarray(settled).std() > 10, "a settled frame is not a flat colour"


@pytest.mark.parametrize("style", sorted(THEMES))
def test_every_theme_draws_every_kind_at_a_small_size(style: str) -> None:
    plan, pictures = full_plan(style=style, size=(320, 180))
    video_options = options(style=style, size=(320, 180))

    for index in one_of_each(plan):
        composition = compose_scene(plan, index, video_options, pictures)
        assert composition.settled().size == (320, 180)
        assert_fits(composition, 320, 180)


def test_the_same_scene_draws_the_same_pixels() -> None:
    plan, pictures = full_plan()
    index = one_of_each(plan)[2]

    first = compose_scene(plan, index, options(), pictures).settled()
    second = compose_scene(plan, index, options(), pictures).settled()

    assert first.tobytes() == second.tobytes()


def poc_scene(plan: TimelinePlan, poc: str) -> int:
    return next(
        scene.index
        for scene in plan.scenes
        if isinstance(scene.payload, PocPayload) and scene.payload.poc_id == poc
    )


def test_a_poc_picture_comes_as_bytes_or_a_path_and_a_broken_one_falls_back(tmp_path: Path) -> None:
    plan, pictures = full_plan()
    index = poc_scene(plan, poc_id(0))
    path = tmp_path / "shot.jpg"
    path.write_bytes(picture_bytes(image_format="JPEG"))

    from_bytes = compose_scene(plan, index, options(), pictures).settled()
    from_path = compose_scene(plan, index, options(), {poc_id(0): path}).settled()
    broken = compose_scene(plan, index, options(), {poc_id(0): b"not an image"}).settled()
    absent = compose_scene(plan, index, options(), {}).settled()

    assert from_bytes.tobytes() != absent.tobytes()
    assert np.abs(np.asarray(from_path, dtype=int) - np.asarray(from_bytes, dtype=int)).mean() < 3
    assert broken.tobytes() == absent.tobytes()


def test_the_settled_frame_is_the_composition_at_rest_and_is_remembered() -> None:
    plan, pictures = full_plan()
    index = one_of_each(plan)[3]

    frame = settled_frame(plan, index, options(), pictures)

    assert frame.tobytes() == compose_scene(plan, index, options(), pictures).settled().tobytes()
    assert settled_frame(plan, index, options(), pictures) is frame


def test_portuguese_accents_have_glyphs_of_their_own() -> None:
    face = font("bold", 40)

    def ink(text: str) -> bytes:
        image = Image.new("L", (400, 80))
        ImageDraw.Draw(image).text((0, 0), text, font=face, fill=255)
        return image.tobytes()

    missing_glyph = ink("\ue000")
    for accented, plain in (("ção", "cao"), ("Análise", "Analise"), ("ê õ ü", "e o u")):
        assert ink(accented) != ink(plain)
        for char in accented.replace(" ", ""):
            assert ink(char) != missing_glyph, char


def test_wrapped_text_stays_within_its_width_and_lines() -> None:
    face = font("regular", 24)
    text = "Protótipo de aplicação de receitas culinárias com integração contínua e muitas palavras"

    lines = wrap(text, face, 300, 2)

    assert len(lines) == 2
    assert all(text_width(face, line) <= 300 for line in lines)
    assert lines[-1].endswith("…")
    assert wrap("Supercalifragilisticexpialidocious", face, 80, 2)[0].endswith("…")


def test_growing_layers_get_a_transparent_twin_in_the_atlas() -> None:
    plan, pictures = full_plan()
    composition = compose_scene(plan, one_of_each(plan)[2], options(), pictures)
    moving = [layer for layer in composition.layers if layer.entrance.animated]

    atlas, cells = _atlas(moving)

    assert any(cell.layer.entrance.clip == "left" for cell in cells)
    for cell in cells:
        assert cell.y % 2 == 0
        assert (cell.width % 2, cell.height % 2) == (0, 0)
        twin = 2 if cell.layer.entrance.clip else 1
        assert cell.width * cell.height >= twin * cell.layer.image.width * cell.layer.image.height
    assert atlas.height == sum(cell.height for cell in cells)


@pytest.mark.parametrize("transition", sorted(NATIVE_TRANSITIONS | {"wipeleft", "circleopen"}))
def test_every_transition_builds_a_graph_ending_in_out(transition: str, tmp_path: Path) -> None:
    plan, pictures = full_plan(size=(320, 180))
    video_options = options(size=(320, 180))
    scene = plan.scenes[3]
    composition = compose_scene(plan, 3, video_options, pictures)
    inputs = _Inputs(folder=tmp_path, args=[])

    graph = scene_graph(
        composition,
        scene.frames,
        transition=transition,
        transition_frames=scene.transition_frames,
        previous=settled_frame(plan, 2, video_options, pictures),
        fade_in=False,
        fade_out_frames=0,
        inputs=inputs,
    )

    assert graph.endswith("[out]")
    assert ("xfade=" in graph) == (transition not in NATIVE_TRANSITIONS)
    assert inputs.args.count("-i") == inputs.count == len(list(tmp_path.iterdir()))
