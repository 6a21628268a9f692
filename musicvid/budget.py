"""``--time-budget``: fit keyframe count, steps and size to a wall-clock budget.

The keyframe stage measures its own costs once on this machine (``calibrate``: one UNet
step at the target size, the text encoders, one VAE decode; cached), the encoder's
throughput is measured on a few frames, and :func:`choose` picks the most keyframes at the
configured steps and size that fit; when even one keyframe per section group does not fit
it lowers the steps, then the size. The estimate is printed before any keyframe is made.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["BudgetPlan", "Costs", "choose", "measure_encode_fps"]


@dataclass
class Costs:
    """Measured seconds on this machine, at ``width`` x ``height``."""

    step_s: float  # one denoising step (both CFG branches when guidance is on)
    text_s: float  # the text encoders, per keyframe
    decode_s: float  # one VAE decode
    width: int
    height: int
    load_s: float = 0.0  # loading the model (0 when already loaded)

    def per_keyframe(self, steps: int, width: int, height: int) -> float:
        scale = (width * height) / float(self.width * self.height)
        return self.text_s + (steps * self.step_s + self.decode_s) * scale


@dataclass
class BudgetPlan:
    keyframes: int
    steps: int
    width: int
    height: int
    per_keyframe_s: float
    keyframes_s: float
    other_s: float
    estimate_s: float
    fits: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return (f"estimate {self.estimate_s / 60:.1f} min: {self.keyframes} keyframes x "
                f"{self.steps} steps at {self.width}x{self.height} "
                f"({self.per_keyframe_s:.0f} s each) + {self.other_s / 60:.1f} min analysis/"
                f"motion/encode" + ("" if self.fits else " (over budget: smallest settings)"))


def _sizes(width: int, height: int) -> list[tuple[int, int]]:
    out = []
    for f in (1.0, 0.75, 0.5):
        w, h = max(64, int(width * f) // 8 * 8), max(64, int(height * f) // 8 * 8)
        if (w, h) not in out:
            out.append((w, h))
    return out


def _step_options(steps: int, minimum: int) -> list[int]:
    opts = [steps]
    s = steps
    while s > minimum:
        s = max(minimum, int(round(s * 0.75)))
        if s not in opts:
            opts.append(s)
    return opts


def choose(budget_s: float, costs: Costs, *, steps: int, width: int, height: int,
           min_keyframes: int, max_keyframes: int, other_s: float,
           min_steps: int | None = None) -> BudgetPlan:
    """The best (keyframes, steps, size) that fits ``budget_s``.

    Keeps the configured steps and size while at least ``min_keyframes`` (one per section
    group) fit, using every remaining second for more keyframes up to ``max_keyframes``
    (one per shot); otherwise lowers the steps (not below ``min_steps``), then the size.
    """
    max_keyframes = max(1, max_keyframes)
    min_keyframes = max(1, min(min_keyframes, max_keyframes))
    floor_steps = min_steps if min_steps is not None else max(1, min(steps, 12))
    avail = budget_s - other_s - costs.load_s
    last: BudgetPlan | None = None
    for w, h in _sizes(width, height):
        for st in _step_options(steps, floor_steps):
            per = costs.per_keyframe(st, w, h)
            n = int(math.floor(avail / per)) if avail > 0 else 0
            count = min(max(n, 1), max_keyframes)
            plan = BudgetPlan(count, st, w, h, per, count * per, other_s + costs.load_s,
                              other_s + costs.load_s + count * per, n >= min_keyframes)
            if n >= min_keyframes:
                return plan
            last = plan
    assert last is not None
    return last


def measure_encode_fps(width: int, height: int, preset: str, crf: int, frames: int = 24) -> float:
    """Frames per second of Ken Burns warp + libx264 at this size, on a short sample."""
    import av
    import cv2
    import numpy as np

    src = np.random.default_rng(0).integers(0, 255, (int(height * 1.25), int(width * 1.25), 3),
                                            dtype=np.uint8)
    import io

    out = av.open(io.BytesIO(), mode="w", format="mp4")
    try:
        vs = out.add_stream("libx264", rate=30)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"preset": preset, "crf": str(crf)}
        t0 = time.perf_counter()
        for i in range(frames):
            m = np.array([[1.0, 0, -i * 0.5], [0, 1.0, -i * 0.3]])
            frame = cv2.warpAffine(src, m, (width, height), flags=cv2.INTER_LINEAR)
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts = i
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        dt = time.perf_counter() - t0
    finally:
        out.close()
    return frames / max(dt, 1e-6)
