"""The compiled beat decoder of the beat network (numba, cached on disk).

``beat_viterbi``: the beat-pointer model of Krebs, Böck and Widmer (2015), as madmom's
``DBNBeatTrackingProcessor`` uses it: a state is (beat interval tau in frames, position
phi in 0..tau-1); phi advances by one frame per frame; at the end of an interval the
next interval may differ, with probability falling off as ``exp(-lam * |tau'/tau - 1|)``;
the first ``1/obs_div`` of every interval is the beat region, where the network's beat
activation is the observation (``(1 - act) / (obs_div - 1)`` elsewhere); each beat taken
at interval tau adds ``prior[tau - min_iv]`` (a log tempo prior, zeros for none). Viterbi
over all frames; only the interval changes need back pointers.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def beat_viterbi(act: np.ndarray, min_iv: int, max_iv: int, lam: float, obs_div: float,
                 prior: np.ndarray) -> np.ndarray:
    """Frames of the beats (position 0) on the most likely path."""
    n = act.shape[0]
    n_iv = max_iv - min_iv + 1
    # log observation per frame: in the beat region and outside it
    eps = 1e-7
    lon = np.empty(n)
    loff = np.empty(n)
    for t in range(n):
        a = min(max(act[t], eps), 1.0 - eps)
        lon[t] = np.log(a)
        loff[t] = np.log((1.0 - a) / (obs_div - 1.0))
    # state offsets: interval k (tau = min_iv + k) has positions off[k] .. off[k] + tau - 1
    off = np.zeros(n_iv + 1, dtype=np.int64)
    for k in range(n_iv):
        off[k + 1] = off[k] + min_iv + k
    n_states = off[n_iv]
    # transition between intervals (log, each row normalised)
    trans = np.empty((n_iv, n_iv))
    for i in range(n_iv):
        s = 0.0
        for j in range(n_iv):
            r = (min_iv + j) / (min_iv + i)
            trans[i, j] = -lam * abs(r - 1.0)
            s += np.exp(trans[i, j])
        ls = np.log(s)
        for j in range(n_iv):
            trans[i, j] -= ls
    delta = np.empty(n_states)
    new = np.empty(n_states)
    # start anywhere, uniformly
    for k in range(n_iv):
        tau = min_iv + k
        for p in range(tau):
            obs = lon[0] if p < tau / obs_div else loff[0]
            delta[off[k] + p] = obs
    back = np.zeros((n, n_iv), dtype=np.int16)
    ends = np.empty(n_iv)
    for t in range(1, n):
        for k in range(n_iv):
            ends[k] = delta[off[k + 1] - 1]
        for k in range(n_iv):
            tau = min_iv + k
            # position 0: from the last position of any interval
            best = -1e300
            arg = 0
            for i in range(n_iv):
                v = ends[i] + trans[i, k]
                if v > best:
                    best = v
                    arg = i
            back[t, k] = arg
            new[off[k]] = best + lon[t] + prior[k]
            for p in range(1, tau):
                obs = lon[t] if p < tau / obs_div else loff[t]
                new[off[k] + p] = delta[off[k] + p - 1] + obs
        for s in range(n_states):
            delta[s] = new[s]
        # keep the numbers small
        m = delta.max()
        for s in range(n_states):
            delta[s] -= m
    # best final state
    best_s = int(np.argmax(delta))
    k = 0
    while off[k + 1] <= best_s:
        k += 1
    p = best_s - off[k]
    beats = np.empty(n, dtype=np.int64)
    nb = 0
    for t in range(n - 1, -1, -1):
        if p == 0:
            beats[nb] = t
            nb += 1
            if t > 0:
                k = back[t, k]
                p = min_iv + k - 1
        else:
            if t == 0 and p < (min_iv + k) / obs_div:
                # the song starts inside a beat region: that beat is the first frame's
                beats[nb] = 0
                nb += 1
            p -= 1
    out = np.empty(nb, dtype=np.int64)
    for i in range(nb):
        out[i] = beats[nb - 1 - i]
    return out
