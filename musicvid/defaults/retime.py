"""Generated video frames to a shot's frames (the ``svd`` and ``i2v`` stages): which source
frames each output frame blends (:func:`time_warp`, :func:`warp_at`), the blended frame
cover-resized to the output (:func:`retimed_frames`) and the beat pulse on it
(:func:`pulsed`: the zoom punch and brightening of :mod:`musicvid.defaults.kenburns_moves`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from .._video import cover_resize_array, scale_brightness
from .kenburns_moves import PULSE_GAIN, PULSE_ZOOM

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["pulsed", "retimed_frames", "time_warp", "warp_at"]

Warp = tuple["np.ndarray", "np.ndarray", "np.ndarray"]


def time_warp(n_src: int, n_out: int) -> Warp:
    """For each of ``n_out`` frames, the two source frames to blend and the weight of the
    second: the ``n_src`` frames spread evenly over ``n_out`` (first to first, last to last)."""
    import numpy as np

    if n_out == 1 or n_src == 1:
        z = np.zeros(n_out, dtype=np.int64)
        return z, z, np.zeros(n_out)
    pos = np.arange(n_out) * (n_src - 1) / (n_out - 1)
    i0 = np.minimum(np.floor(pos).astype(np.int64), n_src - 1)
    i1 = np.minimum(i0 + 1, n_src - 1)
    return i0, i1, pos - i0


def warp_at(positions: Sequence[float], n_src: int) -> Warp:
    """The same for given source positions (fractional frame indices, clamped to the
    ``n_src`` frames)."""
    import numpy as np

    pos = np.asarray(positions, dtype=np.float64)
    i0 = np.minimum(np.floor(pos + 1e-9).astype(np.int64), n_src - 1)
    i1 = np.minimum(i0 + 1, n_src - 1)
    return i0, i1, np.clip(pos - i0, 0.0, 1.0)


def retimed_frames(source: np.ndarray, warp: Warp, width: int, height: int
                   ) -> Iterator[np.ndarray]:
    """Per output frame of ``warp``: its two source frames blended, cover-resized to
    ``width``×``height`` (RGB uint8)."""
    import cv2
    import numpy as np

    i0, i1, wt = warp
    for i in range(len(i0)):
        a = source[i0[i]]
        w = float(wt[i])
        frame = a if w < 1e-6 else cv2.addWeighted(a, 1 - w, source[i1[i]], w, 0.0)
        yield cover_resize_array(np.ascontiguousarray(frame), width, height)


def pulsed(frame: np.ndarray, level: float) -> np.ndarray:
    """``frame`` with a beat pulse of ``level`` (0..1): a slight zoom about the centre and
    a brightening; unchanged below 0.001."""
    import cv2

    if level <= 1e-3:
        return frame
    h, w = frame.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 0.0, 1.0 + PULSE_ZOOM * level)
    frame = cv2.warpAffine(frame, m, (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT)
    return scale_brightness(frame, 1.0 + PULSE_GAIN * level, "rgb")
