"""Beat tracking accuracy and analysis speed: musicvid vs librosa vs essentia.

    NUMBA_CACHE_DIR=/tmp/numba-cache python -m benchmarks.beats [--write] [--data DIR]

1. Accuracy on the dev set (``shared/data/beats``: 8 rendered MIDI pieces with their
   tempo-map beats): musicvid's analyzer, ``librosa.beat.beat_track`` with defaults, and
   essentia's ``RhythmExtractor2013(method="multifeature")``, all in one run, scored with
   ``mir_eval.beat`` (F-measure at 70 ms, CMLt, AMLt; first 5 s trimmed as mir_eval does).
   essentia runs in a child process: it is AGPL (a benchmark peer only, never a musicvid
   dependency) and loading it next to numba-compiled code has crashed here.
2. Speed: the analyzer stage's whole job (decode to 22.05 kHz mono + every analysis step)
   on the longest dev-set piece (3:01): in a fresh process with an empty numba cache
   (the JIT warm-up), in a fresh process with a warm cache, and warm in-process (median
   of 5); beside it, ``librosa.beat.beat_track`` alone on the same samples.
3. Why AMLt tops out near 0.75 here: the salience autocorrelation at the annotated beat
   period and at 1.5 times it, per piece.

``--write`` replaces the "Beat tracking" section of docs/benchmarks.md (between its
markers) with the tables; without it the markdown goes to stdout only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "beats"
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- beats:start -->", "<!-- beats:end -->"


# -- essentia, in its own process ------------------------------------------------------
def essentia_worker(paths: list[str]) -> None:
    """Print {path: [bpm, beats, seconds]} for each file (run as a child process)."""
    import essentia
    import essentia.standard as es
    import numpy as np
    import soundfile
    from scipy.signal import resample_poly

    essentia.log.infoActive = False
    out = {}
    for p in paths:
        y, sr = soundfile.read(p, dtype="float32", always_2d=True)
        y = y.mean(axis=1)
        if sr != 44100:  # RhythmExtractor2013 expects 44.1 kHz
            from math import gcd

            g = gcd(44100, sr)
            y = resample_poly(y, 44100 // g, sr // g).astype(np.float32)
        t0 = time.perf_counter()
        bpm, beats, *_ = es.RhythmExtractor2013(method="multifeature")(np.ascontiguousarray(y))
        out[p] = [float(bpm), [float(b) for b in beats], time.perf_counter() - t0]
    sys.stdout.write(json.dumps(out))


def run_essentia(paths: list[Path]) -> dict[str, list] | None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.beats", "--essentia-worker",
                           *map(str, paths)], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.stderr.write(f"essentia unavailable ({proc.stderr.strip().splitlines()[-1:]})\n")
        return None
    return json.loads(proc.stdout)


# -- accuracy ---------------------------------------------------------------------------
def trim(beats):
    """``beats`` as floats without the first 5 s (``mir_eval.beat.trim_beats``)."""
    import mir_eval
    import numpy as np

    return mir_eval.beat.trim_beats(np.asarray(beats, dtype=float))


def beat_scores(ref, est) -> dict[str, float]:
    """F-measure (70 ms), CMLt and AMLt of ``est`` against ``ref``, both trimmed; 0 when
    either has fewer than two beats left."""
    import mir_eval

    r, e = trim(ref), trim(est)
    if len(r) < 2 or len(e) < 2:
        return {"f": 0.0, "cmlt": 0.0, "amlt": 0.0}
    f = mir_eval.beat.f_measure(r, e)
    _, cmlt, _, amlt = mir_eval.beat.continuity(r, e)
    return {"f": float(f), "cmlt": float(cmlt), "amlt": float(amlt)}


def scores(ref, est) -> tuple[float, float, float]:
    s = beat_scores(ref, est)
    return s["f"], s["cmlt"], s["amlt"]


def write_doc_section(text: str, start: str, end: str, doc: Path = DOC) -> None:
    """Put ``text`` (which begins with ``start`` and ends with ``end``) in ``doc`` in place
    of the section between those markers, or at its end if it has none yet."""
    old = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    if start in old and end in old:
        head, rest = old.split(start, 1)
        _, tail = rest.split(end, 1)
        new = head + text.rstrip("\n") + tail
    else:
        new = old.rstrip("\n") + "\n\n" + text
    doc.write_text(new, encoding="utf-8")


def accuracy(data: Path) -> tuple[list[str], dict]:
    import librosa
    import numpy as np
    import soundfile

    from musicvid.config import RenderConfig
    from musicvid.defaults.librosa_analyzer import LibrosaAnalyzer
    from musicvid.protocols import StageContext

    tracks = sorted(data.glob("*.flac"))
    if not tracks:
        raise SystemExit(f"no .flac files in {data}")
    ess = run_essentia(tracks)
    analyzer = LibrosaAnalyzer()
    ctx = StageContext(RenderConfig.create())
    rows, sums, results = [], {"musicvid": [], "librosa": [], "essentia": []}, {}
    for path in tracks:
        ref = np.loadtxt(path.with_name(path.stem + ".beats.txt"))
        ref_bpm = 60.0 / float(np.median(np.diff(ref)))
        t0 = time.perf_counter()
        a = analyzer.analyze(path, ctx)
        t_mv = time.perf_counter() - t0
        y, sr = soundfile.read(str(path), dtype="float32")
        t0 = time.perf_counter()
        lib_tempo, lib_frames = librosa.beat.beat_track(y=y, sr=sr)
        t_lib = time.perf_counter() - t0
        lib_beats = librosa.frames_to_time(lib_frames, sr=sr)
        row = {"musicvid": (a.tempo, scores(ref, a.beats), t_mv),
               "librosa": (float(np.atleast_1d(lib_tempo)[0]), scores(ref, lib_beats), t_lib)}
        if ess is not None:
            bpm, beats, t_ess = ess[str(path)]
            row["essentia"] = (bpm, scores(ref, beats), t_ess)
        results[path.stem] = {"ref_bpm": ref_bpm, "duration": a.duration, **row}
        cells = [path.stem, f"{ref_bpm:.0f}"]
        for name in ("musicvid", "librosa", "essentia"):
            if name not in row:
                cells += ["n/a"] * 4
                continue
            bpm, (f, c, am), _ = row[name]
            sums[name].append((f, c, am))
            cells += [f"{bpm:.0f}", f"{f:.3f}", f"{c:.3f}", f"{am:.3f}"]
        rows.append("| " + " | ".join(cells) + " |")
        sys.stderr.write(rows[-1] + "\n")
    head = ("| piece | annotated BPM | musicvid BPM | F | CMLt | AMLt | librosa BPM | F | CMLt "
            "| AMLt | essentia BPM | F | CMLt | AMLt |")
    mean = ["**mean**", ""]
    for name in ("musicvid", "librosa", "essentia"):
        if sums[name]:
            m = np.mean(sums[name], axis=0)
            mean += ["", *(f"**{x:.3f}**" for x in m)]
        else:
            mean += ["", "n/a", "n/a", "n/a"]
    table = [head, "|" + "---|" * 14, *rows, "| " + " | ".join(mean) + " |"]
    return table, results


# -- speed ------------------------------------------------------------------------------
SPEED_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from musicvid.config import RenderConfig
from musicvid.defaults.librosa_analyzer import LibrosaAnalyzer
from musicvid.protocols import StageContext
import librosa, numba  # what the analyzer imports
t_import = time.perf_counter() - t0
ctx = StageContext(RenderConfig.create())
t0 = time.perf_counter(); LibrosaAnalyzer().analyze(sys.argv[1], ctx); first = time.perf_counter() - t0
t0 = time.perf_counter(); LibrosaAnalyzer().analyze(sys.argv[1], ctx); second = time.perf_counter() - t0
print(json.dumps({"import": t_import, "first": first, "second": second}))
"""


def speed(data: Path) -> tuple[list[str], dict]:
    import librosa
    import soundfile

    from musicvid.audio import load_audio
    from musicvid.config import RenderConfig
    from musicvid.defaults.librosa_analyzer import LibrosaAnalyzer
    from musicvid.protocols import StageContext

    song = max(data.glob("*.flac"), key=lambda p: soundfile.info(str(p)).duration)
    dur = soundfile.info(str(song)).duration
    out: dict = {"song": song.name, "duration": dur}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
        for label in ("empty numba cache", "warm numba cache"):
            proc = subprocess.run([sys.executable, "-c", SPEED_CHILD, str(song)], env=env,
                                  capture_output=True, text=True, cwd=ROOT)
            if proc.returncode != 0:
                raise SystemExit(proc.stderr)
            out[label] = json.loads(proc.stdout.strip().splitlines()[-1])
    analyzer = LibrosaAnalyzer()
    ctx = StageContext(RenderConfig.create())
    analyzer.analyze(song, ctx)
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        analyzer.analyze(song, ctx)
        runs.append(time.perf_counter() - t0)
    out["warm"] = statistics.median(runs)
    y, sr = load_audio(song, sr=22050)
    librosa.beat.beat_track(y=y, sr=sr)
    lib = []
    for _ in range(5):
        t0 = time.perf_counter()
        librosa.beat.beat_track(y=y, sr=sr)
        lib.append(time.perf_counter() - t0)
    out["librosa_beat_track"] = statistics.median(lib)
    cold, warm_cache = out["empty numba cache"], out["warm numba cache"]
    rows = [
        "| what | seconds | x real time |", "|---|---|---|",
        f"| analyzer, warm process (median of 5): decode + all analysis | {out['warm']:.3f} "
        f"| **{dur / out['warm']:.0f}x** |",
        f"| librosa `beat_track` alone on the decoded samples (median of 5) | "
        f"{out['librosa_beat_track']:.3f} | {dur / out['librosa_beat_track']:.0f}x |",
        f"| fresh process, empty numba cache: imports | {cold['import']:.2f} | |",
        f"| fresh process, empty numba cache: first analysis (numba JIT warm-up) | "
        f"{cold['first']:.2f} | {dur / cold['first']:.0f}x |",
        f"| same process, second analysis | {cold['second']:.3f} | "
        f"{dur / cold['second']:.0f}x |",
        f"| fresh process, warm numba cache: imports | {warm_cache['import']:.2f} | |",
        f"| fresh process, warm numba cache: first analysis | {warm_cache['first']:.2f} | "
        f"{dur / warm_cache['first']:.0f}x |",
    ]
    return rows, out


# -- the annotation check ---------------------------------------------------------------
def annotation_check(data: Path, results: dict) -> list[str]:
    """Salience autocorrelation at the annotated beat period and at 1.5x it."""
    import numpy as np

    from musicvid.analysis.beats import _acf, salience
    from musicvid.analysis.features import compute_features
    from musicvid.audio import load_audio

    rows = ["| piece | annotated BPM | musicvid BPM | onset autocorrelation at 1 annotated "
            "beat | 1.5 | 4 | 6 | chord-change autocorrelation at 4 annotated beats | 6 |",
            "|---|---|---|---|---|---|---|---|---|"]
    for path in sorted(data.glob("*.flac")):
        ref = np.loadtxt(path.with_name(path.stem + ".beats.txt"))
        y, sr = load_audio(path, sr=22050)
        f = compute_features(y, sr)
        sal = salience(f.onset, f.onset_low, f.onset_fps)
        period = float(np.median(np.diff(ref))) * f.onset_fps
        ac = _acf(sal, int(period * 6) + 2)

        at = [float(np.interp(period * m, np.arange(len(ac)), ac)) for m in (1, 1.5, 4, 6)]
        # harmonic rhythm: how much the (normalised) chroma moves, frame to frame
        c = f.chroma / np.maximum(np.linalg.norm(f.chroma, axis=0, keepdims=True), 1e-9)
        change = np.maximum(np.diff(c, axis=1), 0).sum(axis=0)
        slow_period = period / f.onset_fps * f.slow_fps
        hac = _acf(change, int(slow_period * 6) + 2)
        at += [float(np.interp(slow_period * m, np.arange(len(hac)), hac)) for m in (4, 6)]
        mv = results.get(path.stem, {}).get("musicvid", (float("nan"),))[0]
        rows.append(f"| {path.stem} | {60 * f.onset_fps / period:.0f} | {mv:.0f} | "
                    + " | ".join(f"{v:.2f}" for v in at) + " |")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    p.add_argument("--essentia-worker", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.essentia_worker:
        essentia_worker(args.essentia_worker)
        return 0
    import platform

    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M")
    table, results = accuracy(args.data)
    speed_rows, speed_data = speed(args.data)
    check_rows = annotation_check(args.data, results)
    load_after = os.getloadavg()
    mv = [r["musicvid"][1] for r in results.values()]
    md = [
        START,
        "## Beat tracking: musicvid vs librosa vs essentia",
        "",
        "```bash",
        "NUMBA_CACHE_DIR=/tmp/numba-cache python -m benchmarks.beats --write",
        "```",
        "",
        f"One run, {started}, {platform.machine()} with {os.cpu_count()} CPUs, shared with "
        f"other jobs (load average {', '.join(f'{x:.2f}' for x in load_before)} before, "
        f"{', '.join(f'{x:.2f}' for x in load_after)} after). Dev set: "
        f"`shared/data/beats` ({len(results)} pieces); scores from `mir_eval.beat` "
        "(F-measure at 70 ms, CMLt, AMLt), first 5 s trimmed. librosa: `beat_track` "
        "defaults; essentia: `RhythmExtractor2013(method=\"multifeature\")` at 44.1 kHz.",
        "",
        *table,
        "",
        f"musicvid mean F {statistics.mean(m[0] for m in mv):.3f}, CMLt "
        f"{statistics.mean(m[1] for m in mv):.3f}, AMLt {statistics.mean(m[2] for m in mv):.3f}.",
        "",
        "**Why AMLt stops near 0.75 on this set.** AMLt accepts the annotated level, double "
        "or half of it and the off-beat, but not 3:2. In busy_schedule and the_fast_route "
        "the annotated beat is not what the audio repeats: the onset autocorrelation is "
        "about 0 at one annotated beat and at four (a 4/4 bar), and strong at 1.5 and 6 "
        "annotated beats; the chords also move every 6 annotated beats rather than 4. That "
        "is a 4/4 bar of the level all three trackers report (2/3 of the annotated tempo), "
        "which AMLt scores 0. With those two at 0 the mean AMLt is at most 6/8 = 0.75, and "
        "only if the other six are perfect. The table is from the same run:",
        "",
        *check_rows,
        "",
        f"**Speed** on `{speed_data['song']}` ({speed_data['duration']:.1f} s), same run:",
        "",
        *speed_rows,
        "",
        END,
    ]
    text = "\n".join(md) + "\n"
    sys.stdout.write(text)
    if args.write:
        write_doc_section(text, START, END)
        sys.stderr.write(f"updated {DOC}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
