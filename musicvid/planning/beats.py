"""The beat grid the planner cuts on: detected beats, gaps filled, bars marked.

Cuts may only land on beats, so the planner first makes sure there are beats everywhere:
detected beats are kept as they are; a gap longer than one and a half beats (a quiet
intro, a break the tracker lost) is filled with evenly spaced beats that keep the phase
of the beats on both sides; before the first and after the last detected beat the grid
is extended at the median beat period (after the last one the song rings out: the planner
cuts there only to keep shots under their maximum length). A song with no beats at all
(silence, ambient drones) gets a steady grid at the analysed tempo, or 120 BPM when there
is none.

Bars come from the analyzer's downbeats, snapped to the nearest beat; where it gave none
(or left gaps), they are extended every ``meter`` beats.
"""

from __future__ import annotations

import bisect
import statistics
from dataclasses import dataclass
from fractions import Fraction

from ..types import Analysis

__all__ = ["BeatGrid", "FrameGrid", "beat_grid"]

FALLBACK_BPM = 120.0
MIN_BPM, MAX_BPM = 30.0, 300.0


@dataclass(frozen=True)
class BeatGrid:
    """Beat times over the whole song, which of them were detected, and the bar lines."""

    times: tuple[float, ...]  # sorted, in [0, duration)
    detected: tuple[bool, ...]  # False where the planner filled a gap
    downbeats: tuple[int, ...]  # indices into ``times`` of the first beat of each bar
    period: float  # median seconds per beat
    meter: int

    def frames(self, fps: Fraction, n_frames: int) -> list[int]:
        """The frame of each beat (``round(t × fps)``), clamped to [0, n_frames]."""
        return [min(n_frames, max(0, int(round(Fraction(t) * fps)))) for t in self.times]

    def beat_frames(self, fps: Fraction, n_frames: int) -> list[int]:
        """Sorted distinct beat frames strictly inside (0, n_frames)."""
        return sorted({f for f in self.frames(fps, n_frames) if 0 < f < n_frames})

    def downbeat_frames(self, fps: Fraction, n_frames: int) -> list[int]:
        """Sorted distinct bar-line frames strictly inside (0, n_frames)."""
        frames = self.frames(fps, n_frames)
        return sorted({frames[i] for i in self.downbeats if 0 < frames[i] < n_frames})

    def at(self, fps: Fraction, n_frames: int) -> FrameGrid:
        """The grid in frames of a video of ``n_frames`` at ``fps``."""
        frames = self.frames(fps, n_frames)
        beats = sorted({f for f in frames if 0 < f < n_frames})
        bars = sorted({frames[i] for i in self.downbeats if 0 < frames[i] < n_frames})
        beat_len = self.period * float(fps)
        bar_len = (statistics.median(b - a for a, b in zip(bars, bars[1:]))
                   if len(bars) > 1 else beat_len * self.meter)
        played = [f for f, d in zip(frames, self.detected) if d]
        ending = played[-1] if played else n_frames
        return FrameGrid(beats, bars, beat_len, float(bar_len), self.meter, ending)


@dataclass(frozen=True)
class FrameGrid:
    """Beat and bar-line frames strictly inside (0, N), and their typical lengths."""

    beats: list[int]
    bars: list[int]
    beat_len: float  # frames per beat (median)
    bar_len: float  # frames per bar (median)
    meter: int
    ending: int = 2 ** 62  # frame of the last detected beat: after it the song rings out
    faded: int = 2 ** 62  # frame from which the ring-out is no longer heard


def _period(beats: list[float], tempo: float) -> float:
    diffs = [b - a for a, b in zip(beats, beats[1:]) if b - a > 1e-3]
    if diffs:
        return statistics.median(diffs)
    if MIN_BPM <= tempo <= MAX_BPM:
        return 60.0 / tempo
    return 60.0 / FALLBACK_BPM


def _local_periods(beats: list[float], period: float) -> list[float]:
    """For each gap between detected beats, the median of the nine gaps around it: the
    beat period there (so a tempo change is not mistaken for a gap)."""
    diffs = [b - a for a, b in zip(beats, beats[1:])]
    return [statistics.median(diffs[max(0, i - 4):i + 5]) if diffs else period
            for i in range(len(diffs))]


def _fill(beats: list[float], period: float, duration: float) -> tuple[list[float], list[bool]]:
    local = _local_periods(beats, period)
    times: list[float] = []
    detected: list[bool] = []
    p_head = local[0] if local else period
    t = beats[0] - p_head
    head: list[float] = []
    while t > p_head * 0.25:  # no beat squeezed in right at 0: frame 0 is never a cut
        head.append(t)
        t -= p_head
    for x in reversed(head):
        times.append(x)
        detected.append(False)
    for i, (a, b) in enumerate(zip(beats, beats[1:])):
        times.append(a)
        detected.append(True)
        gap = b - a
        if gap > 1.5 * local[i]:
            n = max(2, int(round(gap / local[i])))
            for k in range(1, n):
                times.append(a + gap * k / n)
                detected.append(False)
    times.append(beats[-1])
    detected.append(True)
    p_tail = local[-1] if local else period
    t = beats[-1] + p_tail
    while t < duration:
        times.append(t)
        detected.append(False)
        t += p_tail
    return times, detected


def _downbeats(times: list[float], hints: list[float], meter: int, period: float) -> list[int]:
    kept: list[int] = []
    for d in sorted(hints):
        i = bisect.bisect_left(times, d)
        best = min((j for j in (i - 1, i) if 0 <= j < len(times)),
                   key=lambda j: abs(times[j] - d), default=None)
        if best is None or abs(times[best] - d) > 0.5 * period:
            continue
        if kept and best - kept[-1] < max(1, meter // 2):
            continue  # a second downbeat inside one bar: keep the first
        kept.append(best)
    if not kept:
        return list(range(0, len(times), meter))
    out: list[int] = []
    i = kept[0] - meter
    while i >= 0:
        out.insert(0, i)
        i -= meter
    for a, b in zip(kept, kept[1:]):
        out.append(a)
        i = a + meter
        while i <= b - (meter + 1) // 2 and b - a > 1.5 * meter:
            out.append(i)
            i += meter
    out.append(kept[-1])
    i = kept[-1] + meter
    while i < len(times):
        out.append(i)
        i += meter
    return out


def beat_grid(analysis: Analysis) -> BeatGrid:
    """The :class:`BeatGrid` of ``analysis`` (see the module docstring)."""
    duration = max(0.0, float(analysis.duration))
    meter = int(analysis.meter) if 1 <= int(analysis.meter or 0) <= 16 else 4
    beats: list[float] = []
    for t in sorted(float(b) for b in analysis.beats):
        if 0.0 <= t < duration and (not beats or t - beats[-1] > 1e-3):
            beats.append(t)
    period = _period(beats, float(analysis.tempo or 0.0))
    if not beats:
        anchor = next((float(d) for d in sorted(analysis.downbeats) if 0 <= d < duration), 0.0)
        beats = [anchor]
        times, detected = _fill(beats, period, duration)
        detected = [False] * len(times)
    else:
        times, detected = _fill(beats, period, duration)
    downbeats = _downbeats(times, [float(d) for d in analysis.downbeats], meter, period)
    return BeatGrid(tuple(times), tuple(detected), tuple(downbeats), period, meter)
