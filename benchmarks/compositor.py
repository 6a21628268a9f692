"""Compositor and Ken Burns benchmark: one command, every number from the same run.

    python -m benchmarks.compositor --moviepy-python /tmp/bench-venv/bin/python

1. MoviePy (ImageClip + resized(lambda t) zoom + write_videofile, libx264) on a 60 s
   1080p30 Ken Burns job from one still + audio (run by ``--moviepy-python``, a separate
   venv: ``python3 -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install moviepy``);
2. musicvid's Ken Burns + compositor on the same job;
3. the bare encoder: the same number of precomputed RGB frames straight into PyAV
   (libx264, same preset and CRF), with PyAV's colour conversion, and with OpenCV's.

Throughput is frames / wall time of the whole process for (1) and (2) (interpreter
start, imports, audio, faststart and validation included) and frames / encode time for
(3) (its precomputation excluded). Also: Ken Burns frames/s at 720p and 1080p (warp
only; and with encode), the rgb->yuv420p conversion paths, and peak RSS for a 30 s and
a 10 min song (Ken Burns + compositor; and the whole ``musicvid render`` with tiny
models). Prints markdown tables and writes JSON next to them (``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_process(cmd: list[str], env: dict[str, str] | None = None) -> dict:
    """Run ``cmd``; its wall time, peak RSS (POSIX) and the JSON line it printed, if any."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, cwd=str(ROOT),
                                env=dict(os.environ, **(env or {})))
        cpu = float("nan")
        if hasattr(os, "wait4"):
            _, status, usage = os.wait4(proc.pid, 0)
            code = os.waitstatus_to_exitcode(status)
            cpu = usage.ru_utime + usage.ru_stime
        else:  # pragma: no cover - Windows
            code = proc.wait()
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({code}):\n{stderr[-3000:]}")
    data = {}
    for line in stdout.splitlines()[::-1]:
        if line.startswith("{"):
            data = json.loads(line)
            break
    # the jobs report their own peak RSS (wait4's would include the parent's pages)
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mib": float("nan"), **data}


def job(kind: str, *args: object) -> list[str]:
    return [sys.executable, "-m", "benchmarks._compositor_jobs", kind, *map(str, args)]


def write_inputs(tmp: Path, seconds: float, still: str | None, audio: str | None
                 ) -> tuple[Path, Path]:
    from PIL import Image

    from musicvid.testing import write_click_track

    if still is None:
        from sklearn.datasets import load_sample_image  # comes with librosa

        still_path = tmp / "china.jpg"  # a real photo (CC BY 2.0, via scikit-learn)
        Image.fromarray(load_sample_image("china.jpg")).save(still_path, quality=95)
    else:
        still_path = Path(still)
    if audio is None:
        audio_path = tmp / f"click_{seconds:g}.wav"
        write_click_track(audio_path, 120, seconds)
    else:
        audio_path = Path(audio)
    return still_path, audio_path


def conversion_table() -> list[dict]:
    """rgb -> yuv420p paths, ms per frame (best of 5 runs of 20)."""
    import av
    import cv2
    import numpy as np

    def best(fn, n=20, rep=5):
        fn()
        times = []
        for _ in range(rep):
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            times.append((time.perf_counter() - t0) / n * 1000)
        return min(times)

    rows = []
    for w, h in ((1280, 720), (1920, 1080)):
        rng = np.random.default_rng(0)
        rgb = cv2.resize(rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8), (w, h),
                         interpolation=cv2.INTER_CUBIC)
        def pyav(rgb: np.ndarray = rgb) -> object:
            return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")

        def opencv(rgb: np.ndarray = rgb) -> object:
            return av.VideoFrame.from_ndarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420),
                                              format="yuv420p")

        rows.append({"size": f"{w}x{h}", "pyav_reformat_ms": best(pyav),
                     "cv2_i420_ms": best(opencv)})
    return rows


def warp_table(still: Path, frames: int = 150) -> list[dict]:
    """Ken Burns warp only: frames/s in RGB and straight to I420 (OpenCV path)."""
    from PIL import Image

    from musicvid import Analysis, Shot, Storyboard
    from musicvid._video import cover_resize
    from musicvid.defaults.kenburns_motion import KenBurnsRenderer, kenburns_path, overscanned_size

    rows = []
    image = Image.open(still).convert("RGB")
    for w, h in ((1280, 720), (1920, 1080)):
        shot = Shot(0, 0, frames, "still", seed=0, energy=0.6)
        board = Storyboard(fps=30, frame_count=frames, shots=[shot], width=w, height=h)
        analysis = Analysis(duration=frames / 30, sample_rate=22050, tempo=120.0,
                            beats=[i * 0.5 for i in range(frames // 15)])
        path = kenburns_path(shot, analysis, board)
        t0 = time.perf_counter()
        r = KenBurnsRenderer(cover_resize(image, *overscanned_size(w, h)), w, h)
        upscale = time.perf_counter() - t0
        row = {"size": f"{w}x{h}", "upscale_once_ms": upscale * 1000}
        for layout, it in (("rgb", r.rgb), ("i420", r.i420)):
            t0 = time.perf_counter()
            for _ in it(path):
                pass
            row[f"warp_{layout}_fps"] = frames / (time.perf_counter() - t0)
        rows.append(row)
    return rows


def fmt(x: float, digits: int = 1) -> str:
    return "n/a" if x != x else f"{x:.{digits}f}"  # nan check


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.compositor")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--width", type=int, default=1920)
    p.add_argument("--height", type=int, default=1080)
    p.add_argument("--fps", default="30")
    p.add_argument("--preset", default="veryfast")
    p.add_argument("--crf", type=int, default=20)
    p.add_argument("--still", default=None, help="default: scikit-learn's china.jpg photo")
    p.add_argument("--audio", default=None, help="default: a click track of --seconds")
    p.add_argument("--moviepy-python", default=os.environ.get("MOVIEPY_PYTHON"),
                   help="python of a venv with moviepy (env MOVIEPY_PYTHON)")
    p.add_argument("--skip", action="append", default=[],
                   choices=["moviepy", "throughput", "kenburns", "rss", "render-rss"])
    p.add_argument("--rss-long", type=float, default=600.0, help="the long song, seconds")
    p.add_argument("--repeat", type=int, default=3, help="runs of (2), (3), (3b); best kept")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "numba-cache"))

    results: dict = {"load_before": os.getloadavg() if hasattr(os, "getloadavg") else None,
                     "args": {k: str(v) for k, v in vars(args).items()}}
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mv-bench-") as d:
        tmp = Path(d)
        still, audio = write_inputs(tmp, args.seconds, args.still, args.audio)
        common = (args.width, args.height, args.fps, args.seconds, args.preset, args.crf)
        size = f"{args.width}x{args.height}"

        if "throughput" not in args.skip:
            rows = []
            if args.moviepy_python and "moviepy" not in args.skip:
                r = run_process([args.moviepy_python,
                                 str(ROOT / "benchmarks" / "moviepy_kenburns.py"),
                                 str(still), str(audio), str(tmp / "moviepy.mp4"),
                                 *map(str, common)])
                import av

                with av.open(str(tmp / "moviepy.mp4")) as c:
                    r["frames"] = c.streams.video[0].frames
                r.update(runs=[r["wall_s"]], seconds=r["wall_s"], cpu=r["cpu_s"])
                rows.append(("1. MoviePy, whole process", r))
            # the machine is shared: run (2), (3), (3b) in turn, --repeat times, keep the best
            jobs = {
                "2. musicvid Ken Burns + compositor, whole process":
                    (job("musicvid", still, audio, tmp / "musicvid.mp4", *common),
                     "wall_s", "cpu_s"),
                "3. bare encoder, PyAV conversion, encode loop":
                    (job("bare", still, "-", tmp / "bare.mp4", *common, "pyav"),
                     "encode_s", "encode_cpu_s"),
                "3b. bare encoder, OpenCV conversion, encode loop":
                    (job("bare", still, "-", tmp / "bare2.mp4", *common, "cv2"),
                     "encode_s", "encode_cpu_s"),
            }
            runs: dict[str, list[dict]] = {name: [] for name in jobs}
            for _ in range(args.repeat):
                for name, (cmd, _, _) in jobs.items():
                    runs[name].append(run_process(cmd))
            for name, (_, tkey, ckey) in jobs.items():
                rs = runs[name]
                best = min(rs, key=lambda r: r[tkey])
                cpus = sorted(r[ckey] for r in rs)
                rows.append((name, {**best, "runs": [r[tkey] for r in rs],
                                    "seconds": best[tkey], "cpu": cpus[len(cpus) // 2]}))
            for _, r in rows:
                r["fps"] = r["frames"] / r["seconds"]
                r["cpu_ms_per_frame"] = 1000 * r["cpu"] / r["frames"]
            results["throughput"] = {name: r for name, r in rows}
            bare = results["throughput"]["3. bare encoder, PyAV conversion, encode loop"]
            lines += [f"### Throughput: {args.seconds:g} s {size} at {args.fps} fps, libx264 "
                      f"{args.preset} CRF {args.crf} (best of {args.repeat}, MoviePy once)", "",
                      "| job | frames | seconds (all runs) | frames/s | vs (3) | "
                      "CPU ms/frame | vs (3) | peak RSS MiB |",
                      "|---|---:|---|---:|---:|---:|---:|---:|"]
            for name, r in rows:
                all_runs = ", ".join(fmt(x) for x in r["runs"])
                lines.append(
                    f"| {name} | {r['frames']} | {fmt(r['seconds'])} ({all_runs}) | "
                    f"{fmt(r['fps'])} | {r['fps'] / bare['fps']:.2f}x | "
                    f"{fmt(r['cpu_ms_per_frame'])} | "
                    f"{bare['cpu_ms_per_frame'] / r['cpu_ms_per_frame']:.2f}x | "
                    f"{fmt(r['peak_rss_mib'], 0)} |")
            lines.append("")

        if "kenburns" not in args.skip:
            warp = warp_table(still)
            conv = conversion_table()
            enc = []
            for w, h in ((1280, 720), (1920, 1080)):
                r = run_process(job("musicvid", still, audio, tmp / f"kb{h}.mp4", w, h,
                                    args.fps, 10, args.preset, args.crf))
                enc.append({"size": f"{w}x{h}", "with_encode_fps": r["frames"] / r["compose_s"],
                            "whole_process_fps": r["frames"] / r["wall_s"]})
            results["kenburns"] = {"warp": warp, "encode": enc, "conversion": conv}
            lines += ["### Ken Burns frames/s (one still; OpenCV path)", "",
                      "| size | upscale once (ms) | warp only, RGB | warp only, I420 | "
                      "with encode (10 s job) | with encode, whole process |",
                      "|---|---:|---:|---:|---:|---:|"]
            for wr, er in zip(warp, enc):
                lines.append(f"| {wr['size']} | {fmt(wr['upscale_once_ms'], 0)} | "
                             f"{fmt(wr['warp_rgb_fps'])} | {fmt(wr['warp_i420_fps'])} | "
                             f"{fmt(er['with_encode_fps'])} | {fmt(er['whole_process_fps'])} |")
            lines += ["", "### rgb -> yuv420p, ms per frame (into a VideoFrame)", "",
                      "| size | PyAV reformat (libswscale) | cv2.cvtColor RGB2YUV_I420 |",
                      "|---|---:|---:|"]
            for c in conv:
                lines.append(f"| {c['size']} | {fmt(c['pyav_reformat_ms'], 2)} | "
                             f"{fmt(c['cv2_i420_ms'], 2)} |")
            lines.append("")

        if "rss" not in args.skip:
            rows = []
            for secs in (30.0, args.rss_long):
                song = tmp / f"song_{secs:g}.wav"
                from musicvid.testing import write_click_track

                write_click_track(song, 120, secs)
                r = run_process(job("musicvid", still, song, tmp / f"rss{secs:g}.mp4", 640, 360,
                                    args.fps, secs, args.preset, args.crf, 4))
                rows.append((secs, r))
            results["rss_compose"] = {f"{s:g}": r for s, r in rows}
            lines += ["### Peak RSS: Ken Burns + compositor, 640x360, a 4 s shot per bar", "",
                      "| song | frames | peak RSS MiB | ratio to 30 s |", "|---|---:|---:|---:|"]
            for secs, r in rows:
                lines.append(f"| {secs:g} s | {r['frames']} | {fmt(r['peak_rss_mib'], 0)} | "
                             f"{r['peak_rss_mib'] / rows[0][1]['peak_rss_mib']:.2f} |")
            lines.append("")

        if "render-rss" not in args.skip:
            from musicvid.testing import write_click_track, write_tiny_models

            models = write_tiny_models(tmp / "models")
            rows = []
            for secs in (30.0, args.rss_long):
                song = tmp / f"render_{secs:g}.wav"
                write_click_track(song, 120, secs)
                cmd = [*job("peak", "musicvid"), "render", str(song), "-o",
                       str(tmp / f"render{secs:g}.mp4"), "--sdxl-model", str(models["sdxl"]),
                       "--width", "320", "--height", "180", "--keyframe-width", "64",
                       "--keyframe-height", "64", "--steps", "2", "--no-cache", "-q"]
                r = run_process(cmd, env={"OMP_NUM_THREADS": "1"})
                rows.append((secs, r))
            results["rss_render"] = {f"{s:g}": r for s, r in rows}
            lines += ["### Peak RSS: the whole `musicvid render` (librosa + tiny SDXL), 320x180",
                      "", "| song | wall s | peak RSS MiB | ratio to 30 s |",
                      "|---|---:|---:|---:|"]
            for secs, r in rows:
                lines.append(f"| {secs:g} s | {fmt(r['wall_s'])} | {fmt(r['peak_rss_mib'], 0)} | "
                             f"{r['peak_rss_mib'] / rows[0][1]['peak_rss_mib']:.2f} |")
            lines.append("")

    results["load_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    lines.append(f"Load average (1/5/15 min) before: {results['load_before']}, "
                 f"after: {results['load_after']}")
    sys.stdout.write("\n".join(lines) + "\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
