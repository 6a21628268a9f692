"""The default keyframe generator: Stable Diffusion XL through diffusers.

Text-to-image by default; image-to-image from the user's pictures with ``init_images``.
Few-step families (Turbo, Lightning, LCM) are configuration (``few_step``): a scheduler,
a step count, a guidance scale and, for LCM, a LoRA. The settings are the stage's
options (:class:`SDXLOptions`: ``--option sdxl_steps=30``, or the flags they alias:
``--steps 30``). Loading, and the per-process LRU of loaded pipelines a server reuses
across jobs, live in :mod:`musicvid.defaults.sdxl_loading`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._options import config_option, parse_stage_options
from .._torch import require_diffusers, require_torch, resolve_device
from ..config import RenderConfig
from ..errors import MusicVidError, RenderCancelled
from ..hookspecs import hookimpl
from ..protocols import StageContext
from ..stages import KeyframeGeneratorBase
from ..types import Shot
from .sdxl_loading import (  # noqa: F401 - re-exported: the stage's loading, importable here
    _LOCK,
    _PIPELINES,
    MAX_LOADED,
    LoadOptions,
    _is_gated,
    _load_uncached,
    hf_cache_dir,
    load_refiner,
    load_sdxl,
    lora_source,
    model_load_error,
)
from .sdxl_reference import reference_embeds

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SDXLOptions:
    """``--option sdxl_steps=30`` ...: the stage's settings, each also a
    :class:`RenderConfig` field with its flag and environment variable (``--steps``,
    ``--sdxl-model``/``MUSICVID_SDXL_MODEL``...); given both, the ``--option`` wins.

    They enter the cache keys through :meth:`SDXLKeyframes.cache_key_parts` (which keys
    the resolved LoRA, and strength, refiner and adapter settings only where they are
    used), not as options: hence ``key=False`` on each."""

    model: str = config_option("sdxl_model", key=False)
    steps: int = config_option("steps", key=False)
    guidance_scale: float = config_option("guidance_scale", key=False)
    few_step: str | None = config_option("few_step", key=False)
    lora: str | None = config_option("lora", key=False)
    tiny_vae: str | None = config_option("tiny_vae", key=False)
    refiner_model: str | None = config_option("refiner_model", key=False)
    refiner_fraction: float = config_option("refiner_fraction", key=False)
    strength: float = config_option("strength", key=False)
    ip_adapter_model: str = config_option("ip_adapter_model", key=False)
    ip_adapter_scale: float = config_option("ip_adapter_scale", key=False)
    cpu_offload: bool = config_option("cpu_offload", key=False)
    compile: bool = config_option("compile", key=False)


def sdxl_options(c: RenderConfig) -> SDXLOptions:
    """``c``'s SDXL settings: its ``sdxl_*`` options over its fields."""
    result: SDXLOptions = parse_stage_options(c.options, "sdxl", SDXLOptions, c)
    return result


def forget_pipelines() -> None:
    """Drop every loaded pipeline (frees memory; the next use reloads)."""
    with _LOCK:
        _PIPELINES.clear()
        _REFERENCE_MODES.clear()


def _img2img(pipe: Any) -> Any:
    """The img2img pipeline sharing ``pipe``'s weights (no second copy in memory)."""
    from ._model_cache import derived_pipeline

    return derived_pipeline(pipe, "_musicvid_img2img", "StableDiffusionXLImg2ImgPipeline",
                            "keyframes", "sdxl")


def _is_oom(exc: BaseException) -> bool:
    torch = require_torch()
    oom = getattr(torch.cuda, "OutOfMemoryError", None) or getattr(torch, "OutOfMemoryError", None)
    return (oom is not None and isinstance(exc, oom)) or "out of memory" in str(exc).lower()


_REFERENCE_MODES: dict[tuple[LoadOptions, str], tuple[str, str]] = {}


def reference_mode(c: RenderConfig, o: SDXLOptions | None = None) -> str | None:
    """How ``c.reference`` pictures are used: ``"ip-adapter"``, ``"img2img"`` where the
    adapter does not load (with a warning, once per process), or None without references.
    Finding out loads the adapter pipeline (kept in the LRU for the render). ``o``: the
    stage's options (default: ``c``'s)."""
    if not c.reference:
        return None
    o = sdxl_options(c) if o is None else o
    opts = LoadOptions.from_options(o, c)
    key = (opts, resolve_device(opts.device))
    known = _REFERENCE_MODES.get(key)
    if known is not None:
        return known[0]
    from .sdxl_reference import AdapterLoadError

    try:
        load_sdxl(opts)
        mode, why = "ip-adapter", ""
    except AdapterLoadError as exc:
        mode, why = "img2img", exc.message
        log.warning("%s; falling back to image-to-image from the first reference "
                    "(strength %.2f)", why, o.strength)
    _REFERENCE_MODES[key] = (mode, why)
    return mode


class SDXLKeyframes(KeyframeGeneratorBase):
    """Keyframes with ``StableDiffusionXLPipeline`` (img2img when ``init_images`` is set;
    IP-Adapter with ``reference`` pictures)."""

    name = "sdxl"
    version = 2
    Options = SDXLOptions

    @property
    def batch_size(self) -> int:
        return self._batch

    def __init__(self) -> None:
        self._batch = 1
        self._refs: tuple[tuple[str, ...], list[Any]] | None = None

    def _references(self, c: RenderConfig) -> tuple[tuple[str, ...], list[Any]]:
        from .sdxl_reference import load_references, reference_digests

        digests = tuple(reference_digests(c.reference))
        if self._refs is None or self._refs[0] != digests:
            self._refs = (digests, load_references(c.reference))
        return self._refs

    def preflight(self, ctx: StageContext) -> None:
        super().preflight(ctx)  # the options
        require_diffusers("keyframes", self.name)
        self._batch = ctx.config.batch_size
        if ctx.config.reference:
            from .sdxl_reference import check_references

            check_references(ctx.config.reference)
        if ctx.config.init_images is not None:
            from .images_keyframes import list_images

            list_images(ctx.config.init_images, "--init-images")  # fail fast on an empty/missing folder

    def cache_key_parts(self, ctx: StageContext) -> dict[str, Any]:
        c = ctx.config
        o: SDXLOptions = self.options(ctx)
        w, h = self.size(c)
        load = LoadOptions.from_options(o, c)
        parts: dict[str, Any] = {"model": o.model, "w": w, "h": h, "steps": o.steps,
                                 "cfg": o.guidance_scale, "dtype": c.dtype, "v": self.version,
                                 "few_step": load.few_step, "lora": load.lora,
                                 "tiny_vae": load.tiny_vae}
        if o.refiner_model:
            parts["refiner"] = [o.refiner_model, o.refiner_fraction]
        if c.init_images is not None:
            parts["strength"] = o.strength
        if c.reference:
            from .sdxl_reference import reference_digests

            mode = reference_mode(c, o)
            parts["reference"] = {"sha256": reference_digests(c.reference), "mode": mode,
                                  "adapter": o.ip_adapter_model, "scale": o.ip_adapter_scale}
            if mode == "img2img":
                parts["strength"] = o.strength
        return parts

    def shot_key_parts(self, shot: Shot, ctx: StageContext) -> dict[str, Any]:
        """img2img: the picture a shot starts from is part of its identity."""
        if ctx.config.init_images is None:
            return {}
        from .images_keyframes import assigned_image

        return {"init": assigned_image(shot, ctx)[1]}

    def calibrate(self, ctx: StageContext) -> dict[str, Any]:
        """Seconds for one denoising step (with and without CFG), the text encoders and
        one VAE decode, measured here at the configured size after a warm-up call at a
        quarter of it (the first call pays one-off allocations; see
        :mod:`musicvid.budget`)."""
        torch = require_torch("keyframes", self.name)
        c = ctx.config
        o: SDXLOptions = self.options(ctx)
        w, h = self.size(c)
        t0 = time.perf_counter()
        pipe = load_sdxl(LoadOptions.from_options(o, c))
        load_s = time.perf_counter() - t0
        cfg = o.guidance_scale > 1.0
        device = pipe._execution_device
        dtype = pipe.unet.dtype
        gen = torch.Generator("cpu").manual_seed(0)

        def unet_step(pe: Any, pooled: Any, lh: int, lw: int) -> float:
            batch = pe.shape[0]
            latents = torch.randn(batch, pipe.unet.config.in_channels, lh, lw,
                                  generator=gen).to(device, dtype)
            time_ids = torch.tensor([[lh * 8, lw * 8, 0, 0, lh * 8, lw * 8]] * batch,
                                    dtype=dtype, device=device)
            t0 = time.perf_counter()
            pipe.unet(latents, torch.tensor(500, device=device), encoder_hidden_states=pe,
                      added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids})
            return time.perf_counter() - t0

        with torch.inference_mode():
            # warm-up: text encoders, one UNet call and one decode at a quarter of the area
            pe, npe, pooled, npooled = pipe.encode_prompt(
                "calibration prompt", device=device, do_classifier_free_guidance=cfg,
                negative_prompt="blurry")
            qh, qw = max(8, h // 16), max(8, w // 16)
            unet_step(pe, pooled, qh, qw)
            pipe.vae.decode(torch.randn(1, pipe.unet.config.in_channels, qh, qw,
                                        generator=gen).to(device, pipe.vae.dtype))
            t0 = time.perf_counter()
            pe, npe, pooled, npooled = pipe.encode_prompt(
                "calibration prompt", device=device, do_classifier_free_guidance=cfg,
                negative_prompt="blurry")
            text_s = time.perf_counter() - t0
            step1_s = unet_step(pe, pooled, h // 8, w // 8)  # one branch: no CFG
            step_s = (unet_step(torch.cat([npe, pe]), torch.cat([npooled, pooled]),
                                h // 8, w // 8) if cfg else step1_s)
            latents = torch.randn(1, pipe.unet.config.in_channels, h // 8, w // 8,
                                  generator=gen).to(device, pipe.vae.dtype)
            t0 = time.perf_counter()
            pipe.vae.decode(latents)
            decode_s = time.perf_counter() - t0
        return {"step_s": step_s, "step1_s": step1_s, "text_s": text_s,
                "decode_s": decode_s, "width": w, "height": h, "load_s": load_s,
                "cfg": cfg, "tiny_vae": o.tiny_vae is not None}

    @staticmethod
    def size(c: RenderConfig) -> tuple[int, int]:
        return (c.keyframe_width // 8) * 8, (c.keyframe_height // 8) * 8

    def generate(self, shots: Sequence[Shot], ctx: StageContext) -> list[Image.Image]:
        torch = require_torch("keyframes", self.name)
        c = ctx.config
        o: SDXLOptions = self.options(ctx)
        opts = LoadOptions.from_options(o, c)
        if reference_mode(c, o) == "img2img":
            opts = dataclasses.replace(opts, ip_adapter=None)
        pipe = load_sdxl(opts)
        try:
            return self._run(pipe, shots, ctx)
        except RenderCancelled:
            raise
        except Exception as exc:
            if not _is_oom(exc):
                raise
            log.warning("out of GPU memory for a batch of %d; retrying with CPU offload, one "
                        "at a time", len(shots))
            ctx.progress(0, len(shots), "GPU out of memory: retrying with CPU offload")
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
                if hasattr(pipe, "enable_model_cpu_offload"):
                    pipe.enable_model_cpu_offload()
            images = []
            try:
                for s in shots:
                    images.extend(self._run(pipe, [s], ctx))
            except Exception as exc2:
                if _is_oom(exc2):
                    raise MusicVidError(
                        f"out of GPU memory even with CPU offload at {c.keyframe_width}x"
                        f"{c.keyframe_height}: lower --keyframe-width/--keyframe-height, use "
                        "--profile cpu, or a --tiny-vae", stage="keyframes",
                        plugin=self.name) from exc2
                raise
            return images

    def _run(self, pipe: Any, shots: Sequence[Shot], ctx: StageContext) -> list[Image.Image]:
        torch = require_torch("keyframes", self.name)
        c = ctx.config
        o: SDXLOptions = self.options(ctx)
        w, h = self.size(c)

        def on_step(pipeline: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            if ctx.is_cancelled():
                raise RenderCancelled("render cancelled", stage=ctx.stage)
            return kwargs

        generators = [torch.Generator("cpu").manual_seed(s.seed) for s in shots]
        kwargs: dict[str, Any] = dict(
            prompt=[s.prompt for s in shots], negative_prompt=[s.negative_prompt for s in shots],
            num_inference_steps=o.steps, guidance_scale=o.guidance_scale, generator=generators,
            callback_on_step_end=on_step)
        refine = bool(o.refiner_model)
        mode = reference_mode(c, o)
        inits = None
        if mode is not None:
            digests, refs = self._references(c)
            if mode == "ip-adapter":
                cfg = o.guidance_scale > 1.0 and pipe.unet.config.time_cond_proj_dim is None
                pipe.set_ip_adapter_scale(o.ip_adapter_scale)
                kwargs["ip_adapter_image_embeds"] = [
                    reference_embeds(pipe, refs, len(shots), cfg, digests)]
            elif c.init_images is None:
                from PIL import Image as PILImage
                from PIL import ImageOps

                first = ImageOps.fit(refs[0], (w, h), PILImage.Resampling.LANCZOS)
                inits = [first] * len(shots)
        with torch.inference_mode():
            if c.init_images is not None or inits is not None:
                if inits is None:
                    from .images_keyframes import assigned_image

                    inits = [assigned_image(s, ctx)[0] for s in shots]
                out = _img2img(pipe)(image=inits, strength=o.strength,
                                     output_type="latent" if refine else "pil", **kwargs)
            else:
                out = pipe(width=w, height=h, output_type="latent" if refine else "pil",
                           denoising_end=(1 - o.refiner_fraction) if refine else None, **kwargs)
            if not refine:
                return list(out.images)
            refiner = load_refiner(c, pipe, o.refiner_model)
            kwargs.pop("ip_adapter_image_embeds", None)  # the refiner has no adapter
            out = refiner(image=out.images, denoising_start=1 - o.refiner_fraction,
                          output_type="pil", **kwargs)
            return list(out.images)


@hookimpl
def register_keyframe_generators(register):  # type: ignore[no-untyped-def]
    register(SDXLKeyframes)
