"""Samples -> Analysis: runs every analysis step and derives curves and descriptors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..types import Analysis

if TYPE_CHECKING:  # pragma: no cover
    from .beats import BeatResult
    from .features import Features

log = logging.getLogger(__name__)

Step = Callable[[int, int, str], None]


def _noop(done: int, total: int, message: str) -> None:
    return None


def frame_curve(curve: np.ndarray, src_fps: float, dst_fps: float, n_out: int) -> np.ndarray:
    """Mean of ``curve`` over each output frame [k/dst, (k+1)/dst): no aliasing, exact
    length ``n_out``."""
    if len(curve) == 0:
        return np.zeros(n_out)
    csum = np.concatenate([[0.0], np.cumsum(curve, dtype=np.float64)])
    edges = np.arange(n_out + 1) / dst_fps * src_fps
    edges = np.clip(edges, 0, len(curve))
    vals = np.interp(edges, np.arange(len(csum)), csum)
    width = np.diff(edges)
    out = np.diff(vals) / np.where(width > 0, width, 1.0)
    if np.any(width <= 0):  # past the end of the curve: hold the last value
        out[width <= 0] = curve[-1]
    return out


def _unit(curve: np.ndarray) -> np.ndarray:
    """Scale to 0..1 by the 99th percentile (robust to a single spike)."""
    if curve.size == 0:
        return curve
    peak = float(np.percentile(curve, 99))
    return np.clip(curve / peak, 0.0, 1.0) if peak > 1e-12 else np.zeros_like(curve)


def _clip01(x: float) -> float:
    return float(np.clip(x, 0.0, 1.0))


def analyze_samples(y: np.ndarray, sr: int, curve_fps: float = 30.0,
                    step: Step = _noop, check: Callable[[], None] = lambda: None
                    ) -> Analysis:
    """Analyse mono float32 samples ``y`` at ``sr``.

    ``step(done, total, message)`` reports progress; ``check()`` is called between steps
    and may raise to cancel.
    """
    from threadpoolctl import threadpool_limits

    from .features import compute_features

    # small matrix products: one BLAS thread is faster than two fighting on a busy CPU
    with threadpool_limits(limits=1, user_api="blas"):
        feats = compute_features(y, sr)
        step(1, 5, "features")
        check()
        return analyze_features(feats, len(y) / sr, sr, curve_fps, step, check)


def analyze_features(feats: Features, duration: float, sr: int, curve_fps: float = 30.0,
                     step: Step = _noop, check: Callable[[], None] = lambda: None
                     ) -> Analysis:
    """Beats, bars, sections, key and curves from a song's frame features (the part of
    :func:`analyze_samples` after :func:`.features.compute_features`)."""
    from .activation import beat_activation
    from .beats import BeatResult, _max3, detrend, track_beats
    from .meter import beat_accents, beat_sync, estimate_meter
    from .netbeats import track_net
    from .sections import segment
    from .tonal import estimate_key

    total = 5
    net = track_net(feats, duration)
    if net is not None:  # the beat and downbeat network (shipped weights)
        bt = BeatResult(tempo=net.tempo, confidence=net.confidence, beats=net.beats,
                        candidates=[(net.tempo, net.confidence)])
    else:  # no weights or no beat the network believes in: the onset tracker
        bt = track_beats(feats.onset, feats.onset_low, feats.onset_fps, duration,
                         beat_activation(feats), feats.onset_perc)
    beats = bt.beats
    step(2, total, f"{bt.tempo:.1f} BPM, {len(beats)} beats")
    check()
    # bar lines: the accent statistics over the whole song (harmonic change, bass,
    # onset, loudness per beat), which cross-validated better on the corpus than the
    # network's own downbeat output for the phase; the network's downbeat output at the
    # beats helps choose the meter (3 or 4 beats a bar)
    low = detrend(feats.onset_low, feats.onset_fps)
    broad = detrend(feats.onset, feats.onset_fps)
    accents = beat_accents(beats, feats.chroma, feats.slow_fps, low, broad, feats.rms,
                           feats.onset_fps, duration)
    down = _max3(net.down_act, beats * feats.onset_fps) if net is not None else None
    mt = estimate_meter(beats, accents, down)
    step(3, total, f"{mt.meter}/4, {len(mt.downbeats)} bars")
    check()
    n_frames = max(1, int(round(duration * curve_fps)))
    energy = _unit(frame_curve(feats.rms, feats.onset_fps, curve_fps, n_frames))
    onset = _unit(frame_curve(feats.onset, feats.onset_fps, curve_fps, n_frames))
    csum = np.concatenate([[0.0], np.cumsum(energy)])

    def energy_at(t0: float, t1: float) -> float:
        a = int(np.clip(round(t0 * curve_fps), 0, n_frames - 1))
        b = int(np.clip(round(t1 * curve_fps), a + 1, n_frames))
        return float((csum[b] - csum[a]) / (b - a))

    sections = segment(beats, mt.downbeats, mt.meter,
                       beat_sync(feats.chroma, feats.slow_fps, beats, duration),
                       beat_sync(feats.mfcc, feats.slow_fps, beats, duration),
                       energy_at, duration)
    step(4, total, f"{len(sections)} sections")
    check()
    loud = feats.rms > 0.05 * max(float(feats.rms.max(initial=0.0)), 1e-9)
    slow_rms = frame_curve(feats.rms, feats.onset_fps, feats.slow_fps,
                           feats.chroma.shape[1])
    key, mode, key_conf = estimate_key(feats.chroma, slow_rms)
    descriptors = _descriptors(feats, bt, mode, key_conf, loud, duration)
    step(5, total, "done")
    return Analysis(
        duration=duration, sample_rate=sr, tempo=round(float(bt.tempo), 3),
        tempo_confidence=round(float(bt.confidence), 4),
        beats=[round(float(b), 4) for b in beats],
        downbeats=[round(float(b), 4) for b in mt.downbeats], meter=int(mt.meter),
        curve_fps=float(curve_fps), energy=np.round(energy, 4).tolist(),
        onset=np.round(onset, 4).tolist(), sections=sections, key=key, mode=mode,
        descriptors=descriptors)


def _descriptors(feats: Features, bt: BeatResult, mode: str | None, key_conf: float,
                 loud: np.ndarray, duration: float) -> dict[str, float]:
    """Scalar descriptors in 0..1 (plus a few raw values with units in their names)."""
    rms = feats.rms[loud] if loud.any() else feats.rms
    loud_db = 20 * np.log10(max(float(np.sqrt(np.mean(rms ** 2))) if rms.size else 0.0, 1e-9))
    cen = feats.centroid[feats.centroid > 0]
    centroid_hz = float(np.median(cen)) if cen.size else 0.0
    brightness = _clip01((np.log2(max(centroid_hz, 1.0)) - np.log2(500)) / np.log2(10))
    db = 20 * np.log10(np.maximum(rms, 1e-9))
    dynamics = _clip01((np.percentile(db, 95) - np.percentile(db, 10)) / 30.0) if db.size else 0.0
    # onset rate: peaks of the onset envelope above its mean + 1 sd
    o = feats.onset
    thr = float(o.mean() + o.std()) if o.size else 0.0
    peaks = int(np.sum((o[1:-1] > thr) & (o[1:-1] >= o[:-2]) & (o[1:-1] > o[2:]))) if o.size > 2 else 0
    onset_rate = peaks / max(duration, 1e-9)
    tempo_n = _clip01((bt.tempo - 60.0) / 120.0)
    energy_n = _clip01((loud_db + 40.0) / 34.0)  # -40 dBFS -> 0, -6 dBFS -> 1
    density = _clip01(onset_rate / 8.0)
    major = 1.0 if mode == "major" else 0.0 if mode == "minor" else 0.5
    valence = _clip01(0.45 * major + 0.25 * tempo_n + 0.3 * brightness)
    arousal = _clip01(0.4 * energy_n + 0.3 * tempo_n + 0.3 * density)
    return {
        "brightness": round(brightness, 4),
        "spectral_centroid_hz": round(centroid_hz, 1),
        "loudness_dbfs": round(float(loud_db), 2),
        "energy": round(energy_n, 4),
        "dynamics": round(float(dynamics), 4),
        "onset_rate_hz": round(onset_rate, 3),
        "density": round(density, 4),
        "pulse_clarity": round(_clip01(bt.confidence), 4),
        "key_confidence": round(float(key_conf), 4),
        "valence": round(valence, 4),
        "arousal": round(arousal, 4),
    }
