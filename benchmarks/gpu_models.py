"""GPU benchmark: full-size random-weight models through musicvid's stages, in < 10 min.

    python -m benchmarks gpu_models [--family wan|ltx|cogvideox] [--skip-sdxl]
    python -m benchmarks gpu_models --dry-run      # CPU: the same code on tiny models

Measures on one CUDA GPU:

1. **SDXL keyframe** at 1344×768, 30 steps, fp16: musicvid's ``sdxl`` stage vs a plain
   ``StableDiffusionXLPipeline.__call__`` (alternating), and the peak VRAM.
2. **Image-to-video**, the largest family that fits (Wan 2.1 I2V 14B, else CogVideoX 5B,
   else LTX-Video 2B; or ``--family``): one segment through the ``i2v`` stage at 2 and at
   3 steps, so that the per-step cost and the fixed cost (text encoder, VAE encode and
   decode) separate; extrapolated to the family's default steps as **seconds of
   generation per second of video**, and the peak VRAM.

Models are built from the published configurations with random weights, directly on the
GPU (same shapes, hence the same compute and memory; no download). Results go to
``benchmarks/results/gpu_models.json`` (``gpu_models-dry.json`` for a dry run) with the
GPU's name.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"

# published configurations (diffusers format)
WAN_14B_I2V = dict(
    added_kv_proj_dim=5120, attention_head_dim=128, cross_attn_norm=True, eps=1e-06,
    ffn_dim=13824, freq_dim=256, image_dim=1280, in_channels=36, num_attention_heads=40,
    num_layers=40, out_channels=16, patch_size=(1, 2, 2), qk_norm="rms_norm_across_heads",
    rope_max_seq_len=1024, text_dim=4096)
UMT5_XXL = dict(vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24,
                num_heads=64, relative_attention_num_buckets=32,
                relative_attention_max_distance=128, feed_forward_proj="gated-gelu",
                dense_act_fn="gelu_new", is_gated_act=True, pad_token_id=0, eos_token_id=1)
CLIP_H_VISION = dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
                     num_attention_heads=16, image_size=224, patch_size=14, projection_dim=1024,
                     hidden_act="gelu")
T5_XXL = dict(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
              relative_attention_num_buckets=32, feed_forward_proj="gated-gelu",
              dense_act_fn="gelu_new", is_gated_act=True, pad_token_id=0, eos_token_id=1)
COG_5B_I2V = dict(
    num_attention_heads=48, attention_head_dim=64, in_channels=32, out_channels=16,
    time_embed_dim=512, text_embed_dim=4096, num_layers=42, sample_width=90, sample_height=60,
    sample_frames=49, patch_size=2, temporal_compression_ratio=4, max_text_seq_length=226,
    use_rotary_positional_embeddings=True, use_learned_positional_embeddings=True,
    ofs_embed_dim=None)
LTX_2B = dict(in_channels=128, out_channels=128, patch_size=1, patch_size_t=1,
              num_attention_heads=32, attention_head_dim=64, cross_attention_dim=2048,
              num_layers=28, caption_channels=4096)


def log(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


@contextlib.contextmanager
def random_init(device: str) -> Any:
    """Build modules directly on ``device`` with torch's initialisers skipped."""
    import torch

    names = ["kaiming_uniform_", "uniform_", "normal_", "xavier_uniform_", "trunc_normal_",
             "zeros_", "ones_", "constant_", "xavier_normal_", "kaiming_normal_"]
    saved = {n: getattr(torch.nn.init, n) for n in names}
    for n in names:
        setattr(torch.nn.init, n, lambda t, *a, **k: t)
    try:
        with torch.device(device):
            yield
    finally:
        for n, f in saved.items():
            setattr(torch.nn.init, n, f)


def fill(module: Any, seed: int, dtype: Any) -> Any:
    """Small normal weights (no NaNs, no denormals), then ``dtype``."""
    import torch

    g = torch.Generator(device=next(module.parameters()).device).manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim == 1 and ("norm" in name or name.endswith("weight")):
                p.fill_(1.0)
            elif p.ndim == 1:
                p.zero_()
            else:
                p.normal_(0.0, 0.02, generator=g)
    return module.to(dtype).eval()


def peak_gb(torch: Any) -> float:
    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else 0.0


def reset_peak(torch: Any) -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def timed(fn: Any) -> tuple[float, Any]:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t0, out


# -- 1. SDXL keyframe: stage vs plain diffusers ---------------------------------------------
def bench_sdxl(dry: bool, device: str) -> dict[str, Any]:
    import torch

    from musicvid import RenderConfig, Shot
    from musicvid.defaults import sdxl_keyframes
    from musicvid.protocols import StageContext

    if dry:
        import tempfile

        from musicvid.testing.tiny_models import build_tiny_sdxl

        d = tempfile.mkdtemp()
        build_tiny_sdxl(d)
        from diffusers import StableDiffusionXLPipeline

        pipe = StableDiffusionXLPipeline.from_pretrained(d, add_watermarker=False)
        pipe.set_progress_bar_config(disable=True)
        w, h, steps, dtype = 128, 64, 2, "float32"
    else:
        sys.path.insert(0, str(Path(__file__).parent.parent))
        from benchmarks._sdxl_full import build_full_sdxl

        build_s, pipe = timed(build_full_sdxl)
        log(f"built full-size SDXL in {build_s:.0f}s")
        pipe.to(device, torch.float16)
        w, h, steps, dtype = 1344, 768, 30, "float16"
    res: dict[str, Any] = {"width": w, "height": h, "steps": steps, "dtype": dtype}
    config = RenderConfig.create(profile="gpu" if not dry else "cpu", sdxl_model="full-size-random",
                                 keyframe_width=w, keyframe_height=h, steps=steps,
                                 batch_size=1, device=device, dtype=dtype)
    opts = sdxl_keyframes.LoadOptions.from_config(config)
    from musicvid._torch import resolve_device

    sdxl_keyframes._PIPELINES[(opts, resolve_device(device))] = pipe
    stage = sdxl_keyframes.SDXLKeyframes()
    ctx = StageContext(config, "keyframes")
    stage.preflight(ctx)
    shot = Shot(0, 0, 1, "a lighthouse on a cliff at dusk, cinematic", seed=1,
                negative_prompt="blurry")

    def plain() -> Any:
        with torch.inference_mode():
            return pipe(prompt=[shot.prompt], negative_prompt=[shot.negative_prompt], width=w,
                        height=h, num_inference_steps=steps, guidance_scale=config.guidance_scale,
                        generator=[torch.Generator("cpu").manual_seed(shot.seed)]).images

    def via_stage() -> Any:
        return stage.generate([shot], ctx)

    res["warmup_s"] = round(timed(plain)[0], 2)
    reset_peak(torch)
    plain_s, stage_s = [], []
    for fn, out in ((plain, plain_s), (via_stage, stage_s), (via_stage, stage_s),
                    (plain, plain_s)):
        dt, _ = timed(fn)
        out.append(round(dt, 2))
        log(f"sdxl {fn.__name__}: {dt:.2f}s")
    res.update(plain_image_s=plain_s, stage_image_s=stage_s,
               stage_over_plain=round(sum(stage_s) / sum(plain_s), 3), peak_vram_gb=peak_gb(torch))
    sdxl_keyframes.forget_pipelines()
    pipe = stage = None  # free them before the video model
    reset_peak(torch)
    return res


# -- 2. image-to-video: seconds per second of video -----------------------------------------
def build_video(family: str, dry: bool, device: str) -> tuple[Any, str]:
    """(pipeline, dtype name) of ``family``: full size on the GPU, or tiny for a dry run."""
    import diffusers
    import torch

    from musicvid.testing.tiny_video_models import write_tiny_t5_tokenizer

    if dry:
        import tempfile

        from musicvid.testing.tiny_video_models import BUILDERS

        d = Path(tempfile.mkdtemp()) / family
        BUILDERS[family](d)
        cls = {"wan": "WanImageToVideoPipeline", "ltx": "LTXImageToVideoPipeline",
               "cogvideox": "CogVideoXImageToVideoPipeline"}[family]
        return getattr(diffusers, cls).from_pretrained(str(d)), "float32"
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        CLIPVisionModel,
        T5Config,
        T5EncoderModel,
        UMT5Config,
        UMT5EncoderModel,
    )

    bf16 = torch.bfloat16
    tok = write_tiny_t5_tokenizer(512)
    with random_init(device):
        if family == "wan":
            transformer = fill(diffusers.WanTransformer3DModel(**WAN_14B_I2V), 0, bf16)
            text = fill(UMT5EncoderModel(UMT5Config(**UMT5_XXL)), 1, bf16)
            image = fill(CLIPVisionModel(CLIPVisionConfig(**CLIP_H_VISION)), 2, bf16)
            vae = fill(diffusers.AutoencoderKLWan(), 3, torch.float32)
            pipe = diffusers.WanImageToVideoPipeline(
                tokenizer=tok, text_encoder=text, image_encoder=image,
                image_processor=CLIPImageProcessor(crop_size=224, size={"shortest_edge": 224}),
                transformer=transformer, vae=vae,
                scheduler=diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0))
        else:  # CogVideoX or LTX-Video: a T5-XXL text encoder, all in bfloat16
            transformer_cls, config, vae_cls, pipe_cls, scheduler_cls = (
                (diffusers.CogVideoXTransformer3DModel, COG_5B_I2V,
                 diffusers.AutoencoderKLCogVideoX, diffusers.CogVideoXImageToVideoPipeline,
                 diffusers.CogVideoXDDIMScheduler) if family == "cogvideox" else
                (diffusers.LTXVideoTransformer3DModel, LTX_2B, diffusers.AutoencoderKLLTXVideo,
                 diffusers.LTXImageToVideoPipeline, diffusers.FlowMatchEulerDiscreteScheduler))
            transformer = fill(transformer_cls(**config), 0, bf16)
            text = fill(T5EncoderModel(T5Config(**T5_XXL)), 1, bf16)
            vae = fill(vae_cls(), 3, bf16)
            pipe = pipe_cls(tokenizer=tok, text_encoder=text, transformer=transformer, vae=vae,
                            scheduler=scheduler_cls())
    pipe.set_progress_bar_config(disable=True)
    return pipe, "bfloat16"


def bench_i2v(family: str, dry: bool, device: str) -> dict[str, Any]:
    import numpy as np
    import torch
    from PIL import Image

    from musicvid import Keyframe, RenderConfig, Shot, Storyboard
    from musicvid._torch import resolve_device, torch_dtype
    from musicvid.defaults import i2v_motion
    from musicvid.protocols import StageContext

    fam = i2v_motion.FAMILIES[family]
    reset_peak(torch)
    build_s, (pipe, dtype_name) = timed(lambda: build_video(family, dry, device))
    log(f"built {fam.label} in {build_s:.0f}s")
    model = f"full-size-random-{family}"
    dev = resolve_device(device)
    dtype = torch_dtype(dtype_name, dev)
    if dry:
        pipe.to(dev)
    i2v_motion._PIPELINES[(model, dev, str(dtype), "none")] = pipe
    options = {"i2v_offload": "none", "i2v_release": "never"}
    if dry:
        options.update(i2v_width="32", i2v_height="32", i2v_frames="9")
    w, h = (1920, 1080) if not dry else (64, 36)

    def run(steps: int) -> tuple[float, dict[str, Any]]:
        config = RenderConfig.create(profile="gpu" if not dry else "cpu", video_model=model,
                                     width=w, height=h, device=device,
                                     dtype="float16" if not dry else "float32",
                                     options={**options, "i2v_steps": str(steps)})
        stage = i2v_motion.I2VMotion()
        stage._families[model] = fam
        ctx = StageContext(config, "motion")
        s = stage.settings(ctx, Storyboard(fps=30, frame_count=1, shots=[Shot(0, 0, 1, "p", 1)],
                                           width=w, height=h), pipe)
        n_out = int(round((s["frames"] - 1) / s["fps"] * 30)) + 1  # one segment
        board = Storyboard(fps=30, frame_count=n_out, width=w, height=h,
                           shots=[Shot(0, 0, n_out, "a lighthouse at dusk, waves", 1,
                                       motion={"kind": "auto", "pulses": []})])
        from musicvid import Analysis

        analysis = Analysis(duration=n_out / 30, sample_rate=22050, tempo=120.0, beats=[])
        kf = Keyframe(Image.fromarray(np.full((h, w, 3), 128, np.uint8)))
        dt, clip = timed(lambda: stage.animate(kf, board.shots[0], board, analysis, ctx))
        assert len(clip.meta["segments"]) == 1, clip.meta["segments"]
        return dt, s

    res: dict[str, Any] = {"family": family, "build_s": round(build_s, 1)}
    t2, s = run(2)
    log(f"{family}: 2 steps {t2:.1f}s")
    t3, _ = run(3)
    log(f"{family}: 3 steps {t3:.1f}s")
    step = max(0.0, t3 - t2)
    fixed = max(0.0, t2 - 2 * step)
    seconds = (s["frames"] - 1) / s["fps"]
    default = fam.steps
    res.update(width=s["width"], height=s["height"], frames=s["frames"], native_fps=s["fps"],
               guidance=s["guidance"], seg_2_steps_s=round(t2, 2), seg_3_steps_s=round(t3, 2),
               step_s=round(step, 2), fixed_s=round(fixed, 2), default_steps=default,
               segment_video_s=round(seconds, 3),
               s_per_video_s=round((fixed + default * step) / seconds, 2),
               s_per_video_s_8_steps=round((fixed + 8 * step) / seconds, 2),
               peak_vram_gb=peak_gb(torch))
    i2v_motion.forget_pipelines()
    pipe = None
    reset_peak(torch)
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks gpu_models")
    p.add_argument("--family", choices=("wan", "cogvideox", "ltx"), default=None,
                   help="i2v family (default: the largest that fits: wan, cogvideox, ltx)")
    p.add_argument("--skip-sdxl", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny models: the code path")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch

    device = "cpu" if args.dry_run else "cuda"
    if not args.dry_run and not torch.cuda.is_available():
        log("no CUDA GPU: run with --dry-run to check the code path on a CPU")
        return 2
    res: dict[str, Any] = {
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "vram_gb": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
        if torch.cuda.is_available() else None,
        "torch": torch.__version__, "machine": platform.machine(), "dry_run": args.dry_run}
    import diffusers

    res["diffusers"] = diffusers.__version__
    name = "gpu_models-dry.json" if args.dry_run else "gpu_models.json"
    args.out.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        (args.out / name).write_text(json.dumps(res, indent=2))

    t0 = time.perf_counter()
    if not args.skip_sdxl:
        res["sdxl"] = bench_sdxl(args.dry_run, device)
        save()
    order = [args.family] if args.family else ["wan", "cogvideox", "ltx"]
    for family in order:
        try:
            res["i2v"] = bench_i2v(family, args.dry_run, device)
            break
        except torch.cuda.OutOfMemoryError as exc:
            log(f"{family} does not fit: {str(exc).splitlines()[0]}")
            res.setdefault("did_not_fit", []).append(family)
            from musicvid.defaults import i2v_motion

            i2v_motion.forget_pipelines()
            reset_peak(torch)
    res["total_s"] = round(time.perf_counter() - t0, 1)
    save()
    sys.stdout.write(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
