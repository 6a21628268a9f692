"""Key and mode (Krumhansl-Kessler profiles) and the descriptors the prompt builder uses."""

from __future__ import annotations

import numpy as np

__all__ = ["NOTE_NAMES", "estimate_key"]

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# Krumhansl & Kessler (1982) probe-tone profiles, tonic first.
MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def estimate_key(chroma: np.ndarray, weights: np.ndarray | None = None
                 ) -> tuple[str | None, str | None, float]:
    """(key, mode, confidence) from chroma frames (12, m); ``weights`` per frame
    (e.g. loudness) so quiet frames count less. ``(None, None, 0)`` without pitch."""
    if chroma.size == 0:
        return None, None, 0.0
    w = np.ones(chroma.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    profile = (chroma * w[None, :]).sum(axis=1)
    if float(profile.max()) <= 0 or float(profile.std()) < 1e-6 * float(profile.max()):
        return None, None, 0.0
    p = (profile - profile.mean()) / profile.std()
    scores = []
    for mode, ref in (("major", MAJOR), ("minor", MINOR)):
        r = (ref - ref.mean()) / ref.std()
        for tonic in range(12):
            scores.append((float(np.dot(p, np.roll(r, tonic)) / 12.0), tonic, mode))
    scores.sort(key=lambda s: -s[0])
    best, second = scores[0], scores[1]
    confidence = float(np.clip(best[0], 0, 1) * np.clip((best[0] - second[0]) * 5, 0, 1))
    return NOTE_NAMES[best[1]], best[2], confidence
