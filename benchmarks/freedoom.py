"""Composed music nobody tuned on: Freedoom's MIDI soundtrack, rendered and annotated.

    apt-get install freedoom fluidsynth fluid-soundfont-gm musescore-general-soundfont-small
    python -m benchmarks.freedoom [--jobs 2]                 # the set (cached)
    NUMBA_CACHE_DIR=/tmp/numba-cache python -m benchmarks.beats_corpus \\
        --corpus .cache/freedoom --half test --essentia-halves test

Debian's ``freedoom`` (BSD licence) ships two game WADs whose music lumps (``D_*``) are
Standard MIDI files: rock, metal, funk, ambient and march pieces written by many
composers, unlike the groove-library patterns of the corpus. Each lump is read out of the
WAD, its first ``SECONDS`` rendered through the corpus's two General MIDI soundfonts
(:func:`benchmarks.corpus.render_midi`, fixed gain, no effects) into ``.cache/freedoom``
(cached, never committed), with beats and downbeats from the file's own tempo map and
time signatures (``pretty_midi``). Every piece is marked ``test``: nothing is tuned on
it, it is only read by ``beats_corpus``.

A piece is kept only where its notation can serve as ground truth, judged from the MIDI
alone, never from a tracker: at least ``MIN_BEATS`` beats, a median tempo of 50-220 BPM,
and at least ``ON_GRID`` of its note onsets within 30 ms of the sixteenth-note or
eighth-triplet grid of its beats (a piece played in free time, or with a tempo map that
does not follow the music, is left out, and its reason printed).
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import corpus  # noqa: E402

DEFAULT_OUT = ROOT / ".cache" / "freedoom"
WADS = (Path("/usr/share/games/doom/freedoom1.wad"), Path("/usr/share/games/doom/freedoom2.wad"))
SECONDS = 60.0
MIN_BEATS = 32
ON_GRID = 0.9
GAIN = 0.6


def midi_lumps(wad: Path) -> dict[str, bytes]:
    """name -> bytes of each music lump of ``wad`` that is a Standard MIDI file."""
    d = wad.read_bytes()
    if d[:4] not in (b"IWAD", b"PWAD"):
        raise ValueError(f"{wad} is not a WAD file")
    n, off = struct.unpack_from("<ii", d, 4)
    out = {}
    for i in range(n):
        pos, size, raw = struct.unpack_from("<ii8s", d, off + 16 * i)
        name = raw.rstrip(b"\0").decode("ascii", "replace")
        body = d[pos:pos + size]
        if name.startswith("D_") and body[:4] == b"MThd":
            out[name[2:].lower()] = body
    return out


def ground_truth(pm, end: float) -> tuple[np.ndarray, np.ndarray, int, str]:
    """(beats, downbeats, beats per bar, why not) of a PrettyMIDI up to ``end`` seconds;
    ``why not`` is empty where the notation can serve as ground truth."""
    beats = pm.get_beats()
    downs = pm.get_downbeats()
    beats, downs = beats[beats < end], downs[downs < end]
    ts = pm.time_signature_changes
    meter = int(ts[0].numerator) if ts else 4
    if len(beats) < MIN_BEATS:
        return beats, downs, meter, f"{len(beats)} beats in {end:.0f} s"
    bpm = 60.0 / float(np.median(np.diff(beats)))
    if not 50.0 <= bpm <= 220.0:
        return beats, downs, meter, f"{bpm:.0f} BPM"
    onsets = np.array([n.start for inst in pm.instruments for n in inst.notes
                       if n.start < beats[-1]])
    if len(onsets) < MIN_BEATS:
        return beats, downs, meter, f"{len(onsets)} notes"
    grid = np.concatenate([beats[:-1, None] + np.diff(beats)[:, None] * np.arange(k) / k
                           for k in (4, 3)], axis=1).ravel()
    grid = np.sort(np.append(grid, beats[-1]))
    i = np.clip(np.searchsorted(grid, onsets), 1, len(grid) - 1)
    dist = np.minimum(np.abs(onsets - grid[i - 1]), np.abs(onsets - grid[i]))
    share = float(np.mean(dist <= 0.030))
    if share < ON_GRID:
        return beats, downs, meter, f"{share:.0%} of notes on the grid"
    return beats, downs, meter, ""


def build(args: tuple[str, str, bytes, Path]) -> str:
    """Render one lump into ``out``; returns what happened, for the log."""
    import pretty_midi
    import soundfile

    wad, name, data, out = args
    pid = f"{wad}-{name}"
    try:
        pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - one unreadable lump must not stop the set
        return f"{pid}: left out (unreadable MIDI: {exc})"
    end = min(SECONDS, pm.get_end_time())
    beats, downs, meter, why = ground_truth(pm, end)
    if why:
        return f"{pid}: left out ({why})"
    renders = []
    with tempfile.TemporaryDirectory() as tmp:
        mid = Path(tmp) / "song.mid"
        mid.write_bytes(data)
        for font, sf in corpus.SOUNDFONTS.items():
            rid = f"{pid}.{font}"
            y, sr = corpus.render_midi(mid, sf, GAIN, Path(tmp) / f"{font}.wav")
            y = y[:int(end * sr)]
            soundfile.write(str(out / f"{rid}.flac"), y, sr)
            np.savetxt(out / f"{rid}.beats.txt", beats, fmt="%.5f")
            np.savetxt(out / f"{rid}.downbeats.txt", downs, fmt="%.5f")
            renders.append({"id": rid, "soundfont": font, "gain": GAIN, "effects": [],
                            "duration": round(len(y) / sr, 2)})
    bpm = 60.0 / float(np.median(np.diff(beats)))
    rec = {"version": corpus.VERSION, "id": pid, "lib": "freedoom", "file": wad,
           "family": pid, "style": "game", "half": "test", "meter": meter, "sub": 1,
           "tempo": round(bpm, 1), "renders": renders}
    (out / f"{pid}.json").write_text(json.dumps(rec), encoding="utf-8")
    return f"{pid}: {bpm:.0f} BPM, {meter} beats a bar, {len(beats)} beats"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args(argv)
    missing = [w for w in WADS if not w.exists()]
    if missing:
        p.error(f"{missing[0]} is missing: apt-get install freedoom")
    args.out.mkdir(parents=True, exist_ok=True)
    todo, seen = [], set()
    for w in WADS:
        for name, data in sorted(midi_lumps(w).items()):
            if data in seen:  # the same music in both WADs: once
                continue
            seen.add(data)
            if not (args.out / f"{w.stem}-{name}.json").exists():
                todo.append((w.stem, name, data, args.out))
    with ProcessPoolExecutor(max(1, args.jobs)) as ex:
        for line in ex.map(build, todo):
            print(line)
    rows = corpus.load_index(args.out)
    print(f"{len(rows)} renders of {len({r['piece'] for r in rows})} pieces in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
