"""The bundled soundtracks: synthesised, deterministic, the length asked, levelled and faded."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from api.common.i18n import translate
from api.content.video.music import (
    PEAK_LIMIT,
    SAMPLE_RATE,
    TRACKS,
    synthesize,
    to_pcm16,
    write_wav,
)

pytestmark = pytest.mark.unit


def test_at_least_three_tracks_with_names_in_both_locales() -> None:
    assert len(TRACKS) >= 3
    for track in TRACKS.values():
        assert translate("en", track.label) == track.label
        assert translate("pt_BR", track.label) != track.label
        assert len(track.chords) == len(track.bass)


@pytest.mark.parametrize("name", sorted(TRACKS))
def test_a_track_is_the_same_samples_every_time(name: str) -> None:
    first = to_pcm16(synthesize(name, 7.5))
    second = to_pcm16(synthesize(name, 7.5))

    assert first == second
    assert len(first) == round(7.5 * SAMPLE_RATE) * 2 * 2


@pytest.mark.parametrize("seconds", [0.5, 3.0, 31.7, 90.0])
def test_a_track_lasts_exactly_the_seconds_asked_in_stereo(seconds: float) -> None:
    audio = synthesize("lofi", seconds)

    assert audio.shape == (round(seconds * SAMPLE_RATE), 2)


@pytest.mark.parametrize("name", sorted(TRACKS))
def test_a_track_is_levelled_limited_and_faded(name: str) -> None:
    audio = synthesize(name, 20)
    body = audio[SAMPLE_RATE * 3 : SAMPLE_RATE * 16]
    rms_db = 20 * np.log10(np.sqrt(np.mean(body**2)))

    assert -24 < rms_db < -14, "background music sits well below speech level"
    assert np.max(np.abs(audio)) <= PEAK_LIMIT + 1e-9
    assert np.max(np.abs(audio[:10])) < 1e-3, "starts from silence"
    assert np.max(np.abs(audio[-10:])) < 1e-3, "ends in silence"
    assert np.all(np.isfinite(audio))


def test_the_tracks_differ_from_each_other() -> None:
    rendered = {name: to_pcm16(synthesize(name, 4)) for name in TRACKS}

    assert len(set(rendered.values())) == len(TRACKS)


def test_a_track_written_as_wav_reads_back_as_48_khz_stereo(tmp_path: Path) -> None:
    path = tmp_path / "bright.wav"
    audio = synthesize("bright", 2)

    write_wav(path, audio)

    with wave.open(str(path), "rb") as stored:
        assert (stored.getnchannels(), stored.getsampwidth(), stored.getframerate()) == (2, 2, SAMPLE_RATE)
        assert stored.getnframes() == audio.shape[0]
        assert stored.readframes(stored.getnframes()) == to_pcm16(audio)


def test_unknown_tracks_and_empty_lengths_are_refused() -> None:
    with pytest.raises(KeyError):
        synthesize("nope", 3)
    with pytest.raises(ValueError, match="positive"):
        synthesize("bright", 0)
