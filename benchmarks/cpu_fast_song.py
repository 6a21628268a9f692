"""A song under ``--profile cpu-fast`` with full-size SDXL (random weights) on this CPU.

    python -m benchmarks cpu_fast_song --duration 180 --budget 45    # the 3-minute song
    python -m benchmarks cpu_fast_song --duration 25 --budget 45     # a short check

Builds SDXL base from its published configs with random weights (the same compute as the
real weights, no download), with the Euler/trailing scheduler of SDXL-Lightning's 4-step
preset and a TAESDXL-shaped tiny VAE, and hands it to the SDXL stage's loader cache under
the ``cpu-fast`` profile's settings (4 steps, no CFG, tiny VAE). The Lightning LoRA is not
fused: fused into the UNet it changes the weights, not the compute. The song is the first
``--duration`` seconds of ``shared/data/beats/relax_song.flac`` (181.5 s) when present,
else a synthetic song. The render runs with ``--time-budget``: the stage calibrates, the
planner gives every distinct shot its own keyframe if it can, and the estimate printed
before the keyframes is compared with the real time. ``--tiny`` runs the same script on
a tiny random model (a check of the script, not a benchmark). Writes JSON to
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=180.0)
    ap.add_argument("--budget", type=float, default=45.0, help="minutes")
    ap.add_argument("--tiny", action="store_true", help="a tiny model: check the script")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)

    import diffusers
    import torch

    from benchmarks.whole_process import inputs
    from musicvid import RenderConfig, render
    from musicvid.config import FEW_STEP_PRESETS
    from musicvid.defaults import sdxl_keyframes

    torch.set_num_threads(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        t0 = time.perf_counter()
        if args.tiny:
            from musicvid.testing.tiny_models import build_tiny_sdxl, build_tiny_vae

            pipe = diffusers.StableDiffusionXLPipeline.from_pretrained(
                str(build_tiny_sdxl(tmpdir / "sdxl")), add_watermarker=False)
            pipe.vae = diffusers.AutoencoderTiny.from_pretrained(
                str(build_tiny_vae(tmpdir / "taesd")))
            size = dict(width=320, height=180, keyframe_width=128, keyframe_height=72)
        else:
            from benchmarks._sdxl_full import build_full_sdxl, build_full_taesdxl

            pipe = build_full_sdxl()
            pipe.vae = build_full_taesdxl()
            size = {}
        build_s = time.perf_counter() - t0
        preset = FEW_STEP_PRESETS["lightning"]
        pipe.scheduler = getattr(diffusers, preset["scheduler"]).from_config(
            pipe.scheduler.config, **preset["scheduler_config"])
        pipe.set_progress_bar_config(disable=True)
        audio, _, _ = inputs(tmpdir, args.duration, None)
        config = RenderConfig.create(profile="cpu-fast", sdxl_model="full-size-random",
                                     time_budget=args.budget, cache_dir=tmpdir / "cache",
                                     **size)
        opts = sdxl_keyframes.LoadOptions.from_config(config)
        sdxl_keyframes._PIPELINES[(opts, "cpu")] = pipe
        events: list[dict[str, Any]] = []

        def progress(stage: str, done: int, total: int, msg: str) -> None:
            if stage in ("budget", "keyframes") or (done == total and total):
                events.append({"t": round(time.perf_counter() - t1, 1), "stage": stage,
                               "done": done, "total": total, "msg": msg})
                print(f"[{events[-1]['t']:7.1f}s] {stage} {done}/{total} {msg}",
                      file=sys.stderr, flush=True)

        load_before = os.getloadavg()
        t1 = time.perf_counter()
        result = render(audio, tmpdir / "song.mp4", config, progress=progress)
        total_s = time.perf_counter() - t1
        load_after = os.getloadavg()
    budget: dict[str, Any] = result.stats.get("budget", {})
    first = budget["estimates"][0]["estimate_s"] if budget.get("estimates") else 0.0
    distinct = len({(s.prompt, s.negative_prompt, s.seed) for s in result.storyboard.shots})
    res = {"duration_s": args.duration, "budget_min": args.budget, "tiny": args.tiny,
           "build_s": round(build_s, 1), "total_s": round(total_s, 1),
           "estimate_s": round(first, 1),
           "estimate_error": round(first / total_s - 1, 3) if total_s else None,
           "distinct_shots": distinct, "shots": len(result.storyboard.shots),
           "keyframes_generated": result.stats["keyframes_generated"],
           "every_distinct_shot_its_keyframe": result.stats["keyframes_generated"] == distinct,
           "plan": budget, "timings": result.stats["timings"],
           "frames": result.composite.frame_count, "load_before": load_before,
           "load_after": load_after, "events": events}
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"cpu_fast_song-{int(args.duration)}s-{args.budget:g}min{'-tiny' if args.tiny else ''}"
    (args.out / f"{name}.json").write_text(json.dumps(res, indent=2))
    print(json.dumps({k: v for k, v in res.items() if k not in ("events", "plan")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
