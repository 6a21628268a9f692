"""Loading the SDXL pipelines of the ``sdxl`` keyframe stage.

:class:`LoadOptions` is what changes the loaded pipeline object (model, device, dtype, the
few-step scheduler and LoRA, the tiny VAE, offload, compile, the IP-Adapter), taken from
the stage's options; :func:`load_sdxl` loads it once per process into a small LRU (through
:func:`~musicvid.defaults._model_cache.cached_load`, so a server reuses pipelines across
jobs); :func:`load_refiner` adds the refiner on the base's shared components.
:func:`model_load_error` says where a model was looked for and how to fix it; the other
model loaders use it too.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._torch import dtype_kwargs, require_diffusers, require_torch, resolve_device, torch_dtype
from ..config import DEFAULT_SDXL_MODEL, FEW_STEP_PRESETS, RenderConfig
from ..errors import ModelLoadError
from ._model_cache import MAX_LOADED, cached_load

if TYPE_CHECKING:  # pragma: no cover
    from .sdxl_keyframes import SDXLOptions

__all__ = ["MAX_LOADED", "LoadOptions", "hf_cache_dir", "load_refiner", "load_sdxl",
           "lora_source", "model_load_error"]

log = logging.getLogger(__name__)

_PIPELINES: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_LOCK = threading.Lock()


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
    def from_options(cls, o: SDXLOptions, c: RenderConfig) -> LoadOptions:
        """From the stage's options ``o`` and the render's device, dtype and references."""
        lora = o.lora
        if lora is None and o.few_step:
            lora = FEW_STEP_PRESETS[o.few_step]["lora"]
            if lora and o.model != DEFAULT_SDXL_MODEL:
                lora = None  # the presets' LoRAs are for the base model; a fine-tune brings its own
        return cls(o.model, c.device, c.dtype, o.few_step, lora, o.tiny_vae,
                   o.cpu_offload, o.compile, o.ip_adapter_model if c.reference else None)

    @classmethod
    def from_config(cls, c: RenderConfig) -> LoadOptions:
        """From a config (its ``sdxl_*`` options over its fields)."""
        from .sdxl_keyframes import sdxl_options

        return cls.from_options(sdxl_options(c), c)


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
    torch = require_torch("keyframes", "sdxl")
    opts = model if isinstance(model, LoadOptions) else LoadOptions(model, device, dtype_name)
    resolved = resolve_device(opts.device)

    def load() -> Any:
        t0 = time.perf_counter()
        pipe = _load_uncached(opts, resolved)
        log.info("loaded SDXL %s on %s in %.1fs", opts.model, resolved, time.perf_counter() - t0)
        return pipe

    return cached_load(_PIPELINES, _LOCK, (opts, resolved), load, most=MAX_LOADED,
                       torch=torch)


def load_refiner(c: RenderConfig, base: Any, model: str | None = None) -> Any:
    """The SDXL refiner ``model`` (default: ``c.refiner_model``), sharing the base's second
    text encoder and VAE."""
    model = model or c.refiner_model
    cached = getattr(base, "_musicvid_refiner", None)
    if cached is not None and cached[0] == model:
        return cached[1]
    diffusers = require_diffusers("keyframes", "sdxl")
    device = resolve_device(c.device)
    try:
        refiner = diffusers.StableDiffusionXLImg2ImgPipeline.from_pretrained(
            model, text_encoder_2=base.text_encoder_2, vae=base.vae,
            add_watermarker=False, **dtype_kwargs(torch_dtype(c.dtype, device), diffusers))
    except Exception as exc:
        raise model_load_error(str(model), "SDXL refiner", "--refiner-model",
                               "MUSICVID_REFINER_MODEL", exc) from exc
    refiner.set_progress_bar_config(disable=True)
    refiner.to(device)
    base._musicvid_refiner = (model, refiner)
    return refiner
