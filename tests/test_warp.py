"""The separable Ken Burns warp of one I420 plane: exact bilinear, the brightness table."""

import numpy as np
import pytest

from musicvid._video import i420_planes, scale_brightness
from musicvid._warp import brightness_lut, warm_up, warp_plane


def bilinear(src, ax, bx, ay, by, w, h):
    """Float bilinear sampling at (ax*x + bx, ay*y + by), edge pixels replicated."""
    xs, ys = ax * np.arange(w) + bx, ay * np.arange(h) + by
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    s = src.astype(float)

    def at(yi, xi):
        return s[np.clip(yi, 0, s.shape[0] - 1)][:, np.clip(xi, 0, s.shape[1] - 1)]

    top = at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx
    bot = at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx
    return top * (1 - fy)[:, None] + bot * fy[:, None]


@pytest.mark.parametrize("ax, bx, ay, by", [
    (0.8, 0.3, 0.8, -0.4),  # the usual zoom-in, a sub-pixel offset
    (1.0, 0.0, 1.0, 0.0),  # identity
    (0.5, 10.25, 0.5, 5.5),  # strong zoom: each source row serves two output rows
    (1.25, -0.375, 1.25, -0.375),  # zoom out: rows skipped
    (0.7, 159.9, 0.7, -0.1),  # against the right edge
    (0.8, 0.3, 0.61, 2.2),  # x and y scaled differently
])
def test_warp_equals_exact_bilinear_sampling_to_rounding(ax, bx, ay, by):
    rng = np.random.default_rng(0)
    src = rng.integers(0, 256, (90, 160)).astype(np.uint8)
    out = np.empty((64, 112), np.uint8)
    warp_plane(src, ax, bx, ay, by, None, out)
    assert np.abs(out - bilinear(src, ax, bx, ay, by, 112, 64)).max() <= 0.6


@pytest.mark.parametrize("shape", [(5, 1), (5, 2), (1, 3)])
def test_warp_of_a_source_one_or_two_pixels_wide_replicates_its_edges(shape):
    rng = np.random.default_rng(1)
    src = rng.integers(0, 256, shape).astype(np.uint8)
    out = np.empty((6, 7), np.uint8)
    for ax, bx in ((0.4, -0.3), (1.5, 0.6), (0.2, 1.7)):
        warp_plane(src, ax, bx, 0.7, 0.2, None, out)
        assert np.abs(out - bilinear(src, ax, bx, 0.7, 0.2, 7, 6)).max() <= 0.6


def test_slow_pan_moves_the_picture_by_fractions_of_a_pixel():
    x = np.arange(200)
    blob = np.tile(np.rint(16 + 200 * np.exp(-0.5 * ((x - 60) / 3.0) ** 2)), (8, 1))
    src = blob.astype(np.uint8)
    lut = None

    def centre(k):  # the window moves 1/10 pixel right per frame
        out = warp_plane(src, 1.0, 10 + 0.1 * k, 1.0, 0.0, lut, np.empty((4, 100), np.uint8))
        wgt = out[0].astype(float) - 16
        return float((wgt * np.arange(100)).sum() / wgt.sum())

    steps = np.diff([centre(k) for k in range(11)])
    assert np.allclose(steps, -0.1, atol=0.02)  # the blob glides left, no stair steps


@pytest.mark.parametrize("gain", [0.7, 0.9, 1.1, 1.3])
def test_brightness_tables_scale_around_black_and_grey_within_tv_range(gain):
    rng = np.random.default_rng(2)
    w, h = 32, 16
    frame = np.concatenate([rng.integers(16, 236, (h, w)),
                            rng.integers(16, 241, (h // 2, w))]).astype(np.uint8)
    y, u, v = (p.astype(float) for p in i420_planes(frame, w, h))
    out = scale_brightness(frame.copy(), gain, "i420", w, h)  # through the same tables
    oy, ou, ov = i420_planes(out, w, h)
    assert np.array_equal(oy, np.clip(np.rint(16 + gain * (y - 16)), 0, 235))
    for c, oc in ((u, ou), (v, ov)):
        assert np.array_equal(oc, np.clip(np.rint(128 + gain * (c - 128)), 16, 240))
    assert np.array_equal(brightness_lut(gain, "y")[frame[:h]], oy)


def test_a_table_is_applied_in_the_same_pass():
    rng = np.random.default_rng(3)
    src = rng.integers(16, 236, (40, 60)).astype(np.uint8)
    plain = warp_plane(src, 0.8, 0.3, 0.8, 0.2, None, np.empty((30, 50), np.uint8))
    lut = brightness_lut(1.2, "y")
    assert np.array_equal(warp_plane(src, 0.8, 0.3, 0.8, 0.2, lut, np.empty((30, 50), np.uint8)),
                          lut[plain])


def test_identity_table_and_warm_up():
    assert np.array_equal(brightness_lut(1.0, "c"), np.arange(256))
    warm_up()  # compiles (or loads) the kernel; a second warp reuses it
    from musicvid import _warp

    assert len(_warp._warp.signatures) == 1
