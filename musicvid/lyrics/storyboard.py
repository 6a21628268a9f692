"""Lyrics into a planned storyboard: cuts on line starts, prompts from the sung words.

1. **Cuts**: a cut may move to a line's start when a detected beat lies within one frame
   of that start and the cut is at most one beat away; the cut goes to that beat's frame
   (so it stays on the beat) and neither neighbouring shot may drop below the planner's
   minimum length.
2. **The sung line of a shot** is the line that overlaps it longest; a shot no line
   overlaps (an instrumental stretch) keeps its section prompt.
3. **Prompts**: the line's imagery (:mod:`musicvid.lyrics.imagery`) goes in right after
   the video's look, ahead of the section's subject, world, framing, light and lens, and
   the prompt is refitted to CLIP's window. Seeds come from the line's words.
4. **A repeated line reuses its keyframe**: every shot of the same line (case and
   punctuation aside) gets the prompt and seed of its first shot, so a chorus line shows
   the same picture each time it comes back.

Each shot records its line (``lyric``, ``lyric_line``); ``meta["lyrics"]`` holds every
line with its times, which the captions are drawn from.
"""

from __future__ import annotations

import bisect
from fractions import Fraction
from typing import TYPE_CHECKING

from ..errors import StoryboardError
from ..planning.prompts import MAX_TOKENS, derive_seed, fit_prompt
from .imagery import imagery, line_key
from .types import Lyrics

if TYPE_CHECKING:  # pragma: no cover
    from ..config import RenderConfig
    from ..types import Analysis, Storyboard

__all__ = ["apply_lyrics", "lyric_prompt", "lyrics_of", "record_lyrics"]


def lyric_prompt(section_prompt: str, line: str) -> str:
    """``section_prompt`` with ``line``'s imagery second, refitted to CLIP's window."""
    words = imagery(line)
    if not words:
        return section_prompt
    parts = [p.strip() for p in section_prompt.split(", ") if p.strip()]
    head, rest = (parts[0], parts[1:]) if parts else ("", [])
    ranked = [(0, head), (0, words)] + [(i + 1, p) for i, p in enumerate(rest)]
    return fit_prompt(ranked, max_tokens=MAX_TOKENS)


def _move_cuts(board: Storyboard, analysis: Analysis, lyrics: Lyrics, min_frames: int) -> int:
    fps = board.fps
    n = board.frame_count
    beats = sorted({int(round(Fraction(b) * fps)) for b in analysis.beats})
    beats = [b for b in beats if 0 < b < n]
    if not beats or len(board.shots) < 2:
        return 0
    period = (float(fps) * 60.0 / analysis.tempo) if analysis.tempo else float(fps) * 0.5
    moved = 0
    for line in lyrics.lines:
        target = float(Fraction(line.start) * fps)
        i = bisect.bisect_left(beats, target)
        near = [b for b in beats[max(0, i - 1):i + 1] if abs(b - target) <= 1.0]
        if not near:
            continue
        beat = min(near, key=lambda b: abs(b - target))
        k = min(range(1, len(board.shots)),
                key=lambda j: abs(board.shots[j].start_frame - beat))
        shot, prev = board.shots[k], board.shots[k - 1]
        delta = beat - shot.start_frame
        if delta == 0 or abs(delta) > period:
            continue
        if beat - prev.start_frame < min_frames or shot.end_frame - beat < min_frames:
            continue
        prev.end_frame = beat
        shot.start_frame = beat
        for s, shift in ((prev, 0), (shot, delta)):
            pulses = s.motion.get("pulses")
            if pulses:
                kept = [[p[0] - shift, p[1]] for p in pulses if 0 <= p[0] - shift < s.frame_count]
                if kept:
                    s.motion["pulses"] = kept
                else:
                    s.motion.pop("pulses")
            s.transition_frames = min(int(s.transition_frames), s.frame_count // 2)
        moved += 1
    return moved


def apply_lyrics(board: Storyboard, analysis: Analysis, lyrics: Lyrics,
                 config: RenderConfig, min_frames: int = 1) -> Storyboard:
    """Fit ``board`` to ``lyrics`` in place (see the module docstring); returns it."""
    moved = _move_cuts(board, analysis, lyrics, min_frames)
    first_of: dict[str, tuple[str, int]] = {}
    budget = config.max_keyframes
    distinct = {(s.prompt, s.seed) for s in board.shots}
    for shot in board.shots:
        t0, t1 = board.time_of(shot.start_frame), board.time_of(shot.end_frame)
        best, overlap = None, 0.0
        for idx, line in enumerate(lyrics.lines):
            o = min(t1, line.end) - max(t0, line.start)
            if o > overlap:
                best, overlap = idx, o
        if best is None:
            continue
        line = lyrics.lines[best]
        shot.lyric = line.text
        shot.lyric_line = best
        key = line_key(line.text)
        if key not in first_of:
            if not imagery(line.text):
                continue
            prompt = lyric_prompt(shot.prompt, line.text)
            seed = derive_seed(config.seed, "line", key)
            if budget is not None and (prompt, seed) not in distinct and len(distinct) >= budget:
                continue  # over the keyframe budget: the section's picture plays on
            distinct.add((prompt, seed))
            first_of[key] = (prompt, seed)
        shot.prompt, shot.seed = first_of[key]
    record_lyrics(board, lyrics, cuts_moved=moved)
    board.meta["keyframes"] = len({(s.prompt, s.seed) for s in board.shots})
    board.validate()
    return board


def record_lyrics(board: Storyboard, lyrics: Lyrics, cuts_moved: int = 0) -> Storyboard:
    """Write ``lyrics`` into ``board.meta["lyrics"]`` (what captions are drawn from)."""
    board.meta["lyrics"] = {
        "format": lyrics.format, "source": lyrics.source,
        "word_times": lyrics.has_word_times, "cuts_moved": cuts_moved,
        "lines": [{"index": i, "text": ln.text, "start": round(ln.start, 4),
                   "end": round(ln.end, 4),
                   "words": [[w.text, round(w.start, 4), round(w.end, 4)] for w in ln.words]}
                  for i, ln in enumerate(lyrics.lines)],
    }
    return board


def lyrics_of(board: Storyboard) -> Lyrics | None:
    """The lyrics recorded in ``board.meta["lyrics"]`` (None when it has none)."""
    from .types import LyricLine, Word

    data = board.meta.get("lyrics")
    if not data or not data.get("lines"):
        return None
    try:
        lines = [LyricLine(str(ln["text"]), float(ln["start"]), float(ln["end"]),
                           [Word(str(w[0]), float(w[1]), float(w[2]))
                            for w in ln.get("words", [])], int(ln.get("index", 0)))
                 for ln in data["lines"]]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise StoryboardError(f"malformed meta.lyrics in the storyboard: {exc}") from None
    return Lyrics(lines, str(data.get("format", "lrc")), True, str(data.get("source", "")))
