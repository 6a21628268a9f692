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

__all__ = ["BudgetPlan", "Costs", "choose", "fit_budget", "measure_encode_fps"]


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
            frame = np.asarray(cv2.warpAffine(src, m, (width, height), flags=cv2.INTER_LINEAR),
                               dtype=np.uint8)
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


def fit_budget(pipe: Any, analysis: Any, started: float) -> tuple[BudgetPlan, Any] | None:
    """Fit ``pipe.config.time_budget`` minutes: calibrate the keyframe stage (cached per
    machine and model), measure the encoder, and choose keyframes, steps and size.
    Returns the plan and the config it makes, or ``None`` when the keyframe stage has no
    costs to fit (it has no ``calibrate``)."""
    import os

    from . import cache_keys, planning
    from .types import frame_count_for

    ctx = pipe._ctx("budget")
    gen = pipe.stage("keyframes")
    calibrate = getattr(gen, "calibrate", None)
    if calibrate is None:
        log.info("the %s keyframe stage has no costs to fit a time budget to", gen.name)
        return None
    c = pipe.config
    key = cache_keys.calibration_key(pipe.stage_identity("keyframes", ctx), c.device,
                                     os.cpu_count())
    measured = pipe.cache.get_json("calibration", key)
    if measured is None:
        ctx.progress(0, 1, "measuring this machine's speed")
        measured = calibrate(ctx)
        pipe.cache.put_json("calibration", key, measured)
    measured["load_s"] = 0.0  # whatever loading took is already in the elapsed time
    costs = Costs(**measured)
    n_frames = frame_count_for(analysis.duration, c.fps)
    other = n_frames / measure_encode_fps(c.width, c.height, c.preset, c.crf)
    # the unconstrained plan tells how many keyframes the song could use
    full = planning.plan(analysis, c.replace(time_budget=None, max_keyframes=None))
    most = len({(s.prompt, s.negative_prompt, s.seed) for s in full.shots})
    fewest = len({sec.group for sec in analysis.sections}) or 1
    elapsed = time.perf_counter() - started
    plan = choose(c.time_budget * 60.0 - elapsed, costs, steps=c.steps,
                  width=c.keyframe_width, height=c.keyframe_height, min_keyframes=fewest,
                  max_keyframes=most, other_s=other,
                  min_steps=c.steps if c.few_step else None)
    plan.estimate_s += elapsed
    config = c.replace(max_keyframes=plan.keyframes, steps=plan.steps,
                       keyframe_width=plan.width, keyframe_height=plan.height)
    ctx.progress(1, 1, plan.summary())
    log.info("time budget %.0f min: %s", c.time_budget, plan.summary())
    return plan, config
