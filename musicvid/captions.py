"""Lyric captions: burned into the picture, and soft (``.srt``, ``.vtt``, an MP4 track).

``captions`` (``--captions``): ``soft`` (the default: files beside the video and a
``mov_text`` subtitle track inside the MP4), ``burn`` (drawn into the frames), ``both``,
or ``none``. Nothing happens for a video without lyrics.

This module writes the soft captions and says which a render gets (:func:`burner_for`,
:func:`soft_track`); how burned-in captions are timed, laid out, drawn and blended into
the frames is :mod:`musicvid.burned_captions` (its names are re-exported here).
"""

from __future__ import annotations

import logging
import struct
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._parsers import caption_mode
from ._vocab import CAPTION_MODES
from .burned_captions import (  # noqa: F401 - burned-in captions, re-exported
    DEFAULT_FONT,
    FONT_SCALE,
    HIGHLIGHT,
    MAX_ROWS,
    OUTLINE,
    SAFE,
    TEXT,
    CaptionBurner,
    CaptionEvent,
    caption_events,
)
from .lyrics.storyboard import lyrics_of
from .lyrics.types import Lyrics

if TYPE_CHECKING:  # pragma: no cover
    from .types import Storyboard

__all__ = ["CAPTION_MODES", "DEFAULT_FONT", "HIGHLIGHT", "CaptionBurner", "CaptionEvent",
           "add_subtitle_track", "burner_for", "caption_events", "caption_mode", "soft_track",
           "srt_text", "vtt_text", "write_soft_captions"]

log = logging.getLogger(__name__)


# -- soft captions --------------------------------------------------------------------------
def _stamp(t: float, sep: str) -> str:
    ms = int(round(max(0.0, t) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def srt_text(lyrics: Lyrics) -> str:
    """The lyrics as SubRip cues."""
    blocks = [f"{i}\n{_stamp(ln.start, ',')} --> {_stamp(ln.end, ',')}\n{ln.text}\n"
              for i, ln in enumerate(lyrics.lines, 1)]
    return "\n".join(blocks)


def vtt_text(lyrics: Lyrics) -> str:
    """The lyrics as WebVTT cues, with ``<hh:mm:ss.mmm>`` word times when known."""
    blocks = ["WEBVTT\n"]
    for ln in lyrics.lines:
        if ln.words:
            body = ln.words[0].text + "".join(f" <{_stamp(w.start, '.')}>{w.text}"
                                              for w in ln.words[1:])
        else:
            body = ln.text
        blocks.append(f"{_stamp(ln.start, '.')} --> {_stamp(ln.end, '.')}\n{body}\n")
    return "\n".join(blocks)


def write_soft_captions(board: Storyboard, output: str | Path) -> list[Path]:
    """``out.srt`` and ``out.vtt`` beside ``output`` from ``board``'s lyrics ([] if none)."""
    lyrics = lyrics_of(board)
    if lyrics is None:
        return []
    out = Path(output)
    paths = [out.with_suffix(".srt"), out.with_suffix(".vtt")]
    paths[0].write_text(srt_text(lyrics), encoding="utf-8")
    paths[1].write_text(vtt_text(lyrics), encoding="utf-8")
    return paths


_ASS_HEADER = (
    "[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n[V4+ Styles]\n"
    "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
    "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
    "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
    "Style: Default,Sans,16,&Hffffff,&Hffffff,&H0,&H0,1,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0"
    "\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, "
    "Effect, Text\n")


def add_subtitle_track(out: Any, board: Storyboard) -> list[Any]:
    """Add a ``mov_text`` stream with ``board``'s lyrics to the PyAV MP4 ``out``; returns
    its packets, to mux once the container is set up ([] when there are no lyrics)."""
    import av

    lyrics = lyrics_of(board)
    if lyrics is None:
        return []
    stream = out.add_stream("mov_text")
    stream.time_base = Fraction(1, 1000)
    stream.codec_context.subtitle_header = _ASS_HEADER.encode()
    stream.metadata["language"] = "und"
    packets = []
    limit = int(board.frame_count / board.fps * 1000)
    for ln in lyrics.lines:
        start, end = int(round(ln.start * 1000)), min(limit, int(round(ln.end * 1000)))
        if end <= start:
            continue
        data = ln.text.encode("utf-8")
        p = av.Packet(struct.pack(">H", len(data)) + data)
        p.pts = p.dts = start
        p.duration = end - start
        p.time_base = Fraction(1, 1000)
        p.stream = stream
        packets.append(p)
    return packets


# -- which captions a render gets ----------------------------------------------------------
def burner_for(board: Storyboard, config: Any) -> CaptionBurner | None:
    """A :class:`CaptionBurner` when ``config`` burns captions and ``board`` has lyrics."""
    mode = caption_mode(getattr(config, "captions", "soft"))
    if mode not in ("burn", "both"):
        return None
    lyrics = lyrics_of(board)
    if lyrics is None:
        return None
    return CaptionBurner(lyrics, board.width, board.height, board.fps, board.frame_count,
                         getattr(config, "caption_font", None))


def soft_track(config: Any) -> bool:
    """Whether ``config`` asks for the MP4's subtitle track (``soft`` or ``both``)."""
    return caption_mode(getattr(config, "captions", "soft")) in ("soft", "both")
