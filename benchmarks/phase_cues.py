"""Which cues tell the beat from the half-beat, on the tuning folds.

    python -m benchmarks.corpus                                  # the corpus (cached)
    python -m benchmarks.train_beat_net --fold 0/2 --out .cache/beats-corpus/beat_net-fold0of2.npz
    python -m benchmarks.train_beat_net --fold 1/2 --out .cache/beats-corpus/beat_net-fold1of2.npz
    NUMBA_CACHE_DIR=/tmp/numba-cache python -m benchmarks.phase_cues

For every tuning file, each cue's mean at the *annotated* beats minus at the half-beats
between them (each curve over its deviation, the largest of three frames, as the
analyzer's half-beat check reads them): a cue that marks the beat is above zero. The
cues: the fold network's beat and downbeat activation (the network trained without the
file's fold), the percussive onsets, the chord change (the analyzer's: the turn of the
chroma from frame to frame), that change on the bar phase it is strongest on (the
analyzer's ``_bar_peak``), the rise of each pitch class of the frame-normalised chroma
(the analyzer's cue before it), that rise on the bass range only (40-260 Hz) and above
it, the low-band and broadband flux, and the flux of each of the eight band groups alone
and weighted by how fast it decays. Prints, per cue, the files it points the wrong way
on; then the files on which the shipped rule (the analyzer's own half-beat check, given
the annotated beats) moves to the half-beats, and a learned rule: an L2 logistic
regression through the origin on the cue differences, fitted on one fold's families and
counted on the other's. Only the tuning half is read;
``--files .cache/beats-corpus-slow`` reads the slow renders of tuning families
(``python -m benchmarks.slow_renders``) instead, with the corpus's fold networks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.beat_decode_cv import tune_features  # noqa: E402
from benchmarks.corpus import DEFAULT_OUT, load_index  # noqa: E402
from benchmarks.train_beat_net import fold_of, fold_weights  # noqa: E402


def _split_chroma(path: Path) -> dict[str, np.ndarray]:
    """Chroma of the bass range and of the range above it, at the analyzer's slow rate."""
    from musicvid.analysis.features import (
        SLOW_HOP,
        SLOW_NFFT,
        _n_frames,
        _stft_blocks,
        chroma_filters,
    )
    from musicvid.audio import load_audio

    y, sr = load_audio(path, sr=22050)
    y = (y / max(float(np.abs(y).max()), 1e-9)).astype(np.float32)
    fbs = {"bass": chroma_filters(sr, SLOW_NFFT, 40.0, 260.0),
           "upper": chroma_filters(sr, SLOW_NFFT, 260.0, 5000.0)}
    n = _n_frames(len(y), SLOW_NFFT, SLOW_HOP)
    out = {k: np.empty((12, n), np.float32) for k in fbs}
    for i, p in _stft_blocks(y, SLOW_NFFT, SLOW_HOP):
        for k, fb in fbs.items():
            out[k][:, i:i + p.shape[1]] = fb @ p
    return out


def chord_spread(chroma: np.ndarray, grid: np.ndarray) -> tuple[float, float]:
    """(within-segment spread, consecutive-segment contrast) of the chroma cut at
    ``grid`` (slow frames): a grid whose segments each hold one chord has a low spread
    and a high contrast; one half a beat off straddles every chord change."""
    c = np.asarray(chroma, dtype=np.float64)
    c = c / np.maximum(np.linalg.norm(c, axis=0, keepdims=True), 1e-9)
    b = np.clip(np.round(grid).astype(int), 0, c.shape[1])
    means, within, wts = [], 0.0, 0
    for lo, hi in zip(b, b[1:]):
        if hi - lo < 1:
            continue
        seg = c[:, lo:hi]
        m = seg.mean(axis=1)
        within += float(((seg - m[:, None]) ** 2).sum())
        wts += hi - lo
        means.append(m)
    if len(means) < 3:
        return 0.0, 0.0
    m = np.array(means)
    return within / max(wts, 1), float(np.mean(((m[1:] - m[:-1]) ** 2).sum(axis=1)))


def file_cues(row: dict, f, beat: np.ndarray, down: np.ndarray) -> dict[str, float]:
    from musicvid.analysis.beats import _detrend, _max3
    from musicvid.analysis.netbeats import _bar_peak, _harmonic_change, chroma_rise

    ref = np.loadtxt(row["beats"], ndmin=1)
    fps = f.onset_fps
    fr = ref * fps
    half = (fr + np.append(fr[1:], 2 * fr[-1] - fr[-2])) / 2

    def d(curve: np.ndarray, scale: float = 1.0) -> float:
        return float(np.mean(_max3(curve, fr * scale) - _max3(curve, half * scale)))

    to_slow = f.slow_fps / fps
    c = {"act": d(beat), "down act": d(down), "perc": d(_detrend(f.onset_perc, fps))}
    h = _harmonic_change(f)
    c["chords"] = d(h, to_slow) if h is not None else 0.0
    c["chords bar"] = (_bar_peak(_max3(h, fr * to_slow)) - _bar_peak(_max3(h, half * to_slow))
                       if h is not None else 0.0)
    r = chroma_rise(f.chroma)
    c["chords rise"] = d(r, to_slow) if r is not None else 0.0
    for k, v in _split_chroma(Path(row["path"])).items():
        r = chroma_rise(v)
        c[f"chords {k}"] = d(r, to_slow) if r is not None else 0.0
    sw, cw = chord_spread(f.chroma, fr * to_slow)
    sh, ch = chord_spread(f.chroma, half * to_slow)
    c["chord spread"] = (sh - sw) / max(sh + sw, 1e-9)
    c["chord contrast"] = (cw - ch) / max(cw + ch, 1e-9)
    c["low"] = d(_detrend(f.onset_low, fps))
    c["broad"] = d(_detrend(f.onset, fps))
    for j in range(f.band_flux.shape[0]):
        c[f"band{j}"] = d(_detrend(f.band_flux[j], fps))
        c[f"band{j} decaying"] = d(_detrend(f.band_flux[j] * np.clip(f.band_decay[j], 0, None),
                                            fps))
    return c


def fit_through_origin(x: np.ndarray, c: float) -> np.ndarray:
    """Weights w with w . x > 0 for the beat grids (x) and < 0 for the half-beat ones (-x)."""
    from scipy.optimize import minimize

    a = np.vstack([x, -x])
    y = np.r_[np.ones(len(x)), -np.ones(len(x))]

    def loss(w: np.ndarray) -> float:
        return float(np.mean(np.logaddexp(0.0, -y * (a @ w))) + 0.5 / c / len(a) * (w @ w))

    return minimize(loss, np.zeros(x.shape[1]), method="L-BFGS-B").x


def main(argv: list[str] | None = None) -> int:
    from musicvid.analysis import netbeats

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", type=Path, default=DEFAULT_OUT,
                   help="the corpus folder (its tuning half and its fold networks)")
    p.add_argument("--files", type=Path, default=None,
                   help="read this folder's tuning-family files instead (the slow renders)")
    args = p.parse_args(argv)
    where = args.files or args.corpus
    rows = sorted((r for r in load_index(where) if r["half"] == "tune"),
                  key=lambda r: r["id"])
    feats = tune_features(rows, where / ("features.pkl" if args.files else "tune-features.pkl"))
    cues: dict[str, dict[str, float]] = {}
    shipped: list[str] = []
    fold = {r["id"]: fold_of(r["family"], 2) for r in rows}
    for i in range(2):
        weights = fold_weights(args.corpus, i, 2)
        if not weights.exists():
            p.error(f"{weights} is missing: python -m benchmarks.train_beat_net --fold {i}/2")
        netbeats.WEIGHTS = weights
        netbeats._weights.cache_clear()
        for r in rows:
            if fold[r["id"]] == i:
                f = feats[r["id"]][0]
                acts = netbeats.net_activations(f)
                assert acts is not None
                cues[r["id"]] = file_cues(r, f, *acts)
                beats = np.loadtxt(r["beats"], ndmin=1) * f.onset_fps
                if not np.array_equal(netbeats._half_beat_check(f, acts[0], beats), beats):
                    shipped.append(r["id"])
    ids = sorted(cues)
    names = list(cues[ids[0]])
    print(f"{len(ids)} tuning files; a cue's wrong-way files (beat - half-beat < 0):")
    for n in names:
        wrong = [i for i in ids if cues[i][n] < 0]
        print(f"  {n:16s} {len(wrong):3d}")
    shipped.sort()
    print(f"shipped rule: {len(shipped)} wrong-way: {', '.join(shipped)}")
    x = np.array([[cues[i][n] for n in names] for i in ids])
    k = np.array([fold[i] for i in ids])
    for sel in (["act", "perc", "chords"], ["act", "perc", "chords", "chords bass"], names):
        cols = [names.index(n) for n in sel]
        for c in (0.1, 1.0, 10.0):
            wrong = []
            for i in range(2):
                w = fit_through_origin(x[k != i][:, cols], c)
                wrong += [ids[j] for j in np.where(k == i)[0] if x[j, cols] @ w < 0]
            print(f"learned rule on {len(sel)} cues, C {c}: {len(wrong)} wrong-way "
                  f"(held-out fold)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
