"""The default keyframe generator: Stable Diffusion XL through diffusers.

Text-to-image by default; image-to-image from the user's pictures with ``init_images``.
Few-step families (Turbo, Lightning, LCM) are configuration (``few_step``): a scheduler,
a step count, a guidance scale and, for LCM, a LoRA. Loaded pipelines are kept in a small
per-process LRU so a server reuses them across jobs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._torch import dtype_kwargs, require_diffusers, require_torch, resolve_device, torch_dtype
from ..config import DEFAULT_SDXL_MODEL, FEW_STEP_PRESETS, RenderConfig
from ..errors import ModelLoadError, MusicVidError, RenderCancelled
from ..hookspecs import hookimpl
from ..protocols import StageContext
from ..stages import KeyframeGeneratorBase
from ..types import Shot
from .sdxl_reference import reference_embeds

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

log = logging.getLogger(__name__)

_PIPELINES: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_LOCK = threading.Lock()
MAX_LOADED = int(os.environ.get("MUSICVID_MAX_LOADED_PIPELINES", "1"))


def hf_cache_dir() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except Exception:  # pragma: no cover - huggingface_hub always comes with diffusers
        return str(Path.home() / ".cache" / "huggingface" / "hub")


def _is_gated(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return "gated" in text or "401" in text or "403" in text or "access to model" in text


def model_load_error(model: str, kind: str, option: str, env: str, exc: BaseException,
                     gated: bool = False) -> ModelLoadError:
    """A :class:`ModelLoadError` that says where musicvid looked and how to fix it."""
    local = Path(model).expanduser()
    if local.exists():
        msg = (f"could not load the {kind} model from the directory {local}: {exc}. "
               f"Is it a diffusers model folder (with model_index.json)?")
    else:
        offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
        msg = (f"could not load the {kind} model {model!r} "
               f"({'offline mode, ' if offline else ''}not in the Hugging Face cache at "
               f"{hf_cache_dir()} or not downloadable: {type(exc).__name__}: {exc}). "
               f"Point {option} or {env} at a local model directory, or connect once to "
               f"download it.")
        if gated or _is_gated(exc):
            msg += (" This model is gated: accept its licence on its Hugging Face page and "
                    "set HF_TOKEN to a token of that account.")
    return ModelLoadError(msg, stage="keyframes" if kind.startswith("SDXL") else "motion")


@dataclass(frozen=True)
class LoadOptions:
    """Everything that changes the loaded pipeline object (the LRU key)."""

    model: str
    device: str
    dtype: str
    few_step: str | None = None
    lora: str | None = None
    tiny_vae: str | None = None
    cpu_offload: bool = False
    compile: bool = False
    ip_adapter: str | None = None  # loaded when the render has reference pictures

    @classmethod
    def from_config(cls, c: RenderConfig) -> LoadOptions:
        lora = c.lora
        if lora is None and c.few_step:
            lora = FEW_STEP_PRESETS[c.few_step]["lora"]
            if lora and c.sdxl_model != DEFAULT_SDXL_MODEL:
                lora = None  # the presets' LoRAs are for the base model; a fine-tune brings its own
        return cls(c.sdxl_model, c.device, c.dtype, c.few_step, lora, c.tiny_vae,
                   c.cpu_offload, c.compile, c.ip_adapter_model if c.reference else None)


def lora_source(spec: str) -> tuple[str, dict[str, str]]:
    """Where ``load_lora_weights`` finds the LoRA ``spec``: a local file or folder as it is;
    ``owner/name/file.safetensors`` (a file of a hub repo, e.g.
    ``ByteDance/SDXL-Lightning/sdxl_lightning_4step_lora.safetensors``) as the repo plus a
    ``weight_name`` (and ``subfolder``); any other text as a hub repo id."""
    if Path(spec).expanduser().exists():
        return str(Path(spec).expanduser()), {}
    parts = spec.strip("/").split("/")
    if len(parts) >= 3 and parts[-1].endswith((".safetensors", ".bin")):
        extra = {"weight_name": parts[-1]}
        if len(parts) > 3:
            extra["subfolder"] = "/".join(parts[2:-1])
        return "/".join(parts[:2]), extra
    return spec, {}


def _load_uncached(opts: LoadOptions, device: str) -> Any:
    torch = require_torch("keyframes", "sdxl")
    diffusers = require_diffusers("keyframes", "sdxl")
    dtype = torch_dtype(opts.dtype, device)
    try:
        pipe = diffusers.StableDiffusionXLPipeline.from_pretrained(
            opts.model, add_watermarker=False, **dtype_kwargs(dtype, diffusers))
    except Exception as exc:  # hub, file system and config errors all land here
        raise model_load_error(opts.model, "SDXL", "--sdxl-model", "MUSICVID_SDXL_MODEL",
                               exc) from exc
    if opts.few_step:
        preset = FEW_STEP_PRESETS[opts.few_step]
        cls = getattr(diffusers, preset["scheduler"])
        pipe.scheduler = cls.from_config(pipe.scheduler.config, **preset["scheduler_config"])
    if opts.lora:
        try:
            source, extra = lora_source(opts.lora)
            pipe.load_lora_weights(source, **extra)
            pipe.fuse_lora()
            pipe.unload_lora_weights()  # fused: the adapter layers are no longer needed
        except Exception as exc:
            raise ModelLoadError(
                f"could not load the LoRA {opts.lora!r}: {type(exc).__name__}: {exc}. "
                "Pass --lora with a hub id or a local .safetensors file or folder "
                "(LoRA loading needs the peft package: pip install peft).",
                stage="keyframes", plugin="sdxl") from exc
    if opts.tiny_vae:
        try:
            pipe.vae = diffusers.AutoencoderTiny.from_pretrained(opts.tiny_vae,
                                                                **dtype_kwargs(dtype, diffusers))
        except Exception as exc:
            raise model_load_error(opts.tiny_vae, "SDXL tiny VAE", "--tiny-vae",
                                   "MUSICVID_TINY_VAE", exc) from exc
    if opts.ip_adapter:
        from .sdxl_reference import attach_ip_adapter

        attach_ip_adapter(pipe, opts.ip_adapter)
    pipe.set_progress_bar_config(disable=True)
    if device.startswith("cuda"):
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
        if hasattr(pipe.vae, "enable_slicing"):
            pipe.vae.enable_slicing()
            pipe.vae.enable_tiling()
        if opts.cpu_offload:
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(device)
        if opts.compile:
            pipe.unet = torch.compile(pipe.unet, mode="max-autotune", fullgraph=True)
    else:
        pipe.to(device)
    return pipe


def load_sdxl(model: str | LoadOptions, device: str = "cpu", dtype_name: str = "float32") -> Any:
    """Load (once per process, LRU) a ``StableDiffusionXLPipeline`` from an id or folder."""
    opts = model if isinstance(model, LoadOptions) else LoadOptions(model, device, dtype_name)
    resolved = resolve_device(opts.device)
    key = (opts, resolved)
    with _LOCK:
        if key in _PIPELINES:
            _PIPELINES.move_to_end(key)
            return _PIPELINES[key]
        while len(_PIPELINES) >= MAX_LOADED:
            _PIPELINES.popitem(last=False)
        t0 = time.perf_counter()
        pipe = _load_uncached(opts, resolved)
        _PIPELINES[key] = pipe
        log.info("loaded SDXL %s on %s in %.1fs", opts.model, resolved, time.perf_counter() - t0)
        return pipe


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


def reference_mode(c: RenderConfig) -> str | None:
    """How ``c.reference`` pictures are used: ``"ip-adapter"``, ``"img2img"`` where the
    adapter does not load (with a warning, once per process), or None without references.
    Finding out loads the adapter pipeline (kept in the LRU for the render)."""
    if not c.reference:
        return None
    opts = LoadOptions.from_config(c)
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
                    "(strength %.2f)", why, c.strength)
    _REFERENCE_MODES[key] = (mode, why)
    return mode


class SDXLKeyframes(KeyframeGeneratorBase):
    """Keyframes with ``StableDiffusionXLPipeline`` (img2img when ``init_images`` is set;
    IP-Adapter with ``reference`` pictures)."""

    name = "sdxl"
    version = 2

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
        w, h = self.size(c)
        load = LoadOptions.from_config(c)
        parts: dict[str, Any] = {"model": c.sdxl_model, "w": w, "h": h, "steps": c.steps,
                                 "cfg": c.guidance_scale, "dtype": c.dtype, "v": self.version,
                                 "few_step": load.few_step, "lora": load.lora,
                                 "tiny_vae": load.tiny_vae}
        if c.refiner_model:
            parts["refiner"] = [c.refiner_model, c.refiner_fraction]
        if c.init_images is not None:
            parts["strength"] = c.strength
        if c.reference:
            from .sdxl_reference import reference_digests

            mode = reference_mode(c)
            parts["reference"] = {"sha256": reference_digests(c.reference), "mode": mode,
                                  "adapter": c.ip_adapter_model, "scale": c.ip_adapter_scale}
            if mode == "img2img":
                parts["strength"] = c.strength
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
        w, h = self.size(c)
        t0 = time.perf_counter()
        pipe = load_sdxl(LoadOptions.from_config(c))
        load_s = time.perf_counter() - t0
        cfg = c.guidance_scale > 1.0
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
                "cfg": cfg, "tiny_vae": c.tiny_vae is not None}

    @staticmethod
    def size(c: RenderConfig) -> tuple[int, int]:
        return (c.keyframe_width // 8) * 8, (c.keyframe_height // 8) * 8

    def generate(self, shots: Sequence[Shot], ctx: StageContext) -> list[Image.Image]:
        torch = require_torch("keyframes", self.name)
        c = ctx.config
        opts = LoadOptions.from_config(c)
        if reference_mode(c) == "img2img":
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
        w, h = self.size(c)

        def on_step(pipeline: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            if ctx.is_cancelled():
                raise RenderCancelled("render cancelled", stage=ctx.stage)
            return kwargs

        generators = [torch.Generator("cpu").manual_seed(s.seed) for s in shots]
        kwargs: dict[str, Any] = dict(
            prompt=[s.prompt for s in shots], negative_prompt=[s.negative_prompt for s in shots],
            num_inference_steps=c.steps, guidance_scale=c.guidance_scale, generator=generators,
            callback_on_step_end=on_step)
        refine = bool(c.refiner_model)
        mode = reference_mode(c)
        inits = None
        if mode is not None:
            digests, refs = self._references(c)
            if mode == "ip-adapter":
                cfg = c.guidance_scale > 1.0 and pipe.unet.config.time_cond_proj_dim is None
                pipe.set_ip_adapter_scale(c.ip_adapter_scale)
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
                out = _img2img(pipe)(image=inits, strength=c.strength,
                                     output_type="latent" if refine else "pil", **kwargs)
            else:
                out = pipe(width=w, height=h, output_type="latent" if refine else "pil",
                           denoising_end=(1 - c.refiner_fraction) if refine else None, **kwargs)
            if not refine:
                return list(out.images)
            refiner = load_refiner(c, pipe)
            kwargs.pop("ip_adapter_image_embeds", None)  # the refiner has no adapter
            out = refiner(image=out.images, denoising_start=1 - c.refiner_fraction,
                          output_type="pil", **kwargs)
            return list(out.images)


def load_refiner(c: RenderConfig, base: Any) -> Any:
    """The SDXL refiner, sharing the base's second text encoder and VAE."""
    cached = getattr(base, "_musicvid_refiner", None)
    if cached is not None and cached[0] == c.refiner_model:
        return cached[1]
    diffusers = require_diffusers("keyframes", "sdxl")
    device = resolve_device(c.device)
    try:
        refiner = diffusers.StableDiffusionXLImg2ImgPipeline.from_pretrained(
            c.refiner_model, text_encoder_2=base.text_encoder_2, vae=base.vae,
            add_watermarker=False, **dtype_kwargs(torch_dtype(c.dtype, device), diffusers))
    except Exception as exc:
        raise model_load_error(str(c.refiner_model), "SDXL refiner", "--refiner-model",
                               "MUSICVID_REFINER_MODEL", exc) from exc
    refiner.set_progress_bar_config(disable=True)
    refiner.to(device)
    base._musicvid_refiner = (c.refiner_model, refiner)
    return refiner


@hookimpl
def register_keyframe_generators(register):  # type: ignore[no-untyped-def]
    register(SDXLKeyframes)
