"""The stage protocols. A plugin implements one and registers it by name.

Stages receive a :class:`StageContext` for progress and cancellation, and must be safe to
reuse across renders (a server keeps them alive): load heavy models lazily and cache them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .errors import RenderCancelled

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from .config import RenderConfig
    from .lyrics import Lyrics
    from .types import Analysis, Clip, Keyframe, Shot, Storyboard

__all__ = [
    "Analyzer",
    "CompositeResult",
    "Compositor",
    "KeyframeGenerator",
    "MotionGenerator",
    "ProgressCallback",
    "StageContext",
    "Transcriber",
]

ProgressCallback = Callable[[str, int, int, str], None]
"""``progress(stage, done, total, message)``."""


def _no_progress(stage: str, done: int, total: int, message: str) -> None:
    return None


@dataclass
class StageContext:
    """What a stage gets besides its inputs: the config, progress and cancellation."""

    config: RenderConfig
    stage: str = ""
    progress_callback: ProgressCallback = _no_progress
    is_cancelled: Callable[[], bool] = lambda: False
    extra: dict[str, Any] = field(default_factory=dict)

    def progress(self, done: int, total: int, message: str = "") -> None:
        self.progress_callback(self.stage, done, total, message)

    def check_cancelled(self) -> None:
        """Raise :class:`RenderCancelled` if the caller asked to stop. Call between units."""
        if self.is_cancelled():
            raise RenderCancelled("render cancelled", stage=self.stage or None)

    def for_stage(self, stage: str) -> StageContext:
        return StageContext(self.config, stage, self.progress_callback, self.is_cancelled,
                            self.extra)


@dataclass
class CompositeResult:
    """What the compositor wrote."""

    path: Path
    frame_count: int
    video_duration: float
    audio_duration: float
    video_codec: str = ""
    audio_codec: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Analyzer(Protocol):
    """Audio file -> :class:`~musicvid.types.Analysis`."""

    name: str

    def analyze(self, audio: Path, ctx: StageContext) -> Analysis: ...


@runtime_checkable
class KeyframeGenerator(Protocol):
    """Shots -> one still image per shot.

    ``cache_key_parts`` returns everything besides the shot's prompt, negative prompt
    and seed that changes the image (model id, size, steps...), for the on-disk cache.
    ``generate`` receives at most ``batch_size`` shots and returns one image per shot.
    """

    name: str
    batch_size: int

    def cache_key_parts(self, ctx: StageContext) -> dict[str, Any]: ...

    def generate(self, shots: Sequence[Shot], ctx: StageContext) -> list[Image.Image]: ...


@runtime_checkable
class MotionGenerator(Protocol):
    """Keyframe + shot -> a :class:`~musicvid.types.Clip` of exactly ``shot.frame_count``
    frames at the storyboard's size. ``cacheable`` stages get their clips cached on disk.
    """

    name: str
    cacheable: bool

    def cache_key_parts(self, ctx: StageContext) -> dict[str, Any]: ...

    def animate(self, keyframe: Keyframe, shot: Shot, storyboard: Storyboard,
                analysis: Analysis, ctx: StageContext) -> Clip: ...


@runtime_checkable
class Compositor(Protocol):
    """Clips (in shot order) + the song -> the finished video at ``output``."""

    name: str

    def compose(self, clips: Iterator[Clip], storyboard: Storyboard, audio: Path,
                output: Path, ctx: StageContext) -> CompositeResult: ...


@runtime_checkable
class Transcriber(Protocol):
    """Audio file -> the sung words with their times, as :class:`~musicvid.lyrics.Lyrics`
    (lines with ``words`` filled in). Runs only when asked (``transcribe``) or when
    plain-text lyrics need timings. ``cache_key_parts`` returns what changes the result
    besides the audio (model id, options), for the on-disk cache.
    """

    name: str

    def cache_key_parts(self, ctx: StageContext) -> dict[str, Any]: ...

    def transcribe(self, audio: Path, ctx: StageContext) -> Lyrics: ...
