"""Keyframe benchmark: full-size SDXL (random weights) on this machine.

    python -m benchmarks.keyframes [--width 768 --height 432 --steps 2 --variants]

Measures, in one process: build time and peak RSS; musicvid's SDXL stage vs a plain
``StableDiffusionXLPipeline.__call__`` with the same settings (alternating, so drift hits
both); per-step UNet cost with and without classifier-free guidance; text encoders; VAE
decode (full vs TAESDXL). ``--variants`` also times threads, channels_last, attention
kernels and bfloat16 on one UNet forward. Writes JSON to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def rss_gb() -> float:
    scale = 1e6 if sys.platform != "darwin" else 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def unet_inputs(torch: Any, batch: int, w: int, h: int) -> tuple[Any, ...]:
    g = torch.Generator().manual_seed(0)
    sample = torch.randn(batch, 4, h // 8, w // 8, generator=g)
    ehs = torch.randn(batch, 77, 2048, generator=g)
    added = {"text_embeds": torch.randn(batch, 1280, generator=g),
             "time_ids": torch.tensor([[h, w, 0, 0, h, w]] * batch, dtype=torch.float32)}
    return sample, torch.tensor(981), ehs, added


def unet_forward(torch: Any, unet: Any, batch: int, w: int, h: int, dtype: Any = None) -> float:
    sample, t, ehs, added = unet_inputs(torch, batch, w, h)
    if dtype is not None:
        sample, ehs = sample.to(dtype), ehs.to(dtype)
        added = {k: v.to(dtype) for k, v in added.items()}
    with torch.inference_mode():
        dt, _ = timed(lambda: unet(sample, t, encoder_hidden_states=ehs, added_cond_kwargs=added))
    return dt


def bf16_probe(w: int, h: int, timeout: int) -> dict[str, Any]:
    code = f"""
import sys, torch; sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
from benchmarks._sdxl_full import build_full_sdxl
from benchmarks.keyframes import unet_forward
p = build_full_sdxl(); u = p.unet.to(torch.bfloat16)
print('BF16', unet_forward(torch, u, 1, {w}, {h}, torch.bfloat16))
"""
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=timeout)
        for line in proc.stdout.splitlines():
            if line.startswith("BF16"):
                return {"unet_fwd_batch1_s": float(line.split()[1])}
        return {"error": proc.stderr[-300:]}
    except subprocess.TimeoutExpired:
        return {"unet_fwd_batch1_s": None, "note": f"did not finish in {timeout} s (build included)"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=768)
    ap.add_argument("--height", type=int, default=432)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--guidance", type=float, default=6.0)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--variants", action="store_true")
    ap.add_argument("--bf16-timeout", type=int, default=420)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)

    import torch

    from benchmarks._sdxl_full import build_full_sdxl, build_full_taesdxl
    from musicvid.config import RenderConfig
    from musicvid.defaults import sdxl_keyframes
    from musicvid.protocols import StageContext
    from musicvid.types import Shot

    torch.set_num_threads(args.threads)
    w, h, steps = args.width, args.height, args.steps
    res: dict[str, Any] = {"machine": platform.processor() or platform.machine(),
                           "cpus": os.cpu_count(), "threads": args.threads, "width": w,
                           "height": h, "steps": steps, "guidance": args.guidance,
                           "torch": torch.__version__, "load_before": os.getloadavg()}
    build_s, pipe = timed(build_full_sdxl)
    res["build_s"] = round(build_s, 1)
    res["rss_after_build_gb"] = round(rss_gb(), 2)
    print(f"built full-size SDXL in {build_s:.0f}s", file=sys.stderr)

    # the stage, with the built pipeline in its loader cache (same object the loader returns)
    config = RenderConfig.create(sdxl_model="full-size-random", keyframe_width=w,
                                 keyframe_height=h, steps=steps, guidance_scale=args.guidance)
    opts = sdxl_keyframes.LoadOptions.from_config(config)
    sdxl_keyframes._PIPELINES[(opts, "cpu")] = pipe
    stage = sdxl_keyframes.SDXLKeyframes()
    ctx = StageContext(config, "keyframes")
    shot = Shot(0, 0, 1, "a lighthouse on a cliff at dusk, cinematic", seed=1,
                negative_prompt="blurry")

    def plain() -> Any:
        return pipe(prompt=[shot.prompt], negative_prompt=[shot.negative_prompt], width=w,
                    height=h, num_inference_steps=steps, guidance_scale=args.guidance,
                    generator=[torch.Generator("cpu").manual_seed(shot.seed)]).images

    def via_stage() -> Any:
        return stage.generate([shot], ctx)

    with torch.inference_mode():
        warm, _ = timed(lambda: pipe(prompt="warm up", width=w, height=h, num_inference_steps=1,
                                     guidance_scale=args.guidance))
    res["warmup_1step_s"] = round(warm, 1)
    plain_s, stage_s = [], []
    for order in ((plain, plain_s), (via_stage, stage_s), (via_stage, stage_s), (plain, plain_s)):
        with torch.inference_mode():
            dt, _ = timed(order[0])
        order[1].append(dt)
        print(f"{order[0].__name__}: {dt:.1f}s", file=sys.stderr)
    res["plain_image_s"] = [round(x, 1) for x in plain_s]
    res["stage_image_s"] = [round(x, 1) for x in stage_s]
    res["stage_over_plain"] = round(sum(stage_s) / sum(plain_s), 3)
    res["rss_peak_gb"] = round(rss_gb(), 2)
    save(args.out, w, h, res)

    # components
    res["unet_step_cfg_s"] = round(unet_forward(torch, pipe.unet, 2, w, h), 1)
    res["unet_step_nocfg_s"] = round(unet_forward(torch, pipe.unet, 1, w, h), 1)
    with torch.inference_mode():
        res["text_encoders_s"] = round(timed(lambda: pipe.encode_prompt(
            shot.prompt, device="cpu", do_classifier_free_guidance=True))[0], 2)
        latents = torch.randn(1, 4, h // 8, w // 8)
        res["vae_decode_s"] = round(timed(lambda: pipe.vae.decode(latents))[0], 1)
        tiny = build_full_taesdxl()
        res["taesdxl_decode_s"] = round(timed(lambda: tiny.decode(latents))[0], 2)
    save(args.out, w, h, res)

    if args.variants:
        v: dict[str, Any] = {}
        base = unet_forward(torch, pipe.unet, 1, w, h)
        v[f"fp32_sdpa_threads{args.threads}"] = round(base, 1)
        torch.set_num_threads(1)
        v["fp32_sdpa_threads1"] = round(unet_forward(torch, pipe.unet, 1, w, h), 1)
        torch.set_num_threads(args.threads)
        pipe.unet.to(memory_format=torch.channels_last)
        v["fp32_sdpa_channels_last"] = round(unet_forward(torch, pipe.unet, 1, w, h), 1)
        pipe.unet.to(memory_format=torch.contiguous_format)
        from diffusers.models.attention_processor import AttnProcessor

        pipe.unet.set_attn_processor(AttnProcessor())
        v["fp32_math_attention"] = round(unet_forward(torch, pipe.unet, 1, w, h), 1)
        res["variants_unet_fwd_batch1_s"] = v
        save(args.out, w, h, res)
        # free this process's copy first: two full-size models do not fit in 24 GiB
        sdxl_keyframes.forget_pipelines()
        del pipe, tiny, stage
        import gc

        gc.collect()
        res["bf16"] = bf16_probe(w, h, args.bf16_timeout)

    res["load_after"] = os.getloadavg()
    print(json.dumps(res, indent=2))
    save(args.out, w, h, res)
    return 0


def save(out: Path, w: int, h: int, res: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"keyframes-{w}x{h}.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
