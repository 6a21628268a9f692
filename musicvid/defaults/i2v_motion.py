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
import gc
import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._options import parse_bool, positive_int, stage_option
from .._torch import dtype_kwargs, require_diffusers, require_torch, resolve_device, torch_dtype
from .._video import cover_resize, cover_resize_array, scale_brightness
from ..errors import ModelLoadError, RenderCancelled
from ..hookspecs import hookimpl
from ..protocols import StageContext
from ..stages import MotionGeneratorBase
from ..types import Analysis, Clip, Keyframe, Shot, Storyboard
from .kenburns_motion import PULSE_GAIN, PULSE_ZOOM, KenBurnsMotion, KenBurnsOptions, pulse_envelope
from .svd_motion import SVDMotion, SVDOptions

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["FAMILIES", "Family", "I2VMotion", "I2VOptions", "SegmentPlan", "family_of",
           "forget_pipelines", "load_i2v", "motion_words", "plan_segments", "snap_frames"]

log = logging.getLogger(__name__)

_PIPELINES: OrderedDict[tuple[str, str, str, str], Any] = OrderedDict()
_LOCK = threading.Lock()
MAX_LOADED = int(os.environ.get("MUSICVID_MAX_LOADED_PIPELINES", "1"))

WAN_NEGATIVE = ("bright tones, overexposed, static, blurred details, subtitles, worst quality, "
                "low quality, JPEG artifacts, ugly, deformed, disfigured, still picture, "
                "messy background, walking backwards")
LTX_NEGATIVE = "worst quality, inconsistent motion, blurry, jittery, distorted"
COG_NEGATIVE = "blurry, low quality, distorted, flickering"


@dataclass(frozen=True)
class Family:
    """What one i2v model family needs and likes (the defaults of ``--motion i2v``)."""

    name: str
    label: str
    classes: tuple[str, ...]  # model_index.json ``_class_name`` values of the family
    pipeline: str  # the diffusers class that animates an image
    fps: int  # native frame rate
    frames: int  # frames per clip by default
    step: int  # frame rule: frames = step·k + 1
    multiple: int  # width and height are multiples of this
    buckets: tuple[tuple[int, int], ...]  # landscape sizes; portrait ones are their swaps
    steps: int
    guidance: float
    negative: str = ""
    morph: str | None = None  # "last_image" (Wan FLF2V), "conditions" (LTX), None
    dtype: str = "bfloat16"  # preferred on a GPU
    vram_gb: float = 24.0  # below this much free memory: CPU offload
    licence: str = ""
    hub_ids: tuple[str, ...] = ()
    call: dict[str, Any] = field(default_factory=dict)  # extra pipeline arguments
    vae_float32: bool = False  # the VAE decodes in float32 on a GPU (Wan's advice)
    # variants told apart by the transformer's config: attribute -> changed defaults
    variants: tuple[tuple[str, dict[str, Any]], ...] = ()
    distilled: tuple[int, float] | None = None  # (steps, guidance) of "...distilled" models


FAMILIES: dict[str, Family] = {
    "wan": Family(
        "wan", "Wan 2.1 / 2.2", ("WanImageToVideoPipeline",), "WanImageToVideoPipeline",
        fps=16, frames=81, step=4, multiple=16, buckets=((832, 480), (624, 624)), steps=40,
        guidance=5.0, negative=WAN_NEGATIVE, morph="last_image", vram_gb=40.0,
        licence="Apache-2.0", vae_float32=True,
        hub_ids=("Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", "Wan-AI/Wan2.1-I2V-14B-720P-Diffusers",
                 "Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers", "Wan-AI/Wan2.2-I2V-A14B-Diffusers")),
    "ltx": Family(
        "ltx", "LTX-Video", ("LTXImageToVideoPipeline", "LTXPipeline", "LTXConditionPipeline"),
        "LTXImageToVideoPipeline", fps=24, frames=97, step=8, multiple=32,
        buckets=((768, 448), (768, 512), (640, 640)), steps=40, guidance=3.0,
        negative=LTX_NEGATIVE, morph="conditions", vram_gb=16.0, distilled=(8, 1.0),
        licence="LTX-Video open weights licence (see the model card)",
        hub_ids=("Lightricks/LTX-Video", "Lightricks/LTX-Video-0.9.7-distilled")),
    "cogvideox": Family(
        "cogvideox", "CogVideoX", ("CogVideoXImageToVideoPipeline",),
        "CogVideoXImageToVideoPipeline", fps=8, frames=49, step=4, multiple=16,
        buckets=((720, 480),), steps=50, guidance=6.0, negative=COG_NEGATIVE, vram_gb=24.0,
        licence="CogVideoX licence (see the model card)",
        hub_ids=("THUDM/CogVideoX-5b-I2V", "THUDM/CogVideoX1.5-5B-I2V"),
        call={"use_dynamic_cfg": True},
        # CogVideoX 1.5 (temporal patches): 16 fps, 81 frames, 1360x768
        variants=(("patch_size_t", {"fps": 16, "frames": 81,
                                    "buckets": ((1360, 768), (768, 768))}),)),
    "hunyuan": Family(
        "hunyuan", "HunyuanVideo image-to-video", ("HunyuanVideoImageToVideoPipeline",),
        "HunyuanVideoImageToVideoPipeline", fps=24, frames=129, step=4, multiple=16,
        buckets=((960, 544), (720, 720)), steps=50, guidance=1.0, vram_gb=60.0,
        licence="Tencent Hunyuan community licence (see the model card)",
        hub_ids=("hunyuanvideo-community/HunyuanVideo-I2V",)),
    "svd": Family(
        "svd", "Stable Video Diffusion", ("StableVideoDiffusionPipeline",),
        "StableVideoDiffusionPipeline", fps=7, frames=25, step=1, multiple=64,
        buckets=((1024, 576),), steps=25, guidance=3.0, dtype="float16", vram_gb=20.0,
        licence="Stability AI community licence",
        hub_ids=("stabilityai/stable-video-diffusion-img2vid-xt-1-1",)),
}


def _class_to_family() -> dict[str, Family]:
    return {cls: fam for fam in FAMILIES.values() for cls in fam.classes}


def read_model_index(model: str) -> dict[str, Any]:
    """The model's ``model_index.json`` (a local folder, or the hub / its cache)."""
    local = Path(model).expanduser()
    if local.is_dir():
        index = local / "model_index.json"
        if not index.is_file():
            raise FileNotFoundError(f"no model_index.json in {local}")
        return json.loads(index.read_text(encoding="utf-8"))
    from huggingface_hub import hf_hub_download

    return json.loads(Path(hf_hub_download(model, "model_index.json")).read_text("utf-8"))


def read_component_config(model: str, component: str) -> dict[str, Any]:
    """``COMPONENT/config.json`` of ``model`` ({} when it cannot be read)."""
    try:
        local = Path(model).expanduser()
        if local.is_dir():
            path = local / component / "config.json"
        else:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(model, f"{component}/config.json"))
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except Exception:  # the pipeline's own loading reports a broken model
        return {}


def family_of(model: str) -> Family:
    """The :class:`Family` of ``model``, from its ``model_index.json``."""
    from .sdxl_keyframes import model_load_error

    try:
        index = read_model_index(model)
    except Exception as exc:
        raise model_load_error(model, "video", "--video-model", "MUSICVID_VIDEO_MODEL",
                               exc) from exc
    name = str(index.get("_class_name", ""))
    fam = _class_to_family().get(name)
    if fam is not None and name == "LTXConditionPipeline":
        fam = replace(fam, pipeline=name)  # LTX-Video 0.9.5+ animates through its conditions
    if fam is not None and fam.distilled and "distilled" in model.lower():
        fam = replace(fam, steps=fam.distilled[0], guidance=fam.distilled[1])
    if fam is not None and fam.morph == "last_image":
        # Wan 2.1 I2V (a CLIP image encoder, no first-last-frame embedding) cannot morph;
        # Wan 2.2 (no image encoder) and Wan 2.1 FLF2V can
        cfg = read_component_config(model, "transformer")
        if cfg.get("image_dim") and not cfg.get("pos_embed_seq_len"):
            fam = replace(fam, morph=None)
    if fam is None:
        known = ", ".join(sorted(_class_to_family()))
        raise ModelLoadError(
            f"{model!r} is a {name or 'pipeline of no known class'}, not an image-to-video "
            f"model musicvid knows (families: {', '.join(FAMILIES)}; pipeline classes: "
            f"{known}). Pass --video-model with one of those.", stage="motion", plugin="i2v")
    return fam


def snap_frames(n: float, step: int, most: int | None = None) -> int:
    """The smallest frame count of the form ``step·k + 1`` (k >= 1) that is >= ``n``,
    at most ``most`` (itself snapped down to the rule)."""
    k = max(1, math.ceil((n - 1) / step - 1e-9))
    if most is not None:
        k = min(k, max(1, (most - 1) // step))
    return step * k + 1


@dataclass(frozen=True)
class SegmentPlan:
    """How a shot is generated: segment lengths (in native frames, each starting on the
    previous segment's last frame) and, per output frame, its source position."""

    lengths: tuple[int, ...]
    positions: tuple[float, ...]
    stretch: float  # >= 1: how much slower than native the source plays
    native_fps: float = 0.0

    @property
    def total(self) -> int:
        """Distinct source frames: the first segment, then each one's new frames."""
        return 1 + sum(n - 1 for n in self.lengths)


def plan_segments(n_out: int, video_fps: float, native_fps: float, clip_frames: int,
                  step: int, max_warp: float = 1.25, max_segments: int = 8) -> SegmentPlan:
    """Segments for a shot of ``n_out`` frames at ``video_fps`` from a model that makes
    ``clip_frames`` (= step·k + 1) frames at ``native_fps``.

    Played at native speed the shot needs ``need`` source frames; stretching by up to
    ``max_warp`` is allowed only where it saves a whole segment. Never faster than native
    (extra frames are trimmed), never more than ``max_segments`` segments (then stretched).
    """
    clip_frames = snap_frames(clip_frames, step)
    ratio = native_fps / video_fps
    need = (n_out - 1) * ratio + 1  # native speed
    least = (n_out - 1) * ratio / max_warp + 1  # stretched as far as allowed
    per = clip_frames - 1

    def count(frames: float) -> int:
        return max(1, math.ceil((frames - 1) / per - 1e-9))

    # stretch only when it saves a segment, and then as little as those segments allow
    segments = min(count(least), max(1, max_segments))
    target = min(need, 1 + per * segments)
    lengths = [clip_frames] * (segments - 1)
    before = 1 + per * (segments - 1)
    last = snap_frames(max(2.0, target - before + 1), step, clip_frames)
    lengths.append(last)
    total = before + last - 1
    stretch = max(1.0, (need - 1) / (total - 1)) if n_out > 1 else 1.0
    positions = tuple(min(total - 1.0, i * ratio / stretch) for i in range(n_out))
    return SegmentPlan(tuple(lengths), positions, stretch, native_fps)


def motion_words(energy: float) -> str:
    """Camera and subject motion words for a shot of ``energy`` (0..1)."""
    if energy < 0.33:
        return "slow gentle camera drift, subtle natural motion"
    if energy < 0.66:
        return "smooth camera movement, natural fluid motion"
    return "dynamic fast camera movement, energetic motion"


def _even_multiple(x: float, m: int) -> int:
    return max(m, int(round(x / m)) * m)


def bucket_size(family: Family, width: int, height: int) -> tuple[int, int]:
    """The family's bucket (landscape, or a portrait swap) nearest the output's aspect."""
    aspect = math.log(width / height)
    candidates = [b for w, h in family.buckets for b in ((w, h), (h, w))]
    return min(candidates, key=lambda b: abs(math.log(b[0] / b[1]) - aspect))


def forget_pipelines() -> None:
    """Drop the loaded video pipelines (frees memory; the next use reloads)."""
    with _LOCK:
        _PIPELINES.clear()


def release_keyframe_models(torch: Any) -> list[str]:
    """Free the keyframe models (SDXL, t2i) and the SVD pipelines before a video model
    loads; returns what was released."""
    released = []
    import importlib

    for modname in ("musicvid.defaults.sdxl_keyframes", "musicvid.defaults.t2i_keyframes",
                    "musicvid.defaults.svd_motion"):
        try:
            mod = importlib.import_module(modname)
        except ImportError:  # pragma: no cover - a module of this package
            continue
        loaded = getattr(mod, "_PIPELINES", None)
        if loaded:
            released.append(modname.rsplit(".", 1)[-1])
            with getattr(mod, "_LOCK", threading.Lock()):
                loaded.clear()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return released


def load_i2v(model: str, family: Family, device: str, dtype_name: str,
             offload: str = "none", vae_tiling: bool = False) -> Any:
    """Load (once per process, LRU) the family's i2v pipeline from an id or folder."""
    torch = require_torch("motion", "i2v")
    diffusers = require_diffusers("motion", "i2v")
    dtype = torch_dtype(dtype_name, device)
    if not device.startswith("cuda"):
        offload = "none"
    key = (model, device, str(dtype), offload)
    with _LOCK:
        if key in _PIPELINES:
            _PIPELINES.move_to_end(key)
            return _PIPELINES[key]
        while _PIPELINES:
            _PIPELINES.popitem(last=False)  # one video model at a time: they are large
        t0 = time.perf_counter()
        cls = getattr(diffusers, family.pipeline)
        extra: dict[str, Any] = {}
        try:
            if family.vae_float32 and dtype != torch.float32:
                vae_cls = read_model_index(model).get("vae", [None, None])[1]
                if vae_cls and hasattr(diffusers, vae_cls):
                    extra["vae"] = getattr(diffusers, vae_cls).from_pretrained(
                        model, subfolder="vae", **dtype_kwargs(torch.float32, diffusers))
            pipe = cls.from_pretrained(model, **dtype_kwargs(dtype, diffusers), **extra)
        except Exception as exc:  # hub, file system and config errors all land here
            from .sdxl_keyframes import model_load_error

            raise model_load_error(model, family.label, "--video-model",
                                   "MUSICVID_VIDEO_MODEL", exc) from exc
        pipe.set_progress_bar_config(disable=True)
        vae = getattr(pipe, "vae", None)
        if vae_tiling and vae is not None:
            for method in ("enable_tiling", "enable_slicing"):
                if hasattr(vae, method):
                    getattr(vae, method)()
        if offload == "model":
            pipe.enable_model_cpu_offload()
        elif offload == "sequential":
            pipe.enable_sequential_cpu_offload()
        else:
            pipe.to(device)
        _PIPELINES[key] = pipe
        log.info("loaded %s %s on %s (%s, offload %s) in %.1fs", family.label, model, device,
                 dtype, offload, time.perf_counter() - t0)
        return pipe


def _guidance(value: object) -> float:
    v = float(str(value))
    if not v >= 0:
        raise ValueError(value)
    return v


def _zero_or_positive(value: object) -> int:
    v = int(str(value), 10)
    if v < 0:
        raise ValueError(value)
    return v


def _warp(value: object) -> float:
    v = float(str(value))
    if not 1.0 <= v <= 4.0:
        raise ValueError(value)
    return v


@dataclass(frozen=True)
class I2VOptions:
    """``--option i2v_steps=8`` ...; ``key=False`` ones change how, not what, is made."""

    steps: int = stage_option(0, _zero_or_positive, "a positive integer (0: the family's)")
    guidance: float = stage_option(-1.0, _guidance, "a number >= 0 (default: the family's)")
    frames: int = stage_option(0, _zero_or_positive, "frames per segment (0: the family's)")
    fps: int = stage_option(0, _zero_or_positive, "the model's native fps (0: the family's)")
    width: int = stage_option(0, _zero_or_positive, "pixels (0: the family's bucket)")
    height: int = stage_option(0, _zero_or_positive, "pixels (0: the family's bucket)")
    max_warp: float = stage_option(1.25, _warp, "a number from 1 to 4, e.g. 1.25")
    max_segments: int = stage_option(8, positive_int, "a positive integer")
    motion_words: bool = stage_option(True, parse_bool, "true or false")
    offload: str = stage_option("auto", choices=("auto", "none", "model", "sequential"),
                                key=False)
    vae_tiling: str = stage_option("auto", choices=("auto", "true", "false"), key=False)
    release: str = stage_option("auto", choices=("auto", "always", "never"), key=False)
    fallback: bool = stage_option(True, parse_bool, "true or false", key=False)


def _is_oom(torch: Any, exc: BaseException) -> bool:
    oom = getattr(torch.cuda, "OutOfMemoryError", None) or getattr(torch, "OutOfMemoryError", None)
    return (oom is not None and isinstance(exc, oom)) or "out of memory" in str(exc).lower()


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
        import numpy as np

        torch = require_torch("motion", self.name)
        fam: Family = s["family"]
        steps = s["steps"]

        def on_step(pipeline: Any, step: int, timestep: Any, kw: dict[str, Any]) -> dict[str, Any]:
            if ctx.is_cancelled():
                raise RenderCancelled("render cancelled", stage=ctx.stage or "motion")
            ctx.progress(shot.index, ctx.extra.get("shots", shot.index + 1),
                         f"shot {shot.index + 1}{label}: {fam.label} step {step + 1}/{steps}")
            return kw

        kwargs: dict[str, Any] = dict(
            prompt=self.prompt(shot, ctx), negative_prompt=self.negative(shot, fam),
            height=s["height"], width=s["width"], num_frames=frames,
            num_inference_steps=steps, guidance_scale=s["guidance"],
            generator=torch.Generator("cpu").manual_seed(seed), output_type="np",
            callback_on_step_end=on_step, **fam.call)
        if s["max_sequence_length"]:
            kwargs["max_sequence_length"] = int(s["max_sequence_length"])
        if fam.name == "ltx":
            kwargs["frame_rate"] = s["fps"]
        call = pipe
        if fam.pipeline == "LTXConditionPipeline":  # LTX-Video 0.9.5+: keyframe conditions
            from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

            kwargs["conditions"] = [LTXVideoCondition(image=first, frame_index=0)] + (
                [LTXVideoCondition(image=last, frame_index=frames - 1)] if last else [])
        elif last is None:
            kwargs["image"] = first
        elif fam.morph == "last_image":
            kwargs.update(image=first, last_image=last)
        elif fam.morph == "conditions":
            from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

            call = _ltx_condition(pipe)
            kwargs["conditions"] = [LTXVideoCondition(image=first, frame_index=0),
                                    LTXVideoCondition(image=last, frame_index=frames - 1)]
        with torch.inference_mode():
            out = call(**kwargs)
        video = np.asarray(out.frames[0])
        if video.dtype != np.uint8:
            video = (np.clip(video, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        return video

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
            return _kenburns_clip(keyframe, shot, storyboard, analysis, ctx, "kind kenburns")
        fam = self.family(ctx)
        if fam.name == "svd":  # the SVD family is the svd stage's
            svd_ctx = StageContext(replace(ctx.config, svd_model=ctx.config.video_model),
                                   ctx.stage, ctx.progress_callback, ctx.is_cancelled, ctx.extra)
            clip = self.svd.animate(keyframe, shot, storyboard, analysis, svd_ctx)
            clip.meta["family"] = "svd"
            return clip
        torch = require_torch("motion", self.name)
        try:
            source, plan, segments = self.generate(keyframe, shot, storyboard, analysis, ctx)
        except RenderCancelled:
            raise
        except Exception as exc:
            if not (_is_oom(torch, exc) and self.opts(ctx).fallback):
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            first = str(exc).splitlines()[0] if str(exc) else "out of memory"
            msg = (f"warning: shot {shot.index + 1}: {fam.label} ran out of GPU memory "
                   f"({first}); Ken Burns instead")
            log.warning(msg)
            ctx.progress(shot.index, len(storyboard.shots), msg)
            return _kenburns_clip(keyframe, shot, storyboard, analysis, ctx, "out of GPU memory")
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
        import cv2
        import numpy as np

        w, h = storyboard.width, storyboard.height
        pos = np.asarray(plan.positions, dtype=np.float64)
        i0 = np.minimum(np.floor(pos + 1e-9).astype(np.int64), len(source) - 1)
        i1 = np.minimum(i0 + 1, len(source) - 1)
        wt = np.clip(pos - i0, 0.0, 1.0)
        pulse = pulse_envelope(shot, analysis, float(storyboard.fps))

        def frames() -> Iterator[np.ndarray]:
            for i in range(shot.frame_count):
                a = source[i0[i]]
                frame = a if wt[i] < 1e-6 else cv2.addWeighted(
                    a, 1 - float(wt[i]), source[i1[i]], float(wt[i]), 0.0)
                frame = cover_resize_array(np.ascontiguousarray(frame), w, h)
                p = float(pulse[i])
                if p > 1e-3:
                    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 0.0,
                                                1.0 + PULSE_ZOOM * p)
                    frame = cv2.warpAffine(frame, m, (w, h), flags=cv2.INTER_LINEAR,
                                           borderMode=cv2.BORDER_REFLECT)
                    frame = scale_brightness(frame, 1.0 + PULSE_GAIN * p, "rgb")
                yield frame

        return Clip(shot.frame_count, w, h, frames, meta={
            "motion": self.name, "source_frames": [round(float(p), 4) for p in pos],
            "generated": int(len(source)), "stretch": round(plan.stretch, 4), "cache": True})


def _replanned(plan: SegmentPlan, total: int, n_out: int, video_fps: float,
               native_fps: float) -> SegmentPlan:
    ratio = native_fps / video_fps
    need = (n_out - 1) * ratio + 1
    stretch = max(1.0, (need - 1) / max(1, total - 1)) if n_out > 1 else 1.0
    return SegmentPlan(plan.lengths, tuple(min(total - 1.0, i * ratio / stretch)
                                           for i in range(n_out)), stretch, native_fps)


def _ltx_condition(pipe: Any) -> Any:
    """LTX-Video's keyframe-conditioned pipeline sharing ``pipe``'s weights."""
    cached = getattr(pipe, "_musicvid_condition", None)
    if cached is None:
        diffusers = require_diffusers("motion", "i2v")
        cached = diffusers.LTXConditionPipeline(**pipe.components)
        cached.set_progress_bar_config(disable=True)
        pipe._musicvid_condition = cached
    return cached


def _kenburns_clip(keyframe: Keyframe, shot: Shot, storyboard: Storyboard,
                   analysis: Analysis, ctx: StageContext, reason: str) -> Clip:
    clip = KenBurnsMotion().animate(keyframe, shot, storyboard, analysis, ctx)
    clip.meta.update({"cache": False, "fallback": reason})
    return clip


@hookimpl
def register_motion_generators(register):  # type: ignore[no-untyped-def]
    register(I2VMotion)
