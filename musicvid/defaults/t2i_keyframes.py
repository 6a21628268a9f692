"""Keyframes from any text-to-image family: ``--image-model ID|DIR`` (stage ``t2i``).

The family is read from the model's ``model_index.json`` (``_class_name``), and its
defaults (steps, guidance, size multiple, prompt length) from :data:`IMAGE_FAMILIES`:

- **FLUX.1** (``FluxPipeline``): schnell-like models (no guidance embedding) in 4 steps
  without guidance, dev-like ones in 28 steps at guidance 3.5; no negative prompt.
- **Stable Diffusion 3 / 3.5** (``StableDiffusion3Pipeline``): 28 steps, guidance 4.5.
- **SDXL** (``StableDiffusionXLPipeline``) and its few-step variants (Turbo, Lightning,
  LCM, Hyper-SD via ``--few-step`` / ``--lora``): the ``sdxl`` stage, with this model.

``--lora`` loads a LoRA into FLUX and SD3 too (fused). Sizes are the configured keyframe
size, snapped to the family's multiple. On a GPU, the video models are released before an
image model loads (one GPU, several models).

Stage options: ``t2i_steps`` (0: the family's), ``t2i_guidance`` (-1: the family's),
``t2i_max_sequence_length`` (0: the family's).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .._options import non_negative_float, non_negative_int, stage_option
from .._torch import (
    dtype_kwargs,
    is_out_of_memory,
    require_diffusers,
    require_torch,
    resolve_device,
    torch_dtype,
)
from ..config import RenderConfig
from ..errors import InvalidOptionError, ModelLoadError, MusicVidError, RenderCancelled
from ..hookspecs import hookimpl
from ..protocols import StageContext
from ..stages import KeyframeGeneratorBase
from ..types import Shot
from ._model_cache import cached_load, place, release

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = ["IMAGE_FAMILIES", "ImageFamily", "T2IKeyframes", "forget_pipelines",
           "image_family_of", "load_t2i"]

log = logging.getLogger(__name__)

_PIPELINES: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_LOCK = threading.Lock()


@dataclass(frozen=True)
class ImageFamily:
    name: str
    label: str
    classes: tuple[str, ...]
    pipeline: str
    steps: int
    guidance: float
    multiple: int = 16
    negative: bool = True  # takes a negative prompt
    max_sequence_length: int = 0  # 0: the pipeline's
    licence: str = ""
    hub_ids: tuple[str, ...] = ()
    distilled: tuple[int, float] | None = None  # (steps, guidance) of the distilled variant


IMAGE_FAMILIES: dict[str, ImageFamily] = {
    "flux": ImageFamily(
        "flux", "FLUX.1", ("FluxPipeline",), "FluxPipeline", steps=28, guidance=3.5,
        negative=False, max_sequence_length=512, distilled=(4, 0.0),
        licence="FLUX.1-schnell: Apache-2.0; FLUX.1-dev: FLUX.1 [dev] non-commercial licence",
        hub_ids=("black-forest-labs/FLUX.1-schnell", "black-forest-labs/FLUX.1-dev")),
    "sd3": ImageFamily(
        "sd3", "Stable Diffusion 3 / 3.5", ("StableDiffusion3Pipeline",),
        "StableDiffusion3Pipeline", steps=28, guidance=4.5, max_sequence_length=256,
        licence="Stability AI community licence",
        hub_ids=("stabilityai/stable-diffusion-3.5-large",
                 "stabilityai/stable-diffusion-3.5-medium",
                 "stabilityai/stable-diffusion-3-medium-diffusers")),
    "sdxl": ImageFamily(
        "sdxl", "SDXL", ("StableDiffusionXLPipeline",), "StableDiffusionXLPipeline",
        steps=30, guidance=6.0, multiple=8, licence="CreativeML Open RAIL++-M",
        hub_ids=("stabilityai/stable-diffusion-xl-base-1.0", "stabilityai/sdxl-turbo",
                 "ByteDance/SDXL-Lightning")),
}


def image_family_of(model: str | None) -> ImageFamily:
    """The :class:`ImageFamily` of ``model`` from its ``model_index.json``."""
    from .i2v_motion import read_model_index
    from .sdxl_keyframes import model_load_error

    if not model:
        raise InvalidOptionError("image-model", model,
                                 hint="a FLUX, SD3 or SDXL hub id or folder (--image-model)")
    try:
        index = read_model_index(model)
    except Exception as exc:
        err = model_load_error(model, "image", "--image-model", "MUSICVID_IMAGE_MODEL", exc)
        err.stage = "keyframes"
        raise err from exc
    name = str(index.get("_class_name", ""))
    for fam in IMAGE_FAMILIES.values():
        if name in fam.classes:
            return fam
    classes = ", ".join(c for f in IMAGE_FAMILIES.values() for c in f.classes)
    raise ModelLoadError(f"{model!r} is a {name or 'pipeline of no known class'}, not a "
                         f"text-to-image model musicvid knows ({classes}); pass --image-model "
                         "with one of those", stage="keyframes", plugin="t2i")


def forget_pipelines() -> None:
    with _LOCK:
        _PIPELINES.clear()


def _release_video_models(torch: Any) -> None:
    release(("musicvid.defaults.i2v_motion", "musicvid.defaults.svd_motion"), torch)


def load_t2i(model: str, family: ImageFamily, device: str, dtype_name: str,
             lora: str | None = None, cpu_offload: bool = False) -> Any:
    """Load (once per process, LRU of one) the family's pipeline from an id or folder."""
    torch = require_torch("keyframes", "t2i")
    dtype = torch_dtype(dtype_name, device)
    key = (model, device, str(dtype), lora, cpu_offload)
    return cached_load(_PIPELINES, _LOCK, key, lambda: _load_uncached(
        model, family, device, dtype, lora, cpu_offload), most=1, torch=torch)


def _load_uncached(model: str, family: ImageFamily, device: str, dtype: Any,
                   lora: str | None, cpu_offload: bool) -> Any:
    torch = require_torch("keyframes", "t2i")
    diffusers = require_diffusers("keyframes", "t2i")
    if device.startswith("cuda"):
        _release_video_models(torch)
    t0 = time.perf_counter()
    try:
        pipe = getattr(diffusers, family.pipeline).from_pretrained(
            model, **dtype_kwargs(dtype, diffusers))
    except Exception as exc:
        from .sdxl_keyframes import model_load_error

        err = model_load_error(model, family.label, "--image-model",
                               "MUSICVID_IMAGE_MODEL", exc)
        err.stage = "keyframes"
        raise err from exc
    if lora:
        try:
            pipe.load_lora_weights(lora)
            pipe.fuse_lora()
            pipe.unload_lora_weights()
        except Exception as exc:
            raise ModelLoadError(
                f"could not load the LoRA {lora!r} into {family.label}: "
                f"{type(exc).__name__}: {exc}. Pass --lora with a hub id or a local "
                ".safetensors file or folder made for this family (needs peft).",
                stage="keyframes", plugin="t2i") from exc
    pipe.set_progress_bar_config(disable=True)
    if device.startswith("cuda"):
        vae = getattr(pipe, "vae", None)
        for method in ("enable_slicing", "enable_tiling"):
            if vae is not None and hasattr(vae, method):
                getattr(vae, method)()
    place(pipe, device, "model" if cpu_offload and device.startswith("cuda") else "none")
    log.info("loaded %s %s on %s in %.1fs", family.label, model, device,
             time.perf_counter() - t0)
    return pipe


@dataclass(frozen=True)
class T2IOptions:
    """``--option t2i_steps=4`` ..."""

    steps: int = stage_option(0, non_negative_int, "a positive integer (0: the family's)")
    guidance: float = stage_option(-1.0, non_negative_float,
                                   "a number >= 0 (default: the family's)")
    max_sequence_length: int = stage_option(0, non_negative_int,
                                            "tokens (0: the family's)")


class T2IKeyframes(KeyframeGeneratorBase):
    """Keyframes from FLUX, SD3/3.5 or SDXL, by the model's family."""

    name = "t2i"
    version = 1
    Options = T2IOptions

    def __init__(self) -> None:
        self._batch = 1
        self._families: dict[str, ImageFamily] = {}
        self._sdxl: Any = None

    @property
    def batch_size(self) -> int:
        return self._batch

    def family(self, c: RenderConfig) -> ImageFamily:
        model = str(c.image_model or "")
        if model not in self._families:
            self._families[model] = image_family_of(c.image_model)
        return self._families[model]

    def _sdxl_ctx(self, ctx: StageContext) -> StageContext:
        c = replace(ctx.config, sdxl_model=str(ctx.config.image_model))
        return StageContext(c, ctx.stage, ctx.progress_callback, ctx.is_cancelled, ctx.extra)

    def sdxl(self) -> Any:
        if self._sdxl is None:
            from .sdxl_keyframes import SDXLKeyframes

            self._sdxl = SDXLKeyframes()
        return self._sdxl

    def preflight(self, ctx: StageContext) -> None:
        super().preflight(ctx)
        require_diffusers("keyframes", self.name)
        self._batch = ctx.config.batch_size
        if self.family(ctx.config).name == "sdxl":
            self.sdxl().preflight(self._sdxl_ctx(ctx))

    def settings(self, ctx: StageContext, pipe: Any = None) -> dict[str, Any]:
        c = ctx.config
        fam = self.family(c)
        o: T2IOptions = self.options(ctx)
        steps, guidance = fam.steps, fam.guidance
        t_cfg = getattr(getattr(pipe, "transformer", None), "config", None)
        if fam.distilled and t_cfg is not None and not getattr(t_cfg, "guidance_embeds", True):
            steps, guidance = fam.distilled  # FLUX.1-schnell-like: no guidance embedding
        elif fam.distilled and pipe is None and "schnell" in str(c.image_model).lower():
            steps, guidance = fam.distilled
        m = fam.multiple
        return {"family": fam, "steps": o.steps or steps,
                "guidance": guidance if o.guidance < 0 else o.guidance,
                "width": max(m, c.keyframe_width // m * m),
                "height": max(m, c.keyframe_height // m * m),
                "max_sequence_length": o.max_sequence_length or fam.max_sequence_length}

    def cache_key_parts(self, ctx: StageContext) -> dict[str, Any]:
        c = ctx.config
        fam = self.family(c)
        if fam.name == "sdxl":
            return {"family": "sdxl", **self.sdxl().cache_key_parts(self._sdxl_ctx(ctx))}
        s = self.settings(ctx)
        o: T2IOptions = self.options(ctx)
        return {"model": c.image_model, "family": fam.name, "w": s["width"], "h": s["height"],
                "dtype": c.dtype, "lora": c.lora, "v": self.version, "steps": o.steps,
                "guidance": o.guidance, "max_sequence_length": o.max_sequence_length}

    def shot_key_parts(self, shot: Shot, ctx: StageContext) -> dict[str, Any]:
        if self.family(ctx.config).name == "sdxl":
            return self.sdxl().shot_key_parts(shot, self._sdxl_ctx(ctx))
        return {}

    def pipeline(self, ctx: StageContext) -> Any:
        c = ctx.config
        device = resolve_device(c.device)
        dtype = c.dtype if c.dtype != "float16" or self.family(c).name == "sdxl" else "bfloat16"
        return load_t2i(str(c.image_model), self.family(c), device, dtype, c.lora,
                        c.cpu_offload)

    def generate(self, shots: Sequence[Shot], ctx: StageContext) -> list[Image.Image]:
        fam = self.family(ctx.config)
        if fam.name == "sdxl":
            return self.sdxl().generate(shots, self._sdxl_ctx(ctx))
        torch = require_torch("keyframes", self.name)
        pipe = self.pipeline(ctx)
        try:
            return self._run(pipe, shots, ctx)
        except RenderCancelled:
            raise
        except Exception as exc:
            if not (is_out_of_memory(torch, exc) and torch.cuda.is_available()):
                raise
            log.warning("out of GPU memory for %d keyframes; retrying with CPU offload, one "
                        "at a time", len(shots))
            ctx.progress(0, len(shots), "GPU out of memory: retrying with CPU offload")
            torch.cuda.empty_cache()
            pipe.enable_model_cpu_offload()
            try:
                return [im for s in shots for im in self._run(pipe, [s], ctx)]
            except Exception as exc2:
                if is_out_of_memory(torch, exc2):
                    raise MusicVidError(
                        f"out of GPU memory even with CPU offload for {fam.label}: lower "
                        "--keyframe-width/--keyframe-height or use a smaller model",
                        stage="keyframes", plugin=self.name) from exc2
                raise

    def _run(self, pipe: Any, shots: Sequence[Shot], ctx: StageContext) -> list[Image.Image]:
        torch = require_torch("keyframes", self.name)
        s = self.settings(ctx, pipe)
        fam: ImageFamily = s["family"]

        def on_step(pipeline: Any, step: int, timestep: Any, kw: dict[str, Any]) -> dict[str, Any]:
            if ctx.is_cancelled():
                raise RenderCancelled("render cancelled", stage=ctx.stage)
            return kw

        kwargs: dict[str, Any] = dict(
            prompt=[sh.prompt for sh in shots], width=s["width"], height=s["height"],
            num_inference_steps=s["steps"], guidance_scale=s["guidance"],
            generator=[torch.Generator("cpu").manual_seed(sh.seed) for sh in shots],
            callback_on_step_end=on_step, output_type="pil")
        if fam.negative:
            kwargs["negative_prompt"] = [sh.negative_prompt for sh in shots]
        if s["max_sequence_length"]:
            kwargs["max_sequence_length"] = int(s["max_sequence_length"])
        with torch.inference_mode():
            return list(pipe(**kwargs).images)


@hookimpl
def register_keyframe_generators(register):  # type: ignore[no-untyped-def]
    register(T2IKeyframes)
