"""Image-to-video motion from any diffusers i2v model: ``--motion i2v --video-model ID|DIR``.

The model's family is read from its ``model_index.json`` (``_class_name``) and its
defaults come from one table, :data:`FAMILIES`: native fps, frames per clip and their
rule (Wan and CogVideoX make 4k+1 frames, LTX-Video 8k+1), resolution buckets, steps,
guidance and negative prompt. The shot's prompt, plus motion words from its energy,
conditions each clip; the keyframe is its first frame.

**Shots of any length, at the model's speed.** A shot longer than one clip is made of
segments, each starting from the previous segment's last frame (the chain), so nothing is
played in slow motion: the frames are retimed from the model's native fps to the video's,
stretched by at most ``i2v_max_warp`` (1.25×) when that saves a segment, otherwise played
at their own speed and trimmed. The clip has exactly the shot's frames;
``clip.meta["source_frames"]`` holds, per output frame, its position in the chained source
frames and ``clip.meta["segments"]`` the segments.

**Morph transitions.** With ``--transition morph`` (or a storyboard shot marked
``"transition": "morph"``), a shot whose next shot starts a new section ends with a segment
conditioned on both its own last frame and the next shot's keyframe (Wan's first-last-frame
conditioning, LTX-Video's keyframe conditions), so the cut becomes a passage.

**SVD** is a family too: a Stable Video Diffusion model is animated by the ``svd`` stage.

**Memory.** Before a video model loads on a GPU, the keyframe models are released; VAE
tiling and slicing are on and CPU offload is chosen by free memory (``i2v_offload``). A
shot that runs out of GPU memory falls back to Ken Burns and says so in
``clip.meta["fallback"]`` (and the render's ``stats["motion_fallbacks"]``).

Stage options (``--option i2v_steps=8``):

==========================  ========================================================
``i2v_steps``               denoising steps (0: the family's)
``i2v_guidance``            guidance scale (-1: the family's)
``i2v_frames``              frames per segment (0: the family's); snapped to its rule
``i2v_fps``                 the model's native fps (0: the family's)
``i2v_width/height``        generation size (0: the family bucket nearest the aspect)
``i2v_max_warp``            most time-stretch allowed to save a segment (1.25)
``i2v_max_segments``        segments per shot at most; longer shots stretch (8)
``i2v_motion_words``        add motion words from the energy to the prompt (true)
``i2v_offload``             auto, none, model, sequential
``i2v_vae_tiling``          auto (on a GPU), true, false
``i2v_release``             auto (on a GPU), always, never: free the keyframe models first
``i2v_fallback``            Ken Burns for a shot that runs out of GPU memory (true)
==========================  ========================================================
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .._options import non_negative_float, non_negative_int, parse_bool, positive_int, stage_option
from .._torch import is_out_of_memory, require_diffusers, require_torch, resolve_device
from .._video import cover_resize
from ..errors import ModelLoadError, RenderCancelled
from ..hookspecs import hookimpl
from ..protocols import StageContext
from ..stages import MotionGeneratorBase
from ..types import Analysis, Clip, Keyframe, Shot, Storyboard
from .i2v_models import (  # noqa: F401 - the family table and loaders, re-exported
    _LOCK,
    _PIPELINES,
    FAMILIES,
    MAX_LOADED,
    Family,
    SegmentPlan,
    _even_multiple,
    _replanned,
    bucket_size,
    family_of,
    forget_pipelines,
    load_i2v,
    motion_words,
    plan_segments,
    read_component_config,
    read_model_index,
    release_keyframe_models,
    snap_frames,
)
from .i2v_segment import _ltx_condition, run_segment  # noqa: F401 - the call, re-exported
from .kenburns_motion import KenBurnsOptions, pulse_envelope
from .retime import pulsed, retimed_frames, warp_at
from .svd_motion import SVDMotion, SVDOptions, kenburns_clip

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["FAMILIES", "Family", "I2VMotion", "I2VOptions", "SegmentPlan", "family_of",
           "forget_pipelines", "load_i2v", "motion_words", "plan_segments", "snap_frames"]

log = logging.getLogger(__name__)

def _warp(value: object) -> float:
    v = float(str(value))
    if not 1.0 <= v <= 4.0:
        raise ValueError(value)
    return v


@dataclass(frozen=True)
class I2VOptions:
    """``--option i2v_steps=8`` ...; ``key=False`` ones change how, not what, is made."""

    steps: int = stage_option(0, non_negative_int, "a positive integer (0: the family's)")
    guidance: float = stage_option(-1.0, non_negative_float,
                                   "a number >= 0 (default: the family's)")
    frames: int = stage_option(0, non_negative_int, "frames per segment (0: the family's)")
    fps: int = stage_option(0, non_negative_int, "the model's native fps (0: the family's)")
    width: int = stage_option(0, non_negative_int, "pixels (0: the family's bucket)")
    height: int = stage_option(0, non_negative_int, "pixels (0: the family's bucket)")
    max_warp: float = stage_option(1.25, _warp, "a number from 1 to 4, e.g. 1.25")
    max_segments: int = stage_option(8, positive_int, "a positive integer")
    motion_words: bool = stage_option(True, parse_bool, "true or false")
    offload: str = stage_option("auto", choices=("auto", "none", "model", "sequential"),
                                key=False)
    vae_tiling: str = stage_option("auto", choices=("auto", "true", "false"), key=False)
    release: str = stage_option("auto", choices=("auto", "always", "never"), key=False)
    fallback: bool = stage_option(True, parse_bool, "true or false", key=False)


class I2VMotion(MotionGeneratorBase):
    """Image-to-video with any diffusers i2v family, chained and retimed to the shot."""

    name = "i2v"
    version = 1
    cacheable = True
    option_prefixes = {"i2v": I2VOptions, "svd": SVDOptions, "kenburns": KenBurnsOptions}

    def __init__(self) -> None:
        self.svd = SVDMotion()
        self._families: dict[str, Family] = {}

    # -- configuration ---------------------------------------------------------------------
    def opts(self, ctx: StageContext) -> I2VOptions:
        return self.options(ctx, "i2v")

    def family(self, ctx: StageContext) -> Family:
        model = ctx.config.video_model
        if model not in self._families:
            self._families[model] = family_of(model)
        return self._families[model]

    def preflight(self, ctx: StageContext) -> None:
        super().preflight(ctx)
        require_diffusers("motion", self.name)
        self.family(ctx)  # an unknown or missing model fails before any work

    def cache_key_parts(self, ctx: StageContext) -> dict[str, Any]:
        c = ctx.config
        o = self.opts(ctx)
        made = {f.name: getattr(o, f.name) for f in dataclasses.fields(o)
                if f.metadata.get("key", True)}  # what is made, not how it is loaded
        return {"model": c.video_model, "dtype": c.dtype, "transition": c.transition, **made}

    def clip_key_parts(self, shot: Shot, storyboard: Storyboard, keys: dict[int, str],
                       ctx: StageContext) -> dict[str, Any]:
        """Per shot: a morphing shot depends on the next shot's keyframe too."""
        nxt = self.morph_target(shot, storyboard, ctx)
        return {"morph_to": keys[nxt.index]} if nxt is not None else {}

    def morph_target(self, shot: Shot, storyboard: Storyboard, ctx: StageContext
                     ) -> Shot | None:
        """The next shot, when this shot should morph into its keyframe."""
        if shot.index + 1 >= len(storyboard.shots):
            return None
        nxt = storyboard.shots[shot.index + 1]
        marked = nxt.transition == "morph" or (
            ctx.config.transition == "morph" and nxt.transition == "cut"
            and nxt.section_index != shot.section_index)
        if not marked:
            return None
        try:
            fam = self.family(ctx)
        except ModelLoadError:
            return None
        return nxt if fam.morph is not None else None

    def settings(self, ctx: StageContext, storyboard: Storyboard, pipe: Any = None
                 ) -> dict[str, Any]:
        """The effective generation settings: the options over the family's defaults (and
        what the loaded model fixes, such as CogVideoX's one trained size)."""
        fam = self.family(ctx)
        o = self.opts(ctx)
        t_cfg = getattr(getattr(pipe, "transformer", None), "config", None)
        for attr, changes in fam.variants:
            if t_cfg is not None and getattr(t_cfg, attr, None):
                fam = replace(fam, **changes)
        w, h = bucket_size(fam, storyboard.width, storyboard.height)
        if o.width and o.height:
            w, h = o.width, o.height
        elif o.width or o.height:  # one side given: keep the output's aspect
            a = storyboard.width / storyboard.height
            w, h = (o.width, o.width / a) if o.width else (o.height * a, o.height)
        w, h = _even_multiple(w, fam.multiple if fam.name != "svd" else 8), \
            _even_multiple(h, fam.multiple if fam.name != "svd" else 8)
        seq = None
        if t_cfg is not None:
            if getattr(t_cfg, "use_learned_positional_embeddings", False):
                scale = getattr(pipe, "vae_scale_factor_spatial", 8)
                w, h = int(t_cfg.sample_width) * scale, int(t_cfg.sample_height) * scale
            seq = getattr(t_cfg, "max_text_seq_length", None)
        frames = snap_frames(o.frames or fam.frames, fam.step)
        return {"family": fam, "width": int(w), "height": int(h), "frames": frames,
                "fps": o.fps or fam.fps, "steps": o.steps or fam.steps,
                "guidance": fam.guidance if o.guidance < 0 else o.guidance,
                "max_sequence_length": seq}

    def _device_settings(self, ctx: StageContext, fam: Family) -> tuple[str, str, str, bool]:
        c = ctx.config
        o = self.opts(ctx)
        device = resolve_device(c.device)
        cuda = device.startswith("cuda")
        dtype = (fam.dtype if c.dtype == "float16" else c.dtype) if cuda else "float32"
        offload = o.offload
        if offload == "auto":
            offload = "none"
            if cuda:
                torch = require_torch("motion", self.name)
                free = torch.cuda.mem_get_info()[0] / 2**30
                offload = "model" if (c.cpu_offload or free < fam.vram_gb) else "none"
        tiling = cuda if o.vae_tiling == "auto" else o.vae_tiling == "true"
        return device, dtype, offload, tiling

    def pipeline(self, ctx: StageContext) -> Any:
        fam = self.family(ctx)
        torch = require_torch("motion", self.name)
        o = self.opts(ctx)
        device, dtype, offload, tiling = self._device_settings(ctx, fam)
        if o.release == "always" or (o.release == "auto" and device.startswith("cuda")):
            released = release_keyframe_models(torch)
            if released:
                msg = f"released {', '.join(released)} before loading the video model"
                log.info(msg)
                ctx.progress(0, 1, msg)
        return load_i2v(ctx.config.video_model, fam, device, dtype, offload, tiling)

    # -- generation ------------------------------------------------------------------------
    def prompt(self, shot: Shot, ctx: StageContext) -> str:
        if not self.opts(ctx).motion_words:
            return shot.prompt
        words = motion_words(min(1.0, max(0.0, float(shot.energy))))
        return f"{shot.prompt}, {words}" if shot.prompt else words

    def negative(self, shot: Shot, fam: Family) -> str:
        return ", ".join(p for p in (shot.negative_prompt, fam.negative) if p)

    def segment(self, pipe: Any, s: dict[str, Any], first: Any, frames: int, shot: Shot,
                ctx: StageContext, seed: int, last: Any = None, label: str = "") -> np.ndarray:
        """One segment: ``frames`` frames from the PIL image ``first`` (to ``last`` when
        given), ``(frames, h, w, 3)`` uint8."""
        fam: Family = s["family"]
        steps = s["steps"]

        def on_step(pipeline: Any, step: int, timestep: Any, kw: dict[str, Any]) -> dict[str, Any]:
            if ctx.is_cancelled():
                raise RenderCancelled("render cancelled", stage=ctx.stage or "motion")
            ctx.progress(shot.index, ctx.extra.get("shots", shot.index + 1),
                         f"shot {shot.index + 1}{label}: {fam.label} step {step + 1}/{steps}")
            return kw

        return run_segment(pipe, s, first, frames, prompt=self.prompt(shot, ctx),
                           negative=self.negative(shot, fam), seed=seed, on_step=on_step,
                           last=last)

    def generate(self, keyframe: Keyframe, shot: Shot, storyboard: Storyboard,
                 analysis: Analysis, ctx: StageContext) -> tuple[np.ndarray, SegmentPlan, list[dict[str, Any]]]:
        """The chained source frames of ``shot``, its plan and what each segment was."""
        import numpy as np
        from PIL import Image

        pipe = self.pipeline(ctx)
        s = self.settings(ctx, storyboard, pipe)
        o = self.opts(ctx)
        plan = plan_segments(shot.frame_count, float(storyboard.fps), s["fps"], s["frames"],
                             s["family"].step, o.max_warp, o.max_segments)
        nxt = self.morph_target(shot, storyboard, ctx)
        target = None
        if nxt is not None:
            keyframe_of = ctx.extra.get("keyframe_of")
            if keyframe_of is not None:
                target = Image.fromarray(cover_resize(keyframe_of(nxt).image, s["width"],
                                                      s["height"]))
        first = Image.fromarray(cover_resize(keyframe.image, s["width"], s["height"]))
        chained: list[np.ndarray] = []
        segments: list[dict[str, Any]] = []
        t0 = time.perf_counter()
        for k, length in enumerate(plan.lengths):
            ctx.check_cancelled()
            is_last = k == len(plan.lengths) - 1
            last = target if is_last else None
            video = self.segment(pipe, s, first, length, shot, ctx, shot.seed + k, last,
                                 f" segment {k + 1}/{len(plan.lengths)}")
            if len(video) < 2:
                raise ModelLoadError(f"the video model made {len(video)} frames for a "
                                     f"{length}-frame segment", stage="motion", plugin=self.name)
            start = 0 if not chained else sum(len(c) for c in chained) - 1
            segments.append({"start": start, "frames": len(video),
                             "from": "keyframe" if k == 0 else "previous",
                             "to": "next keyframe" if last is not None else None})
            chained.append(video if not chained else video[1:])  # its first = previous last
            first = Image.fromarray(video[-1])
        source = np.concatenate(chained) if len(chained) > 1 else chained[0]
        if len(source) != plan.total:  # the model rounded a length its own way: replan
            plan = _replanned(plan, len(source), shot.frame_count, float(storyboard.fps),
                              s["fps"])
        log.info("i2v shot %d: %s, %d segments, %d frames at %dx%d in %.1fs", shot.index,
                 s["family"].name, len(segments), len(source), s["width"], s["height"],
                 time.perf_counter() - t0)
        return source, plan, segments

    def animate(self, keyframe: Keyframe, shot: Shot, storyboard: Storyboard,
                analysis: Analysis, ctx: StageContext) -> Clip:
        kind = shot.motion.get("kind") if isinstance(shot.motion, dict) else None
        if kind == "kenburns":
            return kenburns_clip(keyframe, shot, storyboard, analysis, ctx, "kind kenburns")
        fam = self.family(ctx)
        if fam.name == "svd":  # the SVD family is the svd stage's
            options = {k: v for k, v in ctx.config.options.items() if k != "svd_model"}
            config = replace(ctx.config, svd_model=ctx.config.video_model, options=options)
            svd_ctx = StageContext(config, ctx.stage, ctx.progress_callback, ctx.is_cancelled,
                                   ctx.extra)
            clip = self.svd.animate(keyframe, shot, storyboard, analysis, svd_ctx)
            clip.meta["family"] = "svd"
            return clip
        torch = require_torch("motion", self.name)
        try:
            source, plan, segments = self.generate(keyframe, shot, storyboard, analysis, ctx)
        except RenderCancelled:
            raise
        except Exception as exc:
            if not (is_out_of_memory(torch, exc) and self.opts(ctx).fallback):
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            first = str(exc).splitlines()[0] if str(exc) else "out of memory"
            msg = (f"warning: shot {shot.index + 1}: {fam.label} ran out of GPU memory "
                   f"({first}); Ken Burns instead")
            log.warning(msg)
            ctx.progress(shot.index, len(storyboard.shots), msg)
            return kenburns_clip(keyframe, shot, storyboard, analysis, ctx, "out of GPU memory")
        morph_wanted = self.morph_target(shot, storyboard, ctx) is not None
        clip = self.clip_from_source(source, plan, shot, storyboard, analysis)
        clip.meta.update(family=fam.name, segments=segments, native_fps=plan.native_fps,
                         morph=bool(segments and segments[-1]["to"]))
        if morph_wanted and not clip.meta["morph"]:
            clip.meta["cache"] = False  # the next keyframe was not at hand: do not keep it
        return clip

    def clip_from_source(self, source: np.ndarray, plan: SegmentPlan, shot: Shot,
                         storyboard: Storyboard, analysis: Analysis) -> Clip:
        """Exactly the shot's frames: the source retimed along ``plan.positions``, cover-
        resized to the output and pulsed on the beats."""
        w, h = storyboard.width, storyboard.height
        warp = warp_at(plan.positions, len(source))
        pulse = pulse_envelope(shot, analysis, float(storyboard.fps))

        def frames() -> Iterator[np.ndarray]:
            for i, frame in enumerate(retimed_frames(source, warp, w, h)):
                yield pulsed(frame, float(pulse[i]))

        return Clip(shot.frame_count, w, h, frames, meta={
            "motion": self.name, "source_frames": [round(float(p), 4) for p in plan.positions],
            "generated": int(len(source)), "stretch": round(plan.stretch, 4), "cache": True})


@hookimpl
def register_motion_generators(register):  # type: ignore[no-untyped-def]
    register(I2VMotion)
