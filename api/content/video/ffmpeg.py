"""Running ffmpeg: one subprocess per job, bounded in time and threads, with progress and clean errors.

The binary is the one a deployment configures, else the ``imageio-ffmpeg`` wheel's. A job
writes to a hidden file beside its output and renames it into place only when ffmpeg succeeded,
so the output's existence means a complete file (callers skip work whose output exists), and a
failed, timed-out or interrupted job leaves nothing behind. Only a process killed outright can
leave a hidden partial file, which no caller mistakes for output and whose name carries the
writer's pid, so the next worker removes it (`scratch.sweep_stale_partials`). A `progress`
callback may raise to cancel a job: ffmpeg is stopped and the exception goes on to the caller.
A failure raises `FFmpegError` carrying the tail of ffmpeg's own messages, which say what went
wrong far better than an exit code.

Command lines are built with ffmpeg-python: a job is a function from the file to write to an
output node (``ffmpeg.input(...).filter(...).output(target, **options)``), which numbers its
inputs, labels the streams between filters, writes the ``-map``s and escapes filter options, so
no caller counts input indexes or quotes values. Options shared by several jobs
(`VideoEncoding.output_options`, `BITEXACT_OPTIONS`, the soundtrack's AAC options) are dicts of
ffmpeg option names, spread into an output's keyword options. ffmpeg-python's own runner is
not used: it neither reports progress nor bounds a job in time, and it has no idea of partial
files; `FFmpeg.run` executes the arguments it compiles.

The scene renderer (`scenes.py`) still hands `run` a list of arguments. Its inputs are raw frames
in files that ffmpeg-python could name, but nearly all of its graph is ffmpeg's expression
language (eased positions, crops sliding over an atlas, fades in time): ffmpeg-python takes those
as opaque strings and escapes their commas and quotes at two levels, so a graph built with it
would be the same strings, only harder to read in a log. That graph is also what
``bench/video`` measures, and one command per scene is its whole cost.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import imageio_ffmpeg  # type: ignore[import-untyped]

from api.content.video.scratch import partial_name

DEFAULT_TIMEOUT_SECONDS = 600.0
STDERR_TAIL_LINES = 40
PROGRESS_PERIOD_SECONDS = 0.25
"""How often ffmpeg reports progress: often enough for a heartbeat, rarely enough to cost nothing."""

GLOBAL_ARGS: tuple[str, ...] = (
    "-hide_banner",
    "-nostdin",
    "-loglevel",
    "error",
    "-nostats",
    "-progress",
    "pipe:1",
    "-stats_period",
    str(PROGRESS_PERIOD_SECONDS),
    "-y",
)
"""Before every job: errors only on stderr, machine-readable progress on stdout, never a prompt."""


class FFmpegError(RuntimeError):
    """ffmpeg failed; `stderr_tail` holds its last messages."""

    def __init__(self, message: str, *, stderr_tail: str = "", returncode: int | None = None) -> None:
        detail = f"{message}\n{stderr_tail}" if stderr_tail else message
        super().__init__(detail)
        self.summary = message
        self.stderr_tail = stderr_tail
        self.returncode = returncode


class FFmpegNotFoundError(FFmpegError):
    """No ffmpeg binary where it was configured, nor in the imageio-ffmpeg wheel."""


class FFmpegTimeoutError(FFmpegError):
    """The job ran longer than its timeout and was killed."""


class OutputNode(Protocol):
    """What ffmpeg-python's ``output(...)`` returns: a whole job that knows its arguments."""

    def get_args(self) -> list[str]: ...


Job = Callable[[str], OutputNode]
"""A job built with ffmpeg-python: given the file to write, its output node."""


def option_args(options: Mapping[str, str | int | None]) -> list[str]:
    """``{"c:v": "libx264", "an": None}`` as ``-c:v libx264 -an``, in the mapping's order."""
    args: list[str] = []
    for name, value in options.items():
        args.append(f"-{name}")
        if value is not None:
            args.append(str(value))
    return args


@dataclass(frozen=True)
class VideoEncoding:
    """How every segment and the final video are encoded: H.264 High, yuv420p, BT.709, bit-exact.

    Segments are joined by copying their streams, so they must all be encoded alike; the
    benchmark's encode-only baseline uses the same settings so the comparison is fair.
    """

    preset: str = "veryfast"
    crf: int = 22
    threads: int = 1
    """Encoder and filter threads per ffmpeg process: scenes run side by side, one core each."""

    def output_options(self) -> dict[str, str]:
        """As ffmpeg-python output options."""
        return {
            "c:v": "libx264",
            "preset": self.preset,
            "crf": str(self.crf),
            "pix_fmt": "yuv420p",
            "profile:v": "high",
            "threads": str(self.threads),
            "colorspace": "bt709",
            "color_primaries": "bt709",
            "color_trc": "bt709",
            "color_range": "tv",
        }

    def video_args(self) -> list[str]:
        """As command-line arguments."""
        return option_args(self.output_options())


BITEXACT_OPTIONS: dict[str, str] = {"fflags": "+bitexact", "flags:v": "+bitexact", "map_metadata": "-1"}
"""No encoder version strings or dates in the files: the same input gives the same bytes."""
BITEXACT_ARGS: tuple[str, ...] = tuple(option_args(BITEXACT_OPTIONS))


@dataclass(frozen=True)
class FFmpeg:
    path: str
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    @classmethod
    def locate(cls, configured: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> FFmpeg:
        """The configured binary (checked), else the wheel's."""
        return cls(path=find_ffmpeg(configured), timeout=timeout)

    def command(self, job: Job | Sequence[str], target: str) -> list[str]:
        """The whole command line of `job` writing `target`.

        `job` is built with ffmpeg-python, or is a list of arguments to which `target` is appended.
        """
        args = job(target).get_args() if callable(job) else [*job, target]
        return [self.path, *GLOBAL_ARGS, *args]

    def run(
        self,
        job: Job | Sequence[str],
        output: Path,
        *,
        expected_frames: int | None = None,
        progress: Callable[[float], None] | None = None,
        timeout: float | None = None,
    ) -> Path:
        """Run `job` into `output`: the file appears complete, or not at all.

        `progress` receives 0-1 as frames are written (when `expected_frames` is known).
        """
        output = Path(output)
        partial = output.with_name(partial_name(output.stem, output.suffix))
        command = self.command(job, str(partial))
        try:
            self._execute(command, expected_frames, progress, timeout or self.timeout)
            if not partial.is_file():
                raise FFmpegError("ffmpeg reported success but wrote no file")
            os.replace(partial, output)
        finally:
            partial.unlink(missing_ok=True)
        return output

    def _execute(
        self,
        command: list[str],
        expected_frames: int | None,
        progress: Callable[[float], None] | None,
        timeout: float,
    ) -> None:
        try:
            process = subprocess.Popen(  # noqa: S603 - a fixed binary and arguments we built, no shell
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
            )
        except OSError as error:
            raise FFmpegNotFoundError(f"cannot start ffmpeg at {self.path!r}: {error}") from error
        stdout, stderr = process.stdout, process.stderr
        if stdout is None or stderr is None:  # pragma: no cover - both are pipes, asked for above
            process.kill()
            raise FFmpegError("ffmpeg started without its output pipes")
        tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        timed_out = threading.Event()

        def drain_stderr() -> None:
            for raw in stderr:
                tail.append(raw.decode("utf-8", "replace").rstrip())

        def kill() -> None:
            timed_out.set()
            process.kill()

        reader = threading.Thread(target=drain_stderr, daemon=True)
        reader.start()
        timer = threading.Timer(timeout, kill)
        timer.daemon = True
        timer.start()
        last = -1.0
        try:
            for raw in stdout:
                key, _, value = raw.decode("ascii", "replace").strip().partition("=")
                if key == "frame" and expected_frames and progress is not None:
                    fraction = min(1.0, int(value or 0) / expected_frames)
                    if fraction >= last + 0.01 or (fraction == 1.0 and last < 1.0):
                        last = fraction
                        progress(fraction)
            returncode = process.wait()
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            timer.cancel()
            reader.join(timeout=5)
        stderr_tail = "\n".join(tail)
        if timed_out.is_set():
            raise FFmpegTimeoutError(
                f"ffmpeg ran longer than {timeout:g} s and was stopped", stderr_tail=stderr_tail
            )
        if returncode != 0:
            raise FFmpegError(
                f"ffmpeg failed with exit code {returncode}", stderr_tail=stderr_tail, returncode=returncode
            )


def find_ffmpeg(configured: str | None = None) -> str:
    """The path of the ffmpeg binary to run, or `FFmpegNotFoundError` saying where it looked."""
    if configured:
        path = Path(configured)
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        raise FFmpegNotFoundError(f"the configured ffmpeg {configured!r} is not an executable file")
    return _bundled_ffmpeg()


@lru_cache(maxsize=1)
def _bundled_ffmpeg() -> str:
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError as error:
        raise FFmpegNotFoundError(
            "no ffmpeg binary: install the imageio-ffmpeg wheel, or configure the path of an ffmpeg binary"
        ) from error


@lru_cache(maxsize=1)
def default_ffmpeg() -> FFmpeg:
    return FFmpeg.locate()
