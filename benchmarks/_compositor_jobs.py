"""The jobs ``benchmarks/compositor.py`` times, each run as its own process.

``python -m benchmarks._compositor_jobs musicvid STILL AUDIO OUT W H FPS SECONDS PRESET CRF``
    musicvid's Ken Burns + compositor on one still (one shot over the whole song).
``python -m benchmarks._compositor_jobs bare STILL - OUT W H FPS SECONDS PRESET CRF [cv2|i420]``
    the bare encoder: precomputed RGB frames straight into PyAV (libx264, same preset
    and CRF), PyAV's own colour conversion (or OpenCV's with ``cv2``; or frames converted
    to yuv420p before the timed loop with ``i420``); video only.
``python -m benchmarks._compositor_jobs own VIDEO - OUT W H FPS SECONDS PRESET CRF``
    the bare encoder fed another video's own frames (decoded to yuv420p before the timed
    loop): x264 on musicvid's content (pulses, grade, crossfades) and nothing else.
``python -m benchmarks._compositor_jobs peak MODULE ARGS...``
    ``python -m MODULE ARGS...``, then its peak RSS.

Each prints one JSON line: timings and the process's peak RSS.
"""

from __future__ import annotations

import json
import sys
import time
from fractions import Fraction
from pathlib import Path


def peak_rss_mib() -> float:
    """This process's peak RSS. ``VmHWM`` on Linux: getrusage's ``ru_maxrss`` would also
    count the parent's pages from before ``exec`` (so a big parent inflates it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows
        return float("nan")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User + system time of this process, all threads."""
    try:
        import resource
    except ImportError:  # Windows
        return time.process_time()
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def job_musicvid(still: str, audio: str, out: str, w: int, h: int, fps: Fraction,
                 seconds: float, preset: str, crf: int, shot_seconds: float = 0.0) -> dict:
    from PIL import Image

    from musicvid import Analysis, Keyframe, RenderConfig, Shot, Storyboard, frame_count_for
    from musicvid.defaults.kenburns_motion import KenBurnsMotion
    from musicvid.defaults.pyav_compositor import PyAVCompositor
    from musicvid.protocols import StageContext

    t0 = time.perf_counter()
    n = frame_count_for(seconds, fps)
    step = int(round(shot_seconds * fps)) if shot_seconds else n
    bounds = list(range(0, n, step)) + [n]
    shots = [Shot(i, a, b, "still", seed=i, energy=0.6,
                  transition="crossfade" if i else "cut", transition_frames=10 if i else 0)
             for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]
    board = Storyboard(fps=fps, frame_count=n, shots=shots, width=w, height=h)
    beats = [i * 0.5 for i in range(int(seconds * 2))]
    analysis = Analysis(duration=seconds, sample_rate=22050, tempo=120.0, beats=beats,
                        downbeats=beats[::4], curve_fps=float(fps))
    config = RenderConfig.create(width=w, height=h, fps=fps, preset=preset, crf=crf)
    image = Image.open(still).convert("RGB")
    motion = KenBurnsMotion()
    mctx = StageContext(config, "motion")
    clips = (motion.animate(Keyframe(image), s, board, analysis, mctx) for s in shots)
    t1 = time.perf_counter()
    result = PyAVCompositor().compose(clips, board, Path(audio), Path(out),
                                      StageContext(config, "composite"))
    t2 = time.perf_counter()
    return {"frames": result.frame_count, "setup_s": t1 - t0, "compose_s": t2 - t1,
            "audio": result.extra["audio"], "peak_rss_mib": peak_rss_mib()}


def job_bare(still: str, out: str, w: int, h: int, fps: Fraction, seconds: float,
             preset: str, crf: int, convert: str = "pyav") -> dict:
    import av
    import cv2
    from PIL import Image

    from musicvid import Analysis, Shot, Storyboard, frame_count_for
    from musicvid._video import cover_resize
    from musicvid.defaults.kenburns_motion import KenBurnsRenderer, kenburns_path, overscanned_size

    n = frame_count_for(seconds, fps)
    ring = min(n, 90)
    shot = Shot(0, 0, ring, "still", seed=0, energy=0.6)
    board = Storyboard(fps=fps, frame_count=ring, shots=[shot], width=w, height=h)
    analysis = Analysis(duration=ring / float(fps), sample_rate=22050, tempo=120.0, beats=[])
    source = cover_resize(Image.open(still).convert("RGB"), *overscanned_size(w, h))
    frames = list(KenBurnsRenderer(source, w, h).rgb(kenburns_path(shot, analysis, board)))
    if convert == "i420":  # converted beforehand: the timed loop is the encoder alone
        frames = [cv2.cvtColor(f, cv2.COLOR_RGB2YUV_I420) for f in frames]
    # ping-pong through the precomputed frames: smooth motion, bounded memory
    order = [i % (2 * ring - 2) if ring > 1 else 0 for i in range(n)]
    order = [i if i < ring else 2 * ring - 2 - i for i in order]

    def video_frames():
        for i in order:
            if convert == "i420":
                yield av.VideoFrame.from_ndarray(frames[i], format="yuv420p")
            elif convert == "cv2":
                yield av.VideoFrame.from_ndarray(
                    cv2.cvtColor(frames[i], cv2.COLOR_RGB2YUV_I420), format="yuv420p")
            else:
                yield av.VideoFrame.from_ndarray(frames[i], format="rgb24")

    return encode_timed(out, w, h, fps, preset, crf, video_frames())


def encode_timed(out: str, w: int, h: int, fps: Fraction, preset: str, crf: int,
                 video_frames) -> dict:
    """The bare encoder's timed loop: ``video_frames`` (PyAV frames) into libx264."""
    import av

    n = 0
    t0, c0 = time.perf_counter(), cpu_seconds()
    with av.open(out, "w", format="mp4") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": str(crf), "preset": preset}
        vs.codec_context.thread_count = 0
        for vf in video_frames:
            vf.pts = n
            c.mux(vs.encode(vf))
            n += 1
        c.mux(vs.encode(None))
    t1, c1 = time.perf_counter(), cpu_seconds()
    return {"frames": n, "encode_s": t1 - t0, "encode_cpu_s": c1 - c0,
            "peak_rss_mib": peak_rss_mib()}


def job_own(video: str, out: str, w: int, h: int, fps: Fraction, seconds: float,
            preset: str, crf: int) -> dict:
    import av

    with av.open(video) as src:
        frames = [f.to_ndarray(format="yuv420p") for f in src.decode(video=0)]
    return encode_timed(out, w, h, fps, preset, crf,
                        (av.VideoFrame.from_ndarray(f, format="yuv420p") for f in frames))


def run_module_reporting_peak(module: str, args: list[str]) -> None:
    """Run ``python -m module args`` in this process; print its peak RSS when it exits."""
    import atexit
    import runpy

    atexit.register(lambda: sys.stdout.write(
        json.dumps({"peak_rss_mib": peak_rss_mib(), "cpu_s": cpu_seconds()}) + "\n"))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def main(argv: list[str]) -> int:
    if argv[0] == "peak":
        run_module_reporting_peak(argv[1], argv[2:])
        return 0
    kind, still, audio, out, w, h, fps, seconds, preset, crf, *rest = argv
    from musicvid import parse_fps

    args = (int(w), int(h), parse_fps(fps), float(seconds), preset, int(crf))
    if kind == "musicvid":
        shot_seconds = float(rest[0]) if rest else 0.0
        result = job_musicvid(still, audio, out, *args, shot_seconds=shot_seconds)
    elif kind == "own":
        result = job_own(still, out, *args)
    else:
        result = job_bare(still, out, *args, convert=rest[0] if rest else "pyav")
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
