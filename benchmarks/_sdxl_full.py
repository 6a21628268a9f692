"""Full-size SDXL (and TAESDXL) built from the published configs with random weights.

Same shapes, hence the same compute, as the real stabilityai/stable-diffusion-xl-base-1.0,
with no download. Weights are filled with small normal noise (no denormals, no NaNs).
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

SDXL_UNET = {
    "act_fn": "silu", "addition_embed_type": "text_time", "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256, "attention_head_dim": [5, 10, 20],
    "block_out_channels": [320, 640, 1280], "center_input_sample": False,
    "cross_attention_dim": 2048,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4,
    "layers_per_block": 2, "mid_block_scale_factor": 1, "mid_block_type": "UNetMidBlock2DCrossAttn",
    "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4,
    "projection_class_embeddings_input_dim": 2816, "resnet_time_scale_shift": "default",
    "sample_size": 128, "transformer_layers_per_block": [1, 2, 10],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "use_linear_projection": True,
}
SDXL_VAE = {
    "act_fn": "silu", "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4, "in_channels": 3, "latent_channels": 4,
    "layers_per_block": 2, "norm_num_groups": 32, "out_channels": 3, "sample_size": 1024,
    "scaling_factor": 0.13025, "force_upcast": True, "up_block_types": ["UpDecoderBlock2D"] * 4,
}
CLIP_L = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
              num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
              projection_dim=768)
CLIP_G = dict(vocab_size=49408, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
              num_attention_heads=20, max_position_embeddings=77, hidden_act="gelu",
              projection_dim=1280)


@contextlib.contextmanager
def _no_init() -> Any:
    """Skip torch's slow default initialisers while building (we fill weights after)."""
    import torch

    names = ["kaiming_uniform_", "uniform_", "normal_", "xavier_uniform_", "trunc_normal_",
             "zeros_", "ones_", "constant_"]
    saved = {n: getattr(torch.nn.init, n) for n in names}
    for n in names:
        setattr(torch.nn.init, n, lambda t, *a, **k: t)
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(torch.nn.init, n, f)


def _fill(module: Any, seed: int = 0) -> None:
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.fill_(1.0)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.normal_(0.0, 0.02, generator=g)


def build_full_sdxl() -> Any:
    """A full-size ``StableDiffusionXLPipeline`` with random weights (float32, CPU)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from musicvid.testing.tiny_models import write_tiny_tokenizer

    torch.set_flush_denormal(True)
    with _no_init():
        unet = UNet2DConditionModel.from_config(SDXL_UNET)
        vae = AutoencoderKL.from_config(SDXL_VAE)
        te1 = CLIPTextModel(CLIPTextConfig(**CLIP_L))
        te2 = CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_G))
    for i, m in enumerate((unet, vae, te1, te2)):
        _fill(m, i)
        m.eval()
    sched = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                   steps_offset=1, timestep_spacing="leading")
    with tempfile.TemporaryDirectory() as d:
        tok = write_tiny_tokenizer(Path(d))
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=te1, text_encoder_2=te2, tokenizer=tok,
                                     tokenizer_2=tok, unet=unet, scheduler=sched,
                                     add_watermarker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build_full_taesdxl() -> Any:
    """TAESDXL-shaped ``AutoencoderTiny`` (the default config) with random weights."""
    from diffusers import AutoencoderTiny

    with _no_init():
        vae = AutoencoderTiny()
    _fill(vae, 7)
    return vae.eval()
