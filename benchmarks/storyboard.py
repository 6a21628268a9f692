"""Storyboard benchmarks: cut accuracy on click tracks, planner speed, colour-grade cost.

    NUMBA_CACHE_DIR=/tmp/numba-cache python benchmarks/storyboard.py [--quick]

Prints markdown for docs/benchmarks.md:

1. Cut accuracy: click tracks (90, 120, 174 BPM and 90 -> 140 BPM) analysed by the real
   librosa analyzer, planned at 24/25/30/60 fps; for every cut, the offset to the nearest
   true click and to the nearest detected beat.
2. Planner speed: plan() on synthetic analyses of a 3- and a 10-minute song.
3. Colour grade: per keyframe, against what the pipeline already does per shot in the
   same run (read the PNG, then Ken Burns motion of a 4 s shot at 1280x720).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from musicvid import Analysis, RenderConfig, Section, plan  # noqa: E402
from musicvid.protocols import StageContext  # noqa: E402


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cut_accuracy(quick: bool) -> list[str]:
    from musicvid.defaults.librosa_analyzer import LibrosaAnalyzer
    from musicvid.testing import write_click_track

    rows = ["| track | fps | cuts | vs true clicks: mean / max ms | within 1 frame | "
            "vs detected beats: max ms |", "|---|---|---|---|---|---|"]
    tracks = [("90 BPM", 90), ("120 BPM", 120), ("174 BPM", 174),
              ("90 -> 140 BPM", [(0.0, 90), (15.0, 140)])]
    fps_list = ["24", "30"] if quick else ["24", "25", "30", "60"]
    analyzer = LibrosaAnalyzer()
    with tempfile.TemporaryDirectory() as tmp:
        for name, bpm in tracks[:2] if quick else tracks:
            path = Path(tmp) / "click.wav"
            truth = write_click_track(path, bpm, 30.0)
            analysis = analyzer.analyze(path, StageContext(RenderConfig.create(fps=30)))
            for fps in fps_list:
                board = plan(analysis, RenderConfig.create(fps=fps))
                rate = board.fps
                frame_ms = 1000 / float(rate)
                true_off, det_off = [], []
                for shot in board.shots[1:]:
                    t = float(Fraction(shot.start_frame) / rate)
                    true_off.append(min(abs(t - b) for b in truth) * 1000)
                    det_off.append(min(abs(t - b) for b in analysis.beats) * 1000)
                within = sum(1 for o in true_off if o <= frame_ms)
                rows.append(f"| {name} | {fps} | {len(true_off)} | "
                            f"{statistics.mean(true_off):.1f} / {max(true_off):.1f} | "
                            f"{within}/{len(true_off)} | {max(det_off):.1f} |")
    return rows


def synthetic(minutes: float) -> Analysis:
    duration = minutes * 60
    beats = [i * 0.5 for i in range(int(duration / 0.5))]
    labels = ["intro", "verse", "chorus", "verse", "chorus", "bridge", "chorus", "outro"]
    n_sec = max(8, int(minutes * 4))
    bounds = [beats[::4][int(i * len(beats) / 4 / n_sec)] for i in range(n_sec)] + [duration]
    sections = [Section(a, b, labels[i % len(labels)], i % 4, 0.2 + 0.1 * (i % 7))
                for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]
    energy = [0.3 + 0.5 * ((i // 450) % 2) for i in range(int(duration * 30))]
    return Analysis(duration=duration, sample_rate=22050, tempo=120, beats=beats,
                    downbeats=beats[::4], energy=energy, sections=sections)


FOUNDATION = "ae839a3"  # the commit whose planner is the baseline


def foundation_plan():
    """plan() of the foundation commit's planning.py, from git (None without git)."""
    import subprocess
    import types

    try:
        src = subprocess.run(["git", "show", f"{FOUNDATION}:musicvid/planning.py"],
                             cwd=Path(__file__).resolve().parents[1], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    mod = types.ModuleType("musicvid._foundation_planning")
    mod.__package__ = "musicvid"
    exec(compile(src, "foundation/planning.py", "exec"), mod.__dict__)
    return mod.plan


def planner_speed() -> list[str]:
    rows = ["| song | shots | distinct keyframes | plan() median ms | foundation planner: "
            "shots, ms |", "|---|---|---|---|---|"]
    baseline = foundation_plan()
    for minutes in (3, 10):
        analysis = synthetic(minutes)
        cfg = RenderConfig.create(fps=30, pulse=1.0)
        board = plan(analysis, cfg)
        ms = timed(lambda a=analysis, c=cfg: plan(a, c), 5) * 1000
        base = "n/a (no git)"
        if baseline is not None:
            shots = len(baseline(analysis, cfg).shots)
            base = f"{shots}, {timed(lambda a=analysis, c=cfg: baseline(a, c), 5) * 1000:.1f}"
        rows.append(f"| {minutes} min, 120 BPM, {len(analysis.sections)} sections | "
                    f"{len(board.shots)} | {board.meta['keyframes']} | {ms:.1f} | {base} |")
    return rows


def grade_cost() -> list[str]:
    import numpy as np
    from PIL import Image

    from musicvid import Shot, Storyboard
    from musicvid.defaults.kenburns_motion import KenBurnsMotion
    from musicvid.grade import grade_image
    from musicvid.types import Keyframe

    rows = ["| keyframe | read PNG ms | grade ms | Ken Burns 4 s shot at 1280x720 ms | "
            "grade / (read + motion) |", "|---|---|---|---|---|"]
    rng = np.random.default_rng(0)
    motion = KenBurnsMotion()
    analysis = Analysis(duration=4.0, sample_rate=22050, tempo=120, beats=[])
    board = Storyboard(fps=30, frame_count=120, shots=[Shot(0, 0, 120, "p", 1)],
                       width=1280, height=720)
    ctx = StageContext(RenderConfig.create())
    with tempfile.TemporaryDirectory() as tmp:
        for w, h in ((768, 432), (1344, 768)):
            small = Image.fromarray(rng.integers(0, 256, (9, 16, 3)).astype(np.uint8))
            img = small.resize((w, h), Image.Resampling.BICUBIC)
            png = Path(tmp) / f"{w}.png"
            img.save(png, compress_level=1)

            def read(p=png):
                with Image.open(p) as im:
                    return im.convert("RGB")
            read_ms = timed(read, 5) * 1000
            grade_ms = timed(lambda i=img: grade_image(i, "warm"), 5) * 1000
            kf = Keyframe(image=img)

            def animate(k=kf):
                for _ in motion.animate(k, board.shots[0], board, analysis, ctx):
                    pass
            motion_ms = timed(animate, 2) * 1000
            rows.append(f"| {w}x{h} | {read_ms:.1f} | {grade_ms:.1f} | {motion_ms:.0f} | "
                        f"{grade_ms / (read_ms + motion_ms) * 100:.1f}% |")
    return rows


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="two tracks, two frame rates")
    args = p.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    out = [f"load average at start: {', '.join(f'{x:.2f}' for x in load)}" if load else ""]
    out += ["", "**Cut accuracy (librosa analyzer on click tracks, 30 s)**", "",
            *cut_accuracy(args.quick)]
    out += ["", "**Planner speed**", "", *planner_speed()]
    out += ["", "**Colour grade cost per keyframe**", "", *grade_cost()]
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
