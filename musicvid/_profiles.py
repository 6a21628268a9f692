"""What the ``cpu``/``cpu-fast``/``gpu`` profiles set, the default models, the few-step
SDXL presets, and what some options imply (``--images DIR`` alone: a photo video). Used
by :meth:`RenderConfig.create <musicvid.config.RenderConfig.create>`; anything passed
explicitly wins. :mod:`musicvid.config` re-exports the public names.
"""

from __future__ import annotations

import os
from typing import Any

from ._parsers import _env_flag
from ._vocab import Profile
from .errors import InvalidOptionError
from .options import env_values

__all__ = ["DEFAULT_IP_ADAPTER", "DEFAULT_SDXL_MODEL", "DEFAULT_SVD_MODEL", "DEFAULT_TINY_VAE",
           "DEFAULT_VIDEO_MODEL", "FEW_STEP_PRESETS", "base_values", "implied_values"]

DEFAULT_SDXL_MODEL = "stabilityai/stable-diffusion-xl-base-1.0"
DEFAULT_IP_ADAPTER = "h94/IP-Adapter"  # sdxl_models/ip-adapter_sdxl.safetensors, Apache-2.0
DEFAULT_SVD_MODEL = "stabilityai/stable-video-diffusion-img2vid-xt-1-1"
# image-to-video (--motion i2v) and text-to-image (--image-model) families: docs/models.md
DEFAULT_VIDEO_MODEL = "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"
DEFAULT_TINY_VAE = "madebyollin/taesdxl"


# Few-step SDXL variants by configuration: sampler settings for each family. "lcm" and
# "lightning" also load their LoRA (LCM-LoRA; SDXL-Lightning's 4-step LoRA, a file of the
# hub repo ``owner/name/file``) onto the base model unless --lora names another LoRA.
FEW_STEP_PRESETS: dict[str, dict[str, Any]] = {
    "turbo": {"steps": 4, "guidance_scale": 0.0, "scheduler": "EulerAncestralDiscreteScheduler",
              "scheduler_config": {"timestep_spacing": "trailing"}, "lora": None},
    "lightning": {"steps": 4, "guidance_scale": 0.0, "scheduler": "EulerDiscreteScheduler",
                  "scheduler_config": {"timestep_spacing": "trailing"},
                  "lora": "ByteDance/SDXL-Lightning/sdxl_lightning_4step_lora.safetensors"},
    "lcm": {"steps": 6, "guidance_scale": 1.0, "scheduler": "LCMScheduler",
            "scheduler_config": {}, "lora": "latent-consistency/lcm-lora-sdxl"},
}

# What each profile sets; anything passed explicitly wins.
_CPU = dict(width=1280, height=720, keyframe_width=768, keyframe_height=432, steps=20,
            guidance_scale=6.0, motion="kenburns", device="cpu", dtype="float32")
_PROFILES: dict[Profile, dict[str, Any]] = {
    Profile.CPU: _CPU,
    # SDXL base + SDXL-Lightning's 4-step LoRA (no CFG) + TAESDXL: ~10x less compute per
    # keyframe than 20 CFG steps and the full VAE, at a quality that holds up
    Profile.CPU_FAST: dict(_CPU, few_step="lightning", steps=FEW_STEP_PRESETS["lightning"]["steps"],
                           guidance_scale=FEW_STEP_PRESETS["lightning"]["guidance_scale"],
                           tiny_vae=DEFAULT_TINY_VAE),
    Profile.GPU: dict(width=1920, height=1080, keyframe_width=1344, keyframe_height=768,
                      steps=30, guidance_scale=6.0, motion="auto", device="cuda",
                      dtype="float16"),
}


def base_values(profile: str | Profile | None) -> dict[str, Any]:
    """Field -> value from ``profile`` (None: ``SOTA_CPU_ONLY``, ``1`` -> cpu, ``0`` ->
    gpu, else cpu), then from the options' environment variables."""
    if profile is None:
        cpu_only = _env_flag("SOTA_CPU_ONLY")
        profile = Profile.GPU if cpu_only is False else Profile.CPU
    prof = Profile.parse(profile)
    values: dict[str, Any] = dict(_PROFILES[prof], profile=prof)
    values.update(env_values())
    if values.get("ray_address") and "MUSICVID_EXECUTOR" not in os.environ:
        values["executor"] = "ray"  # a Ray address alone means: run on that cluster
    return values


def implied_values(values: dict[str, Any], given: dict[str, Any]) -> None:
    """Add to ``values`` what the ``given`` options imply: a few-step preset's sampler,
    the GPU's batch, and the stage an ``images``/``image_model``/``video_model`` alone
    selects."""
    few = given.get("few_step")
    if few is not None:
        preset = FEW_STEP_PRESETS.get(str(few))
        if preset is None:
            raise InvalidOptionError("few-step", few, list(FEW_STEP_PRESETS))
        values["steps"] = preset["steps"]
        values["guidance_scale"] = preset["guidance_scale"]
    if values.get("profile") is Profile.GPU:
        values.setdefault("batch_size", 4)
    if given.get("images") is not None and given.get("keyframes") is None:
        values["keyframes"] = "images"  # --images DIR alone means a photo video
    if (given.get("image_model") or values.get("image_model")) and \
            given.get("keyframes") is None and given.get("images") is None:
        values["keyframes"] = "t2i"  # --image-model alone means: keyframes from that model
    if given.get("video_model") and given.get("motion") is None:
        values["motion"] = "i2v"  # --video-model alone means: motion from that model
