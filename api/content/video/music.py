"""The soundtracks a person can choose: synthesised here with numpy, so the project may ship them.

No recording is downloaded or bundled: each track is a few bars of chords, arpeggios, bass and
drums written below as data and rendered by additive synthesis with proper envelopes. The
same track and length always give the same samples (noise comes from a seeded generator), so
a rendered file can be cached and shared by every video of that length; `track_path` keeps
those files, already encoded as AAC, in a cache folder.

A track is laid out as one bar-aligned loop rendered twice (a sparse intro variant and the
full arrangement), with every note's release wrapped around the loop's end so the loop tiles
without clicks. The mix is levelled to a fixed loudness (RMS about -18 dBFS), softly limited
under -1 dBFS, and fades in and out, so any length ends gracefully.
"""

from __future__ import annotations

import math
import os
import tempfile
import wave
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import ffmpeg as ffmpeg_graph  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt

from api.common.i18n import N_
from api.content.video.ffmpeg import BITEXACT_OPTIONS, FFmpeg, OutputNode, default_ffmpeg
from api.content.video.scratch import partial_prefix

SAMPLE_RATE = 48_000
SYNTH_VERSION = 1
"""Part of every cached file's name: bump it when the synthesis changes."""

TARGET_RMS = 10 ** (-18 / 20)
PEAK_LIMIT = 10 ** (-1 / 20)
FADE_IN_SECONDS = 1.5
FADE_OUT_SECONDS = 3.0

AAC_OPTIONS: dict[str, str] = {
    "c:a": "aac",
    "aac_coder": "fast",
    "b:a": "160k",
    "ar": str(SAMPLE_RATE),
    "ac": "2",
}
"""The soundtrack's encoding; the fast coder is twice as quick and transparent for background music."""

Audio = npt.NDArray[np.float64]
"""Stereo samples, shape (frames, 2), in -1..1."""


@dataclass(frozen=True)
class Track:
    name: str
    label: str
    """Msgid of the title a person chooses from."""
    bpm: float
    chords: tuple[tuple[int, ...], ...]
    """One chord per bar, as MIDI notes (60 is middle C)."""
    bass: tuple[int, ...]
    """The bass root of each bar (MIDI)."""
    style: str
    """``pop``, ``synthwave`` or ``lofi``: which instruments and drum pattern play the chords."""
    swing: float = 0.0
    """0 plays straight eighths; 0.6 delays every second eighth by 60 % of a sixteenth."""
    seed: int = 0


TRACKS: dict[str, Track] = {
    "bright": Track(
        name="bright",
        label=N_("Bright Morning"),
        bpm=112,
        chords=((60, 64, 67), (59, 62, 67), (57, 60, 64), (57, 60, 65)),
        bass=(36, 43, 45, 41),
        style="pop",
        seed=11,
    ),
    "drive": Track(
        name="drive",
        label=N_("Night Drive"),
        bpm=100,
        chords=((57, 60, 64), (53, 57, 60), (55, 60, 64), (55, 59, 62)),
        bass=(33, 29, 36, 31),
        style="synthwave",
        seed=23,
    ),
    "lofi": Track(
        name="lofi",
        label=N_("Lo-fi Notes"),
        bpm=78,
        chords=((62, 65, 69, 72), (55, 59, 62, 65), (60, 64, 67, 71), (57, 60, 64, 67)),
        bass=(38, 43, 36, 45),
        style="lofi",
        swing=0.6,
        seed=37,
    ),
}


def frequency(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


# -- instruments: each returns a mono note of `samples` length, envelope included -------------


def _time(samples: int) -> Audio:
    return np.arange(samples, dtype=np.float64) / SAMPLE_RATE


def _envelope(
    samples: int, attack: float, decay: float, sustain: float, release: float, held: float
) -> Audio:
    """ADSR: `held` seconds of attack, decay and sustain, then `release` seconds down to silence."""
    t = _time(samples)
    rise = np.clip(t / max(attack, 1e-4), 0.0, 1.0)
    level = sustain + (1.0 - sustain) * np.exp(-np.maximum(t - attack, 0.0) / max(decay, 1e-4))
    after = np.maximum(t - held, 0.0)
    fall = np.clip(1.0 - after / max(release, 1e-4), 0.0, 1.0) ** 2
    result: Audio = rise * level * fall
    return result


WAVETABLE_SIZE = 4096


@lru_cache(maxsize=64)
def _wavetable(harmonics: int, tilt: float) -> Audio:
    """One cycle of a tone with `harmonics` partials weighted 1/k**tilt, peak-normalised."""
    phase = np.arange(WAVETABLE_SIZE) / WAVETABLE_SIZE
    table = sum(np.sin(2 * math.pi * k * phase) / k**tilt for k in range(1, harmonics + 1))
    result: Audio = np.asarray(table / np.max(np.abs(table)), dtype=np.float64)
    return result


def _additive(freq: float, samples: int, harmonics: int, tilt: float, detune: float = 0.0) -> Audio:
    """A band-limited saw-like tone read from a wavetable: no partial above 16 kHz, so no aliasing."""
    top = max(1, min(harmonics, int(16_000 / freq)))
    step = freq * (1 + detune) / SAMPLE_RATE
    indexes = (np.arange(samples) * step % 1.0 * WAVETABLE_SIZE).astype(np.intp)
    result: Audio = _wavetable(top, tilt)[indexes]
    return result


def _pluck(freq: float, seconds: float) -> Audio:
    samples = int(seconds * SAMPLE_RATE)
    tone = _additive(freq, samples, 7, 1.4)
    result: Audio = tone * np.exp(-_time(samples) / 0.18) * np.clip(_time(samples) / 0.004, 0, 1)
    return result


def _pad(freq: float, seconds: float, held: float) -> Audio:
    samples = int(seconds * SAMPLE_RATE)
    tone = 0.5 * _additive(freq, samples, 6, 1.8, -0.003) + 0.5 * _additive(freq, samples, 6, 1.8, 0.003)
    result: Audio = tone * _envelope(samples, 0.35, 0.8, 0.7, 0.6, held)
    return result


def _keys(freq: float, seconds: float, held: float) -> Audio:
    """An electric-piano-like tone: a sine with a bell of harmonics that fades faster."""
    samples = int(seconds * SAMPLE_RATE)
    t = _time(samples)
    tone = np.sin(2 * math.pi * freq * t) + 0.35 * np.sin(2 * math.pi * 2 * freq * t) * np.exp(-t / 0.25)
    tone += 0.12 * np.sin(2 * math.pi * 3 * freq * t) * np.exp(-t / 0.12)
    tremolo = 1 + 0.08 * np.sin(2 * math.pi * 4.5 * t)
    result: Audio = tone * tremolo * _envelope(samples, 0.006, 0.9, 0.35, 0.35, held)
    return result


def _bass(freq: float, seconds: float, held: float) -> Audio:
    samples = int(seconds * SAMPLE_RATE)
    t = _time(samples)
    tone = np.sin(2 * math.pi * freq * t) + 0.25 * np.sin(2 * math.pi * 2 * freq * t)
    result: Audio = tone * _envelope(samples, 0.008, 0.3, 0.6, 0.08, held)
    return result


def _kick(seconds: float = 0.35) -> Audio:
    samples = int(seconds * SAMPLE_RATE)
    t = _time(samples)
    sweep = 45 + 90 * np.exp(-t / 0.045)
    phase = 2 * math.pi * np.cumsum(sweep) / SAMPLE_RATE
    result: Audio = np.sin(phase) * np.exp(-t / 0.13) * np.clip(t / 0.002, 0, 1)
    return result


def _snare(noise: Audio, tail: float = 0.14) -> Audio:
    samples = noise.shape[0]
    t = _time(samples)
    body = 0.5 * np.sin(2 * math.pi * 185 * t) * np.exp(-t / 0.05)
    result: Audio = (0.8 * noise * np.exp(-t / tail) + body) * np.clip(t / 0.001, 0, 1)
    return result


def _hat(noise: Audio) -> Audio:
    samples = noise.shape[0]
    t = _time(samples)
    bright = np.diff(noise, prepend=0.0)
    result: Audio = 0.6 * bright * np.exp(-t / 0.025)
    return result


# -- arrangement ---------------------------------------------------------------------------


class _Loop:
    """A bar-aligned stereo buffer; notes running past its end wrap to its start (seamless tiling)."""

    def __init__(self, seconds: float) -> None:
        self.length = round(seconds * SAMPLE_RATE)
        self.samples: Audio = np.zeros((self.length, 2))

    def add(self, start_seconds: float, mono: Audio, gain: float, pan: float = 0.0) -> None:
        left = gain * math.cos((pan + 1) * math.pi / 4)
        right = gain * math.sin((pan + 1) * math.pi / 4)
        start = round(start_seconds * SAMPLE_RATE) % self.length
        position = 0
        while position < mono.shape[0]:
            offset = (start + position) % self.length
            count = min(mono.shape[0] - position, self.length - offset)
            chunk = mono[position : position + count]
            self.samples[offset : offset + count, 0] += chunk * left
            self.samples[offset : offset + count, 1] += chunk * right
            position += count


def _loop(track: Track, full: bool) -> Audio:
    beat = 60.0 / track.bpm
    bar = 4 * beat
    loop = _Loop(bar * len(track.chords))
    rng = np.random.default_rng(track.seed)
    noise_short = rng.uniform(-1, 1, int(0.08 * SAMPLE_RATE))
    noise_snare = rng.uniform(-1, 1, int(0.45 * SAMPLE_RATE))

    def eighth(bar_index: int, index: int) -> float:
        delay = track.swing * beat / 4 if index % 2 else 0.0
        return bar_index * bar + index * beat / 2 + delay

    for bar_index, (chord, root) in enumerate(zip(track.chords, track.bass, strict=True)):
        start = bar_index * bar
        if track.style == "pop":
            for note in chord:
                loop.add(start, _pad(frequency(note), bar + 0.7, bar), 0.05)
            pattern = (0, 1, 2, 3, 2, 1, 2, 3, 0, 1, 2, 3, 2, 1, 2, 1)
            tones = [*chord, chord[0] + 12]
            for step, which in enumerate(pattern):
                pan = -0.35 if step % 2 else 0.35
                loop.add(start + step * beat / 4, _pluck(frequency(tones[which] + 12), 0.5), 0.16, pan)
            if full:
                for step in range(8):
                    held = beat / 2 * 0.8
                    loop.add(start + step * beat / 2, _bass(frequency(root), held + 0.1, held), 0.3)
                for kick_beat in (0.0, 2.0, 2.5):
                    loop.add(start + kick_beat * beat, _kick(), 0.55)
                for snare_beat in (1.0, 3.0):
                    loop.add(start + snare_beat * beat, _snare(noise_snare[: int(0.3 * SAMPLE_RATE)]), 0.22)
                for step in range(8):
                    loop.add(eighth(bar_index, step), _hat(noise_short), 0.12 if step % 2 else 0.07, 0.3)
        elif track.style == "synthwave":
            for note in chord:
                loop.add(start, _pad(frequency(note), bar + 0.7, bar), 0.08, -0.2)
            arp = [*chord, chord[1] + 12]
            for step in range(16):
                note = arp[step % len(arp)] + 12
                loop.add(start + step * beat / 4, _pluck(frequency(note), 0.3), 0.07, 0.4)
            for step in range(8):
                held = beat / 2 * 0.7
                loop.add(
                    start + step * beat / 2, _bass(frequency(root), held + 0.1, held), 0.34 if full else 0.2
                )
            if full:
                for kick_beat in range(4):
                    loop.add(start + kick_beat * beat, _kick(), 0.5)
                for snare_beat in (1.0, 3.0):
                    loop.add(start + snare_beat * beat, _snare(noise_snare, 0.3), 0.2)
                for step in range(16):
                    loop.add(start + step * beat / 4, _hat(noise_short), 0.06 if step % 2 else 0.03, -0.3)
        else:
            for comp_beat, held in ((0.0, 1.4 * beat), (2.5, 1.2 * beat)):
                for note in chord:
                    loop.add(start + comp_beat * beat, _keys(frequency(note), held + 0.5, held), 0.09)
            for bass_beat in (0.0, 2.0):
                held = 1.6 * beat
                loop.add(start + bass_beat * beat, _bass(frequency(root), held + 0.1, held), 0.32)
            if full:
                for kick_beat in (0.0, 1.5, 2.5):
                    loop.add(start + kick_beat * beat, _kick(0.4), 0.45)
                for snare_beat in (1.0, 3.0):
                    loop.add(start + snare_beat * beat, _snare(noise_snare, 0.09), 0.16)
                for step in range(8):
                    loop.add(eighth(bar_index, step), _hat(noise_short), 0.08 if step % 2 else 0.05, 0.25)
    if track.style == "lofi":
        crackle = np.zeros(loop.length)
        positions = rng.integers(0, loop.length, size=int(loop.length / SAMPLE_RATE * 12))
        crackle[positions] = rng.uniform(-0.5, 0.5, positions.shape[0])
        loop.samples += 0.05 * crackle[:, None]
    return loop.samples


@lru_cache(maxsize=8)
def _loops(name: str) -> tuple[Audio, Audio]:
    """The intro and full loops of a track, levelled together and softly limited.

    Cached: every length of the track is these two loops tiled, so they are drawn once per process.
    """
    track = TRACKS[name]
    intro, full = _loop(track, full=False), _loop(track, full=True)
    gain = TARGET_RMS / max(float(np.sqrt(np.mean(full**2))), 1e-9)
    return _limit(intro * gain), _limit(full * gain)


def _limit(audio: Audio) -> Audio:
    """A soft limiter: unchanged at low levels, never above `PEAK_LIMIT`."""
    result: Audio = PEAK_LIMIT * np.tanh(audio / PEAK_LIMIT)
    return result


def synthesize(name: str, seconds: float) -> Audio:
    """`seconds` of track `name`: the intro loop once, then the full loop, faded in and out."""
    if name not in TRACKS:
        raise KeyError(f"unknown music track {name!r}")
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    intro, full = _loops(name)
    samples = round(seconds * SAMPLE_RATE)
    audio = np.empty((samples, 2))
    position = 0
    for loop in (intro, *[full] * math.ceil(max(0, samples - intro.shape[0]) / full.shape[0])):
        count = min(loop.shape[0], samples - position)
        audio[position : position + count] = loop[:count]
        position += count
    fade_in = min(samples, round(FADE_IN_SECONDS * SAMPLE_RATE))
    fade_out = min(samples, round(FADE_OUT_SECONDS * SAMPLE_RATE))
    audio[:fade_in] *= np.linspace(0.0, 1.0, fade_in)[:, None] ** 2
    audio[samples - fade_out :] *= np.linspace(1.0, 0.0, fade_out)[:, None] ** 2
    return audio


def to_pcm16(audio: Audio) -> bytes:
    """Interleaved little-endian 16-bit samples, as a WAV file stores them."""
    return bytes((np.clip(audio, -1.0, 1.0) * 32767).round().astype("<i2").tobytes())


def write_wav(path: Path, audio: Audio) -> None:
    with wave.open(str(path), "wb") as output:
        output.setnchannels(2)
        output.setsampwidth(2)
        output.setframerate(SAMPLE_RATE)
        output.writeframes(to_pcm16(audio))


def track_path(name: str, seconds: float, cache_dir: Path, *, ffmpeg: FFmpeg | None = None) -> Path:
    """Track `name` lasting exactly `seconds`, faded in and out, as AAC in an .m4a; made once, then cached.

    The video's length is known from its plan, so the track is cut and faded for it here and
    `encode.assemble` copies it without decoding. The file is written beside its final name and
    renamed into place, so a concurrent or interrupted call never leaves half a track behind.
    """
    runner = ffmpeg or default_ffmpeg()
    milliseconds = max(1, round(seconds * 1000))
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{name}-{milliseconds}ms-{SAMPLE_RATE}-v{SYNTH_VERSION}.m4a"
    if path.is_file():
        return path
    audio = synthesize(name, milliseconds / 1000)
    descriptor, temporary = tempfile.mkstemp(
        dir=cache_dir, prefix=partial_prefix(name), suffix=".partial.wav"
    )
    os.close(descriptor)

    def job(target: str) -> OutputNode:
        node: OutputNode = ffmpeg_graph.input(temporary).output(
            target, **AAC_OPTIONS, movflags="+faststart", **BITEXACT_OPTIONS
        )
        return node

    try:
        write_wav(Path(temporary), audio)
        runner.run(job, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return path
