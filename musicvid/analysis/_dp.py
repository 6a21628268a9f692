"""Compiled kernels for the beat tracker (numba, cached on disk after the first run)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def beat_dp(salience: np.ndarray, period: np.ndarray, tightness: float) -> np.ndarray:
    """Ellis-style dynamic program with a local beat period per frame.

    ``cum[t] = salience[t] + max_tau cum[tau] - tightness * log((t - tau) / period[t])^2``
    over predecessors ``tau`` between half and twice the period back; a sequence may
    start at any frame (so it starts where the music does). Returns the frame
    indices of the best beat sequence ending near the end of the signal.
    """
    n = salience.shape[0]
    cum = np.empty(n, dtype=np.float64)
    back = np.full(n, -1, dtype=np.int64)
    for t in range(n):
        p = period[t]
        lo = t - int(2.0 * p + 0.5)
        hi = t - int(0.5 * p + 0.5)
        best = -1e300
        arg = -1
        if lo < 0:
            lo = 0
        for tau in range(lo, hi + 1):
            d = np.log((t - tau) / p)
            s = cum[tau] - tightness * d * d
            if s > best:
                best = s
                arg = tau
        if arg >= 0 and best > 0.0:
            cum[t] = salience[t] + best
            back[t] = arg
        else:  # start a new sequence here rather than inherit a penalty
            cum[t] = salience[t]
    # last beat: the best cumulative score within the final period
    p_end = period[n - 1]
    start = n - int(p_end + 0.5)
    if start < 0:
        start = 0
    last = start
    for t in range(start, n):
        if cum[t] > cum[last]:
            last = t
    count = 0
    t = last
    while t >= 0:
        count += 1
        t = back[t]
    out = np.empty(count, dtype=np.int64)
    t = last
    i = count - 1
    while t >= 0:
        out[i] = t
        i -= 1
        t = back[t]
    return out


@numba.njit(cache=True, nogil=True)
def viterbi_path(obs: np.ndarray, max_jump: int, jump_cost: float,
                 leap_cost: float = 1e300) -> np.ndarray:
    """Best path through ``obs`` (frames x states, log-likelihood-like scores) where a
    step may move at most ``max_jump`` states, each state moved costing ``jump_cost``,
    or leap to any state for ``leap_cost`` (a sudden tempo change)."""
    n, k = obs.shape
    acc = obs[0].copy()
    back = np.zeros((n, k), dtype=np.int64)
    new = np.empty(k, dtype=np.float64)
    for t in range(1, n):
        top = 0
        for i in range(k):
            if acc[i] > acc[top]:
                top = i
        for j in range(k):
            best = acc[top] - leap_cost
            arg = top
            lo = j - max_jump
            hi = j + max_jump
            if lo < 0:
                lo = 0
            if hi > k - 1:
                hi = k - 1
            for i in range(lo, hi + 1):
                s = acc[i] - jump_cost * abs(i - j)
                if s > best:
                    best = s
                    arg = i
            new[j] = best + obs[t, j]
            back[t, j] = arg
        acc[:] = new
    path = np.empty(n, dtype=np.int64)
    j = 0
    for i in range(k):
        if acc[i] > acc[j]:
            j = i
    for t in range(n - 1, -1, -1):
        path[t] = j
        j = back[t, j]
    return path
