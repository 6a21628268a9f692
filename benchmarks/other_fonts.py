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

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import corpus  # noqa: E402
from benchmarks.beat_decode_cv import side_set_main  # noqa: E402

DEFAULT_FONTS = ROOT / ".cache" / "beats-corpus-fonts"
FONTS = {
    "timgm": Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    "opl3": Path("/usr/share/sounds/sf2/OPL-3_FM_128M.sf2"),
}


def font_pieces() -> list[corpus.Piece]:
    """The corpus plan's tuning pieces (their renders are made through ``FONTS``)."""
    return [p for p in corpus.plan_corpus() if p.half == "tune"]


def _build(out: Path, jobs: int) -> int:
    missing = [str(sf) for sf in FONTS.values() if not sf.exists()]
    if missing:
        raise SystemExit(f"soundfont not found: {', '.join(missing)} "
                         "(apt-get install timgm6mb-soundfont opl3-soundfont)")
    return corpus.build_missing(font_pieces(), out, jobs, FONTS)


def _fonts(rows: list[dict]) -> dict[str, set[str]]:
    """Each soundfont's render ids."""
    return {font: {r["id"] for r in rows if r["soundfont"] == font} for font in FONTS}


def main(argv: list[str] | None = None) -> int:
    return side_set_main(argv, __doc__.split("\n")[0], DEFAULT_FONTS, _build, _fonts)


if __name__ == "__main__":
    raise SystemExit(main())
