"""The default keyframe generator: Stable Diffusion XL through diffusers."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._torch import require_diffusers, require_torch, resolve_device, torch_dtype
from ..errors import ModelLoadError, RenderCancelled
from ..hookspecs import hookimpl
from ..protocols import StageContext
from ..types import Shot

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

log = logging.getLogger(__name__)

_PIPELINES: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
_LOCK = threading.Lock()
MAX_LOADED = int(os.environ.get("MUSICVID_MAX_LOADED_PIPELINES", "1"))


def hf_cache_dir() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except Exception:  # pragma: no cover - huggingface_hub always comes with diffusers
        return str(Path.home() / ".cache" / "huggingface" / "hub")


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
        if gated:
            msg += (" This model is gated: accept its licence on its Hugging Face page and "
                    "set HF_TOKEN to a token of that account.")
    return ModelLoadError(msg, stage="keyframes" if kind == "SDXL" else "motion")


def load_sdxl(model: str, device: str, dtype_name: str) -> Any:
    """Load (once per process, LRU) a ``StableDiffusionXLPipeline`` from an id or folder."""
    torch = require_torch("keyframes", "sdxl")
    diffusers = require_diffusers("keyframes", "sdxl")
    device = resolve_device(device)
    dtype = torch_dtype(dtype_name, device)
    key = (model, device, str(dtype))
    with _LOCK:
        if key in _PIPELINES:
            _PIPELINES.move_to_end(key)
            return _PIPELINES[key]
        t0 = time.perf_counter()
        try:
            pipe = diffusers.StableDiffusionXLPipeline.from_pretrained(
                model, dtype=dtype, add_watermarker=False,
)
        except Exception as exc:  # hub, file system and config errors all land here
            raise model_load_error(model, "SDXL", "--sdxl-model", "MUSICVID_SDXL_MODEL",
                                   exc) from exc
        pipe.set_progress_bar_config(disable=True)
        pipe.to(device)
        if device.startswith("cuda"):
            pipe.unet.to(memory_format=torch.channels_last)
        while len(_PIPELINES) >= MAX_LOADED:
            _PIPELINES.popitem(last=False)
        _PIPELINES[key] = pipe
        log.info("loaded SDXL %s on %s (%s) in %.1fs", model, device, dtype,
                 time.perf_counter() - t0)
        return pipe


class SDXLKeyframes:
    """Text-to-image keyframes with ``StableDiffusionXLPipeline``."""

    name = "sdxl"
    batch_size = 1

    def cache_key_parts(self, ctx: StageContext) -> dict[str, Any]:
        c = ctx.config
        return {"model": c.sdxl_model, "w": c.keyframe_width, "h": c.keyframe_height,
                "steps": c.steps, "cfg": c.guidance_scale, "dtype": c.dtype}

    def preflight(self, ctx: StageContext) -> None:
        require_diffusers("keyframes", self.name)

    def generate(self, shots: Sequence[Shot], ctx: StageContext) -> list[Image.Image]:
        torch = require_torch("keyframes", self.name)
        c = ctx.config
        pipe = load_sdxl(c.sdxl_model, c.device, c.dtype)
        w, h = (c.keyframe_width // 8) * 8, (c.keyframe_height // 8) * 8

        def on_step(pipeline: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            if ctx.is_cancelled():
                raise RenderCancelled("render cancelled", stage=ctx.stage)
            return kwargs

        generators = [torch.Generator("cpu").manual_seed(s.seed) for s in shots]
        with torch.inference_mode():
            out = pipe(prompt=[s.prompt for s in shots],
                       negative_prompt=[s.negative_prompt for s in shots],
                       width=w, height=h, num_inference_steps=c.steps,
                       guidance_scale=c.guidance_scale, generator=generators,
                       callback_on_step_end=on_step, output_type="pil")
        return list(out.images)


@hookimpl
def register_keyframe_generators(register):  # type: ignore[no-untyped-def]
    register(SDXLKeyframes)
