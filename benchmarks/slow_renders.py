"""A double-tempo stress set from the tuning half: its 4/4 pieces re-rendered at 60-80 BPM.

    python -m benchmarks.corpus                                  # the corpus (cached)
    python -m benchmarks.train_beat_net --fold 0/2 --out .cache/beats-corpus/beat_net-fold0of2.npz
    python -m benchmarks.train_beat_net --fold 1/2 --out .cache/beats-corpus/beat_net-fold1of2.npz
    NUMBA_CACHE_DIR=/tmp/numba-cache python -m benchmarks.slow_renders [--jobs 2] \
        [--set meter.METER_CUE=0 ...]

Slow 8- and 16-beat ballads are what the tracker most often counts on their eighth notes,
and the tuning half has few of them. Each tuning piece in simple 4/4 (the corpus plan of
:mod:`benchmarks.corpus`: the same grooves, chart, mix and renders) is built again at a
tempo drawn from 60-80 BPM (seeded by its name, no tempo change) into
``.cache/beats-corpus-slow`` (cached, never committed), and each render is decoded with
the fold network that never saw its family, as :mod:`benchmarks.beat_decode_cv` does.
Prints beat F, AMLt, downbeat F, the failure groups, the share of cuts within 40 ms of a
true beat and where the missed cuts are. Only tuning families are rendered: the test half
and the dev eight are never read.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import corpus  # noqa: E402
from benchmarks.beat_decode_cv import (  # noqa: E402
    apply_sets,
    decode_options,
    fold_nets,
    missed,
    print_misses,
    run_folds,
    summary,
    tune_features,
)

DEFAULT_SLOW = ROOT / ".cache" / "beats-corpus-slow"
TEMPI = (60.0, 80.0)


def slow_pieces() -> list[corpus.Piece]:
    """The tuning pieces in simple 4/4, each at a seeded tempo in ``TEMPI``."""
    out = []
    for p in corpus.plan_corpus():
        if p.half != "tune" or p.sub != 1 or p.meter != 4:
            continue
        rng = np.random.default_rng(corpus._seed(p.id, "slow"))
        tempo = round(float(rng.uniform(*TEMPI)), 1)
        bars = int(np.clip(round(34.0 / (60.0 * p.meter / tempo)), 8, 40))
        out.append(dataclasses.replace(p, id=f"{p.id}-slow", tempo=tempo, tempo_change="",
                                       bars=bars, renders=[]))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", type=Path, default=corpus.DEFAULT_OUT,
                   help="the corpus folder (where the fold networks are)")
    p.add_argument("--out", type=Path, default=DEFAULT_SLOW)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--verbose", action="store_true", help="print each file that misses a cut")
    decode_options(p)
    args = p.parse_args(argv)
    apply_sets(p, args.set)
    nets = fold_nets(p, args.corpus, 2, args.tag)
    if corpus.build_missing(slow_pieces(), args.out, args.jobs):
        return 1
    rows = sorted(corpus.load_index(args.out), key=lambda r: r["id"])
    feats = tune_features(rows, args.out / "features.pkl")
    res = run_folds(rows, feats, nets)
    print(f"{len(rows) // 2} pieces at {TEMPI[0]:.0f}-{TEMPI[1]:.0f} BPM: {summary(res)}")
    print(missed(res))
    if args.verbose:
        print_misses(res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
