"""Stable Video Diffusion motion (``auto``, SVD where it fits and Ken Burns elsewhere,
lives in :mod:`musicvid.defaults.auto_motion`).

``svd`` animates each keyframe with ``StableVideoDiffusionPipeline`` (default
``stabilityai/stable-video-diffusion-img2vid-xt-1-1``; any hub id or folder through
``--svd-model`` / ``MUSICVID_SVD_MODEL``). The section's energy sets how much it moves
(``motion_bucket_id`` and the noise augmentation). The generated frames are time-warped
by frame blending to exactly the shot's frame count at the output fps and cover-resized
to the output size. A shot much longer than the generated clip plays the clip at its
natural speed, then continues as a Ken Burns move from its last frame (the hybrid).
Shots the storyboard marks ``"kind": "kenburns"`` stay Ken Burns.

Stage options (``--option svd_steps=12``; all optional):

========================  ==========================================================
``svd_model``             the model: ``--svd-model`` as an option (the option wins)
``svd_steps``             diffusion steps (25)
``svd_frames``            frames generated per shot (the model's default: 25 for XT)
``svd_fps``               the fps the clip is generated for (7); also its natural speed
``svd_width/height``      generation size (default: the output's aspect, <= 1024×576)
``svd_decode_chunk_size`` frames decoded at once by the VAE (auto: by free GPU memory)
``svd_offload``           auto, none, model, sequential (CPU offload for small GPUs)
``svd_hybrid``            SVD then Ken Burns for long shots (true)
``svd_hybrid_after``      ... when the shot is longer than this × the clip (1.5)
``svd_motion_bucket``     fix ``motion_bucket_id`` (default: 48 + 160 × energy)
``svd_noise_aug``         fix the noise augmentation (default: 0.02 + 0.06 × energy)
``svd_budget``            auto: seconds of SVD generation per render (0 = no limit)
``svd_min_vram_gb``       auto: the least total GPU memory to try SVD (8)
``svd_min_shot``          auto: shots shorter than this many seconds stay Ken Burns (0.75)
========================  ==========================================================
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._options import (
    config_option,
    non_negative_float,
    non_negative_int,
    option_table,
    parse_bool,
    parse_stage_options,
    positive_int,
    stage_option,
)
from .._torch import dtype_kwargs, require_diffusers, require_torch, resolve_device, torch_dtype
from .._video import cover_resize
from ..config import DEFAULT_SVD_MODEL
from ..errors import RenderCancelled
from ..hookspecs import hookimpl
from ..protocols import StageContext
from ..stages import MotionGeneratorBase
from ..types import Analysis, Clip, Keyframe, Shot, Storyboard
from ._model_cache import MAX_LOADED, cached_load, place
from .kenburns_motion import (
    KenBurnsMotion,
    KenBurnsRenderer,
    choose_backend,
    kenburns_path,
    pulse_envelope,
)
from .retime import pulsed, retimed_frames, time_warp

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["SVDMotion", "SVDOptions", "load_svd", "svd_options", "svd_size", "time_warp"]

log = logging.getLogger(__name__)

_PIPELINES: OrderedDict[tuple[str, str, str, str], Any] = OrderedDict()
_LOCK = threading.Lock()
MAX_AREA = 1024 * 576  # what SVD was trained at


def _byte(value: object) -> int:
    v = int(str(value), 10)
    if not 1 <= v <= 255:
        raise ValueError(value)
    return v


@dataclass(frozen=True)
class SVDOptions:
    """``--option svd_steps=12`` ...; the ones marked ``key=False`` change how the frames
    are made (memory, time), not what they are, and stay out of the cache keys (``model``,
    the ``--svd-model`` field, is keyed by :meth:`SVDMotion.cache_key_parts`)."""

    model: str = config_option("svd_model", key=False)
    steps: int = stage_option(25, positive_int, "a positive integer", help="diffusion steps")
    frames: int = stage_option(0, non_negative_int,
                               "a positive integer (0: the model's default)")
    fps: int = stage_option(7, positive_int, "a positive integer")
    width: int = stage_option(0, non_negative_int, "a multiple of 8 (0: automatic)")
    height: int = stage_option(0, non_negative_int, "a multiple of 8 (0: automatic)")
    decode_chunk_size: int = stage_option(0, non_negative_int,
                                          "a positive integer (0: automatic)", key=False)
    offload: str = stage_option("auto", choices=("auto", "none", "model", "sequential"),
                                key=False)
    hybrid: bool = stage_option(True, parse_bool, "true or false")
    hybrid_after: float = stage_option(1.5, non_negative_float, "a number, e.g. 1.5")
    motion_bucket: int = stage_option(0, _byte, "an integer from 1 to 255")
    noise_aug: float = stage_option(-1.0, non_negative_float, "a number, e.g. 0.02")
    budget: float = stage_option(0.0, non_negative_float, "seconds (0: no limit)", key=False)
    min_vram_gb: float = stage_option(8.0, non_negative_float, "gigabytes", key=False)
    min_shot: float = stage_option(0.75, non_negative_float, "seconds", key=False)


OPTIONS = option_table(SVDOptions)


def svd_options(ctx: StageContext) -> dict[str, Any]:
    """The ``svd_*`` options over their defaults (``model``: over ``--svd-model``)."""
    return asdict(parse_stage_options(ctx.config.options, "svd", SVDOptions, ctx.config))


def svd_size(width: int, height: int, max_area: int = MAX_AREA) -> tuple[int, int]:
    """The generation size for an output of width×height: same aspect, at most
    ``max_area`` pixels, multiples of 64 (of 8 for tiny outputs)."""
    area = min(width * height, max_area)
    gw = math.sqrt(area * width / height)
    gh = gw * height / width
    m = 64 if min(gw, gh) >= 256 else 8
    return max(m, int(round(gw / m)) * m), max(m, int(round(gh / m)) * m)


def _has_fp16_files(model: str) -> bool:
    local = Path(model).expanduser()
    if local.is_dir():
        return any(local.rglob("*.fp16.safetensors"))
    return True  # hub models of the SVD family publish fp16 variants


def load_svd(model: str, device: str, dtype_name: str, offload: str = "none") -> Any:
    """Load (once per process, LRU) a ``StableVideoDiffusionPipeline`` from an id or folder."""
    torch = require_torch("motion", "svd")
    device = resolve_device(device)
    dtype = torch_dtype(dtype_name, device)
    if not device.startswith("cuda"):
        offload = "none"
    key = (model, device, str(dtype), offload)
    return cached_load(_PIPELINES, _LOCK, key, lambda: _load_uncached(
        model, device, dtype, offload), most=MAX_LOADED, torch=torch)


def _load_uncached(model: str, device: str, dtype: Any, offload: str) -> Any:
    torch = require_torch("motion", "svd")
    diffusers = require_diffusers("motion", "svd")
    t0 = time.perf_counter()
    kwargs: dict[str, Any] = dtype_kwargs(dtype, diffusers)
    if dtype == torch.float16 and _has_fp16_files(model):
        kwargs["variant"] = "fp16"
    try:
        try:
            pipe = diffusers.StableVideoDiffusionPipeline.from_pretrained(model, **kwargs)
        except (OSError, ValueError) as exc:
            if "variant" not in kwargs or "variant" not in str(exc).lower():
                raise
            kwargs.pop("variant")
            pipe = diffusers.StableVideoDiffusionPipeline.from_pretrained(model, **kwargs)
    except Exception as exc:  # hub, file system and config errors all land here
        from .sdxl_keyframes import model_load_error

        raise model_load_error(model, "SVD", "--svd-model", "MUSICVID_SVD_MODEL", exc,
                               gated=model == DEFAULT_SVD_MODEL) from exc
    pipe.set_progress_bar_config(disable=True)
    place(pipe, device, offload)
    log.info("loaded SVD %s on %s (%s, offload %s) in %.1fs", model, device, dtype,
             offload, time.perf_counter() - t0)
    return pipe


def cuda_memory(torch: Any) -> tuple[float, float]:
    """(free, total) GPU memory in GiB."""
    free, total = torch.cuda.mem_get_info()
    return free / 2**30, total / 2**30


def kenburns_clip(keyframe: Keyframe, shot: Shot, storyboard: Storyboard,
                   analysis: Analysis, ctx: StageContext, reason: str) -> Clip:
    clip = KenBurnsMotion().animate(keyframe, shot, storyboard, analysis, ctx)
    clip.meta.update({"cache": False, "fallback": reason})  # cheap to redo; never cached
    return clip


class SVDMotion(MotionGeneratorBase):
    """Image-to-video with Stable Video Diffusion, time-warped to the shot."""

    name = "svd"
    cacheable = True
    Options = SVDOptions

    def cache_key_parts(self, ctx: StageContext) -> dict[str, Any]:
        c = ctx.config
        opts = svd_options(ctx)
        # how the frames are made (not how they are loaded: offload, chunking)
        made = {k: opts[k] for k in ("steps", "frames", "fps", "width", "height", "hybrid",
                                     "hybrid_after", "motion_bucket", "noise_aug")}
        return {"model": opts["model"], "dtype": c.dtype, "v": 1, **made}

    def preflight(self, ctx: StageContext) -> None:
        model = svd_options(ctx)["model"]
        require_diffusers("motion", self.name)
        local = Path(model).expanduser()
        if local.exists() and not (local / "model_index.json").is_file():
            from .sdxl_keyframes import model_load_error

            raise model_load_error(model, "SVD", "--svd-model", "MUSICVID_SVD_MODEL",
                                   FileNotFoundError(f"no model_index.json in {local}"))

    # -- generation ------------------------------------------------------------------------
    def generation_size(self, ctx: StageContext, storyboard: Storyboard) -> tuple[int, int]:
        opts = svd_options(ctx)
        gw, gh = svd_size(storyboard.width, storyboard.height)
        return (opts["width"] // 8 * 8 or gw), (opts["height"] // 8 * 8 or gh)

    def conditioning(self, shot: Shot, storyboard: Storyboard, analysis: Analysis,
                     ctx: StageContext) -> dict[str, Any]:
        """``motion_bucket_id`` and ``noise_aug_strength`` from the section's energy."""
        opts = svd_options(ctx)
        section = analysis.section_at(storyboard.time_of(shot.start_frame))
        energy = section.energy if section is not None else shot.energy
        energy = min(1.0, max(0.0, float(energy)))
        bucket = opts["motion_bucket"] or int(round(48 + 160 * energy))
        noise = opts["noise_aug"] if opts["noise_aug"] >= 0 else 0.02 + 0.06 * energy
        return {"motion_bucket_id": max(1, min(255, bucket)),
                "noise_aug_strength": round(noise, 4)}

    def _offload(self, ctx: StageContext, opts: dict[str, Any]) -> str:
        mode = opts["offload"]
        if getattr(ctx.config, "cpu_offload", False) and mode == "auto":
            return "model"
        if mode != "auto":
            return mode
        device = resolve_device(ctx.config.device)
        if not device.startswith("cuda"):
            return "none"
        free, _ = cuda_memory(require_torch("motion", self.name))
        return "model" if free < 20 else "none"

    def _decode_chunk(self, ctx: StageContext, opts: dict[str, Any], frames: int) -> int:
        if opts["decode_chunk_size"]:
            return int(opts["decode_chunk_size"])
        device = resolve_device(ctx.config.device)
        if not device.startswith("cuda"):
            return min(frames, 8)
        free, _ = cuda_memory(require_torch("motion", self.name))
        return frames if free >= 40 else (8 if free >= 16 else 2)

    def generate(self, keyframe: Keyframe, shot: Shot, storyboard: Storyboard,
                 analysis: Analysis, ctx: StageContext) -> np.ndarray:
        """The generated frames, ``(n, gen_h, gen_w, 3)`` uint8."""
        import numpy as np
        from PIL import Image

        torch = require_torch("motion", self.name)
        c = ctx.config
        opts = svd_options(ctx)
        pipe = load_svd(opts["model"], c.device, c.dtype, self._offload(ctx, opts))
        gw, gh = self.generation_size(ctx, storyboard)
        n_frames = opts["frames"] or int(pipe.unet.config.num_frames)
        image = Image.fromarray(cover_resize(keyframe.image, gw, gh))
        cond = self.conditioning(shot, storyboard, analysis, ctx)
        steps = opts["steps"]
        total_shots = len(storyboard.shots)

        def on_step(pipeline: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            if ctx.is_cancelled():
                raise RenderCancelled("render cancelled", stage=ctx.stage or "motion")
            ctx.progress(shot.index, total_shots,
                         f"shot {shot.index + 1}: SVD step {step + 1}/{steps}")
            return kwargs

        t0 = time.perf_counter()
        with torch.inference_mode():
            out = pipe(image, height=gh, width=gw, num_frames=n_frames,
                       num_inference_steps=steps, fps=opts["fps"],
                       decode_chunk_size=self._decode_chunk(ctx, opts, n_frames),
                       generator=torch.Generator("cpu").manual_seed(shot.seed),
                       output_type="np", callback_on_step_end=on_step, **cond)
        frames = np.asarray(out.frames[0])
        log.info("SVD shot %d: %d frames at %dx%d in %.1fs (%s)", shot.index, len(frames),
                 gw, gh, time.perf_counter() - t0, cond)
        return (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    # -- the clip --------------------------------------------------------------------------
    def animate(self, keyframe: Keyframe, shot: Shot, storyboard: Storyboard,
                analysis: Analysis, ctx: StageContext) -> Clip:
        if isinstance(shot.motion, dict) and shot.motion.get("kind") == "kenburns":
            return kenburns_clip(keyframe, shot, storyboard, analysis, ctx, "kind kenburns")
        generated = self.generate(keyframe, shot, storyboard, analysis, ctx)
        return self.clip_from_frames(generated, keyframe, shot, storyboard, analysis, ctx)

    def clip_from_frames(self, generated: np.ndarray, keyframe: Keyframe, shot: Shot,
                         storyboard: Storyboard, analysis: Analysis, ctx: StageContext) -> Clip:
        """The shot's clip from generated frames: time-warped, resized, pulsed, and (for a
        long shot with the hybrid on) continued as Ken Burns from the last frame."""
        import numpy as np

        opts = svd_options(ctx)
        w, h = storyboard.width, storyboard.height
        fps = float(storyboard.fps)
        n_out = shot.frame_count
        natural = max(1, int(round(len(generated) / opts["fps"] * fps)))
        n_svd = n_out
        if opts["hybrid"] and n_out > opts["hybrid_after"] * natural:
            n_svd = natural
        pulse = pulse_envelope(shot, analysis, fps)
        warp = time_warp(len(generated), n_svd)
        backend, device = choose_backend(ctx)

        def frames() -> Iterator[np.ndarray]:
            last = None
            for i, frame in enumerate(retimed_frames(generated, warp, w, h)):
                last = frame
                yield pulsed(frame, float(pulse[i]))
            if n_svd == n_out:
                return
            # the hybrid: a Ken Burns move that starts exactly on the last SVD frame
            rest = _tail_shot(shot, n_svd)
            path = kenburns_path(rest, analysis, storyboard, zoom_in=True)
            renderer = KenBurnsRenderer(np.ascontiguousarray(last), w, h, overscan=1.0,
                                        backend=backend, device=device)
            yield from renderer.rgb(path)

        return Clip(n_out, w, h, frames, meta={"motion": self.name, "generated": len(generated),
                                                "svd_frames": n_svd, "cache": True})


def _tail_shot(shot: Shot, offset: int) -> Shot:
    """The part of ``shot`` from frame ``offset`` on, as a shot of its own."""
    motion = dict(shot.motion) if isinstance(shot.motion, dict) else {}
    if motion.get("pulses") is not None:
        motion["pulses"] = [[int(f) - offset, s] for f, s in motion["pulses"]
                            if int(f) - offset >= -1]
    return replace(shot, start_frame=shot.start_frame + offset, motion=motion)


@hookimpl
def register_motion_generators(register):  # type: ignore[no-untyped-def]
    register(SVDMotion)
