"""Caption burn cost: the compositor at 1080p30 with ``captions=burn`` against ``none``.

    python -m benchmarks captions [--seconds 10] [--repeats 3] [--json out.json]

The same storyboard is composited twice per round, without and with burned-in
captions, rounds interleaved (none, burn, none, burn...) so a busy machine slows both
alike; the median of each is reported, as frames per second and as CPU time per frame
(all threads: the encoder's too), which depends much less on a busy machine. The frames are 30 distinct textured 1080p images
cycled through (so x264 has real work, as with Ken Burns motion), handed over in I420
like the built-in motion stages do. The lyrics are dense: a line on screen about 80% of
the time, every word timed (the karaoke highlight changes about 2.5 times a second), so
this is close to the worst case. Also measured: the burn alone (sprites blended into
precomputed frames, no encoder), in milliseconds per captioned frame.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

WIDTH, HEIGHT, FPS = 1920, 1080, 30
WORDS = ("silver rivers under violet skies burning city lights golden hearts cold blue rain "
         "dancing shadows neon walls broken glass midnight trains").split()


def make_lyrics(seconds: float):  # type: ignore[no-untyped-def]
    from musicvid.lyrics import LyricLine, Lyrics, Word

    lines, t, k = [], 0.5, 0
    while t + 1.0 < seconds:
        words = []
        for j in range(8):
            if t + (j + 1) * 0.4 <= seconds:
                words.append(Word(WORDS[(k + j) % len(WORDS)], t + j * 0.4, t + (j + 1) * 0.4))
        lines.append(LyricLine(" ".join(w.text for w in words), t, words[-1].end, words))
        t += 4.0
        k += 3
    return Lyrics(lines, "lrc")


def textures(n: int = 30):  # type: ignore[no-untyped-def]
    import numpy as np

    from musicvid._video import rgb_to_i420

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = rng.integers(0, 255, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
    base = np.kron(base, np.ones((8, 8, 1), np.uint8))
    out = []
    for i in range(n):
        grad = ((xx + 7 * i) % 256).astype(np.uint8)[..., None]
        frame = (np.roll(base, 5 * i, axis=1) // 2 + grad // 2).astype(np.uint8)
        out.append(rgb_to_i420(np.ascontiguousarray(frame)))
    return out


def board_and_clips(seconds: float):  # type: ignore[no-untyped-def]
    from musicvid.lyrics import record_lyrics
    from musicvid.types import Clip, Shot, Storyboard

    n = int(seconds * FPS)
    frames = textures()
    shots = [Shot(index=0, start_frame=0, end_frame=n, prompt="bench", seed=0)]
    board = Storyboard(fps=Fraction(FPS), frame_count=n, shots=shots, width=WIDTH,
                       height=HEIGHT)
    record_lyrics(board, make_lyrics(seconds))

    def clips():  # type: ignore[no-untyped-def]
        def yuv():  # type: ignore[no-untyped-def]
            for i in range(n):
                yield frames[i % len(frames)]

        def rgb():  # pragma: no cover - the compositor takes the I420 path
            raise AssertionError("I420 expected")

        yield Clip(n, WIDTH, HEIGHT, rgb, yuv420=yuv)
    return board, clips, frames


def compose_fps(board, clips, audio: Path, out: Path, captions: str) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(frames per wall-clock second, CPU milliseconds per frame, all threads)."""
    from musicvid.config import RenderConfig
    from musicvid.defaults.pyav_compositor import PyAVCompositor
    from musicvid.protocols import StageContext

    config = RenderConfig.create(width=WIDTH, height=HEIGHT, captions=captions)
    t0, c0 = time.perf_counter(), time.process_time()
    PyAVCompositor().compose(clips(), board, audio, out, StageContext(config, "composite"))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return board.frame_count / wall, cpu * 1000.0 / board.frame_count


def burn_only_ms(board, frames) -> float:  # type: ignore[no-untyped-def]
    from musicvid.captions import CaptionBurner
    from musicvid.lyrics import lyrics_of

    lyrics = lyrics_of(board)
    burner = CaptionBurner(lyrics, WIDTH, HEIGHT, board.fps, board.frame_count)
    captioned = sum(e.end - e.start for e in burner.events)
    src = (frames[i % len(frames)] for i in range(board.frame_count))
    t0 = time.perf_counter()
    for _ in burner.burn(src, "i420"):
        pass
    return (time.perf_counter() - t0) * 1000.0 / max(1, captioned)


def main(argv: list[str] | None = None) -> int:
    import platform
    import sys

    from musicvid.testing.audio import write_click_track

    p = argparse.ArgumentParser(prog="python -m benchmarks captions")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    board, clips, frames = board_and_clips(args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        audio = Path(tmp) / "song.wav"
        write_click_track(audio, 120, args.seconds)
        compose_fps(board, clips, audio, Path(tmp) / "warm.mp4", "none")  # warm-up
        none, burn = [], []
        for r in range(args.repeats):
            none.append(compose_fps(board, clips, audio, Path(tmp) / f"n{r}.mp4", "none"))
            burn.append(compose_fps(board, clips, audio, Path(tmp) / f"b{r}.mp4", "burn"))
        load = os.getloadavg() if hasattr(os, "getloadavg") else None
    ms = burn_only_ms(board, frames)
    result = {
        "size": f"{WIDTH}x{HEIGHT}", "fps": FPS, "frames": board.frame_count,
        "lines": len(board.meta["lyrics"]["lines"]),
        "captioned_share": round(sum(ln["end"] - ln["start"] for ln in
                                     board.meta["lyrics"]["lines"]) / args.seconds, 3),
        "composite_fps_none": [round(x, 2) for x, _ in none],
        "composite_fps_burn": [round(x, 2) for x, _ in burn],
        "cpu_ms_per_frame_none": [round(c, 2) for _, c in none],
        "cpu_ms_per_frame_burn": [round(c, 2) for _, c in burn],
        "median_fps_none": round(statistics.median(x for x, _ in none), 2),
        "median_fps_burn": round(statistics.median(x for x, _ in burn), 2),
        "median_cpu_ms_none": round(statistics.median(c for _, c in none), 2),
        "median_cpu_ms_burn": round(statistics.median(c for _, c in burn), 2),
        "load_average_at_end": [round(x, 2) for x in load] if load else None,
        "burn_only_ms_per_captioned_frame": round(ms, 3),
        "python": platform.python_version(), "machine": platform.machine(),
    }
    result["speed_ratio"] = round(result["median_fps_burn"] / result["median_fps_none"], 3)
    result["cpu_ratio"] = round(result["median_cpu_ms_burn"] / result["median_cpu_ms_none"], 3)
    sys.stdout.write(
        "| captions | composite fps (median of {n}) | CPU ms per frame (median) |\n"
        "|---|---|---|\n"
        "| none | {median_fps_none} | {median_cpu_ms_none} |\n"
        "| burn | {median_fps_burn} | {median_cpu_ms_burn} |\n\n"
        "burn/none: speed {speed_ratio}, CPU per frame {cpu_ratio}; the burn alone: "
        "{burn_only_ms_per_captioned_frame} ms per captioned frame\n".format(
            n=args.repeats, **result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
