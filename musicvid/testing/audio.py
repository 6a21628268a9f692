"""Synthetic audio with known beat times."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["click_track", "write_click_track", "write_wav"]


def click_track(bpm: float | Sequence[tuple[float, float]], duration: float,
                sr: int = 22050, accent_every: int = 4, offset: float = 0.0,
                tone: bool = True) -> tuple[object, list[float]]:
    """Samples (float32 mono) and beat times of a click track.

    ``bpm`` is a number, or ``[(start_time, bpm), ...]`` for tempo changes. Every
    ``accent_every``-th click is louder and lower (a downbeat). A quiet chord under the
    clicks gives it some tonal content.
    """
    import numpy as np

    changes = [(0.0, float(bpm))] if isinstance(bpm, (int, float)) else sorted(
        (float(t), float(b)) for t, b in bpm)
    beats: list[float] = []
    t = offset
    while t < duration - 1e-9:
        current = [b for start, b in changes if start <= t + 1e-9][-1]
        beats.append(round(t, 6))
        t += 60.0 / current
    y = np.zeros(int(round(duration * sr)), dtype=np.float32)
    click_len = int(0.03 * sr)
    env = np.exp(-np.linspace(0, 8, click_len)).astype(np.float32)
    n = np.arange(click_len) / sr
    for i, bt in enumerate(beats):
        start = int(round(bt * sr))
        accent = i % accent_every == 0
        freq = 1000.0 if accent else 1600.0
        amp = 0.9 if accent else 0.5
        seg = (amp * env * np.sin(2 * np.pi * freq * n)).astype(np.float32)
        end = min(len(y), start + click_len)
        y[start:end] += seg[: end - start]
    if tone:
        tt = np.arange(len(y)) / sr
        y += 0.05 * (np.sin(2 * np.pi * 220 * tt) + np.sin(2 * np.pi * 277.2 * tt)).astype(np.float32)
    return np.clip(y, -1, 1), beats


def write_wav(path: str | Path, samples: object, sr: int = 22050) -> Path:
    import soundfile

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(p), samples, sr, subtype="PCM_16")
    return p


def write_click_track(path: str | Path, bpm: float | Sequence[tuple[float, float]] = 120,
                      duration: float = 20.0, sr: int = 22050, **kw: object) -> list[float]:
    """Write a click track WAV to ``path``; return its beat times."""
    y, beats = click_track(bpm, duration, sr=sr, **kw)  # type: ignore[arg-type]
    write_wav(path, y, sr)
    return beats
