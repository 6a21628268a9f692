"""Numba's first-call cost off the critical path.

The beat tracker's kernels are compiled by numba on first use (cached on disk after the
first run, but even a cache hit costs a noticeable load). :func:`start_warm_up` runs the
whole analysis once, on a few seconds of synthetic clicks, in a background thread, so the
compile (or the cache load) happens while the song is being hashed, decoded and its
features computed. Every kernel is reached with the argument types the real analysis
passes, whatever the tracker's internals are; a real call made meanwhile waits on
numba's compiler lock and then reuses the result, so nothing is compiled twice. The
Ken Burns warp's kernel (:mod:`musicvid._warp`) is compiled or loaded in the same thread,
after the analysis, while the keyframes are made.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)

__all__ = ["start_warm_up", "warm_up"]

_LOCK = threading.Lock()
_THREAD: threading.Thread | None = None
WARM_UP_SECONDS = 12.0  # long enough for every tempo path (an 8 s tempogram window, 3 of them)


def _clicks(seconds: float, sr: int) -> object:
    import numpy as np

    n = int(seconds * sr)
    y = np.zeros(n, dtype=np.float32)
    rng = np.random.default_rng(0)
    burst = (rng.standard_normal(512) * np.exp(-np.arange(512) / 80.0)).astype(np.float32)
    for k, start in enumerate(range(0, n - 512, sr // 2)):
        y[start:start + 512] += burst * (1.0 if k % 4 == 0 else 0.5)
    t = np.arange(n, dtype=np.float32) / sr
    y += 0.05 * np.sin(2 * np.pi * 220.0 * t, dtype=np.float32)
    return y


def warm_up(seconds: float = WARM_UP_SECONDS) -> bool:
    """Analyse ``seconds`` of synthetic clicks (compiles or loads every kernel); returns
    whether it ran without error (a failure only means the real call pays the cost)."""
    try:
        from ._core import analyze_samples

        sr = 22050
        analyze_samples(_clicks(seconds, sr), sr)  # type: ignore[arg-type]
        from .._warp import warm_up as warm_up_warp

        warm_up_warp()
        return True
    except Exception:  # noqa: BLE001 - never let a warm-up break a render
        log.debug("analysis warm-up failed", exc_info=True)
        return False


def start_warm_up() -> threading.Thread:
    """Start :func:`warm_up` in a daemon thread, once per process; returns that thread."""
    global _THREAD
    with _LOCK:
        if _THREAD is None:
            _THREAD = threading.Thread(target=warm_up, name="musicvid-analysis-warm-up",
                                       daemon=True)
            _THREAD.start()
        return _THREAD
