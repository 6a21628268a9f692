"""Song sections: boundaries, repetition groups and role labels.

1. Beat-synchronous chroma (harmony) and MFCC (timbre), each dimension z-scored and each
   block weighted equally, lightly smoothed over beats.
2. A self-similarity matrix (cosine) and Foote's checkerboard novelty along its diagonal
   (kernel four bars wide each side); peaks at least ``MIN_BARS`` bars apart and above an
   adaptive threshold become boundaries, snapped to the nearest downbeat.
3. Segments are compared by their time-normalised feature sequences (so a repeat of a
   chorus matches even when the mix changes a little) and grouped by average-linkage
   clustering: every repeat of a part shares one ``group``.
4. Labels from position, energy and repetition: the most energetic repeated group is the
   chorus, other repeated groups are verses, a unique first/last part is the intro/outro,
   a unique middle part is a bridge, or a breakdown when it is much quieter.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..types import Section

__all__ = ["segment"]

MIN_BARS = 4  # shortest section, in bars
KERNEL_BARS = 4  # checkerboard half-width, in bars
GROUP_SIMILARITY = 0.5  # average cosine similarity to count as a repeat
RESAMPLE = 32  # points per segment when comparing segments


def _features(chroma_sync: np.ndarray, mfcc_sync: np.ndarray) -> np.ndarray:
    """(beats, d) rows: z-scored chroma and MFCC blocks with equal weight, unit norm."""
    blocks = []
    for block in (chroma_sync, mfcc_sync):
        b = block.T.astype(np.float64)
        sd = b.std(axis=0)
        b = (b - b.mean(axis=0)) / np.where(sd > 1e-9, sd, 1.0)
        blocks.append(b / np.sqrt(b.shape[1]))
    x = np.concatenate(blocks, axis=1)
    if len(x) >= 3:  # light smoothing over neighbouring beats
        x = np.vstack([x[:1], x[1:-1], x[-1:]]) * 0.5 + 0.25 * (
            np.vstack([x[:1], x[:-1]]) + np.vstack([x[1:], x[-1:]]))
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm > 1e-9, norm, 1.0)


def _novelty(ssm: np.ndarray, half: int) -> np.ndarray:
    """Foote novelty: a Gaussian-tapered checkerboard kernel slid along the diagonal."""
    n = len(ssm)
    idx = np.arange(-half, half)
    sign = np.where(idx < 0, -1.0, 1.0)
    taper = np.exp(-0.5 * ((idx + 0.5) / (0.5 * half)) ** 2)
    kernel = np.outer(sign * taper, sign * taper)
    padded = np.pad(ssm, half, mode="edge")
    nov = np.empty(n)
    for i in range(n):
        block = padded[i:i + 2 * half, i:i + 2 * half]
        nov[i] = float(np.sum(block * kernel))
    nov = np.maximum(nov, 0.0)
    return nov / nov.max() if nov.max() > 0 else nov


def _pick(nov: np.ndarray, min_gap: int) -> list[int]:
    """Boundary beats: novelty peaks, strongest first, ``min_gap`` beats apart (a first or
    last section one beat short is allowed: an intro without a beat may be counted one
    beat short)."""
    n = len(nov)
    if n < 2 * min_gap:
        return []
    thr = max(0.2, float(np.median(nov) + 0.5 * nov.std()))
    peaks = [i for i in range(1, n - 1) if nov[i] >= nov[i - 1] and nov[i] > nov[i + 1]
             and nov[i] >= thr]
    peaks.sort(key=lambda i: -nov[i])
    chosen: list[int] = []
    for p in peaks:
        if p < min_gap - 1 or n - p < min_gap - 1:
            continue
        if all(abs(p - c) >= min_gap for c in chosen):
            chosen.append(p)
    return sorted(chosen)


def _resampled(x: np.ndarray) -> np.ndarray:
    pos = np.linspace(0, len(x) - 1, RESAMPLE)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(x) - 1)
    f = (pos - lo)[:, None]
    out = x[lo] * (1 - f) + x[hi] * f
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Similarity of two segments: their time-normalised sequences and their means."""
    seq = float(np.mean(np.sum(_resampled(a) * _resampled(b), axis=1)))
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    mean = float(ma @ mb / max(np.linalg.norm(ma) * np.linalg.norm(mb), 1e-9))
    return 0.5 * (seq + mean)


def _group(segs: list[np.ndarray]) -> list[int]:
    """Average-linkage clustering of segments; groups numbered by first appearance."""
    k = len(segs)
    sim = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            sim[i, j] = sim[j, i] = _similarity(segs[i], segs[j])
    clusters: list[list[int]] = [[i] for i in range(k)]
    while len(clusters) > 1:
        best, pair = -np.inf, (0, 0)
        for a in range(len(clusters)):
            for b in range(a + 1, len(clusters)):
                s = float(np.mean(sim[np.ix_(clusters[a], clusters[b])]))
                if s > best:
                    best, pair = s, (a, b)
        if best < GROUP_SIMILARITY:
            break
        a, b = pair
        clusters[a] = sorted(clusters[a] + clusters[b])
        del clusters[b]
    label = np.empty(k, dtype=int)
    for c in clusters:
        label[c] = c[0]
    order = {g: i for i, g in enumerate(dict.fromkeys(label.tolist()))}
    return [order[g] for g in label.tolist()]


def _labels(groups: list[int], energies: list[float], durations: list[float]) -> list[str]:
    k = len(groups)
    if k == 1:
        return ["verse"]
    count = {g: groups.count(g) for g in set(groups)}
    mean_e = {g: float(np.mean([e for e, h in zip(energies, groups, strict=True) if h == g]))
              for g in count}
    song_e = float(np.average(energies, weights=durations))
    repeated = [g for g in count if count[g] > 1]
    chorus = max(repeated, key=lambda g: (mean_e[g], count[g])) if repeated else None
    labels = []
    for i, (g, e) in enumerate(zip(groups, energies, strict=True)):
        if g == chorus:
            labels.append("chorus")
        elif count[g] > 1:
            labels.append("verse")
        elif i == 0:
            labels.append("intro")
        elif i == k - 1:
            labels.append("outro")
        elif e < 0.7 * song_e:
            labels.append("breakdown")
        else:
            labels.append("bridge")
    if chorus is None:  # nothing repeats: the loudest part plays the chorus
        middle = [i for i in range(k) if labels[i] in ("bridge", "breakdown")]
        if middle:
            top = max(middle, key=lambda i: energies[i])
            if energies[top] >= song_e:
                labels[top] = "chorus"
    return labels


def segment(beats: np.ndarray, downbeats: np.ndarray, meter: int, chroma_sync: np.ndarray,
            mfcc_sync: np.ndarray, energy_at: Callable[[float, float], float],
            duration: float) -> list[Section]:
    """Sections covering [0, duration). ``energy_at(t0, t1)`` gives mean energy 0..1."""
    n = len(beats)
    meter = max(2, int(meter))
    boundaries: list[int] = []
    x = np.zeros((0, 1))
    if n >= 4 * meter:
        x = _features(chroma_sync, mfcc_sync)
        ssm = x @ x.T
        nov = _novelty(ssm, KERNEL_BARS * meter)
        boundaries = _pick(nov, MIN_BARS * meter)
        down_idx = np.searchsorted(beats, downbeats - 1e-6)
        snapped = []
        for b in boundaries:
            if len(down_idx):
                d = int(down_idx[np.argmin(np.abs(down_idx - b))])
                if abs(d - b) <= meter // 2 + 1:
                    b = d
            if 0 < b < n and b not in snapped:
                snapped.append(b)
        boundaries = sorted(snapped)
    edges = [0, *boundaries, n]
    times = [0.0, *[float(beats[b]) for b in boundaries], float(duration)]
    if len(x) and len(edges) > 2:
        groups = _group([x[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True)])
    else:
        groups = [0] * (len(edges) - 1)
    if len(groups) > 1:  # a part repeated back to back is one section
        keep = [0] + [i for i in range(1, len(groups)) if groups[i] != groups[i - 1]]
        times = [times[i] for i in keep] + [times[-1]]
        groups = [groups[i] for i in keep]
        order = {g: i for i, g in enumerate(dict.fromkeys(groups))}
        groups = [order[g] for g in groups]
    spans = list(zip(times[:-1], times[1:], strict=True))
    energies = [float(energy_at(t0, t1)) for t0, t1 in spans]
    durations = [max(t1 - t0, 1e-6) for t0, t1 in spans]
    labels = _labels(groups, energies, durations)
    times = [round(t, 4) for t in times[:-1]] + [float(duration)]
    return [Section(start=t0, end=t1, label=lab, group=g, energy=round(e, 4))
            for t0, t1, lab, g, e in zip(times[:-1], times[1:], labels, groups, energies,
                                         strict=True)]
