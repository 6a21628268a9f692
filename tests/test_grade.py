"""The palette colour grade moves hue and saturation the way each palette says."""

import numpy as np
import pytest
from PIL import Image

from musicvid import InvalidOptionError
from musicvid.grade import grade_array, grade_image, hue_distance, palette_metrics


def smooth_image(seed, size=(96, 64)):
    """A smooth random colour field, like a blurred photograph."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (4, 6, 3)).astype(np.uint8))
    return np.asarray(small.resize(size, Image.Resampling.BICUBIC))


IMAGES = [smooth_image(i) for i in range(16)] + [
    np.full((24, 32, 3), c, np.uint8)
    for c in [(200, 30, 30), (30, 200, 30), (30, 30, 200), (240, 230, 60), (40, 200, 220),
              (128, 128, 128), (20, 20, 20), (250, 250, 250)]
]


@pytest.mark.parametrize("palette, target", [("warm", 30.0), ("cool", 215.0)])
def test_warm_and_cool_move_the_mean_hue_toward_their_colour(palette, target):
    moved = 0
    for img in IMAGES:
        h0, s0 = palette_metrics(img)
        h1, s1 = palette_metrics(grade_array(img, palette))
        if s0 > 0.05:  # a hue to speak of
            assert hue_distance(h1, target) < hue_distance(h0, target)
            moved += 1
        else:  # grey images take on the palette's colour (clipping bends it near black)
            assert s1 > s0 and hue_distance(h1, target) < 35
    assert moved >= 18
    # over the whole set, the mean hue lands within 45° of the target
    stack = np.concatenate([grade_array(i, palette).reshape(-1, 3) for i in IMAGES])
    assert hue_distance(palette_metrics(stack[None])[0], target) < 45


def test_monochrome_removes_colour():
    for img in IMAGES:
        out = grade_array(img, "monochrome")
        assert palette_metrics(out)[1] < 0.01
        assert np.abs(out.astype(int) - out[..., :1].astype(int)).max() <= 1  # R = G = B


def test_vibrant_raises_saturation_and_keeps_hue():
    for img in IMAGES:
        h0, s0 = palette_metrics(img)
        h1, s1 = palette_metrics(grade_array(img, "vibrant"))
        if 0.05 < s0 < 0.95:
            assert s1 > s0 + 0.03
            assert hue_distance(h0, h1) < 12
        else:
            assert s1 >= s0 - 1e-9


@pytest.mark.parametrize("palette", ["warm", "cool", "monochrome", "vibrant"])
def test_strength_scales_the_grade(palette):
    img = smooth_image(3)
    assert np.array_equal(grade_array(img, palette, 0.0), img)
    d_half = np.abs(grade_array(img, palette, 0.5).astype(int) - img).mean()
    d_full = np.abs(grade_array(img, palette, 1.0).astype(int) - img).mean()
    assert 0 < d_half < d_full


def test_grade_image_accepts_any_mode_and_keeps_the_size():
    rgba = Image.new("RGBA", (40, 30), (10, 120, 200, 128))
    out = grade_image(rgba, "warm")
    assert out.mode == "RGB" and out.size == (40, 30)
    grey = grade_image(Image.new("L", (8, 6), 100), "vibrant")
    assert grey.mode == "RGB" and palette_metrics(grey)[1] == 0.0
    with pytest.raises(InvalidOptionError, match="palette"):
        grade_image(rgba, "sepia")


def test_palette_metrics_reads_known_colours():
    assert palette_metrics(np.full((2, 2, 3), (255, 0, 0), np.uint8)) == pytest.approx((0.0, 1.0))
    h, s = palette_metrics(np.full((2, 2, 3), (0, 0, 255), np.uint8))
    assert h == pytest.approx(240.0) and s == pytest.approx(1.0)
    assert palette_metrics(np.full((2, 2, 3), 90, np.uint8)) == (0.0, 0.0)
    assert hue_distance(350, 10) == 20 and hue_distance(30, 215) == 175
