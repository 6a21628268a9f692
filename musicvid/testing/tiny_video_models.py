"""Tiny random image-to-video (Wan, LTX-Video, CogVideoX) and text-to-image (FLUX, SD3)
pipelines, built offline with the real classes and saved with ``save_pretrained``.

Shapes follow diffusers' own fast tests; text encoders are tiny random T5/CLIP models
(the CLIP ones and the LoRA maker shared with :mod:`.tiny_models`) with tokenizers made
from a hand-written vocabulary, so nothing is downloaded. Each folder loads through the
same ``from_pretrained`` path as a hub id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .tiny_models import save_random_lora, tiny_clip_text, tiny_clip_tokenizer

__all__ = ["build_tiny_cogvideox", "build_tiny_flux", "build_tiny_flux_lora", "build_tiny_ltx", "build_tiny_sd3",
           "build_tiny_wan", "tiny_t5", "write_tiny_t5_tokenizer", "write_tiny_video_models"]


def write_tiny_t5_tokenizer(model_max_length: int = 64) -> Any:
    """A T5 tokenizer (sentencepiece-style Unigram over printable ASCII), built offline."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import T5TokenizerFast

    chars = [chr(c) for c in range(32, 127)]
    vocab = ([("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
             + [(c, -3.0) for c in chars] + [("\u2581" + c, -2.5) for c in chars])
    tk = Tokenizer(models.Unigram(vocab, unk_id=2, byte_fallback=False))
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tk.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    tk.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)])
    return T5TokenizerFast(tokenizer_object=tk, eos_token="</s>", unk_token="<unk>",
                           pad_token="<pad>", extra_ids=0, model_max_length=model_max_length)


def tiny_t5(d_model: int = 32, vocab_size: int = 256, umt5: bool = False) -> Any:
    """A tiny random ``T5EncoderModel`` (``UMT5EncoderModel`` for Wan), ``d_model`` wide."""
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    cls, cfg = (UMT5EncoderModel, UMT5Config) if umt5 else (T5EncoderModel, T5Config)
    return cls(cfg(
        vocab_size=vocab_size, d_model=d_model, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0))


def _save(pipe: Any, directory: str | Path) -> Path:
    out = Path(directory)
    pipe.save_pretrained(str(out))
    return out


def build_tiny_wan(directory: str | Path, seed: int = 0, image_encoder: bool = False) -> Path:
    """A tiny random ``WanImageToVideoPipeline``: the Wan 2.2 image-to-video layout (no
    image encoder; first frame, or first and last frames), or with ``image_encoder`` the
    Wan 2.1 I2V one (a CLIP image encoder; first frame only). Frames 4k+1, sizes in
    multiples of 16."""
    import torch
    from diffusers import (
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        WanImageToVideoPipeline,
        WanTransformer3DModel,
    )

    torch.manual_seed(seed)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36,
        out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2,
        cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
        image_dim=4 if image_encoder else None)
    encoder = processor = None
    if image_encoder:
        from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

        encoder = CLIPVisionModel(CLIPVisionConfig(
            hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2,
            image_size=32, intermediate_size=16, patch_size=8))
        processor = CLIPImageProcessor(crop_size=32, size=32)
    pipe = WanImageToVideoPipeline(
        transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        text_encoder=tiny_t5(32, umt5=True), tokenizer=write_tiny_t5_tokenizer(),
        image_encoder=encoder, image_processor=processor)
    return _save(pipe, directory)


def build_tiny_ltx(directory: str | Path, seed: int = 0, condition: bool = False) -> Path:
    """A tiny random ``LTXImageToVideoPipeline`` (frames 8k+1, sizes in multiples of 32);
    ``condition``: saved as an ``LTXConditionPipeline`` (LTX-Video 0.9.5+ layout)."""
    import torch
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXImageToVideoPipeline,
        LTXVideoTransformer3DModel,
    )

    torch.manual_seed(seed)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4,
        attention_head_dim=8, cross_attention_dim=32, num_layers=1, caption_channels=32)
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False), upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False, patch_size=1, patch_size_t=1, encoder_causal=True,
        decoder_causal=False)
    pipe = LTXImageToVideoPipeline(
        transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(),
        text_encoder=tiny_t5(32), tokenizer=write_tiny_t5_tokenizer())
    if condition:
        from diffusers import LTXConditionPipeline

        pipe = LTXConditionPipeline(**pipe.components)
    return _save(pipe, directory)


def build_tiny_cogvideox(directory: str | Path, seed: int = 0) -> Path:
    """A tiny random ``CogVideoXImageToVideoPipeline`` (learned positional embeddings, so
    one generation size, 16×16; frames 4k+1)."""
    import torch
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXDDIMScheduler,
        CogVideoXImageToVideoPipeline,
        CogVideoXTransformer3DModel,
    )

    torch.manual_seed(seed)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=8, out_channels=4,
        time_embed_dim=2, text_embed_dim=32, num_layers=1, sample_width=2, sample_height=2,
        sample_frames=9, patch_size=2, temporal_compression_ratio=4, max_text_seq_length=16,
        use_rotary_positional_embeddings=True, use_learned_positional_embeddings=True)
    vae = AutoencoderKLCogVideoX(
        in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8),
        latent_channels=4, layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4)
    pipe = CogVideoXImageToVideoPipeline(
        transformer=transformer, vae=vae, scheduler=CogVideoXDDIMScheduler(),
        text_encoder=tiny_t5(32), tokenizer=write_tiny_t5_tokenizer())
    return _save(pipe, directory)


def _tiny_image_vae(latent_channels: int) -> Any:
    from diffusers import AutoencoderKL

    # four blocks: the real scale factor 8
    return AutoencoderKL(
        sample_size=32, in_channels=3, out_channels=3, block_out_channels=(8, 16, 16, 16),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1, latent_channels=latent_channels, norm_num_groups=8,
        use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609,
        scaling_factor=1.5035)


def build_tiny_flux(directory: str | Path, seed: int = 0, guidance_embeds: bool = False
                    ) -> Path:
    """A tiny random ``FluxPipeline`` (schnell-like; ``guidance_embeds=True``: dev-like)."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32,
        axes_dims_rope=[4, 4, 8], guidance_embeds=guidance_embeds)
    tok = tiny_clip_tokenizer()
    pipe = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=tiny_clip_text(),
        text_encoder_2=tiny_t5(32), tokenizer=tok, tokenizer_2=write_tiny_t5_tokenizer(),
        transformer=transformer, vae=_tiny_image_vae(4), image_encoder=None,
        feature_extractor=None)
    return _save(pipe, directory)


def build_tiny_sd3(directory: str | Path, seed: int = 0) -> Path:
    """A tiny random ``StableDiffusion3Pipeline`` (two CLIP text encoders and a T5)."""
    import torch
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )

    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(
        sample_size=32, patch_size=1, in_channels=4, num_layers=1, attention_head_dim=8,
        num_attention_heads=4, caption_projection_dim=32, joint_attention_dim=32,
        pooled_projection_dim=64, out_channels=4)
    tok = tiny_clip_tokenizer()
    pipe = StableDiffusion3Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=tiny_clip_text(True),
        text_encoder_2=tiny_clip_text(True), text_encoder_3=tiny_t5(32), tokenizer=tok,
        tokenizer_2=tok, tokenizer_3=write_tiny_t5_tokenizer(), transformer=transformer,
        vae=_tiny_image_vae(4))
    return _save(pipe, directory)


def build_tiny_flux_lora(flux_dir: str | Path, directory: str | Path, seed: int = 0,
                         rank: int = 4) -> Path:
    """A random LoRA for the tiny FLUX transformer, saved like a real one (needs peft)."""
    from diffusers import FluxPipeline, FluxTransformer2DModel

    return save_random_lora(FluxPipeline, FluxTransformer2DModel, flux_dir, "transformer",
                            "transformer_lora_layers", directory, seed, rank)


BUILDERS = {"wan": build_tiny_wan, "ltx": build_tiny_ltx, "cogvideox": build_tiny_cogvideox,
            "flux": build_tiny_flux, "sd3": build_tiny_sd3}


def write_tiny_video_models(directory: str | Path, names: tuple[str, ...] = tuple(BUILDERS)
                            ) -> dict[str, Path]:
    """``directory/NAME`` for each of ``names`` (wan, ltx, cogvideox, flux, sd3), built if
    missing."""
    root = Path(directory)
    out = {}
    for name in names:
        target = root / name
        if not (target / "model_index.json").is_file():
            BUILDERS[name](target)
        out[name] = target
    return out
