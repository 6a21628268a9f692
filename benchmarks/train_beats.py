"""Train the beat activation shipped in ``musicvid/analysis/beat_weights.npz``.

    python -m benchmarks.corpus                 # the corpus (cached)
    NUMBA_CACHE_DIR=/tmp/numba-cache python -m benchmarks.train_beats [--check]

A logistic regression from the frame's spectro-temporal context (``band_flux`` and
``band_decay``, eight mel-band groups each, ``CONTEXT`` frames either side, every channel
scaled by its own deviation over the song) to "a beat is at this frame", fitted by
L-BFGS on the **tuning half** of the corpus only (the test half and the dev eight are
never read). Deterministic: no random initialisation, files in sorted order, float64.
It learns which bands and envelope shapes mark a beat (kick and snare attacks) rather
than any onset (a bass note on the off-beat, a held chord), so the tracker takes its
phase from what marks the beat.

``--check`` only prints the frame-level accuracy of the shipped weights on the tuning
half. The run time is printed (a few minutes on two shared cores, mostly decoding).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.corpus import DEFAULT_OUT, load_index  # noqa: E402
from musicvid.analysis.activation import (  # noqa: E402
    CONTEXT,
    WEIGHTS,
    activation_inputs,
    beat_activation,
)

L2 = 1e-3  # per-sample ridge penalty on the weights (not the bias)
POS_WEIGHT = 1.0  # extra weight of beat frames beyond balancing the classes
MLP_ITER = 300
NEG_STRIDE = 3
HIDDEN = 16


def dataset(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    from musicvid.analysis.features import compute_features
    from musicvid.audio import load_audio

    xs, ys = [], []
    for r in rows:
        y, sr = load_audio(Path(r["path"]), sr=22050)
        f = compute_features(y, sr)
        x = activation_inputs(f)
        lab = np.zeros(x.shape[0])
        ref = np.loadtxt(r["beats"], ndmin=1)
        idx = np.round(ref * f.onset_fps).astype(int)
        for d, w in ((0, 1.0), (-1, 0.5), (1, 0.5)):
            i = idx + d
            i = i[(i >= 0) & (i < len(lab))]
            lab[i] = np.maximum(lab[i], w)
        # every frame near a beat, every NEG_STRIDE-th other one (the classes are balanced
        # by weight anyway)
        keep = (lab > 0) | (np.arange(len(lab)) % NEG_STRIDE == 0)
        xs.append(x[keep])
        ys.append(lab[keep])
    return np.concatenate(xs), np.concatenate(ys)


def fold_of(family: str, k: int) -> int:
    import hashlib

    return int(hashlib.sha1(family.encode()).hexdigest()[:8], 16) % k


def fit_mlp(x: np.ndarray, y: np.ndarray, hidden: int) -> dict[str, np.ndarray]:
    """One tanh hidden layer, logistic output; seeded initialisation, L-BFGS."""
    from scipy.optimize import minimize

    n, d = x.shape
    pos = float((y > 0).sum())
    w_pos = (n - pos) / max(pos, 1.0) * POS_WEIGHT
    sw = np.where(y > 0, w_pos * y, 1.0)
    target = (y > 0).astype(np.float64)
    norm = sw.sum()
    rng = np.random.default_rng(0)
    shapes = [(d, hidden), (hidden,), (hidden,), ()]
    sizes = [int(np.prod(s)) for s in shapes]
    w0 = np.concatenate([rng.standard_normal(d * hidden) / np.sqrt(d), np.zeros(hidden),
                         rng.standard_normal(hidden) / np.sqrt(hidden), np.zeros(1)])

    def unpack(w):
        out, i = [], 0
        for s, k in zip(shapes, sizes, strict=True):
            out.append(w[i:i + k].reshape(s))
            i += k
        return out

    def loss(w):
        w1, b1, w2, b2 = unpack(w)
        h = np.tanh(x @ w1 + b1)
        z = h @ w2 + b2
        p = 1.0 / (1.0 + np.exp(-z))
        ll = float(sw @ (np.logaddexp(0, z) - target * z)) / norm
        dz = sw * (p - target) / norm
        g2 = h.T @ dz
        gb2 = np.array([dz.sum()])
        dh = np.outer(dz, w2) * (1 - h ** 2)
        g1 = x.T @ dh
        gb1 = dh.sum(axis=0)
        reg = 0.5 * L2 * (float((w1 ** 2).sum()) + float(w2 @ w2))
        return ll + reg, np.concatenate([(g1 + L2 * w1).ravel(), gb1, g2 + L2 * w2, gb2])

    res = minimize(loss, w0, jac=True, method="L-BFGS-B", options={"maxiter": MLP_ITER})
    w1, b1, w2, b2 = unpack(res.x)
    return {"w1": w1, "b1": b1, "w2": w2, "b2": np.atleast_1d(b2)}


def fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    from scipy.optimize import minimize

    n, d = x.shape
    pos = y.sum()
    w_pos = (n - pos) / max(pos, 1.0) * POS_WEIGHT
    sw = np.where(y > 0, w_pos * y, 1.0)
    target = (y > 0).astype(np.float64)
    xb = np.hstack([x, np.ones((n, 1))])
    norm = sw.sum()

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = xb @ w
        p = 1.0 / (1.0 + np.exp(-z))
        ll = np.logaddexp(0, z) - target * z
        reg = 0.5 * L2 * float(w[:-1] @ w[:-1])
        g = xb.T @ (sw * (p - target)) / norm
        g[:-1] += L2 * w[:-1]
        return float(sw @ ll) / norm + reg, g

    res = minimize(loss, np.zeros(d + 1), jac=True, method="L-BFGS-B",
                   options={"maxiter": 500})
    return res.x


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", type=Path, default=DEFAULT_OUT)
    p.add_argument("--check", action="store_true")
    p.add_argument("--out", type=Path, default=WEIGHTS)
    p.add_argument("--hidden", type=int, default=HIDDEN, help="0: logistic regression")
    p.add_argument("--fold", default="", help=argparse.SUPPRESS)  # "i/k": cross-validation
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    rows = sorted((r for r in load_index(args.corpus) if r["half"] == "tune"),
                  key=lambda r: r["id"])
    if args.fold:  # leave out one fold of the tuning families
        i, k = map(int, args.fold.split("/"))
        rows = [r for r in rows if fold_of(r["family"], k) != i]
    x, y = dataset(rows)
    t_data = time.perf_counter() - t0
    if args.check:
        act = beat_activation(x=x)
    elif args.hidden:
        m = fit_mlp(x, y, args.hidden)
        np.savez(args.out, context=np.int64(CONTEXT), **{k: v.astype(np.float32)
                                                        for k, v in m.items()})
        act = 1.0 / (1.0 + np.exp(-(np.tanh(x @ m["w1"] + m["b1"]) @ m["w2"] + m["b2"])))
    else:
        w = fit(x, y)
        np.savez(args.out, weights=w.astype(np.float32), context=np.int64(CONTEXT))
        act = 1.0 / (1.0 + np.exp(-(x @ w[:-1] + w[-1])))
    pos = act[y >= 1].mean()
    neg = act[y == 0].mean()
    sys.stdout.write(f"{len(rows)} tuning files, {x.shape[0]} frames, {x.shape[1]} inputs; "
                     f"mean activation at beats {pos:.3f}, elsewhere {neg:.3f}; data "
                     f"{t_data:.0f} s, total {time.perf_counter() - t0:.0f} s\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
