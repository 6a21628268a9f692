"""Where the shots change: section cuts on downbeats, shot cuts on bar lines.

1. Every section change is a cut, on the bar line nearest the section's start. A
   section too short to hold a shot of the minimum length is folded into its neighbour.
2. Inside a section, shots are whole bars long: 1 bar when the music is loud, 2 in the
   middle, 4 when it is calm (:data:`SHOT_BARS`), halved until a shot fits in
   ``max_seconds`` and never shorter than ``min_seconds``. Cuts stay on the phrase grid
   (a 4-bar shot starts on a multiple of 4 bars into the section). When one bar is
   longer than ``max_seconds`` (very slow songs) shots are counted in beats instead.
3. A leftover shorter than the minimum at the end of a section is merged into the shot
   before it, so nothing flickers.
4. After the last detected beat the song rings out (a final chord decaying, reverb,
   silence): no beat is played there, so the last shot holds. A section starting there is
   played by the one before. A ring-out heard for longer than ``max_seconds`` (a long
   pad, :func:`faded_frame`) is cut (on the continued grid) every ``max_seconds`` after
   the last beat; silence, or the hiss a recording ends on, is never cut: a cut there
   marks nothing in the music, so the last shot holds to the end.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from ..types import Analysis, Section
from .beats import FrameGrid

__all__ = ["SHOT_BARS", "Segment", "energy_scorer", "faded_frame", "section_segments",
           "shot_cuts"]

SHOT_BARS: tuple[tuple[float, int], ...] = ((0.7, 1), (0.4, 2), (0.0, 4))
"""(energy score at least, bars per shot), loudest first."""


@dataclass(frozen=True)
class Segment:
    """Frames [start, end) played by one section (``section`` indexes the section list)."""

    start: int
    end: int
    section: int


EnergyScore = Callable[[float, float, "Section | None"], float]


def energy_scorer(analysis: Analysis) -> EnergyScore:
    """``score(t0, t1, section)`` in [0, 1]: how loud [t0, t1) is, to choose shot lengths.

    Half the mean of the energy curve over the window, half the same value relative to
    the song's own range (10th to 90th percentile), so a quiet verse of a loud master
    still reads as calm. Without a curve, the energy of ``section`` (0.5 if none).
    """
    curve = [float(x) for x in analysis.energy]
    if not curve:
        def by_section(t0: float, t1: float, section: Section | None = None) -> float:
            return min(1.0, max(0.0, float(section.energy))) if section else 0.5
        return by_section
    ordered = sorted(curve)
    lo = ordered[int(0.1 * (len(ordered) - 1))]
    hi = ordered[int(0.9 * (len(ordered) - 1))]
    rate = float(analysis.curve_fps) or 30.0

    def score(t0: float, t1: float, section: Section | None = None) -> float:
        i0 = min(len(curve) - 1, max(0, int(t0 * rate)))
        i1 = min(len(curve), max(i0 + 1, int(t1 * rate)))
        raw = sum(curve[i0:i1]) / (i1 - i0)
        rel = (raw - lo) / (hi - lo) if hi - lo > 0.05 else raw
        return min(1.0, max(0.0, 0.5 * raw + 0.5 * min(1.0, max(0.0, rel))))
    return score


HEARD_OVER_FLOOR = 2.0  # a ring-out is heard while 6 dB above the level the song ends on,
HEARD_SILENT = 0.01  # never 40 dB under the song's loud level (the energy curve's 1.0),
HEARD_LEVEL = 0.1  # always within 20 dB of it


def faded_frame(analysis: Analysis, fps: Fraction, start: int, n_frames: int) -> int:
    """The video frame from which the sound after frame ``start`` (the last beat) is no
    longer heard: from there to the end the energy curve stays below
    ``HEARD_OVER_FLOOR`` times the level of the song's last second (silence, or the noise
    floor of a recording), or below ``HEARD_SILENT``, and below ``HEARD_LEVEL`` (the
    curve's median over a second around each frame).
    ``n_frames`` without a curve or when the song is heard to its end."""
    curve = [float(x) for x in analysis.energy]
    rate = float(analysis.curve_fps) or 30.0
    if not curve or start >= n_frames:
        return n_frames
    floor = statistics.median(curve[-max(1, int(round(rate))):])
    level = min(max(HEARD_OVER_FLOOR * floor, HEARD_SILENT), HEARD_LEVEL)
    # the level over half a second either side (its median): a sound that lasts, not a
    # click or the flicker of a hiss
    k = max(1, int(round(0.5 * rate)))
    first = min(len(curve), max(0, int(float(start / fps) * rate)))
    end = first
    for i in range(len(curve) - 1, first - 1, -1):
        if statistics.median(curve[max(0, i - k):i + k + 1]) > level:
            end = i + 1
            break
    return min(n_frames, max(start, int(round(Fraction(end) / Fraction(rate) * fps))))


def _nearest(frames: list[int], target: float) -> int | None:
    if not frames:
        return None
    i = bisect.bisect_left(frames, target)
    return min((frames[j] for j in (i - 1, i) if 0 <= j < len(frames)),
               key=lambda f: (abs(f - target), f))


def section_segments(sections: list[Section], grid: FrameGrid, fps: Fraction, n_frames: int,
                     min_frames: int) -> list[Segment]:
    """Cut the song's frames into one segment per section, each starting on a bar line.

    ``sections`` is sorted and not empty (the planner makes one when the analyzer gave none).
    """
    bars, beats = grid.bars, grid.beats
    starts: list[tuple[int, int]] = [(0, 0)]  # (frame, index of the section starting there)
    for i, sec in enumerate(sections[1:], start=1):
        target = float(Fraction(sec.start) * fps)
        if target <= 0 or target >= n_frames:
            continue
        f = _nearest(bars, target)
        if f is None:
            f = _nearest(beats, target)
        if f is None:
            continue  # no beat inside the song at all: nowhere to cut
        if f - starts[-1][0] < min_frames or n_frames - f < min_frames:
            continue  # too short to hold a shot: played by its neighbour
        if f > grid.ending:
            continue  # the song rings out: the last section holds
        starts.append((f, i))
    segments = []
    for (a, _), (b, _) in zip(starts, [*starts[1:], (n_frames, -1)]):
        t0, t1 = a / fps, b / fps

        def overlap(s: Section, t0: Fraction = t0, t1: Fraction = t1) -> float:
            return max(0.0, min(float(t1), s.end) - max(float(t0), s.start))
        best = max(range(len(sections)), key=lambda k: (overlap(sections[k]), -k))
        segments.append(Segment(a, b, best))
    return segments


def _bars_for(score: float) -> int:
    for threshold, bars in SHOT_BARS:
        if score >= threshold:
            return bars
    return SHOT_BARS[-1][1]


def shot_cuts(segment: Segment, section: Section | None, grid: FrameGrid, fps: Fraction,
              energy: EnergyScore, min_frames: int, max_frames: int) -> list[int]:
    """Cut frames strictly inside ``segment``, played by ``section`` (see the module
    docstring)."""
    s, e = segment.start, segment.end
    units, unit_len, per_unit = grid.bars, grid.bar_len, 1
    if unit_len > max_frames:  # very slow: count in beats
        units, unit_len, per_unit = grid.beats, grid.beat_len, grid.meter
    points = [s, *units[bisect.bisect_right(units, s):bisect.bisect_left(units, e)]]
    cuts: list[int] = []
    j = 0
    while True:
        cur = points[j]
        t0 = float(cur / fps)
        t1 = float(min(e, cur + 2 * unit_len) / fps)
        k = _bars_for(energy(t0, t1, section)) * per_unit
        while k > 1 and (points[j + k] if j + k < len(points) else e) - cur > max_frames:
            k //= 2  # measured on the real bar lines, so tempo changes count
        while k > 1 and j % k:
            k //= 2  # stay on the phrase grid
        nj = j + k
        while nj < len(points) and points[nj] - cur < min_frames:
            nj += 1
        if nj >= len(points) or e - points[nj] < min_frames:
            break
        cuts.append(points[nj])
        j = nj
    if e <= grid.ending:
        return cuts
    # the ending: the last shot holds through the ring-out; a ring-out longer than
    # max_frames is cut (on the continued grid) every max_frames after the last beat,
    # as long as it is heard: the silence after it needs no cut
    held = [c for c in cuts if c <= grid.ending]
    heard = min(e, grid.faded)
    tail = [p for p in points if grid.ending < p < heard and e - p >= min_frames]
    cur = held[-1] if held else s
    while heard - max(cur, grid.ending) > max_frames:
        nxt = [p for p in tail if cur + min_frames <= p <= max(cur, grid.ending) + max_frames]
        if not nxt:
            break
        cur = nxt[-1]
        held.append(cur)
    return held
