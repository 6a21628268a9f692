"""A whole song on this CPU with full-size SDXL (random weights) under --time-budget.

    python -m benchmarks.cpu_song [--duration 180 --budget 60 --few-step lcm]

Builds the full-size SDXL pipeline from the published configs (same compute as the real
weights, no download), hands it to the SDXL stage's loader cache, and renders a synthetic
song of ``--duration`` seconds with ``--time-budget``: the stage measures its own costs,
the planner fits keyframes, steps and size, and the render reports estimate vs real time.
Writes JSON to benchmarks/results/.
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


def song(path: Path, duration: float) -> Path:
    """A synthetic song: sections of different tempo feel and timbre over a steady beat."""
    import numpy as np

    from musicvid.testing.audio import click_track, write_wav

    sr = 22050
    y, _ = click_track(120, duration, sr=sr)
    t = np.arange(len(y)) / sr
    chords = [220.0, 246.9, 196.0, 261.6]
    section = (t // 20).astype(int)
    freq = np.array(chords)[section % 4]
    loud = np.where(section % 3 == 2, 0.25, 0.1)
    y = y + (loud * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return write_wav(path, np.clip(y, -1, 1), sr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=180.0)
    ap.add_argument("--budget", type=float, default=60.0, help="minutes")
    ap.add_argument("--few-step", default="lcm")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)

    import diffusers
    import torch

    from benchmarks._sdxl_full import build_full_sdxl
    from musicvid import RenderConfig, render
    from musicvid.config import FEW_STEP_PRESETS
    from musicvid.defaults import sdxl_keyframes

    torch.set_num_threads(os.cpu_count() or 1)
    t0 = time.perf_counter()
    pipe = build_full_sdxl()
    build_s = time.perf_counter() - t0
    few = args.few_step if args.few_step != "none" else None
    if few:
        preset = FEW_STEP_PRESETS[few]
        pipe.scheduler = getattr(diffusers, preset["scheduler"]).from_config(
            pipe.scheduler.config, **preset["scheduler_config"])
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        audio = song(tmpdir / "song.wav", args.duration)
        config = RenderConfig.create(sdxl_model="full-size-random", few_step=few,
                                     time_budget=args.budget, cache_dir=tmpdir / "cache")
        opts = sdxl_keyframes.LoadOptions.from_config(config)
        sdxl_keyframes._PIPELINES[(opts, "cpu")] = pipe
        events: list[tuple[float, str, int, int, str]] = []

        def progress(stage: str, done: int, total: int, msg: str) -> None:
            if stage in ("budget", "keyframes") or (done == total and total):
                events.append((round(time.perf_counter() - t1, 1), stage, done, total, msg))
                print(f"[{events[-1][0]:7.1f}s] {stage} {done}/{total} {msg}", file=sys.stderr)

        t1 = time.perf_counter()
        result = render(audio, tmpdir / "song.mp4", config, progress=progress)
        total_s = time.perf_counter() - t1
    budget: dict[str, Any] = result.stats.get("budget", {})
    res = {"duration_s": args.duration, "budget_min": args.budget, "few_step": few,
           "build_s": round(build_s, 1), "total_s": round(total_s, 1),
           "estimate_s": round(budget.get("estimate_s", 0.0), 1),
           "estimate_error": round(budget.get("estimate_s", 0.0) / total_s - 1, 3),
           "plan": budget, "timings": result.stats["timings"],
           "keyframes_generated": result.stats["keyframes_generated"],
           "shots": len(result.storyboard.shots), "frames": result.composite.frame_count,
           "load": os.getloadavg()}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"cpu_song-{int(args.duration)}s-{args.budget:g}min-{few or 'full'}.json"
    path.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
