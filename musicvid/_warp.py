"""The Ken Burns warp of one I420 plane: an axis-aligned bilinear zoom and pan (numba).

A Ken Burns frame never rotates: every output pixel ``(x, y)`` reads the source at
``(ax·x + bx, ay·y + by)``. That makes bilinear interpolation separable, so instead of a
general affine warp (OpenCV's ``warpAffine`` computes and interpolates a 2-D coordinate
per pixel) each needed source row is resampled horizontally once, from per-column
indices and weights computed once per frame, and each output row is the blend of two
such rows. Positions are exact to 1/2048 of a pixel (OpenCV's warp: 1/32), so slow pans
and zooms move smoothly; the frame's brightness gain is applied through a 256-entry
table in the same pass. Single-threaded and GIL-free: x264 keeps the other core.

Borders replicate the edge pixel, which equals OpenCV's ``BORDER_REFLECT`` for the at
most one pixel a window clipped to the source can reach past its edge.
"""

from __future__ import annotations

import numba
import numpy as np

from ._video import brightness_lut

__all__ = ["brightness_lut", "warm_up", "warp_plane"]

# fixed point: sub-pixel weights in 1/2048 (11 bits); a resampled row keeps 11 + 8 bits,
# rounded to 15 before the vertical blend, so every sum fits in 32 bits


@numba.njit(cache=True, nogil=True)
def _coords(a, b, n, size, i0, i1, wt):
    for x in range(n):
        s = a * x + b
        f = np.floor(s)
        i = int(f)
        q = int((s - f) * 2048.0 + 0.5)
        if q >= 2048:
            i += 1
            q = 0
        i0[x] = min(max(i, 0), size - 1)
        i1[x] = min(max(i + 1, 0), size - 1)
        wt[x] = q


@numba.njit(cache=True, nogil=True)
def _taps(a, b, n, size, left, wt):
    """Per output column: the left tap ``left[x]`` (its right neighbour is
    ``left[x] + 1``, always inside the row) and the right tap's weight ``wt[x]``. A
    column clamped to an edge reads the edge pixel at full weight. Unsigned indices, one
    per column: the resampling loop then has no wrap-around checks (about 40% faster)."""
    i0 = np.empty(n, np.int32)
    i1 = np.empty(n, np.int32)
    _coords(a, b, n, size, i0, i1, wt)
    for x in range(n):
        if i0[x] == i1[x]:  # clamped: the edge pixel alone
            if i0[x] >= size - 1:
                left[x] = size - 2
                wt[x] = 2048
            else:
                left[x] = i0[x]
                wt[x] = 0
        else:
            left[x] = i0[x]


@numba.njit(cache=True, nogil=True)
def _resample(srow, left, wt, dst):
    for x in range(dst.shape[0]):
        q = wt[x]
        j = left[x]
        dst[x] = np.int32(srow[j]) * (2048 - q) + np.int32(srow[j + 1]) * q


@numba.njit(cache=True, nogil=True)
def _warp(src, ax, bx, ay, by, lut, use_lut, out):
    sh, sw = src.shape
    h, w = out.shape
    xl = np.empty(w, np.uint32)
    wx = np.empty(w, np.int32)
    yi0 = np.empty(h, np.int32)
    yi1 = np.empty(h, np.int32)
    wy = np.empty(h, np.int32)
    _taps(ax, bx, w, sw, xl, wx)
    _coords(ay, by, h, sh, yi0, yi1, wy)
    rows = np.empty((2, w), np.int32)  # two horizontally resampled source rows
    held = np.array([-1, -1])  # the source row each slot holds
    for y in range(h):
        r0 = yi0[y]
        r1 = yi1[y]  # r0 or r0 + 1
        if held[0] == r0:
            s0 = 0
        elif held[1] == r0:
            s0 = 1
        else:  # fill the slot that does not hold r1
            s0 = 1 if held[0] == r1 else 0
            _resample(src[r0], xl, wx, rows[s0])
            held[s0] = r0
        if r1 == r0:
            s1 = s0
        else:
            s1 = 1 - s0
            if held[s1] != r1:
                _resample(src[r1], xl, wx, rows[s1])
                held[s1] = r1
        q = wy[y]
        p = 2048 - q
        a = rows[s0]
        b = rows[s1]
        orow = out[y]
        for x in range(w):  # vectorises
            orow[x] = (((a[x] + 8) >> 4) * p + ((b[x] + 8) >> 4) * q + 131072) >> 18
        if use_lut:
            for x in range(w):
                orow[x] = lut[orow[x]]


_IDENTITY = np.arange(256, dtype=np.uint8)


def warp_plane(src: np.ndarray, ax: float, bx: float, ay: float, by: float,
               lut: np.ndarray | None, out: np.ndarray) -> np.ndarray:
    """``out[y, x] = lut[bilinear(src, ax·x + bx, ay·y + by)]`` (pixel-centre units, as
    OpenCV's ``WARP_INVERSE_MAP``); ``src`` and ``out`` are 2-D uint8, ``lut`` 256 uint8
    or None (no brightness change)."""
    if src.shape[1] < 2:  # one column: two copies of it sample the same (the taps need two)
        src = np.repeat(src, 2, axis=1)
    _warp(src, float(ax), float(bx), float(ay), float(by),
          _IDENTITY if lut is None else lut, lut is not None, out)
    return out


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernel with the types a frame uses."""
    src = np.zeros((4, 4), np.uint8)
    warp_plane(src, 0.5, 0.25, 0.5, 0.25, None, np.empty((2, 2), np.uint8))
