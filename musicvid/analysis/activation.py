"""Learned beat activation: how likely a beat is at each onset frame.

A logistic regression over the frame's spectro-temporal context: ``band_flux`` and
``band_decay`` (eight mel-band groups each, see :mod:`.features`), ``CONTEXT`` frames
either side, every channel scaled by its own deviation over the song (so the level and
the mix do not matter). Trained by ``benchmarks/train_beats.py`` on the tuning half of
the MMA corpus; the weights (a few kB) ship in ``beat_weights.npz``. It tells a kick or
snare attack from a bass note or a chord: the tracker takes its phase from what marks
the beat rather than from whichever instrument is loudest.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .features import Features

__all__ = ["CONTEXT", "WEIGHTS", "activation_inputs", "beat_activation"]

CONTEXT = 4  # frames either side (46 ms)
WEIGHTS = Path(__file__).with_name("beat_weights.npz")


def activation_inputs(f: Features) -> np.ndarray:
    """(frames, 16 * (2 * CONTEXT + 1)) inputs for :func:`beat_activation`."""
    ch = np.concatenate([f.band_flux, f.band_decay]).astype(np.float64)
    sd = ch.std(axis=1, keepdims=True)
    ch = np.log1p(ch / np.where(sd > 1e-9, sd, 1.0))
    n = ch.shape[1]
    pad = np.pad(ch, ((0, 0), (CONTEXT, CONTEXT)))
    cols = [pad[:, CONTEXT + d:CONTEXT + d + n] for d in range(-CONTEXT, CONTEXT + 1)]
    return np.concatenate(cols).T


@lru_cache(maxsize=1)
def _weights() -> dict[str, np.ndarray] | None:
    if not WEIGHTS.exists():
        return None
    with np.load(WEIGHTS) as z:
        return {k: z[k].astype(np.float64) for k in z.files}


def beat_activation(f: Features | None = None, x: np.ndarray | None = None
                    ) -> np.ndarray | None:
    """Per-frame beat probability (0..1), or None without shipped weights."""
    w = _weights()
    if w is None:
        return None
    if x is None:
        assert f is not None
        if f.band_flux is None or f.band_decay is None or f.band_flux.shape[1] == 0:
            return None
        x = activation_inputs(f)
    if "w1" in w:  # one hidden layer
        z = np.tanh(x @ w["w1"] + w["b1"]) @ w["w2"] + w["b2"][0]
    else:
        z = x @ w["weights"][:-1] + w["weights"][-1]
    return 1.0 / (1.0 + np.exp(-z))
