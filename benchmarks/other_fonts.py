"""The tuning half through two soundfonts the corpus does not use: timbre nobody tuned on.

    python -m benchmarks.corpus                                  # the corpus (cached)
    python -m benchmarks.other_fonts [--jobs 2]                  # these renders (cached)
    NUMBA_CACHE_DIR=/tmp/numba-cache python -m benchmarks.other_fonts --score [--verbose]
    python -m benchmarks.train_beat_net --fold 0/2 --extra .cache/beats-corpus-fonts ...

Needs Debian's ``timgm6mb-soundfont`` (TimGM6mb, GPL-2) and ``opl3-soundfont`` (an OPL3
FM chip's sounds), beside what :mod:`benchmarks.corpus` needs. Each tuning piece of the
corpus plan (the same chart, tempo, melody and dressing) is rendered through both into
``.cache/beats-corpus-fonts`` (cached, never committed). The corpus's own renders use
FluidR3_GM and MuseScore General only, and the files the analyzer still tracks on the
off-beat are renders of one soundfont, so this asks whether the beat network learned the
groove or the two fonts' drum kits.

``--score`` decodes each render with the corpus's fold network that never saw its family
(as :mod:`benchmarks.extra_grooves` does): the pieces are the tuning half's, the timbres
are new. The test half is never rendered here. ``train_beat_net --extra`` can train on
these renders beside the corpus (each family stays in its fold).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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

DEFAULT_FONTS = ROOT / ".cache" / "beats-corpus-fonts"
FONTS = {
    "timgm": Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    "opl3": Path("/usr/share/sounds/sf2/OPL-3_FM_128M.sf2"),
}


def font_pieces() -> list[corpus.Piece]:
    """The corpus plan's tuning pieces (their renders are made through ``FONTS``)."""
    return [p for p in corpus.plan_corpus() if p.half == "tune"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=DEFAULT_FONTS)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--score", action="store_true",
                   help="decode the renders with the fold networks and print the scores")
    p.add_argument("--corpus", type=Path, default=corpus.DEFAULT_OUT,
                   help="the corpus folder (where the fold networks are)")
    p.add_argument("--verbose", action="store_true", help="print each file that misses a cut")
    decode_options(p)
    args = p.parse_args(argv)
    apply_sets(p, args.set)
    missing = [str(sf) for sf in FONTS.values() if not sf.exists()]
    if missing:
        p.error(f"soundfont not found: {', '.join(missing)} "
                "(apt-get install timgm6mb-soundfont opl3-soundfont)")
    nets = fold_nets(p, args.corpus, 2, args.tag) if args.score else []
    failed = corpus.build_missing(font_pieces(), args.out, args.jobs, FONTS)
    rows = sorted(corpus.load_index(args.out), key=lambda r: r["id"])
    print(f"{len(rows)} files in {args.out}; {failed} failed")
    if not args.score:
        return 0
    if failed:
        return 1
    res = run_folds(rows, tune_features(rows, args.out / "features.pkl"), nets)
    print(f"all: {summary(res)}")
    for font in FONTS:
        print(f"{font}: {summary([r for r in res if r['id'].endswith('.' + font)])}")
    print(missed(res))
    if args.verbose:
        print_misses(res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
