"""``--time-budget``: buy the best video a wall-clock budget allows.

The keyframe stage measures its own costs once on this machine (``calibrate``: after a
warm-up call, one UNet step with and without CFG, the text encoders and one VAE decode;
cached), the encoder's throughput is measured on a few frames, and :func:`choose` walks a
quality ladder, cheapest last, until every distinct shot gets its own keyframe:

1. the configured sampler, steps and size;
2. the tiny VAE (TAESDXL) instead of the full decoder;
3. fewer steps, never below the model family's usable minimum (:data:`STEP_RANGES`);
4. the few-step SDXL-Lightning preset (its 4-step LoRA, no CFG) with the tiny VAE;
5. smaller keyframes;
6. only then fewer keyframes (repeats of a section group share theirs), never fewer than
   one per section group: below that the plan says it is over budget.

Rungs 2 and 4 switch models, so they are offered only for the base SDXL model from the
hub (the Lightning LoRA is made for it; the downloads are on first use). A setting given
as the stage's option (``--option sdxl_steps=30``) is planned with and kept as given:
the rungs that would change it are left out (``BudgetPlan.fixed`` names it). The printed
estimate is updated as the run goes (:class:`BudgetTracker`, the progress callback's
``budget`` stage): from the keyframes made so far, then from the encoder's real speed.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["STEP_RANGES", "BudgetPlan", "BudgetTracker", "Costs", "Sampler", "choose",
           "fit_budget", "ladder", "measure_encode_fps", "model_family", "step_floor"]

#: Usable steps per model family, (minimum, usual maximum). Fewer steps than the minimum
#: give a blurred, half-formed image: the budget never goes below it.
STEP_RANGES: dict[str, tuple[int, int]] = {
    "sdxl": (20, 50),  # SDXL base and full fine-tunes (Euler/DPM++ with CFG)
    "lightning": (2, 8),  # SDXL-Lightning: the step count its checkpoint/LoRA was made for
    "hyper": (2, 8),  # Hyper-SD
    "lcm": (4, 8),  # LCM / LCM-LoRA (soft below 4)
    "turbo": (1, 4),  # SDXL-Turbo
}

# Cost ratios for settings the calibration did not run, from the full-size SDXL
# measurements in docs/benchmarks.md (768x432, float32, 2 CPU cores): one UNet step
# without CFG / with CFG = 12.9 / 24.8; TAESDXL decode / full VAE decode = 1.65 / 21.4.
NO_CFG_RATIO = 0.52
TINY_VAE_RATIO = 0.077
SIZES = (1.0, 0.875, 0.75, 0.625)


def model_family(config: Any) -> str:
    """The :data:`STEP_RANGES` family of ``config``'s keyframe model: its few-step preset,
    else a family named in the model or LoRA id, else ``sdxl``."""
    if config.few_step:
        return str(config.few_step)
    names = f"{config.sdxl_model} {config.lora or ''}".lower()
    for family in ("lightning", "hyper", "turbo", "lcm"):
        if family in names:
            return family
    return "sdxl"


def step_floor(config: Any) -> int:
    """The fewest steps the budget may give ``config``'s model: the family minimum for
    SDXL (never more than configured); the configured count for distilled models, whose
    steps are what they were distilled for."""
    family = model_family(config)
    low = STEP_RANGES[family][0]
    if config.steps < low:
        log.warning("%d steps is under the usable minimum of %d for %s models: expect "
                    "blurred keyframes", config.steps, low, family)
    if family == "sdxl":
        return min(config.steps, low)
    return config.steps


@dataclass
class Costs:
    """Measured seconds on this machine, at ``width`` x ``height``."""

    step_s: float  # one denoising step as calibrated (both CFG branches when ``cfg``)
    text_s: float  # the text encoders, per keyframe
    decode_s: float  # one VAE decode (the tiny VAE when ``tiny_vae``)
    width: int
    height: int
    load_s: float = 0.0  # loading the model
    step1_s: float | None = None  # one step of one branch (no CFG), when measured
    cfg: bool = True
    tiny_vae: bool = False

    def step(self, cfg: bool) -> float:
        if cfg == self.cfg:
            return self.step_s
        if not cfg:
            return self.step1_s if self.step1_s else self.step_s * NO_CFG_RATIO
        return (self.step1_s or self.step_s) / NO_CFG_RATIO

    def decode(self, tiny: bool) -> float:
        if tiny == self.tiny_vae:
            return self.decode_s
        return self.decode_s * TINY_VAE_RATIO if tiny else self.decode_s / TINY_VAE_RATIO

    def per_keyframe(self, steps: int, width: int, height: int, *, cfg: bool | None = None,
                     tiny_vae: bool | None = None) -> float:
        cfg = self.cfg if cfg is None else cfg
        tiny = self.tiny_vae if tiny_vae is None else tiny_vae
        scale = (width * height) / float(self.width * self.height)
        return self.text_s + (steps * self.step(cfg) + self.decode(tiny)) * scale

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Costs:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass(frozen=True)
class Sampler:
    """One rung of the ladder: how keyframes are sampled and what it changes in the
    config (``changes``); ``reload``: it loads a different pipeline."""

    label: str
    steps: int
    cfg: bool
    tiny_vae: bool
    changes: tuple[tuple[str, Any], ...] = ()
    reload: bool = False


def ladder(config: Any, fixed: Collection[str] = ()) -> list[Sampler]:
    """The samplers :func:`choose` tries for ``config``, best first (see the module doc),
    leaving out those that change a config field named in ``fixed``."""
    from .config import DEFAULT_SDXL_MODEL, DEFAULT_TINY_VAE, FEW_STEP_PRESETS

    cfg = config.guidance_scale > 1.0
    tiny = config.tiny_vae is not None
    hub_base = config.sdxl_model == DEFAULT_SDXL_MODEL
    rungs = [Sampler("as configured", config.steps, cfg, tiny)]
    if hub_base and not tiny:
        tiny = True
        rungs.append(Sampler("tiny VAE", config.steps, cfg, True,
                             (("tiny_vae", DEFAULT_TINY_VAE),), reload=True))
    changes = rungs[-1].changes
    floor = step_floor(config)
    s = config.steps
    while s > floor:
        s = max(floor, int(round(s * 0.8)))
        rungs.append(Sampler(f"{s} steps", s, cfg, tiny, changes + (("steps", s),),
                             reload=rungs[-1].reload))
    if hub_base and not config.few_step and not config.lora:
        p = FEW_STEP_PRESETS["lightning"]
        rungs.append(Sampler("SDXL-Lightning 4-step + tiny VAE", p["steps"], False, True,
                             (("few_step", "lightning"), ("steps", p["steps"]),
                              ("guidance_scale", p["guidance_scale"]),
                              ("tiny_vae", DEFAULT_TINY_VAE)), reload=True))
    return [r for r in rungs if not {name for name, _ in r.changes} & set(fixed)]


def _sizes(width: int, height: int) -> list[tuple[int, int]]:
    out = []
    for f in SIZES:
        w, h = max(64, int(width * f) // 8 * 8), max(64, int(height * f) // 8 * 8)
        if (w, h) not in out:
            out.append((w, h))
    return out


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
    sampler: str = "as configured"
    changes: dict[str, Any] = field(default_factory=dict)
    distinct_shots: int = 0
    step_floor: int = 0
    encode_s: float = 0.0  # the motion + encode part of other_s
    estimates: list[dict[str, Any]] = field(default_factory=list)  # re-estimates, in order
    fixed: list[str] = field(default_factory=list)  # fields set by --option: kept as given

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        shots = (f" for {self.distinct_shots} distinct shots" if self.distinct_shots else "")
        return (f"estimate {self.estimate_s / 60:.1f} min: {self.keyframes} keyframes{shots} x "
                f"{self.steps} steps at {self.width}x{self.height} ({self.sampler}, "
                f"{self.per_keyframe_s:.0f} s each) + {self.other_s / 60:.1f} min analysis/"
                f"motion/encode" + ("" if self.fits else " (over budget: smallest settings)"))


def choose(budget_s: float, costs: Costs, samplers: list[Sampler], *, width: int,
           height: int, min_keyframes: int, max_keyframes: int, other_s: float,
           load_s: float = 0.0, reload_s: float = 0.0) -> BudgetPlan:
    """The best plan that fits ``budget_s`` seconds.

    Rungs are each sampler at full size, then the last (cheapest) sampler at smaller
    sizes; the first rung where all ``max_keyframes`` (one per distinct shot) fit wins.
    When none does, the rung where the most keyframes fit (the better one on a tie) makes
    that many, at least ``min_keyframes`` (one per section group; fewer is reported as
    over budget).
    ``load_s`` is charged to rungs that keep the pipeline, ``reload_s`` to the others.
    """
    max_keyframes = max(1, max_keyframes)
    min_keyframes = max(1, min(min_keyframes, max_keyframes))
    rungs = [(s, width, height) for s in samplers]
    rungs += [(samplers[-1], w, h) for w, h in _sizes(width, height)[1:]]
    best: tuple[int, BudgetPlan] | None = None
    for sampler, w, h in rungs:
        per = costs.per_keyframe(sampler.steps, w, h, cfg=sampler.cfg,
                                 tiny_vae=sampler.tiny_vae)
        fixed = other_s + (reload_s if sampler.reload else load_s)
        avail = budget_s - fixed
        n = int(math.floor(avail / per)) if avail > 0 else 0
        count = min(max(n, min_keyframes), max_keyframes)
        changes = dict(sampler.changes)
        plan = BudgetPlan(count, sampler.steps, w, h, per, count * per, fixed,
                          fixed + count * per, n >= count, sampler.label, changes,
                          max_keyframes, encode_s=other_s)
        if n >= max_keyframes:
            return plan
        if best is None or n > best[0]:  # the most keyframes; the better rung on a tie
            best = (n, plan)
    assert best is not None
    return best[1]


def measure_encode_fps(width: int, height: int, preset: str, crf: int, frames: int = 24) -> float:
    """Frames per second of Ken Burns warp + libx264 at this size, on a short sample."""
    import io

    import av
    import cv2
    import numpy as np

    src = np.random.default_rng(0).integers(0, 255, (int(height * 1.25), int(width * 1.25), 3),
                                            dtype=np.uint8)
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


class BudgetTracker:
    """A progress callback in front of the caller's: it re-estimates the render's total
    time from what the run has measured so far and reports it as the ``budget`` stage.

    While keyframes are made: elapsed + the mean time of the keyframes made since the
    first one (which also paid for loading the model) x those left + the planned
    motion/encode time. While encoding: elapsed + frames left / the encoder's real rate.
    """

    def __init__(self, plan: BudgetPlan, started: float,
                 downstream: Callable[[str, int, int, str], None],
                 clock: Callable[[], float] = time.perf_counter):
        self.plan = plan
        self.started = started
        self.downstream = downstream
        self.clock = clock
        self._lock = threading.Lock()
        self._kf_start: float | None = None
        self._kf_first: float | None = None
        self._enc: tuple[float, int] | None = None
        self._enc_reported = 0

    def __call__(self, stage: str, done: int, total: int, message: str = "") -> None:
        self.downstream(stage, done, total, message)
        if stage == "budget":
            return
        with self._lock:
            update = self._observe(stage, done, total, message)
        if update is not None:
            self.downstream("budget", 1, 1, update)

    def _observe(self, stage: str, done: int, total: int, message: str) -> str | None:
        now = self.clock()
        elapsed = now - self.started
        encode_s = max(0.0, self.plan.encode_s)
        if stage == "keyframes" and total:
            if done == 0:
                self._kf_start = now
                return None
            if message != "keyframe" or self._kf_start is None:
                return None
            if self._kf_first is None:
                self._kf_first = now
                mean = now - self._kf_start
            else:
                mean = (now - self._kf_first) / max(1, done - 1)
            estimate = elapsed + (total - done) * mean + encode_s
            return self._record(estimate, elapsed, f"{done}/{total} keyframes, "
                                                   f"{mean:.0f} s each")
        if stage == "composite" and message == "encoding" and total:
            if self._enc is None:
                self._enc = (now, done)
                return None
            t0, f0 = self._enc
            if done - f0 <= 0 or done - self._enc_reported < max(30, total // 10):
                return None
            self._enc_reported = done
            rate = (done - f0) / max(now - t0, 1e-9)
            estimate = elapsed + (total - done) / rate
            return self._record(estimate, elapsed, f"encoding at {rate:.0f} frames/s")
        return None

    def _record(self, estimate: float, elapsed: float, why: str) -> str:
        self.plan.estimates.append({"elapsed_s": round(elapsed, 2),
                                    "estimate_s": round(estimate, 2), "from": why})
        return f"re-estimate {estimate / 60:.1f} min ({why}; {elapsed / 60:.1f} min so far)"


def fit_budget(pipe: Any, analysis: Any, started: float) -> tuple[BudgetPlan, Any] | None:
    """Fit ``pipe.config.time_budget`` minutes: calibrate the keyframe stage (cached per
    machine and model), measure the encoder, and choose the sampler, steps, size and
    keyframe count. Returns the plan and the config it makes, or ``None`` when the
    keyframe stage has no costs to fit (it has no ``calibrate``)."""
    import os

    from . import cache_keys, planning
    from .stages import stage_config
    from .types import frame_count_for

    ctx = pipe._ctx("budget")
    gen = pipe.stage("keyframes")
    calibrate = getattr(gen, "calibrate", None)
    if calibrate is None:
        log.info("the %s keyframe stage has no costs to fit a time budget to", gen.name)
        return None
    # the settings the stage will use: those it was given as options stay as they are
    c, fixed = stage_config(gen, pipe.config)
    key = cache_keys.calibration_key(pipe.stage_identity("keyframes", ctx), c.device,
                                     os.cpu_count())
    measured = pipe.cache.get_json("calibration", key)
    if measured is not None and gen.name == "sdxl" and "cfg" not in measured:
        measured = None  # the SDXL stage's older calibration (no warm-up, no CFG flag)
    fresh = measured is None
    if measured is None:
        ctx.progress(0, 1, "measuring this machine's speed")
        measured = calibrate(ctx)
        pipe.cache.put_json("calibration", key, measured)
    costs = Costs.from_dict(measured)
    # calibrating just now loaded the configured pipeline (its time is already elapsed);
    # from the cache, the first keyframe still pays for loading it
    load_s = 0.0 if fresh else costs.load_s
    n_frames = frame_count_for(analysis.duration, c.fps)
    other = n_frames / measure_encode_fps(c.width, c.height, c.preset, c.crf)
    # the unconstrained plan tells how many distinct shots the song has (repeats share)
    full = planning.plan(analysis, c.replace(time_budget=None, max_keyframes=None))
    most = len({(s.prompt, s.negative_prompt, s.seed) for s in full.shots})
    fewest = len({sec.group for sec in analysis.sections}) or 1
    elapsed = time.perf_counter() - started
    plan = choose(c.time_budget * 60.0 - elapsed, costs, ladder(c, fixed),
                  width=c.keyframe_width, height=c.keyframe_height, min_keyframes=fewest,
                  max_keyframes=most, other_s=other, load_s=load_s, reload_s=costs.load_s)
    plan.step_floor = step_floor(c)
    plan.fixed = fixed
    plan.estimate_s += elapsed
    plan.estimates.append({"elapsed_s": round(elapsed, 2),
                           "estimate_s": round(plan.estimate_s, 2), "from": "calibration"})
    config = c.replace(max_keyframes=plan.keyframes, steps=plan.steps,
                       keyframe_width=plan.width, keyframe_height=plan.height,
                       **{k: v for k, v in plan.changes.items() if k != "steps"})
    ctx.progress(1, 1, plan.summary())
    log.info("time budget %.0f min: %s", c.time_budget, plan.summary())
    return plan, config
