"""Frame helpers shared by the motion stages and the compositor (numpy + OpenCV).

Two frame layouts travel through musicvid:

- **RGB**: ``H×W×3`` uint8, what :class:`~musicvid.types.Clip` yields.
- **I420**: ``(H*3/2)×W`` uint8: the Y plane (``H×W``), then U and V at half size
  (``H/2×W/2`` each), back to back; BT.601 limited range ("TV" levels, Y in 16..235),
  chroma centred between luma samples. This is what OpenCV's ``COLOR_RGB2YUV_I420``
  makes and what an H.264 ``yuv420p`` encoder takes, so a frame in this layout goes to
  the encoder with no further conversion.

Measured on the reference machine (see docs/benchmarks.md), OpenCV's conversion is about
six times faster than libswscale's (PyAV's ``reformat``), so it is the one used; the
compositor tags the stream as BT.601 so players decode the colours it wrote.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image

__all__ = ["blend", "black_frame", "brightness_lut", "cover_crop_box", "cover_resize",
           "cover_resize_array", "i420_planes", "psnr", "rgb_to_i420", "scale_brightness"]


def rgb_to_i420(rgb: np.ndarray) -> np.ndarray:
    """``H×W×3`` RGB -> I420 (BT.601 limited range). H and W must be even."""
    import cv2

    return cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)


def i420_planes(buf: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y, U and V planes of an I420 buffer (writes go to ``buf``)."""
    flat = buf.reshape(-1)
    n = width * height
    q = (width // 2) * (height // 2)
    return (flat[:n].reshape(height, width), flat[n:n + q].reshape(height // 2, width // 2),
            flat[n + q:n + 2 * q].reshape(height // 2, width // 2))


def black_frame(width: int, height: int, layout: str) -> np.ndarray:
    """A black frame in ``layout`` ("rgb" or "i420")."""
    import numpy as np

    if layout == "rgb":
        return np.zeros((height, width, 3), np.uint8)
    buf = np.empty((height * 3 // 2, width), np.uint8)
    y, u, v = i420_planes(buf, width, height)
    y[:] = 16
    u[:] = 128
    v[:] = 128
    return buf


def blend(a: np.ndarray, b: np.ndarray, weight_b: float) -> np.ndarray:
    """``(1 - w)·a + w·b``, rounded; works on either layout (the maths is linear)."""
    import cv2

    return cv2.addWeighted(a, 1.0 - weight_b, b, weight_b, 0.0)


def brightness_lut(gain: float, plane: str) -> np.ndarray:
    """The table of :func:`scale_brightness` for one I420 plane (``plane`` "y" or "c"): luma
    ``16 + g·(Y - 16)`` clipped to at most 235, chroma ``128 + g·(C - 128)`` clipped to
    16..240; the identity for a gain of 1."""
    import numpy as np

    v = np.arange(256, dtype=np.float64)
    if gain == 1.0:
        return v.astype(np.uint8)
    if plane == "y":
        return np.clip(np.rint(16.0 + gain * (v - 16.0)), 0, 235).astype(np.uint8)
    return np.clip(np.rint(128.0 + gain * (v - 128.0)), 16, 240).astype(np.uint8)


def scale_brightness(frame: np.ndarray, gain: float, layout: str, width: int = 0,
                     height: int = 0) -> np.ndarray:
    """Brighten ``frame`` by ``gain`` (1 = unchanged) in place where possible.

    RGB values are multiplied; for I420, ``16 + g·(Y - 16)`` and ``128 + g·(C - 128)``,
    which is the same operation expressed in YUV, clipped to the legal TV range.
    """
    import cv2

    # below half a code value on the widest range (RGB 0..255, Y 16..255 from the warp)
    # the rounded result is the frame itself: skip the work
    if abs(gain - 1.0) * (255.0 if layout == "rgb" else 239.0) < 0.5:
        return frame
    if layout == "rgb":
        return cv2.convertScaleAbs(frame, alpha=gain)
    n = width * height
    flat = frame.reshape(-1)
    cv2.LUT(flat[:n], brightness_lut(gain, "y"), dst=flat[:n])
    cv2.LUT(flat[n:], brightness_lut(gain, "c"), dst=flat[n:])
    return frame


def cover_crop_box(src_w: int, src_h: int, width: int, height: int
                   ) -> tuple[float, float, float, float]:
    """The centred ``(left, top, crop_w, crop_h)`` of a source that fills width×height."""
    scale = max(width / src_w, height / src_h)
    crop_w, crop_h = width / scale, height / scale
    return (src_w - crop_w) / 2, (src_h - crop_h) / 2, crop_w, crop_h


def cover_resize(image: Image.Image, width: int, height: int) -> np.ndarray:
    """Scale and centre-crop a PIL image to exactly width×height (Lanczos; no letterbox)."""
    import numpy as np
    from PIL import Image as PILImage

    src_w, src_h = image.size
    left, top, cw, ch = cover_crop_box(src_w, src_h, width, height)
    resized = image.convert("RGB").resize(
        (width, height), PILImage.Resampling.LANCZOS, box=(left, top, left + cw, top + ch))
    return np.array(resized)  # a writable copy


def cover_resize_array(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale and centre-crop an RGB array to exactly width×height (OpenCV; sub-pixel crop)."""
    import cv2
    import numpy as np

    src_h, src_w = rgb.shape[:2]
    if (src_w, src_h) == (width, height):
        return rgb
    left, top, cw, ch = cover_crop_box(src_w, src_h, width, height)
    k = width / cw
    # the affine that maps the crop box onto the output, pixel centres to pixel centres
    m = np.array([[1 / k, 0, left + 0.5 / k - 0.5], [0, 1 / k, top + 0.5 / k - 0.5]])
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC
    if interp == cv2.INTER_AREA and left < 1e-6 and top < 1e-6:
        return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    if interp == cv2.INTER_AREA:  # crop to whole pixels, then area-average
        x0, y0 = int(round(left)), int(round(top))
        box = rgb[y0:y0 + int(round(ch)), x0:x0 + int(round(cw))]
        return cv2.resize(box, (width, height), interpolation=cv2.INTER_AREA)
    return cv2.warpAffine(rgb, m, (width, height), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 arrays, in dB (inf when identical)."""
    import numpy as np

    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)
