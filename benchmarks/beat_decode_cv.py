"""Cross-validate the beat decoder's choices on the tuning folds, without retraining.

    python -m benchmarks.corpus                                  # the corpus (cached)
    python -m benchmarks.train_beat_net --fold 0/2               # the fold networks, once
    python -m benchmarks.train_beat_net --fold 1/2
    NUMBA_CACHE_DIR=/tmp/numba-cache python -m benchmarks.beat_decode_cv \
        [--set netbeats.PLAYED_SHARE=0.3 ...]

Each fold's held-out tuning files are decoded with the network trained without them
(``beat_net-fold{i}of{k}.npz`` under the corpus folder), through the analyzer after its
features (:func:`musicvid.analysis._core.analyze_features`), so a decoding constant can be
tried in seconds. Prints, per fold, beat F, AMLt, downbeat F, the failure groups and the
share of ``musicvid plan``'s cuts within 40 ms of a true beat. Only the tuning half is
read: the test half and the dev eight are never decoded here.

``--set MODULE.NAME=VALUE`` sets a constant of ``musicvid.analysis.MODULE`` for the run
(a number, or ``True``/``False``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.beats import beat_scores  # noqa: E402
from benchmarks.beats_corpus import cut_scores, downbeat_f, failure  # noqa: E402
from benchmarks.corpus import DEFAULT_OUT, load_index  # noqa: E402
from benchmarks.train_beat_net import fold_of, fold_weights, read_cache, write_cache  # noqa: E402

FEATURES_VERSION = 1


def _value(text: str):
    if text in ("True", "False"):
        return text == "True"
    return float(text) if any(c in text for c in ".e") else int(text)


def tune_features(rows: list[dict], cache: Path) -> dict[str, tuple]:
    """``id -> (Features, duration, sample rate)`` of the tuning files (cached)."""
    from musicvid.analysis.features import compute_features
    from musicvid.audio import load_audio

    have = read_cache(cache, FEATURES_VERSION)
    todo = [r for r in rows if r["id"] not in have]
    for r in todo:
        y, sr = load_audio(Path(r["path"]), sr=22050)
        have[r["id"]] = (compute_features(y, sr), len(y) / sr, sr)
    if todo:
        write_cache(cache, have, FEATURES_VERSION)
    return have


def run_fold(rows: list[dict], feats: dict, weights: Path) -> list[dict]:
    from musicvid.analysis import netbeats
    from musicvid.analysis._core import analyze_features

    netbeats.WEIGHTS = weights
    netbeats._weights.cache_clear()
    out = []
    for r in rows:
        f, duration, sr = feats[r["id"]]
        a = analyze_features(f, duration, sr)
        ref = np.loadtxt(r["beats"], ndmin=1)
        dref = np.loadtxt(r["downbeats"], ndmin=1)
        s = beat_scores(ref, a.beats)
        ref_bpm = 60.0 / float(np.median(np.diff(ref)))
        out.append({**s, "id": r["id"], "down_f": downbeat_f(dref, a.downbeats),
                    "fail": failure(ref, a.beats, s["f"]), "bpm": a.tempo,
                    "ref_bpm": ref_bpm, **cut_scores(a, ref, dref)})
    return out


def run_folds(rows: list[dict], feats: dict, nets: list[Path]) -> list[dict]:
    """Each row decoded with the fold network that never saw its family (``fold_of``)."""
    out: list[dict] = []
    for i, weights in enumerate(nets):
        out += run_fold([r for r in rows if fold_of(r["family"], len(nets)) == i], feats,
                        weights)
    return out


def missed(res: list[dict]) -> str:
    """Files and missed cuts per failure group (octave split into double and half)."""
    lost: Counter = Counter()
    files: Counter = Counter()
    for r in res:
        g = r["fail"] or "right"
        if g == "octave":
            g = "double" if r["bpm"] > r["ref_bpm"] else "half"
        lost[g] += r["cuts"] - r["cuts_ok"]
        files[g] += 1
    return "; ".join(f"{g}: {files[g]} files, {lost[g]} cuts missed" for g in sorted(files))


def print_misses(res: list[dict]) -> None:
    """Each file that misses a cut, worst first."""
    for r in sorted(res, key=lambda r: r["cuts_ok"] - r["cuts"]):
        if r["cuts"] > r["cuts_ok"]:
            print(f"    {r['id']}: {r['ref_bpm']:.0f} -> {r['bpm']:.0f} BPM, F {r['f']:.2f}, "
                  f"downbeat F {r['down_f']:.2f}, {r['cuts'] - r['cuts_ok']} of "
                  f"{r['cuts']} cuts off the beat")


def summary(res: list[dict]) -> str:
    fails = Counter(r["fail"] for r in res)
    dbl = sum(r["fail"] == "octave" and r["bpm"] > r["ref_bpm"] for r in res)
    c = sum(r["cuts"] for r in res)
    ok = sum(r["cuts_ok"] for r in res)
    bc = sum(r["bar_cuts"] for r in res)
    bok = sum(r["bar_cuts_ok"] for r in res)
    return (f"{len(res)} files: F {np.mean([r['f'] for r in res]):.3f}, "
            f"AMLt {np.mean([r['amlt'] for r in res]):.3f}, "
            f"downbeat F {np.mean([r['down_f'] for r in res]):.3f}; "
            f"octave {fails['octave']} ({dbl} double), off-beat {fails['off-beat']}, "
            f"3:2 {fails['3:2']}, other {fails['other']}; cuts {ok}/{c} ({ok / max(c, 1):.1%}), "
            f"bar cuts on a downbeat {bok}/{bc} ({bok / max(bc, 1):.1%})")


def apply_sets(p: argparse.ArgumentParser, sets: list[str]) -> None:
    """Each ``MODULE.NAME=VALUE`` set on ``musicvid.analysis.MODULE`` for this run (a
    parser error for a name the module lacks)."""
    for kv in sets:
        name, value = kv.split("=", 1)
        mod, attr = name.rsplit(".", 1)
        m = importlib.import_module(f"musicvid.analysis.{mod}")
        if not hasattr(m, attr):
            p.error(f"musicvid.analysis.{mod} has no {attr}")
        setattr(m, attr, _value(value))


def decode_options(p: argparse.ArgumentParser) -> None:
    """The options a fold decoding shares: ``--set`` (decoder constants) and ``--tag``
    (an experiment's fold networks)."""
    p.add_argument("--set", action="append", default=[], metavar="MODULE.NAME=VALUE")
    p.add_argument("--tag", default="", help="read beat_net-fold{i}of{k}-TAG.npz (the fold "
                   "networks of a training experiment, trained with --out so named)")


def fold_nets(p: argparse.ArgumentParser, corpus: Path, k: int, tag: str) -> list[Path]:
    """The ``k`` fold networks under ``corpus`` (a parser error naming the command that
    trains one that is missing)."""
    nets = [fold_weights(corpus, i, k, tag) for i in range(k)]
    for i, w in enumerate(nets):
        if not w.exists():
            p.error(f"{w} is missing: python -m benchmarks.train_beat_net --fold {i}/{k} "
                    f"--out {w}")
    return nets


def side_set_main(argv: list[str] | None, description: str, default_out: Path,
                  build, groups) -> int:
    """The command of a side set built like the corpus (``extra_grooves``, ``other_fonts``):
    ``build(out, jobs)`` makes what is missing under ``--out`` and returns how many pieces
    failed; ``--score`` then decodes every render with the fold network that never saw its
    family and prints the whole set, each of ``groups(rows)`` (name -> render ids) and the
    missed cuts per failure group (``--verbose``: each file that misses one)."""
    from benchmarks import corpus

    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", type=Path, default=default_out)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--score", action="store_true",
                   help="decode the renders with the fold networks and print the scores")
    p.add_argument("--corpus", type=Path, default=corpus.DEFAULT_OUT,
                   help="the corpus folder (where the fold networks are)")
    p.add_argument("--verbose", action="store_true", help="print each file that misses a cut")
    decode_options(p)
    args = p.parse_args(argv)
    apply_sets(p, args.set)
    nets = fold_nets(p, args.corpus, 2, args.tag) if args.score else []
    failed = build(args.out, args.jobs)
    rows = sorted(corpus.load_index(args.out), key=lambda r: r["id"])
    fams = sorted({r["family"] for r in rows})
    print(f"{len(rows)} files of {len(fams)} families in {args.out}: {', '.join(fams)}; "
          f"{failed} failed")
    if not args.score:
        return 0
    if failed:
        return 1
    res = run_folds(rows, tune_features(rows, args.out / "features.pkl"), nets)
    print(f"all: {summary(res)}")
    for name, ids in groups(rows).items():
        print(f"{name}: {summary([r for r in res if r['id'] in ids])}")
    print(missed(res))
    if args.verbose:
        print_misses(res)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", type=Path, default=DEFAULT_OUT)
    p.add_argument("--folds", type=int, default=2)
    p.add_argument("--verbose", action="store_true", help="print each failing file")
    decode_options(p)
    args = p.parse_args(argv)
    apply_sets(p, args.set)
    k = args.folds
    nets = fold_nets(p, args.corpus, k, args.tag)
    rows = sorted((r for r in load_index(args.corpus) if r["half"] == "tune"),
                  key=lambda r: r["id"])
    feats = tune_features(rows, args.corpus / "tune-features.pkl")
    every = []
    for i, weights in enumerate(nets):
        res = run_fold([r for r in rows if fold_of(r["family"], k) == i], feats, weights)
        every += res
        print(f"fold {i}: {summary(res)}")
        if args.verbose:
            for r in res:
                if r["fail"]:
                    print(f"    {r['id']}: {r['ref_bpm']:.0f} -> {r['bpm']:.0f} BPM, "
                          f"F {r['f']:.2f}, {r['fail']}")
    print(f"all: {summary(every)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
