"""Whole process vs the bare encoder, warm and cold: what a user waits for.

    python -m benchmarks whole_process [--seconds 40] [--rounds 2] [--sizes 1280x720,1920x1080]

For each size, each round runs in turn (so drifting load hits every arm):

- ``bare-rgb``: the bare encoder: precomputed Ken Burns RGB frames (90, ping-ponged) fed
  straight into PyAV's libx264 (veryfast, CRF 20, video only, PyAV's colour conversion);
  its encode loop alone is timed (``benchmarks._compositor_jobs bare``);
- ``bare-i420``: the same with frames converted to yuv420p beforehand (the encoder and
  nothing else);
- ``warm``: ``musicvid render SONG -o OUT --images PHOTOS --no-cache`` as a user runs it,
  timed from process start to exit (interpreter, imports, analysis, keyframes, motion,
  encode with AAC audio, validation), with numba's cache already filled;
- ``bare-own``: the bare encoder fed the ``warm`` run's own frames (decoded to yuv420p
  beforehand): x264 on musicvid's content (pulses, grade, crossfades) rather than on a
  plain Ken Burns, so ``bare-own`` / ``warm`` is what the rest of the process costs;
- ``cold``: the same with an empty numba cache (the first run after installing).

The ratio of each round is bare encode seconds / whole-process seconds of that round, so
both sides of a ratio come from one run. The song is the first ``--seconds`` of a real
recording (``shared/data/beats/relax_song.flac`` when present, else a click track), the
picture scikit-learn's ``china.jpg`` (a real photo). Writes JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.compositor import ROOT, run_process

SONG = ROOT.parent / "shared" / "data" / "beats" / "relax_song.flac"


def inputs(tmp: Path, seconds: float, song: Path | None) -> tuple[Path, Path, Path]:
    import soundfile
    from PIL import Image
    from sklearn.datasets import load_sample_image

    photos = tmp / "photos"
    photos.mkdir()
    still = photos / "china.jpg"  # a real photo (CC BY 2.0, via scikit-learn)
    Image.fromarray(load_sample_image("china.jpg")).save(still, quality=95)
    audio = tmp / f"song{seconds:g}.flac"
    src = song if song is not None else (SONG if SONG.is_file() else None)
    if src is not None:
        y, sr = soundfile.read(str(src), frames=int(seconds * soundfile.info(str(src)).samplerate))
        soundfile.write(str(audio), y, sr)
    else:
        from musicvid.testing import write_click_track

        audio = tmp / f"click{seconds:g}.wav"
        write_click_track(audio, 120, seconds)
    return audio, photos, still


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--sizes", default="1280x720,1920x1080")
    ap.add_argument("--song", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    env_base = {"PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                "TRANSFORMERS_VERBOSITY": "error"}
    rows = []
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        audio, photos, still = inputs(tmp, args.seconds, args.song)
        warm_numba = tmp / "numba-warm"
        # fill the warm numba cache once (not timed)
        run_process([sys.executable, "-m", "musicvid", "render", str(audio), "-o",
                     str(tmp / "fill.mp4"), "--images", str(photos), "--width", "320",
                     "--height", "180", "--no-cache", "-q"],
                    env=dict(env_base, NUMBA_CACHE_DIR=str(warm_numba)))
        for size in args.sizes.split(","):
            w, h = (int(v) for v in size.split("x"))
            for r in range(args.rounds):
                row: dict = {"size": size, "round": r}
                for kind in ("bare-rgb", "bare-i420", "warm", "bare-own", "cold"):
                    out = tmp / f"{kind}-{size}-{r}.mp4"
                    if kind == "bare-own":
                        res = run_process([sys.executable, "-m", "benchmarks._compositor_jobs",
                                           "own", str(tmp / f"warm-{size}-{r}.mp4"), "-",
                                           str(out), str(w), str(h), "30", str(args.seconds),
                                           "veryfast", "20"], env=env_base)
                        row[kind] = round(res["encode_s"], 3)
                        continue
                    if kind.startswith("bare"):
                        conv = "pyav" if kind == "bare-rgb" else "i420"
                        res = run_process([sys.executable, "-m", "benchmarks._compositor_jobs",
                                           "bare", str(still), "-", str(out), str(w), str(h),
                                           "30", str(args.seconds), "veryfast", "20", conv],
                                          env=env_base)
                        row[kind] = round(res["encode_s"], 3)
                        row["frames"] = res["frames"]
                        continue
                    numba = warm_numba if kind == "warm" else tmp / f"numba-cold-{size}-{r}"
                    res = run_process(
                        [sys.executable, "-m", "musicvid", "render", str(audio), "-o", str(out),
                         "--images", str(photos), "--width", str(w), "--height", str(h),
                         "--no-cache", "-q", "-v"],
                        env=dict(env_base, NUMBA_CACHE_DIR=str(numba),
                                 MUSICVID_CACHE_DIR=str(tmp / f"cache-{kind}-{size}-{r}")))
                    row[kind] = round(res["wall_s"], 3)
                    row[f"{kind}_cpu_s"] = round(res["cpu_s"], 2)
                for kind in ("warm", "cold"):
                    row[f"{kind}_vs_bare_rgb"] = round(row["bare-rgb"] / row[kind], 3)
                    row[f"{kind}_vs_bare_i420"] = round(row["bare-i420"] / row[kind], 3)
                row["warm_vs_bare_own"] = round(row["bare-own"] / row["warm"], 3)
                row["cold_minus_warm_s"] = round(row["cold"] - row["warm"], 2)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"\nOne run, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, load average "
          f"{load_before} before, {load_after} after; {args.seconds:g} s song, libx264 "
          "veryfast CRF 20, 30 fps.\n")
    print("| size | round | bare encoder RGB s | bare encoder I420 s | bare encoder, own "
          "frames s | musicvid warm s | warm / bare RGB | warm / bare I420 | warm / bare own "
          "| musicvid cold s | cold / bare RGB | cold - warm s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']} | {r['round'] + 1} | {r['bare-rgb']:.1f} | {r['bare-i420']:.1f} | "
              f"{r['bare-own']:.1f} | {r['warm']:.1f} | **{r['warm_vs_bare_rgb']:.2f}x** | "
              f"{r['warm_vs_bare_i420']:.2f}x | {r['warm_vs_bare_own']:.2f}x | {r['cold']:.1f} | "
              f"{r['cold_vs_bare_rgb']:.2f}x | {r['cold_minus_warm_s']:+.1f} |")
    for size in args.sizes.split(","):
        sub = [r for r in rows if r["size"] == size]
        print(f"\n{size}: median warm / bare RGB "
              f"{statistics.median(r['warm_vs_bare_rgb'] for r in sub):.2f}x, warm / bare I420 "
              f"{statistics.median(r['warm_vs_bare_i420'] for r in sub):.2f}x, warm / bare own "
              f"{statistics.median(r['warm_vs_bare_own'] for r in sub):.2f}x, cold - warm "
              f"{statistics.median(r['cold_minus_warm_s'] for r in sub):+.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "load_before": load_before,
                                         "load_after": load_after,
                                         "seconds": args.seconds}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
