"""More training grooves: the MMA libraries the corpus does not use, test families left out.

    python -m benchmarks.corpus                                  # the corpus (cached)
    python -m benchmarks.extra_grooves [--jobs 2]                # these pieces (cached)
    python -m benchmarks.train_beat_net --fold 0/2 --extra .cache/beats-corpus-extra ...
    NUMBA_CACHE_DIR=/tmp/numba-cache python -m benchmarks.extra_grooves --score [--verbose]

The corpus is built from the ``stdlib``, ``casio``, ``kara`` and ``yamaha`` libraries;
Debian's ``mma`` also ships ``zoom`` (drum-machine grooves), ``pflib`` and ``alexis``.
One piece per groove file of those (the corpus plan of :mod:`benchmarks.corpus`: chart,
tempo, mix, two soundfonts, effects) is built into ``.cache/beats-corpus-extra`` (cached,
never committed), every piece marked ``tune``, for the beat network to train on beside
the tuning half. Left out, so that nothing of the test half is heard in training: every
file of a test-half family, every family whose name is a test family's with its digits
moved (zoom ``beat8`` for ``8beat``), and the intro, ending and count-in files (no groove
to learn). A family the corpus has in its tuning half keeps that family's fold in
cross-validation (``train_beat_net --fold`` leaves it out with its fold).

``--score`` reads these pieces as a check on grooves nobody tuned on: each render decoded
with the corpus's fold network that never saw its family (as
:mod:`benchmarks.slow_renders` does), scored like the corpus, over all pieces and per
kind: ``zoom`` is drums alone (drum-machine grooves with no bass or chord track; half the
pieces carry the corpus's melody), ``pflib`` and ``alexis`` have a band.
"""

from __future__ import annotations

import argparse
import re
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

DEFAULT_EXTRA = ROOT / ".cache" / "beats-corpus-extra"
LIBS = ("zoom", "pflib", "alexis")
SKIP = re.compile(r"^(intro|ending|count)$")


def _key(family: str) -> tuple[str, str]:
    """A family's letters and digits apart, so ``beat8`` and ``8beat`` meet."""
    return re.sub(r"\d", "", family), "".join(sorted(re.sub(r"\D", "", family)))


def extra_halves(main: list[corpus.Piece]) -> dict[str, str]:
    """family -> "tune" for the families of ``LIBS`` that may be trained on."""
    test = {p.family for p in main if p.half == "test"}
    test_keys = {_key(f) for f in test}
    out = {}
    for lib in LIBS:
        for path in sorted((corpus.MMA_LIB / lib).glob("*.mma")):
            fam = corpus.family_of(path.stem)
            if fam in test or _key(fam) in test_keys or SKIP.search(fam):
                continue
            out[fam] = "tune"
    return out


def extra_pieces() -> list[corpus.Piece]:
    main = corpus.plan_corpus()
    return corpus.plan_corpus(LIBS, extra_halves(main))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=DEFAULT_EXTRA)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--score", action="store_true",
                   help="decode the pieces with the fold networks and print the scores")
    p.add_argument("--corpus", type=Path, default=corpus.DEFAULT_OUT,
                   help="the corpus folder (where the fold networks are)")
    p.add_argument("--verbose", action="store_true", help="print each file that misses a cut")
    decode_options(p)
    args = p.parse_args(argv)
    apply_sets(p, args.set)
    nets = fold_nets(p, args.corpus, 2, args.tag) if args.score else []
    failed = corpus.build_missing(extra_pieces(), args.out, args.jobs)
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
    for kind, libs in (("drums alone (zoom)", {"zoom"}), ("with a band (pflib, alexis)",
                                                         set(LIBS) - {"zoom"})):
        ids = {r["id"] for r in rows if r["lib"] in libs}
        print(f"{kind}: {summary([r for r in res if r['id'] in ids])}")
    print(missed(res))
    if args.verbose:
        print_misses(res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
