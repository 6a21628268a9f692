"""Tiny random SDXL, SVD and Whisper models, built offline and saved with ``save_pretrained``.

They load through the same ``from_pretrained`` path as the real models, so tests exercise
the real loading and generation code in well under a second per image.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["build_tiny_ip_adapter", "build_tiny_lora", "build_tiny_sdxl", "build_tiny_svd",
           "build_tiny_vae", "build_tiny_whisper", "save_random_lora", "tiny_clip_text",
           "tiny_clip_tokenizer", "tiny_clip_vision", "write_tiny_models", "write_tiny_tokenizer"]


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character map."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def write_tiny_tokenizer(directory: Path) -> Any:
    """A byte-level CLIP tokenizer from a hand-written vocab (no download)."""
    from transformers import CLIPTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    chars = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for ch in chars:
        vocab.setdefault(ch, len(vocab))
    for ch in chars:
        vocab.setdefault(ch + "</w>", len(vocab))
    merges = ["#version: 0.2", "t h", "th e</w>", "a n", "an d</w>", "i n", "in g</w>"]
    for m in merges[1:]:
        a, b = m.split()
        vocab.setdefault(a + b, len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (directory / "merges.txt").write_text("\n".join(merges) + "\n", encoding="utf-8")
    return CLIPTokenizer.from_pretrained(str(directory), model_max_length=77)


def tiny_clip_tokenizer() -> Any:
    """:func:`write_tiny_tokenizer`'s tokenizer, written to a temporary folder and loaded."""
    import tempfile

    with tempfile.TemporaryDirectory() as tok_dir:
        return write_tiny_tokenizer(Path(tok_dir))


def tiny_clip_text(projection: bool = False) -> Any:
    """A tiny random CLIP text encoder, 32 wide (``CLIPTextModelWithProjection`` with
    ``projection``, else ``CLIPTextModel``); weights from torch's current random state."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    cfg = CLIPTextConfig(bos_token_id=0, eos_token_id=2, hidden_size=32, intermediate_size=37,
                         layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2,
                         pad_token_id=1, vocab_size=1000, hidden_act="gelu", projection_dim=32)
    return CLIPTextModelWithProjection(cfg) if projection else CLIPTextModel(cfg)


def tiny_clip_vision(projection_dim: int = 32) -> Any:
    """A tiny random ``CLIPVisionModelWithProjection`` (224×224 images, 32 wide)."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    return CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=projection_dim, num_hidden_layers=2,
        num_attention_heads=4, image_size=224, intermediate_size=37, patch_size=32))


def save_random_lora(pipeline_cls: Any, model_cls: Any, model_dir: str | Path, subfolder: str,
                     layers: str, directory: str | Path, seed: int = 0, rank: int = 4) -> Path:
    """A rank-``rank`` LoRA with random weights on the attention projections of the
    ``model_cls`` in ``model_dir/subfolder``, saved to ``directory`` like a real one by
    ``pipeline_cls.save_lora_weights`` (its ``layers`` argument); B is normally zero at the
    start: here it is not, so the LoRA does something (needs peft)."""
    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(seed)
    model = model_cls.from_pretrained(str(model_dir), subfolder=subfolder)
    model.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=True,
                                 target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    out = Path(directory)
    pipeline_cls.save_lora_weights(str(out), **{layers: get_peft_model_state_dict(model)},
                                   safe_serialization=True)
    return out


def build_tiny_sdxl(directory: str | Path, seed: int = 0) -> Path:
    """Write a tiny random ``StableDiffusionXLPipeline`` to ``directory``; return it."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )

    out = Path(directory)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32,
        in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True,
        addition_embed_type="text_time", addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1), projection_class_embeddings_input_dim=80,
        cross_attention_dim=64, norm_num_groups=8,
    )
    vae = AutoencoderKL(
        block_out_channels=[8, 16, 16, 16], in_channels=3, out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=4, norm_num_groups=8, sample_size=128,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, steps_offset=1, beta_schedule="scaled_linear",
        timestep_spacing="leading")
    text_encoder = tiny_clip_text()
    text_encoder_2 = tiny_clip_text(projection=True)
    tokenizer = tiny_clip_tokenizer()
    pipe = StableDiffusionXLPipeline(
        vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
        tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet, scheduler=scheduler,
        add_watermarker=False)
    pipe.save_pretrained(str(out))
    return out


def build_tiny_vae(directory: str | Path, seed: int = 0) -> Path:
    """A tiny random ``AutoencoderTiny`` (the TAESD family) for ``--tiny-vae``."""
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(seed)
    vae = AutoencoderTiny(in_channels=3, out_channels=3, latent_channels=4,
                          encoder_block_out_channels=(8, 8, 8, 8),
                          decoder_block_out_channels=(8, 8, 8, 8),
                          num_encoder_blocks=(1, 1, 1, 1), num_decoder_blocks=(1, 1, 1, 1))
    out = Path(directory)
    vae.save_pretrained(str(out))
    return out


def build_tiny_lora(sdxl_dir: str | Path, directory: str | Path, seed: int = 0,
                    rank: int = 4) -> Path:
    """A random LoRA for the tiny SDXL UNet, saved like a real one (needs peft)."""
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel

    return save_random_lora(StableDiffusionXLPipeline, UNet2DConditionModel, sdxl_dir, "unet",
                            "unet_lora_layers", directory, seed, rank)


def build_tiny_svd(directory: str | Path, seed: int = 0) -> Path:
    """Write a tiny random ``StableVideoDiffusionPipeline`` to ``directory``; return it."""
    import torch
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor

    out = Path(directory)
    torch.manual_seed(seed)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=8,
        out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=32, num_attention_heads=(2, 4),
        addition_time_embed_dim=8, projection_class_embeddings_input_dim=24,
    )
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=[32, 64], in_channels=3, out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"], latent_channels=4,
    )
    scheduler = EulerDiscreteScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
        interpolation_type="linear", num_train_timesteps=1000, prediction_type="v_prediction",
        sigma_max=700.0, sigma_min=0.002, steps_offset=1, timestep_spacing="leading",
        timestep_type="continuous", trained_betas=None, use_karras_sigmas=True)
    image_encoder = tiny_clip_vision()
    feature_extractor = CLIPImageProcessor(crop_size=224, size={"shortest_edge": 224})
    pipe = StableVideoDiffusionPipeline(
        vae=vae, image_encoder=image_encoder, unet=unet, scheduler=scheduler,
        feature_extractor=feature_extractor)
    pipe.save_pretrained(str(out))
    return out


WHISPER_SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>",
                    "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>",
                    "<|notimestamps|>"]


def build_tiny_whisper(directory: str | Path, seed: int = 0) -> Path:
    """Write a tiny random ``WhisperForConditionalGeneration`` with its processor
    (byte-level tokenizer from a hand-written vocab, the special and timestamp tokens
    Whisper needs, an 80-bin feature extractor) to ``directory``; return it.

    It loads with ``from_pretrained`` like ``openai/whisper-*`` and produces word
    timestamps (one alignment head), so the whole transcription path runs; its words
    are noise.
    """
    import tempfile

    import torch
    from transformers import (
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    vocab: dict[str, int] = {}
    for ch in _bytes_to_unicode().values():
        vocab.setdefault(ch, len(vocab))
    merges = ["#version: 0.2", "Ġ t", "h e", "Ġt he", "i n", "e r"]
    for m in merges[1:]:
        a, b = m.split()
        vocab.setdefault(a + b, len(vocab))
    specials = WHISPER_SPECIALS + [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
    for tok in specials:
        vocab[tok] = len(vocab)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
        (t / "merges.txt").write_text("\n".join(merges) + "\n", encoding="utf-8")
        tokenizer = WhisperTokenizer(str(t / "vocab.json"), str(t / "merges.txt"),
                                     unk_token="<|endoftext|>", bos_token="<|endoftext|>",
                                     eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                     language="en", task="transcribe", predict_timestamps=True)
        tokenizer.add_special_tokens({"additional_special_tokens": specials[1:]})
    ids = {tok: vocab[tok] for tok in WHISPER_SPECIALS}
    torch.manual_seed(seed)
    config = WhisperConfig(
        vocab_size=len(vocab), num_mel_bins=80, d_model=16, encoder_layers=1,
        decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, max_source_positions=1500,
        max_target_positions=64, pad_token_id=ids["<|endoftext|>"],
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|endoftext|>"],
        decoder_start_token_id=ids["<|startoftranscript|>"], begin_suppress_tokens=None,
        suppress_tokens=None)
    model = WhisperForConditionalGeneration(config)
    gen = model.generation_config
    gen.decoder_start_token_id = ids["<|startoftranscript|>"]
    gen.eos_token_id = gen.pad_token_id = ids["<|endoftext|>"]
    gen.no_timestamps_token_id = ids["<|notimestamps|>"]
    gen.prev_sot_token_id = ids["<|startofprev|>"]
    gen.lang_to_id = {"<|en|>": ids["<|en|>"]}
    gen.task_to_id = {"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]}
    gen.is_multilingual = True
    gen.max_initial_timestamp_index = 50
    gen.alignment_heads = [[0, 0], [0, 1]]
    gen.forced_decoder_ids = None
    gen.suppress_tokens = []
    gen.begin_suppress_tokens = [ids["<|endoftext|>"]]
    gen.max_length = 64
    gen._from_model_config = False  # keep these settings when loaded back
    features = WhisperFeatureExtractor(feature_size=80, sampling_rate=16000, hop_length=160,
                                       chunk_length=30, n_fft=400)
    WhisperProcessor(feature_extractor=features, tokenizer=tokenizer).save_pretrained(str(out))
    model.save_pretrained(str(out))
    return out


def write_tiny_models(directory: str | Path) -> dict[str, Path]:
    """``directory/sdxl``, ``directory/svd`` and ``directory/whisper``, built if missing."""
    root = Path(directory)
    out = {}
    for name, build in (("sdxl", build_tiny_sdxl), ("svd", build_tiny_svd)):
        target = root / name
        if not (target / "model_index.json").is_file():
            build(target)
        out[name] = target
    whisper = root / "whisper"
    if not (whisper / "config.json").is_file():
        build_tiny_whisper(whisper)
    out["whisper"] = whisper
    return out



def build_tiny_ip_adapter(sdxl_dir: str | Path, directory: str | Path, seed: int = 0) -> Path:
    """A tiny random IP-Adapter for the tiny SDXL at ``sdxl_dir``, in ``h94/IP-Adapter``'s
    layout: ``sdxl_models/ip-adapter_sdxl.safetensors`` (``image_proj.*`` and
    ``ip_adapter.<n>.to_k_ip/to_v_ip``, one pair per cross-attention layer, n = 1, 3, 5...)
    and ``sdxl_models/image_encoder`` (a tiny ``CLIPVisionModelWithProjection``)."""
    import torch
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file

    from ..defaults.sdxl_reference import (
        IMAGE_ENCODER_FOLDER,
        IP_ADAPTER_SUBFOLDER,
        IP_ADAPTER_WEIGHTS,
    )

    out = Path(directory)
    sub = out / IP_ADAPTER_SUBFOLDER
    torch.manual_seed(seed)
    embed_dim = 16
    encoder = tiny_clip_vision(projection_dim=embed_dim)
    encoder.save_pretrained(str(sub / IMAGE_ENCODER_FOLDER))
    unet = UNet2DConditionModel.from_pretrained(str(Path(sdxl_dir) / "unet"))
    cross = int(unet.config.cross_attention_dim)
    blocks = list(unet.config.block_out_channels)
    tensors = {"image_proj.proj.weight": torch.randn(4 * cross, embed_dim) * 0.5,
               "image_proj.proj.bias": torch.zeros(4 * cross),
               "image_proj.norm.weight": torch.ones(cross),
               "image_proj.norm.bias": torch.zeros(cross)}
    key_id = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            hidden = blocks[-1]
        elif name.startswith("up_blocks"):
            hidden = list(reversed(blocks))[int(name[len("up_blocks.")])]
        else:
            hidden = blocks[int(name[len("down_blocks.")])]
        tensors[f"ip_adapter.{key_id}.to_k_ip.weight"] = torch.randn(hidden, cross) * 0.5
        tensors[f"ip_adapter.{key_id}.to_v_ip.weight"] = torch.randn(hidden, cross) * 0.5
        key_id += 2
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(sub / IP_ADAPTER_WEIGHTS))
    return out
