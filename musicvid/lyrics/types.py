"""The song's words with their times: :class:`Lyrics` of :class:`LyricLine` of :class:`Word`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import LyricsError

__all__ = ["LyricLine", "Lyrics", "Word", "format_time"]

END_TOLERANCE = 0.05  # seconds a timestamp may sit past the song's end (rounding)


def format_time(seconds: float) -> str:
    """``83.5`` -> ``"01:23.50"`` (how LRC writes times)."""
    cs = int(round(max(0.0, seconds) * 100))
    m, cs = divmod(cs, 6000)
    return f"{m:02d}:{cs // 100:02d}.{cs % 100:02d}"


@dataclass
class Word:
    """One sung word: ``start`` and ``end`` in seconds (``end`` may equal the next word's
    start when the source gives only starts)."""

    text: str
    start: float
    end: float


@dataclass
class LyricLine:
    """One line of the lyrics, on screen from ``start`` to ``end`` (seconds).

    ``words`` holds word timings when the source had them (enhanced LRC, a transcript),
    else it is empty. ``source_line`` is the line number in the file it came from.
    """

    text: str
    start: float
    end: float
    words: list[Word] = field(default_factory=list)
    source_line: int = 0

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Lyrics:
    """The lines of a song in time order.

    ``format`` says where they came from (``lrc``, ``srt``, ``vtt``, ``text``,
    ``transcript``); ``timed`` is False for plain text that has not been aligned yet.
    """

    lines: list[LyricLine]
    format: str = "text"
    timed: bool = True
    source: str = "lyrics"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def has_word_times(self) -> bool:
        return any(line.words for line in self.lines)

    def words(self) -> list[str]:
        return [w for line in self.lines for w in line.text.split()]

    def line_at(self, t: float) -> LyricLine | None:
        for line in self.lines:
            if line.start <= t < line.end:
                return line
        return None

    def check(self, duration: float) -> Lyrics:
        """Raise :class:`LyricsError` if a timed line starts past the song's ``duration``;
        clip line and word ends to it. Returns ``self``."""
        if not self.timed:
            return self
        for line in self.lines:
            if line.start > duration + END_TOLERANCE:
                raise LyricsError(
                    f"the line {line.text!r} starts at {format_time(line.start)}, after the "
                    f"end of the song ({format_time(duration)}): are these the lyrics of "
                    "another song, or is the offset wrong?", line=line.source_line or None,
                    source=self.source)
            line.end = min(line.end, duration)
            if line.end <= line.start:
                line.end = min(duration, line.start + 0.5)
            for w in line.words:
                w.end = min(w.end, line.end)
                w.start = min(w.start, w.end)
        self.lines = [ln for ln in self.lines if ln.end > ln.start]
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Lyrics:
        try:
            lines = [LyricLine(text=str(ln["text"]), start=float(ln["start"]),
                               end=float(ln["end"]),
                               words=[Word(str(w["text"]), float(w["start"]), float(w["end"]))
                                      for w in ln.get("words", [])],
                               source_line=int(ln.get("source_line", 0)))
                     for ln in data.get("lines", [])]
        except (KeyError, TypeError, ValueError) as exc:
            raise LyricsError(f"malformed lyrics data: {exc}") from None
        return cls(lines, str(data.get("format", "text")), bool(data.get("timed", True)),
                   str(data.get("source", "lyrics")), dict(data.get("meta", {})))

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)
