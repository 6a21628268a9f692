"""Bar lines: the meter (3 or 4 beats to the bar) and which beats are downbeats.

Each beat gets an accent from four cues, each z-scored over the song: how much the
harmony changes entering the beat (chords change on bar lines), the bass/kick onset at
the beat, the broadband onset at the beat (half weight) and the loudness just after it.
For each meter the beats are folded by bar position, and the phase whose first position
stands out most from the others (a t statistic, so 3 and 4 compare fairly) is that
meter's. The meter is the one whose best phase stands out most, plus, where the beat
network ran, ``METER_CUE`` times the same statistic of its downbeat output at the beats
(2-fold CV on the tuning half: downbeat F 0.725 -> 0.737 and cuts on a true beat 93.9% ->
94.3%, flat for weights 0.25 to 10): where the tracker counts the eighth notes of a slow
4/4 ballad, the accents alone can fold best by three, which puts every other bar line
on an "and". The phase stays the accents' (the downbeat output chose it worse), chosen
over two bars (``PHASE_BARS``): the beats are folded by twice the meter and the best of
those positions, modulo the meter, is the phase. Where the tracker counts the eighths of
a slow 4/4 (eight grid beats to the bar), a bass on the "and"s outweighs the chord change
at a one-bar fold, since half its positions are the bar's middle, and the bar lines fell
on "and"s; over two bars the chord change at the true bar line stands out (2-fold CV:
downbeat F 0.739 -> 0.760, cuts flat at 95.4%; two bars beat one, three and four; on the
double-tempo stress set of ``benchmarks/slow_renders.py``: downbeat F 0.674 -> 0.717,
cuts on a true beat 93.8% -> 95.4%). The accents also carry the chroma's turn at the
beat itself (``METER_TURN``): the beat-synced change compares whole beat spans, which at
double tempo are half beats blurred by the stabs between them (2-fold CV: downbeat F
0.779 -> 0.812, bar cuts on a true downbeat 82.9% -> 86.7%; stress set: downbeat F 0.710
-> 0.731, cuts 96.4% -> 97.1%).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MeterResult", "beat_sync", "estimate_meter"]

METERS = (4, 3)


@dataclass
class MeterResult:
    meter: int
    phase: int  # index of the first downbeat in the beat list
    confidence: float
    downbeats: np.ndarray  # seconds


def beat_sync(feature: np.ndarray, fps: float, beats: np.ndarray, duration: float
              ) -> np.ndarray:
    """Mean of ``feature`` (d, frames) over each beat interval: (d, len(beats)).

    Interval i runs from beat i to beat i+1 (the last to the end of the song)."""
    d, m = feature.shape
    if len(beats) == 0 or m == 0:
        return np.zeros((d, len(beats)), dtype=np.float32)
    edges = np.append(beats, max(duration, beats[-1] + 1e-3))
    idx = np.clip(np.round(edges * fps).astype(int), 0, m)
    csum = np.concatenate([np.zeros((d, 1)), np.cumsum(feature, axis=1, dtype=np.float64)],
                          axis=1)
    lo, hi = idx[:-1], np.maximum(idx[1:], idx[:-1] + 1)
    hi = np.minimum(hi, m)
    lo = np.minimum(lo, hi - 1).clip(min=0)
    out = (csum[:, hi] - csum[:, lo]) / np.maximum(hi - lo, 1)
    return out.astype(np.float32)


def _z(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 1e-9 else np.zeros_like(x)


def beat_accents(beats: np.ndarray, chroma: np.ndarray, slow_fps: float, low: np.ndarray,
                 broad: np.ndarray, rms: np.ndarray, onset_fps: float, duration: float
                 ) -> np.ndarray:
    """Per-beat accent: z-scored harmonic change, bass onset, onset (half weight) and
    loudness, plus ``METER_TURN`` times the chroma's turn at the beat itself
    (:func:`.netbeats.chroma_turn`, the largest of three frames). The harmonic cues are
    weighted by how much the harmony moves at all, so noise in a static chroma is not
    read as chord changes."""
    n = len(beats)
    cs = beat_sync(chroma, slow_fps, beats, duration)
    norm = np.linalg.norm(cs, axis=0) + 1e-9
    cs = cs / norm
    change = np.zeros(n)
    if n > 1:
        change[1:] = 1.0 - np.sum(cs[:, 1:] * cs[:, :-1], axis=0)
        change[0] = change[1:].mean()

    def at(curve: np.ndarray) -> np.ndarray:
        i = np.clip(np.round(beats * onset_fps).astype(int), 1, max(1, len(curve) - 2))
        if len(curve) < 3:
            return np.zeros(n)
        return np.maximum(np.maximum(curve[i - 1], curve[i]), curve[i + 1])

    # loudness: the loudest frame within 50 ms after the beat, in dB
    k = max(1, int(round(0.05 * onset_fps)))
    loud = np.zeros(n)
    if len(rms):
        for j, i in enumerate(np.clip(np.round(beats * onset_fps).astype(int), 0, len(rms) - 1)):
            loud[j] = float(rms[i:i + k + 1].max())
    loud_db = 20 * np.log10(np.maximum(loud, 1e-6))
    harmonic_weight = float(np.clip(change.std() / 0.05, 0.0, 1.0))
    accents = (harmonic_weight * _z(change) + METER_LOW * _z(at(low))
               + METER_BROAD * _z(at(broad)) + METER_LOUD * _z(loud_db))
    if METER_TURN and n > 1:
        from .beats import _max3
        from .netbeats import chroma_turn

        turn = chroma_turn(chroma)
        if turn is not None:
            accents = accents + METER_TURN * harmonic_weight * _z(_max3(turn, beats * slow_fps))
    return accents


METER_LOW = 1.0  # weight of the bass/kick onset at each beat in the accents
METER_BROAD = 0.5  # weight of the broadband onset at each beat in the accents
METER_LOUD = 1.0  # weight of the loudness just after each beat in the accents
METER_TURN = 2.0  # weight of the chroma's turn at each beat in the accents
PHASE_BARS = 2  # the phase: the best position of the fold over this many bars, mod meter
METER_CUE = 1.0  # weight of the meter cue's fold statistic in choosing 3 or 4 beats a bar


def _fold_t(x: np.ndarray, m: int, phase: int) -> float:
    """How much ``x`` at every ``m``-th beat from ``phase`` stands out from the other
    beats: a two-sample t statistic with pooled variance (-inf where a side is too small)."""
    pos = (np.arange(len(x)) - phase) % m == 0
    a, b = x[pos], x[~pos]
    if len(a) < 2 or len(b) < 2:
        return -np.inf
    pooled = np.sqrt((a.var() * (len(a) - 1) + b.var() * (len(b) - 1))
                     / (len(a) + len(b) - 2) + 1e-9)
    return float((a.mean() - b.mean()) / (pooled * np.sqrt(1 / len(a) + 1 / len(b))))


def estimate_meter(beats: np.ndarray, accents: np.ndarray,
                   meter_cue: np.ndarray | None = None) -> MeterResult:
    """Meter and downbeats from per-beat ``accents``.

    The meter is the one whose best one-bar phase (the beats the accents raise most)
    stands out most, plus ``METER_CUE`` times the same statistic of ``meter_cue`` (per
    beat; the network's downbeat activation) at its own best phase, where one is given.
    Its phase is then the best of the positions in ``PHASE_BARS`` bars, modulo the
    meter."""
    n = len(beats)
    if n < 8:
        return MeterResult(4, 0, 0.0, beats[::4].copy())
    top: dict[int, tuple[float, int]] = {}
    score: dict[int, float] = {}
    for m in METERS:
        ts = [_fold_t(accents, m, ph) for ph in range(m)]
        top[m] = (max(ts), int(np.argmax(ts)))
        score[m] = top[m][0]
        if meter_cue is not None and METER_CUE:
            score[m] += METER_CUE * max(_fold_t(meter_cue, m, ph) for ph in range(m))
    meter = max(METERS, key=lambda m: (score[m], -METERS.index(m)))
    t, phase = top[meter]
    if not np.isfinite(t):
        return MeterResult(4, 0, 0.0, beats[::4].copy())
    if PHASE_BARS > 1:
        span = PHASE_BARS * meter
        ts = [_fold_t(accents, span, ph) for ph in range(span)]
        if np.isfinite(max(ts)):  # else too few beats for that many bars: the one-bar phase
            phase = int(np.argmax(ts)) % meter
    other = max((top[k][0] for k in METERS if k != meter), default=0.0)
    # confidence: how clearly the downbeats stand out and the other meter loses
    confidence = float(np.clip(t / 8.0, 0, 1) * np.clip((t - other) / max(t, 1e-9) * 2, 0, 1))
    return MeterResult(meter, phase, confidence, beats[phase::meter].copy())
