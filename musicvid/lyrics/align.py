"""Plain-text lyrics aligned to a transcript's word times.

The lyrics' words and the transcript's words are compared in order, case and
punctuation aside (:class:`difflib.SequenceMatcher`); a matched word takes its
transcribed word's times. Unmatched lyric words between two matches are spread evenly
over the time between them (before the first match: from the transcript's first word;
after the last: to its last). With no match at all (a noisy transcript), the lyric
words are mapped onto the transcribed words by position, in order. A line runs from
its first word's start to its last word's end.
"""

from __future__ import annotations

import difflib
import re

from ..errors import LyricsError
from .types import LyricLine, Lyrics, Word

__all__ = ["align_lyrics"]


def _norm(w: str) -> str:
    return "".join(re.findall(r"[^\W_]+", w.lower()))


def align_lyrics(lyrics: Lyrics, transcript: Lyrics) -> Lyrics:
    """``lyrics`` (plain text) with times from ``transcript``'s words."""
    heard = [w for line in transcript.lines for w in (line.words or
             [Word(line.text, line.start, line.end)])]
    if not heard:
        raise LyricsError("the transcript has no words to align the lyrics to: is there "
                          "singing in this song? Give timed lyrics (.lrc, .srt, .vtt)",
                          source=lyrics.source)
    sung = [(i, w) for i, line in enumerate(lyrics.lines) for w in line.text.split()]
    n, m = len(sung), len(heard)
    times: list[tuple[float, float] | None] = [None] * n
    matcher = difflib.SequenceMatcher(None, [_norm(w) for _, w in sung],
                                      [_norm(w.text) for w in heard], autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            h = heard[block.b + k]
            times[block.a + k] = (h.start, h.end)
    if all(t is None for t in times):
        for k in range(n):
            h = heard[min(m - 1, k * m // n)]
            times[k] = (h.start, h.end)
    # spread unmatched runs between the known neighbours
    k = 0
    first, last = heard[0].start, heard[-1].end
    while k < n:
        if times[k] is not None:
            k += 1
            continue
        j = k
        while j < n and times[j] is None:
            j += 1
        lo = times[k - 1][1] if k > 0 and times[k - 1] else first  # type: ignore[index]
        hi = times[j][0] if j < n and times[j] else last  # type: ignore[index]
        hi = max(hi, lo)
        step = (hi - lo) / (j - k)
        for q in range(k, j):
            times[q] = (lo + step * (q - k), lo + step * (q - k + 1))
        k = j
    lines: list[LyricLine] = []
    for i, line in enumerate(lyrics.lines):
        words = [Word(w, times[k][0], max(times[k][0], times[k][1]))  # type: ignore[index]
                 for k, (li, w) in enumerate(sung) if li == i]
        for a, b in zip(words, words[1:], strict=False):  # keep the words in order
            if b.start < a.start:
                b.start = a.start
            b.end = max(b.end, b.start)
        start, end = words[0].start, max(words[-1].end, words[0].start + 0.1)
        if lines and start < lines[-1].end:
            lines[-1].end = max(lines[-1].start + 0.05, start)
            for w in lines[-1].words:
                w.end = min(w.end, lines[-1].end)
                w.start = min(w.start, w.end)
        lines.append(LyricLine(line.text, start, end, words, line.source_line))
    return Lyrics(lines, lyrics.format, True, lyrics.source,
                  {**lyrics.meta, "aligned_to": transcript.source})
