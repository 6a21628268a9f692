"""Ken Burns motion: an eased pan/zoom over the keyframe, driven by the music's energy."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..hookspecs import hookimpl
from ..protocols import StageContext
from ..types import Analysis, Clip, Keyframe, Shot, Storyboard

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image

__all__ = ["KenBurnsMotion", "kenburns_path", "cover_resize"]

OVERSCAN = 1.25  # the keyframe is scaled once to this much more than the output


def ease_in_out(u: float) -> float:
    """Cubic ease in/out on [0, 1]."""
    return 3 * u * u - 2 * u * u * u


def kenburns_path(shot: Shot, analysis: Analysis, storyboard: Storyboard
                  ) -> list[tuple[float, float, float]]:
    """Per output frame ``(zoom, cx, cy)``: zoom >= 1 over the output, centre in [0, 1].

    Zoom amount grows with the shot's energy; direction (in/out, pan angle) comes from
    the shot's seed, so every render of the same plan moves the same way. A short pulse
    follows the energy curve on top.
    """
    # shots may share a keyframe (same prompt and seed), so vary the move per shot too
    rng = random.Random(f"{shot.seed}:{shot.index}")
    energy = min(1.0, max(0.0, shot.energy))
    amount = 0.06 + 0.16 * energy  # total zoom change over the shot
    zoom_in = rng.random() < 0.6
    angle = rng.uniform(0, 2 * math.pi)
    pan = 0.04 + 0.08 * energy
    z0, z1 = (1.0, 1.0 + amount) if zoom_in else (1.0 + amount, 1.0)
    dx, dy = math.cos(angle) * pan, math.sin(angle) * pan
    n = shot.frame_count
    fps = float(storyboard.fps)
    out = []
    for i in range(n):
        u = ease_in_out(i / (n - 1)) if n > 1 else 0.0
        t = (shot.start_frame + i) / fps
        pulse = 0.02 * analysis.energy_at(t) * energy
        z = z0 + (z1 - z0) * u + pulse
        out.append((z, 0.5 + dx * (u - 0.5), 0.5 + dy * (u - 0.5)))
    return out


def cover_resize(image: Image.Image, width: int, height: int) -> np.ndarray:
    """Scale and centre-crop ``image`` to exactly width×height (no letterbox)."""
    import numpy as np
    from PIL import Image as PILImage

    src_w, src_h = image.size
    scale = max(width / src_w, height / src_h)
    new_w, new_h = max(width, round(src_w * scale)), max(height, round(src_h * scale))
    resized = image.convert("RGB").resize((new_w, new_h), PILImage.Resampling.LANCZOS)
    left, top = (new_w - width) // 2, (new_h - height) // 2
    return np.asarray(resized.crop((left, top, left + width, top + height)))


class KenBurnsMotion:
    """Sub-pixel pan/zoom with OpenCV (bilinear) over a once-upscaled keyframe."""

    name = "kenburns"
    cacheable = False  # recomputing is faster than reading frames back

    def cache_key_parts(self, ctx: StageContext) -> dict[str, Any]:
        return {"v": 1}

    def animate(self, keyframe: Keyframe, shot: Shot, storyboard: Storyboard,
                analysis: Analysis, ctx: StageContext) -> Clip:
        w, h = storyboard.width, storyboard.height
        path = kenburns_path(shot, analysis, storyboard)

        def frames() -> Iterator[np.ndarray]:
            import cv2
            import numpy as np

            sw, sh = int(round(w * OVERSCAN)) // 2 * 2, int(round(h * OVERSCAN)) // 2 * 2
            src = cover_resize(keyframe.image, sw, sh)
            for z, cx, cy in path:
                # the output window is (w/OVERSCAN/z) of the source, centred at (cx, cy)
                s = OVERSCAN * z  # source pixels per output pixel is 1/s... scale = s
                win_w, win_h = sw / s, sh / s
                x0 = min(max(cx * sw - win_w / 2, 0.0), sw - win_w)
                y0 = min(max(cy * sh - win_h / 2, 0.0), sh - win_h)
                k = w / win_w
                m = np.array([[k, 0, -x0 * k], [0, k, -y0 * k]], dtype=np.float64)
                yield cv2.warpAffine(src, m, (w, h), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT)

        return Clip(shot.frame_count, w, h, frames, meta={"motion": self.name})


@hookimpl
def register_motion_generators(register):  # type: ignore[no-untyped-def]
    register(KenBurnsMotion)
