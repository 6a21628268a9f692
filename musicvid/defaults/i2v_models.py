"""The image-to-video families and their models: the defaults table, the family of a
model folder or id, segment planning and retiming, and loading (one video model at a time).
The motion stage that uses them is :mod:`musicvid.defaults.i2v_motion`.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .._torch import dtype_kwargs, require_diffusers, require_torch, torch_dtype
from ..errors import ModelLoadError
from ._model_cache import MAX_LOADED, cached_load, place, release  # noqa: F401 - MAX_LOADED

__all__ = ["FAMILIES", "Family", "SegmentPlan", "bucket_size", "family_of", "forget_pipelines",
           "load_i2v", "motion_words", "plan_segments", "read_component_config",
           "read_model_index", "release_keyframe_models", "snap_frames"]

log = logging.getLogger(__name__)

_PIPELINES: OrderedDict[tuple[str, str, str, str], Any] = OrderedDict()
_LOCK = threading.Lock()

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


def _replanned(plan: SegmentPlan, total: int, n_out: int, video_fps: float,
               native_fps: float) -> SegmentPlan:
    ratio = native_fps / video_fps
    need = (n_out - 1) * ratio + 1
    stretch = max(1.0, (need - 1) / max(1, total - 1)) if n_out > 1 else 1.0
    return SegmentPlan(plan.lengths, tuple(min(total - 1.0, i * ratio / stretch)
                                           for i in range(n_out)), stretch, native_fps)


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
    return release(("musicvid.defaults.sdxl_keyframes", "musicvid.defaults.t2i_keyframes",
                    "musicvid.defaults.svd_motion"), torch)


def load_i2v(model: str, family: Family, device: str, dtype_name: str,
             offload: str = "none", vae_tiling: bool = False) -> Any:
    """Load (once per process, LRU) the family's i2v pipeline from an id or folder."""
    torch = require_torch("motion", "i2v")
    dtype = torch_dtype(dtype_name, device)
    if not device.startswith("cuda"):
        offload = "none"
    key = (model, device, str(dtype), offload)
    # one video model at a time: they are large
    return cached_load(_PIPELINES, _LOCK, key, lambda: _load_uncached(
        model, family, device, dtype, offload, vae_tiling), most=1, torch=torch)


def _load_uncached(model: str, family: Family, device: str, dtype: Any, offload: str,
                   vae_tiling: bool) -> Any:
    torch = require_torch("motion", "i2v")
    diffusers = require_diffusers("motion", "i2v")
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
    place(pipe, device, offload)
    log.info("loaded %s %s on %s (%s, offload %s) in %.1fs", family.label, model, device,
             dtype, offload, time.perf_counter() - t0)
    return pipe
