"""Beats, downbeats and cuts on the MMA corpus: musicvid vs librosa vs essentia.

    python -m benchmarks.corpus                      # build the corpus once (cached)
    NUMBA_CACHE_DIR=/tmp/numba-cache python -m benchmarks.beats_corpus \
        [--half test|tune|dev|all] [--trackers musicvid,librosa,essentia] [--write]

Scores from ``mir_eval`` (70 ms F-measure, CMLt, AMLt; downbeat F with the same window;
first 5 s trimmed). Each piece that misses (beat F < 0.8) is put in the failure group
whose alternative reference it matches best (F >= 0.8 against it): ``off-beat`` (the
reference shifted half a beat), ``octave`` (twice or half the beat rate, either phase),
``3:2`` (1.5 or 2/3 of the beat period, any phase), else ``other``.

Cuts: ``musicvid plan`` (``musicvid.plan`` at 30 fps) on musicvid's analysis of each
piece; the share of cuts within 40 ms of a true beat, and of the cuts that start a
section (those sit on bar lines) within 40 ms of a true downbeat.

The halves are the corpus split by groove family (``benchmarks/corpus.py``): tune on
``tune``, report ``test``. ``dev`` is the eight dev-set pieces (beats only).

``--write`` replaces the section between the corpus markers of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.beats import (  # noqa: E402
    DEFAULT_DATA,
    beat_scores,
    run_essentia,
    trim,
    write_doc_section,
)
from benchmarks.corpus import DEFAULT_OUT, load_index  # noqa: E402

START, END = "<!-- beats-corpus:start -->", "<!-- beats-corpus:end -->"
TRACKERS = ("musicvid", "librosa", "essentia")


def _at(ref: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Times at fractional beat indices ``pos`` of ``ref`` (linear between beats)."""
    pos = pos[(pos >= 0) & (pos <= len(ref) - 1)]
    return np.interp(pos, np.arange(len(ref)), ref)


def failure(ref: np.ndarray, est, f: float) -> str:
    """Which metrical relative of the reference the estimate follows (F < 0.8 only)."""
    import mir_eval

    if f >= 0.8:
        return ""
    ref = np.asarray(ref, dtype=float)
    e = trim(est)
    n = len(ref)
    if n < 4 or len(e) < 2:
        return "other"
    variants = {
        "off-beat": [_at(ref, np.arange(n) + 0.5)],
        "octave": [_at(ref, np.arange(0, n, 0.5)), ref[0::2], ref[1::2]],
        "3:2": [_at(ref, np.arange(0, n, 1.5) + ph) for ph in (0, 0.5, 1.0)]
               + [_at(ref, np.arange(0, n, 2 / 3) + ph) for ph in (0, 1 / 3)]
               + [_at(ref, np.arange(0, n, 3.0) + ph) for ph in (0, 1, 2)],
    }
    best, label = 0.0, "other"
    for name, refs in variants.items():
        for v in refs:
            t = trim(v)
            if len(t) >= 2:
                s = mir_eval.beat.f_measure(t, e)
                if s > best:
                    best, label = s, name
    return label if best >= 0.8 else "other"


def downbeat_f(ref, est) -> float:
    import mir_eval

    r, e = trim(ref), trim(est)
    if len(r) < 1 or len(e) < 1:
        return 0.0
    return float(mir_eval.beat.f_measure(r, e))


def cut_scores(analysis, beats: np.ndarray, downbeats: np.ndarray | None) -> dict:
    from musicvid import RenderConfig, plan

    board = plan(analysis, RenderConfig.create(fps=30))
    rate = board.fps
    seg_starts = {s["start_frame"] for s in board.meta.get("sections", [])[1:]}
    cuts, bar_cuts = [], []
    for shot in board.shots[1:]:
        t = float(Fraction(shot.start_frame) / rate)
        cuts.append(float(np.min(np.abs(beats - t))))
        if downbeats is not None and len(downbeats) and shot.start_frame in seg_starts:
            bar_cuts.append(float(np.min(np.abs(downbeats - t))))
    return {"cuts": len(cuts), "cuts_ok": sum(c <= 0.040 for c in cuts),
            "bar_cuts": len(bar_cuts), "bar_cuts_ok": sum(c <= 0.040 for c in bar_cuts)}


def items(half: str, corpus: Path, dev: Path) -> list[dict]:
    rows = []
    if half in ("tune", "test", "all"):
        rows += [r for r in load_index(corpus) if half == "all" or r["half"] == half]
    if half in ("dev", "all"):
        for p in sorted(dev.glob("*.flac")):
            rows.append({"id": f"dev-{p.stem}", "path": str(p), "half": "dev",
                         "family": "dev", "style": "dev", "meter": 0,
                         "beats": str(p.with_name(p.stem + ".beats.txt")), "downbeats": ""})
    return rows


def evaluate(rows: list[dict], trackers: tuple[str, ...], cuts: bool = True,
             essentia_halves: tuple[str, ...] = ("test", "tune", "dev")) -> list[dict]:
    import soundfile

    from musicvid.analysis import analyze_samples
    from musicvid.audio import load_audio

    ess = (run_essentia([Path(r["path"]) for r in rows if r["half"] in essentia_halves])
           if "essentia" in trackers else None)
    if "librosa" in trackers:
        import librosa
    out = []
    for r in rows:
        ref = np.loadtxt(r["beats"], ndmin=1)
        dref = np.loadtxt(r["downbeats"], ndmin=1) if r["downbeats"] else None
        res = {"id": r["id"], "half": r["half"], "family": r["family"], "style": r["style"],
               "meter": r["meter"], "ref_bpm": 60.0 / float(np.median(np.diff(ref)))}
        y, sr = load_audio(Path(r["path"]), sr=22050)
        if "musicvid" in trackers:
            t0 = time.perf_counter()
            a = analyze_samples(y, sr)
            s = beat_scores(ref, a.beats)
            res["musicvid"] = {**s, "bpm": a.tempo, "s": time.perf_counter() - t0,
                               "meter": a.meter, "fail": failure(ref, a.beats, s["f"])}
            if dref is not None:
                res["musicvid"]["down_f"] = downbeat_f(dref, a.downbeats)
            if cuts:
                res["musicvid"].update(cut_scores(a, ref, dref))
        if "librosa" in trackers:
            y44, sr44 = soundfile.read(r["path"], dtype="float32")
            t0 = time.perf_counter()
            tempo, frames = librosa.beat.beat_track(y=y44, sr=sr44)
            est = librosa.frames_to_time(frames, sr=sr44)
            s = beat_scores(ref, est)
            res["librosa"] = {**s, "bpm": float(np.atleast_1d(tempo)[0]),
                              "s": time.perf_counter() - t0, "fail": failure(ref, est, s["f"])}
        if ess is not None and r["path"] in ess:
            bpm, est, secs = ess[r["path"]]
            s = beat_scores(ref, est)
            res["essentia"] = {**s, "bpm": bpm, "s": secs, "fail": failure(ref, est, s["f"])}
        out.append(res)
    return out


def summary(results: list[dict], trackers: tuple[str, ...]) -> list[str]:
    rows = ["| set | tracker | files | beat F | CMLt | AMLt | downbeat F | off-beat | octave "
            "| 3:2 | other | cuts within 40 ms | bar cuts on a true downbeat |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for half in ("test", "tune", "dev"):
        rs = [r for r in results if r["half"] == half]
        if not rs:
            continue
        for t in trackers:
            got = [r[t] for r in rs if t in r]
            if not got:
                continue
            fails = Counter(g["fail"] for g in got)
            down = [g["down_f"] for g in got if "down_f" in g]
            c = sum(g.get("cuts", 0) for g in got)
            cok = sum(g.get("cuts_ok", 0) for g in got)
            b = sum(g.get("bar_cuts", 0) for g in got)
            bok = sum(g.get("bar_cuts_ok", 0) for g in got)
            rows.append(
                f"| {half} | {t} | {len(got)} | {np.mean([g['f'] for g in got]):.3f} | "
                f"{np.mean([g['cmlt'] for g in got]):.3f} | "
                f"{np.mean([g['amlt'] for g in got]):.3f} | "
                + (f"{np.mean(down):.3f}" if down else "–")
                + f" | {fails['off-beat']} | {fails['octave']} | {fails['3:2']} | "
                f"{fails['other']} | "
                + (f"{cok}/{c} ({cok / c:.1%})" if c else "–") + " | "
                + (f"{bok}/{b} ({bok / b:.1%})" if b else "–") + " |")
    return rows


def by_style(results: list[dict], half: str = "test") -> list[str]:
    rows = ["| style | files | musicvid F | AMLt | downbeat F | librosa F | essentia F |",
            "|---|---|---|---|---|---|---|"]
    rs = [r for r in results if r["half"] == half]
    for style in sorted({r["style"] for r in rs}):
        g = [r for r in rs if r["style"] == style]

        def m(t, k, g=g):
            v = [r[t][k] for r in g if t in r and k in r[t]]
            return f"{np.mean(v):.3f}" if v else "–"

        rows.append(f"| {style} | {len(g)} | {m('musicvid', 'f')} | {m('musicvid', 'amlt')} "
                    f"| {m('musicvid', 'down_f')} | {m('librosa', 'f')} | "
                    f"{m('essentia', 'f')} |")
    return rows


def failures(results: list[dict], half: str = "test") -> list[str]:
    rows = ["| file | style | true BPM | musicvid BPM | F | group | downbeat F |",
            "|---|---|---|---|---|---|---|"]
    for r in results:
        mv = r.get("musicvid")
        if r["half"] != half or mv is None or not mv["fail"]:
            continue
        rows.append(f"| {r['id']} | {r['style']} | {r['ref_bpm']:.0f} | {mv['bpm']:.0f} | "
                    f"{mv['f']:.2f} | {mv['fail']} | {mv.get('down_f', float('nan')):.2f} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--half", default="test", choices=["test", "tune", "dev", "all"])
    p.add_argument("--trackers", default=",".join(TRACKERS))
    p.add_argument("--corpus", type=Path, default=DEFAULT_OUT)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--json", type=Path, help="write per-file results here")
    p.add_argument("--no-cuts", action="store_true")
    p.add_argument("--essentia-halves", default="test,tune,dev",
                   help="the halves essentia runs on (it is the slow one)")
    p.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = p.parse_args(argv)
    trackers = tuple(t for t in args.trackers.split(",") if t)
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M")
    rows = items(args.half, args.corpus, args.data)
    results = evaluate(rows, trackers, cuts=not args.no_cuts,
                       essentia_halves=tuple(args.essentia_halves.split(",")))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    load_after = os.getloadavg()
    md = [START, "## Beat tracking on the MMA corpus", "", "```bash",
          "python -m benchmarks.corpus",
          f"NUMBA_CACHE_DIR=/tmp/numba-cache python -m benchmarks.beats_corpus --half "
          f"{args.half} --essentia-halves {args.essentia_halves} --write", "```", "",
          f"One run, {started}, {platform.machine()} with {os.cpu_count()} CPUs shared with "
          f"other jobs (load {load_before[0]:.1f} before, {load_after[0]:.1f} after).", "",
          *summary(results, trackers), "", "Per style (test half):", "",
          *by_style(results), "", "Test-half files that miss (musicvid beat F < 0.8):", "",
          *failures(results), "", END]
    text = "\n".join(md) + "\n"
    sys.stdout.write(text)
    if args.write:
        write_doc_section(text, START, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
