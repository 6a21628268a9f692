"""Synthetic audio with known beat times."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["click_track", "structured_song", "write_click_track", "write_wav"]


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


# Distinct materials for structured_song: (chord pitches in Hz-ish MIDI numbers, harmonic
# rolloff (brightness), kick steps, snare steps, hat steps, level) over 8 eighth-steps/bar.
_MATERIALS = {
    "A": ([60, 64, 67], 0.35, (0, 4), (), (0, 2, 4, 6), 0.6),
    "B": ([66, 69, 73], 0.85, (0, 2, 4, 6), (2, 6), (1, 3, 5, 7), 0.9),
    "C": ([50, 57], 0.15, (), (), (), 0.35),
    "D": ([55, 59, 62, 65], 0.6, (0, 3, 6), (4,), tuple(range(8)), 0.75),
    "E": ([63, 67, 70], 0.5, (0,), (4,), (2, 6), 0.5),
}


def structured_song(pattern: str = "ABABCB", bpm: float = 120.0, bars: int = 4,
                    sr: int = 22050, seed: int = 0) -> tuple[object, list[float], list[int]]:
    """A song made of distinct synthetic parts in ``pattern`` (letters A-E), each
    ``bars`` bars of 4/4 at ``bpm``. Returns (samples, section start times, group per
    section) where groups number the letters by first appearance."""
    import numpy as np

    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    bar_len = int(round(4 * beat * sr))
    step = bar_len // 8
    t = np.arange(bar_len) / sr
    decay = np.exp(-np.arange(step * 2) / (0.05 * sr))

    def bar_of(letter: str) -> np.ndarray:
        notes, rolloff, kicks, snares, hats, level = _MATERIALS[letter]
        y = np.zeros(bar_len)
        for m in notes:
            f0 = 440.0 * 2 ** ((m - 69) / 12)
            for h in range(1, 7):
                y += (rolloff ** (h - 1)) * np.sin(2 * np.pi * f0 * h * t) / len(notes)
        y *= 0.25
        if letter == "C":
            y += 0.05 * rng.standard_normal(bar_len)
        kick = np.sin(2 * np.pi * 55 * np.arange(len(decay)) / sr) * decay
        noise = rng.standard_normal(len(decay)) * decay
        for s in kicks:
            y[s * step:s * step + len(decay)] += 0.8 * kick[: bar_len - s * step]
        for s in snares:
            y[s * step:s * step + len(decay)] += 0.4 * noise[: bar_len - s * step]
        for s in hats:
            hat = np.diff(noise, prepend=0.0) * decay
            y[s * step:s * step + len(decay)] += 0.15 * hat[: bar_len - s * step]
        return level * y

    parts, starts, groups, order = [], [], [], {}
    for letter in pattern:
        starts.append(sum(len(p) for p in parts) / sr)
        groups.append(order.setdefault(letter, len(order)))
        parts.append(np.concatenate([bar_of(letter) for _ in range(bars)]))
    y = np.concatenate(parts)
    y = (0.9 * y / np.max(np.abs(y))).astype(np.float32)
    return y, starts, groups
