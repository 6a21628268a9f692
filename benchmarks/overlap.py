"""Streaming overlap: keyframes for later shots made while earlier shots are encoded.

    python -m benchmarks overlap [--seconds 40] [--keyframe-s 1.5] [--rounds 2]

The song is the first ``--seconds`` of the same real recording as
``benchmarks/whole_process.py``. A stand-in keyframe stage sleeps ``--keyframe-s`` per keyframe and paints a solid image:
it uses no CPU, like a generator on a GPU, so what is measured is the pipeline's overlap,
not two jobs fighting over the CPU. Each round renders the same song (720p30, Ken Burns,
libx264 veryfast) with ``overlap=off`` and ``overlap=on``, in turn, and reports both wall
times (less each run's analysis) against the sum and the max of the keyframe time and the encode time (the encode
time is the composite stage of the ``off`` run of the same round).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--keyframe-s", type=float, default=1.5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--size", default="1280x720")
    args = ap.parse_args(argv)

    from benchmarks.whole_process import inputs
    from musicvid import RenderConfig
    from musicvid.pipeline import Pipeline, create_stage
    from musicvid.testing import SolidKeyframes

    class SleepyKeyframes(SolidKeyframes):
        name = "sleepy"
        batch_size = 1

        def generate(self, shots, ctx):  # type: ignore[no-untyped-def]
            time.sleep(args.keyframe_s * len(shots))
            return super().generate(shots, ctx)

    def factory(kind: str, name: str, config: RenderConfig):  # type: ignore[no-untyped-def]
        return SleepyKeyframes() if kind == "keyframes" else create_stage(kind, name, config)

    w, h = (int(v) for v in args.size.split("x"))
    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        audio, _, _ = inputs(tmp, args.seconds, None)
        for r in range(args.rounds):
            row: dict = {"round": r}
            for mode in ("off", "on"):
                config = RenderConfig.create(width=w, height=h, keyframes="solid",
                                             overlap=mode, cache_dir=tmp / f"cache-{r}-{mode}")
                pipe = Pipeline(config, stage_factory=factory)
                t0 = time.perf_counter()
                result = pipe.render(audio, tmp / f"{mode}.mp4")
                # keyframes + encode: the wall time less this run's own analysis
                row[mode] = time.perf_counter() - t0 - result.stats["timings"].get("analyze", 0.0)
                pipe.close()
                row["keyframes"] = result.stats["keyframes_generated"]
                if mode == "off":
                    row["encode_s"] = result.stats["timings"]["composite"]
            kf = row["keyframes"] * args.keyframe_s
            row["keyframes_s"] = kf
            row["sum_s"] = kf + row["encode_s"]
            row["max_s"] = max(kf, row["encode_s"])
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    load_after = os.getloadavg()
    print(f"\nOne run, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, load average "
          f"{load_before} before, {load_after} after; {args.seconds:g} s at {args.size}, "
          f"{args.keyframe_s:g} s per keyframe (no CPU).\n")
    print("| round | keyframes | keyframes s | encode s | sum s | max s | overlap off: s | "
          "overlap on: s | on / off | on / max |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['round'] + 1} | {r['keyframes']} | {r['keyframes_s']:.1f} | "
              f"{r['encode_s']:.1f} | {r['sum_s']:.1f} | {r['max_s']:.1f} | {r['off']:.1f} | "
              f"{r['on']:.1f} | **{r['on'] / r['off']:.2f}** | {r['on'] / r['max_s']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
