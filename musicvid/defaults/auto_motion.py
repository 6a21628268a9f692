"""``auto`` motion: Stable Video Diffusion where it fits, Ken Burns elsewhere.

``auto`` uses SVD for the shots that fit the GPU's memory and the time budget (the
highest-energy shots first) and Ken Burns for the rest; the ``cpu`` profile never uses
SVD. A CUDA out-of-memory error falls back to Ken Burns for that shot, with a warning in
the progress stream. It takes the ``svd_*`` and ``kenburns_*`` options
(:mod:`musicvid.defaults.svd_motion`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from .._torch import require_torch
from ..config import Profile
from ..hookspecs import hookimpl
from ..protocols import StageContext
from ..stages import MotionGeneratorBase
from ..types import Analysis, Clip, Keyframe, Shot, Storyboard
from .kenburns_motion import KenBurnsOptions
from .svd_motion import SVDMotion, SVDOptions, cuda_memory, kenburns_clip, svd_options

__all__ = ["AutoMotion", "AutoState"]

log = logging.getLogger(__name__)


@dataclass
class AutoState:
    """What ``auto`` counts during one render: SVD seconds spent, clips made, OOMs."""

    spent: float = 0.0
    made: int = 0
    ooms: int = 0


class AutoMotion(MotionGeneratorBase):
    """SVD for the shots that fit the GPU and the time budget, Ken Burns for the rest.

    The stage object holds no per-render state (a server shares it between jobs): the
    budget and OOM counts live in the render's context, see :meth:`state`.
    """

    name = "auto"
    cacheable = True  # SVD clips are cached; Ken Burns ones say ``cache: False``
    option_prefixes = {"svd": SVDOptions, "kenburns": KenBurnsOptions}
    STATE_KEY = "motion.auto.state"

    def __init__(self) -> None:
        self.svd = SVDMotion()

    def state(self, storyboard: Storyboard, ctx: StageContext) -> AutoState:
        """This render's counters, kept in ``ctx.extra`` beside the storyboard they are
        for: a new storyboard (the next render through the same context) starts afresh."""
        held = ctx.extra.get(self.STATE_KEY)
        if held is None or held[0] is not storyboard:
            held = (storyboard, AutoState())
            ctx.extra[self.STATE_KEY] = held
        return held[1]

    def cache_key_parts(self, ctx: StageContext) -> dict[str, Any]:
        return self.svd.cache_key_parts(ctx)

    def preflight(self, ctx: StageContext) -> None:
        svd_options(ctx)
        ok, _ = self.svd_possible(ctx)
        if ok:
            self.svd.preflight(ctx)

    def svd_possible(self, ctx: StageContext) -> tuple[bool, str]:
        """Whether this render can use SVD at all, and why not."""
        c = ctx.config
        if c.profile is Profile.CPU:
            return False, "the cpu profile never uses SVD"
        if not c.device.startswith("cuda"):
            return False, f"device {c.device} is not a CUDA GPU"
        try:
            import torch
        except ImportError:
            return False, "torch is not installed"
        if not torch.cuda.is_available():
            return False, "no CUDA GPU is available"
        _, total = cuda_memory(torch)
        need = svd_options(ctx)["min_vram_gb"]
        if total < need:
            return False, f"the GPU has {total:.1f} GiB, SVD needs {need:g}"
        return True, ""

    def _fits_budget(self, shot: Shot, storyboard: Storyboard, ctx: StageContext,
                     state: AutoState) -> bool:
        opts = svd_options(ctx)
        kind = shot.motion.get("kind", "auto") if isinstance(shot.motion, dict) else "auto"
        if kind == "svd":
            return True
        if storyboard.time_of(shot.frame_count) < opts["min_shot"]:
            return False
        budget = opts["budget"]
        if budget <= 0:
            return True
        estimate = state.spent / state.made if state.made else 60.0
        slots = int((budget - state.spent) // max(estimate, 1e-6))
        if slots <= 0:
            return False
        # the highest-energy shots still to come get the slots that are left
        rivals = [s for s in storyboard.shots if s.index >= shot.index
                  and (not isinstance(s.motion, dict) or s.motion.get("kind", "auto") == "auto")
                  and storyboard.time_of(s.frame_count) >= opts["min_shot"]]
        rivals.sort(key=lambda s: (-s.energy, s.index))
        return shot in rivals[:slots]

    def animate(self, keyframe: Keyframe, shot: Shot, storyboard: Storyboard,
                analysis: Analysis, ctx: StageContext) -> Clip:
        state = self.state(storyboard, ctx)
        kind = shot.motion.get("kind", "auto") if isinstance(shot.motion, dict) else "auto"
        if kind == "kenburns":
            return kenburns_clip(keyframe, shot, storyboard, analysis, ctx, "kind kenburns")
        ok, why = self.svd_possible(ctx)
        if not ok:
            return kenburns_clip(keyframe, shot, storyboard, analysis, ctx, why)
        if state.ooms >= 2:
            return kenburns_clip(keyframe, shot, storyboard, analysis, ctx,
                                  "SVD ran out of GPU memory twice")
        if not self._fits_budget(shot, storyboard, ctx, state):
            return kenburns_clip(keyframe, shot, storyboard, analysis, ctx, "over the budget")
        torch = require_torch("motion", self.name)
        t0 = time.perf_counter()
        try:
            generated = self.svd.generate(keyframe, shot, storyboard, analysis, ctx)
        except torch.cuda.OutOfMemoryError as exc:
            state.ooms += 1
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            msg = (f"warning: shot {shot.index + 1}: SVD ran out of GPU memory "
                   f"({str(exc).splitlines()[0] if str(exc) else 'CUDA OOM'}); "
                   "Ken Burns instead")
            log.warning(msg)
            ctx.progress(shot.index, len(storyboard.shots), msg)
            return kenburns_clip(keyframe, shot, storyboard, analysis, ctx, "CUDA out of memory")
        state.spent += time.perf_counter() - t0
        state.made += 1
        return self.svd.clip_from_frames(generated, keyframe, shot, storyboard, analysis, ctx)


@hookimpl
def register_motion_generators(register):  # type: ignore[no-untyped-def]
    register(AutoMotion)
