"""The Ken Burns I420 warp per frame: OpenCV's warpAffine vs the separable warp.

    python -m benchmarks.warp [--frames 300] [--sizes 1280x720,1920x1080]

Both warp the three planes of one 1.25x overscanned still along the same slow zoom (the
move of a Ken Burns shot), with a beat-pulse brightness on every frame: OpenCV's
``warpAffine`` (one thread, and OpenCV's default threads) then ``scale_brightness``, as
the stage did before, against :func:`musicvid._warp.warp_plane` (one thread, brightness in
the same pass). Reported: CPU ms per frame (process time: what is taken from x264 when
both cores are busy) and wall ms per frame, median of three passes, in one run.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _frames(n: int, w: int, h: int) -> list[tuple[np.ndarray, np.ndarray, float]]:
    out = []
    for k in range(n):
        z = 1.0 + 0.1 * k / n  # zoom in by 10% over the shot
        win_w, win_h = 1.25 * w / (1.25 * z), 1.25 * h / (1.25 * z)
        x0, y0 = (1.25 * w - win_w) / 2 + 0.3 * k / n, (1.25 * h - win_h) / 2
        ax, ay = win_w / w, win_h / h
        aff = np.array([ax, x0 + 0.5 * ax - 0.5, ay, y0 + 0.5 * ay - 0.5])
        caff = aff.copy()
        caff[1] = (0.5 * aff[0] + aff[1] - 0.5) / 2
        caff[3] = (0.5 * aff[2] + aff[3] - 0.5) / 2
        out.append((aff, caff, 1.0 + 0.15 * np.exp(-(k % 15) / 4.0)))
    return out


def run(n: int, w: int, h: int) -> dict[str, tuple[float, float]]:
    import cv2

    from musicvid._video import brightness_lut, i420_planes, rgb_to_i420, scale_brightness
    from musicvid._warp import warm_up, warp_plane

    sw, sh = int(w * 1.25) // 2 * 2, int(h * 1.25) // 2 * 2
    rng = np.random.default_rng(0)
    rgb = cv2.GaussianBlur(rng.integers(0, 256, (sh, sw, 3)).astype(np.uint8), (0, 0), 2)
    ys, us, vs = i420_planes(rgb_to_i420(rgb), sw, sh)
    moves = _frames(n, w, h)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP

    def opencv() -> None:
        for aff, caff, g in moves:
            buf = np.empty((h * 3 // 2, w), np.uint8)
            yo, uo, vo = i420_planes(buf, w, h)
            m = np.array([[aff[0], 0, aff[1]], [0, aff[2], aff[3]]])
            mc = np.array([[caff[0], 0, caff[1]], [0, caff[2], caff[3]]])
            cv2.warpAffine(ys, m, (w, h), dst=yo, flags=flags, borderMode=cv2.BORDER_REFLECT)
            cv2.warpAffine(us, mc, (w // 2, h // 2), dst=uo, flags=flags,
                           borderMode=cv2.BORDER_REFLECT)
            cv2.warpAffine(vs, mc, (w // 2, h // 2), dst=vo, flags=flags,
                           borderMode=cv2.BORDER_REFLECT)
            scale_brightness(buf, g, "i420", w, h)

    def separable() -> None:
        for aff, caff, g in moves:
            buf = np.empty((h * 3 // 2, w), np.uint8)
            yo, uo, vo = i420_planes(buf, w, h)
            ly, lc = (None, None) if g == 1.0 else (brightness_lut(g, "y"),
                                                    brightness_lut(g, "c"))
            warp_plane(ys, *aff, ly, yo)
            warp_plane(us, *caff, lc, uo)
            warp_plane(vs, *caff, lc, vo)

    warm_up()
    default_threads = cv2.getNumThreads()
    arms = {}
    for name, fn, threads in (("opencv, 1 thread", opencv, 1),
                              (f"opencv, {default_threads} threads", opencv, default_threads),
                              ("separable, 1 thread", separable, 1)):
        cv2.setNumThreads(threads)
        cpu, wall = [], []
        for _ in range(3):
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            cpu.append((time.process_time() - c0) / n * 1e3)
            wall.append((time.perf_counter() - t0) / n * 1e3)
        arms[name] = (statistics.median(cpu), statistics.median(wall))
    cv2.setNumThreads(default_threads)
    return arms


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--sizes", default="1280x720,1920x1080")
    args = ap.parse_args(argv)
    print("| size | warp | CPU ms/frame | wall ms/frame |")
    print("|---|---|---:|---:|")
    for size in args.sizes.split(","):
        w, h = map(int, size.split("x"))
        for name, (cpu, wall) in run(args.frames, w, h).items():
            print(f"| {w}x{h} | {name} | {cpu:.2f} | {wall:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
