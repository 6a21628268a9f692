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

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import corpus  # noqa: E402
from benchmarks.beat_decode_cv import side_set_main  # noqa: E402

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


def _kinds(rows: list[dict]) -> dict[str, set[str]]:
    """Drums alone (zoom) and with a band (the other libraries): their render ids."""
    return {kind: {r["id"] for r in rows if r["lib"] in libs}
            for kind, libs in (("drums alone (zoom)", {"zoom"}),
                               ("with a band (pflib, alexis)", set(LIBS) - {"zoom"}))}


def main(argv: list[str] | None = None) -> int:
    return side_set_main(argv, __doc__.split("\n")[0], DEFAULT_EXTRA,
                         lambda out, jobs: corpus.build_missing(extra_pieces(), out, jobs),
                         _kinds)


if __name__ == "__main__":
    raise SystemExit(main())
