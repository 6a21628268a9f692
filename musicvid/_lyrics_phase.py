"""The pipeline's lyrics phase, part of planning: the song's timed words from the
``lyrics`` file, from a transcript of the audio (cached), or the file's plain text
aligned to that transcript (docs/lyrics.md).

Each function takes the :class:`~musicvid.pipeline.Pipeline` it works for; the lyrics
file is read once per pipeline (``pipe._given_lyrics``), at preflight when there is one.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import cache_keys
from .cache import file_sha256
from .errors import MusicVidError, tagged
from .types import Analysis

if TYPE_CHECKING:  # pragma: no cover
    from .lyrics import Lyrics
    from .pipeline import Pipeline

__all__ = ["preflight_lyrics", "song_lyrics", "transcribe"]

log = logging.getLogger(__name__)


def _needs_transcript(pipe: Pipeline) -> bool:
    given = pipe._given_lyrics
    if given is not None:
        return not given.timed
    return bool(pipe.config.transcribe)


def preflight_lyrics(pipe: Pipeline) -> None:
    """Read the lyrics file (a bad one fails before any work) and let the transcriber
    fail fast when a transcript will be needed."""
    if pipe.config.lyrics is not None:
        from .lyrics import load_lyrics

        pipe._given_lyrics = load_lyrics(pipe.config.lyrics)
    if _needs_transcript(pipe):
        pipe.preflight_stage("transcriber", "transcribe")


def transcribe(pipe: Pipeline, audio: str | Path) -> Lyrics:
    """The transcriber's timed words for ``audio`` (cached)."""
    from .lyrics import Lyrics

    audio = Path(audio)
    ctx = pipe._ctx("transcribe")
    ctx.check_cancelled()
    stage = pipe.stage("transcriber")
    key = cache_keys.transcript_key(file_sha256(audio), pipe.stage_identity("transcriber", ctx))
    cached = pipe.cache.get_json("transcript", key)
    if cached is not None:
        pipe.stats["transcript_cached"] = True
        ctx.progress(1, 1, "transcript from cache")
        return Lyrics.from_dict(cached)
    t0 = time.perf_counter()
    with tagged("transcribe", stage.name):
        transcript: Lyrics = stage.transcribe(audio, ctx)
    pipe.cache.put_json("transcript", key, transcript.to_dict())
    pipe._timed("transcribe", t0)
    return transcript


def song_lyrics(pipe: Pipeline, analysis: Analysis,
                audio: str | Path | None = None) -> Lyrics | None:
    """The song's timed lyrics: the ``lyrics`` file (plain text aligned to a
    transcript), else a transcript when ``transcribe`` is on, else None."""
    from .lyrics import align_lyrics, load_lyrics

    c = pipe.config
    if c.lyrics is None and not c.transcribe:
        return None
    if c.lyrics is not None and pipe._given_lyrics is None:
        pipe._given_lyrics = load_lyrics(c.lyrics)
    given = pipe._given_lyrics
    if given is not None and given.timed:
        return given.check(analysis.duration)
    source = audio if audio is not None else pipe._audio
    if source is None:
        raise MusicVidError("transcribing needs the audio: call analyze() first",
                            stage="transcribe")
    transcript = pipe.transcribe(source)
    if given is not None:
        return align_lyrics(given, transcript).check(analysis.duration)
    if not transcript.lines:
        log.warning("the transcriber heard no words: no lyrics for this video")
        return None
    return transcript.check(analysis.duration)
