"""Beats on real recordings without ground truth: tempo, and how far the beats sit from
the strongest onsets.

    apt-get download hyperrogue-music drascula-music && dpkg -x <each .deb> songs/
    NUMBA_CACHE_DIR=/tmp/numba-cache python -m benchmarks.real_songs songs/ [--limit N]

Per song (every .ogg/.opus/.mp3/.flac/.wav of at least 20 s under the folder): the
analyzer's tempo, confidence and meter, librosa ``beat_track``'s tempo beside it, and for
the strongest onsets (peaks of the onset envelope in its top 10%) the median distance
to the nearest beat and the share within 50 ms of one, against the same for the
half-beats (the off-beat grid): a beat grid that is really on the music has its strong
onsets near beats, not half-beats. Also: whether the song decodes, and any exception.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EXTS = {".ogg", ".opus", ".mp3", ".flac", ".wav"}


def onset_offsets(y: np.ndarray, sr: int, beats: np.ndarray) -> tuple[float, float, float, float]:
    """(median ms, share within 50 ms) of the strongest onsets to beats, then to half-beats."""
    from musicvid.analysis.features import compute_features

    f = compute_features(y, sr)
    o = f.onset
    peaks = np.flatnonzero((o[1:-1] >= o[:-2]) & (o[1:-1] > o[2:])) + 1
    if len(peaks) < 4 or len(beats) < 4:
        return float("nan"), float("nan"), float("nan"), float("nan")
    top = peaks[o[peaks] >= np.percentile(o[peaks], 90)]
    t = top / f.onset_fps
    halves = beats[:-1] + np.diff(beats) / 2

    def dist(grid: np.ndarray) -> np.ndarray:
        i = np.clip(np.searchsorted(grid, t), 1, len(grid) - 1)
        return np.minimum(np.abs(t - grid[i - 1]), np.abs(t - grid[i]))

    d, h = dist(beats), dist(halves)
    return (float(np.median(d) * 1000), float(np.mean(d <= 0.05)),
            float(np.median(h) * 1000), float(np.mean(h <= 0.05)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--limit", type=int, default=0)
    args = p.parse_args(argv)
    import librosa
    import soundfile

    from musicvid.analysis import analyze_samples
    from musicvid.audio import load_audio

    songs = sorted(q for q in args.folder.rglob("*") if q.suffix.lower() in EXTS
                   and q.is_file() and not q.is_symlink())
    rows = ["| song | s | musicvid BPM | confidence | meter | librosa BPM | strong onsets "
            "to beat: median ms | within 50 ms | to half-beat: median ms | within 50 ms |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    n = 0
    for q in songs:
        try:
            if soundfile.info(str(q)).duration < 20:
                continue
        except Exception:  # noqa: BLE001 - libsndfile may not open it; the decoder may
            pass
        if args.limit and n >= args.limit:
            break
        n += 1
        name = f"{q.parent.name}/{q.name}"
        try:
            y, sr = load_audio(q, sr=22050)
            t0 = time.perf_counter()
            a = analyze_samples(y, sr)
            secs = time.perf_counter() - t0
            lt, _ = librosa.beat.beat_track(y=y, sr=sr)
            dm, dw, hm, hw = onset_offsets(y, sr, np.asarray(a.beats))
            rows.append(f"| {name} | {a.duration:.0f} | {a.tempo:.1f} | "
                        f"{a.tempo_confidence:.2f} | {a.meter} | "
                        f"{float(np.atleast_1d(lt)[0]):.1f} | {dm:.0f} | {dw:.0%} | {hm:.0f} | "
                        f"{hw:.0%} |")
            sys.stderr.write(f"{rows[-1]} ({secs:.2f} s)\n")
        except Exception as exc:  # noqa: BLE001 - report, do not stop
            rows.append(f"| {name} | failed: {type(exc).__name__}: {exc} | | | | | | | | |")
    sys.stdout.write("\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
