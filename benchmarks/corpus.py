"""The beat-tracking evaluation corpus: MMA grooves rendered through GM soundfonts.

    python -m benchmarks.corpus [--out DIR] [--jobs N] [--limit N]

Needs Debian's ``mma``, ``fluidsynth``, ``fluid-soundfont-gm`` and
``musescore-general-soundfont-small``, and pretty_midi + soundfile + scipy (the ``bench``
extra). Nothing here is committed as audio: the pieces are rebuilt from the groove
libraries in ``/usr/share/mma/lib`` and cached under ``.cache/beats-corpus`` (gitignored);
a piece already there is not rebuilt.

Per groove file of the ``stdlib``, ``casio``, ``kara`` and ``yamaha`` libraries, one
piece (seeded by its name, so the corpus is the same on every machine):

- a chord chart (one of a few progressions, random key, sometimes two chords a bar) over
  the file's main groove, with a variation (Sus/Plus/Walk...) in the middle, sometimes a
  fill, a break bar (``z``: drums only), a stop bar (``z!``: silence), an ending;
- a tempo from the style's usual range (60-200 BPM), some with a tempo step or a gradual
  ritardando/accelerando;
- sometimes a melody (pentatonic, on beats and off-beats);
- per-track mix levels (drums, bass, the rest) varied;
- rendered through two General MIDI soundfonts (FluidR3_GM and MuseScore General
  Lite), mixed to mono 22.05 kHz, some with noise, reverb or compression.

Ground truth comes from MMA's grid, not from the MIDI time signature (MMA writes 6/8
grooves as two beats per bar under a 6/8 signature): beat k at tick k * resolution through
the MIDI tempo map, a downbeat every ``Time`` beats. MMA humanizes note timing by a few ms,
so the grid is the notated beat.

The split is by groove *family* (the file name without its library and trailing digits,
so casio/rock1, casio/rock2 and pflib-style rock files are one family): within each style
category the families, ordered by a hash of their name, alternate between the tuning and
the test half. Tune on ``tune``, report ``test``.

Output: ``<id>.flac``, ``<id>.beats.txt``, ``<id>.downbeats.txt`` and ``index.json``
(one entry per rendered file: family, style, half, meter, tempo, soundfont, effects).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / ".cache" / "beats-corpus"
MMA_LIB = Path("/usr/share/mma/lib")
LIBS = ("stdlib", "casio", "kara", "yamaha")
SOUNDFONTS = {
    "fluidr3": Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    "musescore": Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),
}
SR = 22050
SKIP = re.compile(r"metronome|^none$")
VERSION = 1  # bump when what a piece sounds like changes (cached pieces are rebuilt)

log = logging.getLogger("benchmarks.corpus")

# style category: (name pattern, tempo range in beats per minute)
STYLES = [
    ("compound", r"68|128|jig|slowblues|triphop", (60, 110)),
    ("waltz", r"waltz|34$|serenade", (90, 180)),
    ("march", r"march", (100, 130)),
    ("polka", r"polka", (100, 140)),
    ("reggae-ska", r"ska|reggae|calypso", (80, 150)),
    ("latin", r"bossa|samba|salsa|mambo|rhumba|chacha|tango|bolero|beguine|merengue|son$|"
              r"cuban|latin|afro|lfusion|desert", (90, 140)),
    ("swing-jazz", r"swing|jazz|bebop|bigband|dixie|boggie|boogie|shuffle|foxtrot|"
                   r"quickstep|charleston|ragtime|strut|softshoe|broadway|showtune|"
                   r"evans|blues|jive|basie|bouncy|trio|happy", (100, 200)),
    ("country-folk", r"country|bluegrass|western|hill|zydeco|folk|bluefolk|spiritual|"
                     r"hymn|lullaby|2beat", (90, 170)),
    ("ballad", r"ballad|slow|mellow|ambient", (60, 95)),
    ("funk-soul", r"funk|soul|r\+b|rb|motown|disco|hip|fusion|bvfunk|dsoul", (85, 120)),
    ("rock-pop", r".", (90, 160)),  # everything else: rock, pop, beat, dance, twist...
]

PROGRESSIONS = [
    ["I", "V", "vi", "IV"], ["I", "IV", "V", "I"], ["ii", "V", "I", "I"],
    ["I", "vi", "ii", "V"], ["vi", "IV", "I", "V"], ["I", "I", "IV", "IV", "V", "IV", "I", "V"],
    ["I", "iii", "IV", "V"],
]
KEYS = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"]
DEGREES = {"I": (0, ""), "ii": (2, "m"), "iii": (4, "m"), "IV": (5, ""), "V": (7, "7"),
           "vi": (9, "m")}
MELODY_PROGRAMS = [73, 40, 65, 56, 24, 80, 11, 71]  # flute, violin, sax, trumpet...


@dataclass
class Piece:
    id: str
    lib: str
    file: str
    family: str
    style: str
    half: str
    meter: int  # counted beats per bar
    sub: int  # MMA beats per counted beat (3 for a 6/8 groove written in 6 MMA beats)
    grooves: list[str]
    tempo: float
    tempo_change: str  # "", "step", "ramp"
    melody: bool
    levels: dict[str, float]
    bars: int
    renders: list[dict] = field(default_factory=list)


def _seed(*parts: str) -> int:
    return int(hashlib.sha1("/".join(parts).encode()).hexdigest()[:8], 16)


def family_of(stem: str) -> str:
    s = stem.lower()
    s = re.sub(r"^k(?=[a-z])", "", s) if s.startswith("k") and s[1:] in {
        "bossa", "funk1", "westballad", "50s_rock"} else s
    s = re.sub(r"[-_ ]", "", s)
    return re.sub(r"(?<=[a-z])[1-3]$", "", s) or s


def style_of(family: str) -> tuple[str, tuple[int, int]]:
    for name, pat, rng in STYLES:
        if re.search(pat, family):
            return name, rng
    return STYLES[-1][0], STYLES[-1][2]


def parse_grooves(path: Path) -> list[tuple[str, int]]:
    """(groove name, beats per bar) in the order the file defines them."""
    time = 4
    out = []
    for line in path.read_text(encoding="latin-1").splitlines():
        tok = line.split()
        if len(tok) >= 2 and tok[0].lower() == "time":
            m = re.match(r"(\d+)", tok[1])
            if m:
                time = int(m.group(1))
        elif len(tok) >= 2 and tok[0].lower() == "defgroove":
            out.append((tok[1], time))
    return out


def plan_corpus(libs: tuple[str, ...] = LIBS,
                halves: dict[str, str] | None = None) -> list[Piece]:
    """One piece per groove file of ``libs``; each family's half from the split below, or
    from ``halves`` (family -> half; a family missing there is left out) if given."""
    files = []
    for lib in libs:
        for p in sorted((MMA_LIB / lib).glob("*.mma")):
            if SKIP.search(p.stem.lower()):
                continue
            grooves = parse_grooves(p)
            if grooves:
                files.append((lib, p, grooves))
    families: dict[str, str] = {}
    for _, p, _ in files:
        fam = family_of(p.stem)
        families[fam] = style_of(fam)[0]
    # split: within each style, families ordered by hash alternate tune/test
    half: dict[str, str] = {}
    for style in {s for s in families.values()}:
        fams = sorted((f for f, s in families.items() if s == style),
                      key=lambda f: hashlib.sha1(f.encode()).hexdigest())
        start = _seed(style) % 2
        for i, f in enumerate(fams):
            half[f] = "tune" if (i + start) % 2 == 0 else "test"
    if halves is not None:
        half = halves
    pieces = []
    for lib, p, grooves in files:
        if family_of(p.stem) not in half:
            continue
        rng = np.random.default_rng(_seed(lib, p.stem, str(VERSION)))
        fam = family_of(p.stem)
        style, (lo, hi) = style_of(fam)
        main, mma_time = grooves[0]
        same = [g for g, t in grooves if t == mma_time]
        sub = 3 if mma_time in (6, 9, 12) else 1
        meter = mma_time // sub
        body = [g for g in same if not re.search(r"intro|end|fill|metronome", g, re.I)]
        fills = [g for g in same if re.search(r"fill", g, re.I)]
        ends = [g for g in same if re.search(r"end", g, re.I)]
        variation = body[int(rng.integers(len(body)))] if len(body) > 1 else main
        chosen = [main, variation, fills[0] if fills and rng.random() < 0.6 else "",
                  ends[0] if ends and rng.random() < 0.7 else ""]
        tempo = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        tempo = round(float(np.clip(tempo, 60, 200)), 1)
        change = str(rng.choice(["", "", "", "step", "ramp"]))
        bar_s = 60.0 * meter / tempo
        bars = int(np.clip(round(34.0 / bar_s), 8, 40))
        levels = {"drums": float(rng.choice([0.35, 0.6, 0.8, 1.0, 1.0, 1.2])),
                  "bass": float(rng.choice([0.5, 0.8, 1.0, 1.0, 1.3])),
                  "other": float(rng.choice([0.6, 0.8, 1.0, 1.2]))}
        pieces.append(Piece(
            id=f"{lib}-{p.stem}".lower().replace("+", "p").replace(" ", ""), lib=lib,
            file=str(p), family=fam, style=style, half=half[fam], meter=meter, sub=sub,
            grooves=chosen, tempo=tempo, tempo_change=change,
            melody=bool(rng.random() < 0.5), levels=levels, bars=bars))
    return pieces


def _chord(degree: str, key: int) -> str:
    off, kind = DEGREES[degree]
    return KEYS[(key + off) % 12] + kind


def mma_source(piece: Piece, rng: np.random.Generator) -> str:
    main, variation, fill, end = piece.grooves
    prog = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    key = int(rng.integers(12))
    t0 = piece.tempo * piece.sub
    lines = [f"Tempo {t0}", f"Use {piece.lib}/{Path(piece.file).stem}",
             f"Groove {main}"]
    n = piece.bars
    brk = int(rng.integers(n // 2, n - 2)) if rng.random() < 0.35 else -1
    stop = int(rng.integers(n // 3, n - 2)) if rng.random() < 0.15 else -1
    for bar in range(1, n + 1):
        if bar == n // 2 and variation != main:
            lines.append(f"Groove {variation}")
        if piece.tempo_change == "step" and bar == n // 2 + 1:
            factor = float(rng.choice([0.8, 0.87, 1.15, 1.25]))
            lines.append(f"Tempo {round(float(np.clip(piece.tempo * factor, 60, 200)) * piece.sub, 1)}")
        if piece.tempo_change == "ramp" and bar == n // 2 + 1:
            factor = float(rng.choice([0.8, 0.9, 1.12, 1.2]))
            beats = piece.meter * piece.sub * 4
            target = float(np.clip(piece.tempo * factor, 60, 200)) * piece.sub
            lines.append(f"Tempo {round(target, 1)} {beats}")
        if fill and bar == n - 2:
            lines.append(f"Groove {fill}")
        if end and bar == n:
            lines.append(f"Groove {end}")
        if bar - 1 == brk:
            lines.append(f"{bar} z")
            continue
        if bar - 1 == stop:
            lines.append(f"{bar} z!")
            continue
        c = _chord(prog[(bar - 1) % len(prog)], key)
        if rng.random() < 0.2 and piece.meter == 4 and piece.sub == 1:
            c2 = _chord(prog[bar % len(prog)], key)
            lines.append(f"{bar} {c} / {c2} /" if piece.meter == 4 else f"{bar} {c}")
        else:
            lines.append(f"{bar} {c}")
    return "\n".join(lines) + "\n"


def _grid(pm, meter: int, end: float, sub: int = 1) -> tuple[np.ndarray, np.ndarray]:
    res = pm.resolution * sub
    beats, k = [], 0
    while True:
        t = pm.tick_to_time(k * res)
        if t >= end:
            break
        beats.append(t)
        k += 1
    b = np.asarray(beats)
    return b, b[::meter]


def _dress(pm, piece: Piece, rng: np.random.Generator) -> None:
    """Melody and mix levels, in place."""
    import pretty_midi

    if piece.melody:
        beats, _ = _grid(pm, piece.meter, pm.get_end_time(), piece.sub)
        scale = [0, 2, 4, 7, 9]
        inst = pretty_midi.Instrument(int(rng.choice(MELODY_PROGRAMS)), name="Melody")
        deg = 7
        t_idx = 2 * piece.meter  # after the first bars
        while t_idx < len(beats) - 2:
            step = float(rng.choice([0.5, 1.0, 1.0, 1.5, 2.0]))
            pos = t_idx + (0.5 if rng.random() < 0.25 else 0.0)
            i = int(pos)
            start = beats[i] + (pos - i) * (beats[i + 1] - beats[i])
            j = min(int(pos + step), len(beats) - 1)
            stop = beats[j] if j > i else start + 0.3
            deg = int(np.clip(deg + rng.integers(-2, 3), 0, 14))
            pitch = 60 + 12 * (deg // 5) + scale[deg % 5]
            if rng.random() > 0.15:
                inst.notes.append(pretty_midi.Note(int(rng.integers(70, 105)), pitch,
                                                   float(start), float(stop) - 0.02))
            t_idx = pos + step
        pm.instruments.append(inst)
    for inst in pm.instruments:
        g = (piece.levels["drums"] if inst.is_drum else
             piece.levels["bass"] if "bass" in inst.name.lower() else piece.levels["other"])
        for n in inst.notes:
            n.velocity = int(np.clip(round(n.velocity * g), 1, 127))


def _effects(y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    from scipy.signal import fftconvolve

    fx = []
    if rng.random() < 0.3:  # room reverb: exponentially decaying noise
        t60 = float(rng.uniform(0.4, 1.5))
        n = int(t60 * SR)
        ir = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
        ir[0] = 1.0 / max(float(rng.uniform(0.2, 0.6)), 1e-3)
        ir /= np.sqrt(np.sum(ir ** 2))
        y = fftconvolve(y, ir)[: len(y)]
        fx.append(f"reverb {t60:.1f}s")
    if rng.random() < 0.3:  # compression: fast RMS compressor + makeup
        env = np.sqrt(np.convolve(y ** 2, np.ones(441) / 441, mode="same")) + 1e-6
        thr = float(np.percentile(env, 60))
        gain = np.where(env > thr, (env / thr) ** (1 / 4 - 1), 1.0)
        y = y * gain
        fx.append("compression 4:1")
    y = y / max(float(np.max(np.abs(y))), 1e-9) * float(rng.uniform(0.3, 0.95))
    if rng.random() < 0.3:  # noise at 10-30 dB SNR
        snr = float(rng.uniform(10, 30))
        p = float(np.mean(y ** 2))
        noise = rng.standard_normal(len(y))
        if rng.random() < 0.5:  # pink-ish
            noise = np.cumsum(noise)
            noise -= np.convolve(noise, np.ones(64) / 64, mode="same")
        noise *= np.sqrt(p / 10 ** (snr / 10) / max(float(np.mean(noise ** 2)), 1e-12))
        y = y + noise
        fx.append(f"noise {snr:.0f} dB")
        y = y / max(1.0, float(np.max(np.abs(y))))
    return y.astype(np.float32), fx


def render_midi(mid: Path, soundfont: Path, gain: float, wav: Path) -> tuple[np.ndarray, int]:
    """``mid`` through FluidSynth with ``soundfont`` at ``gain``: (mono float32, rate)."""
    import soundfile

    # dynamic sample loading: only the presets the song uses are decoded (the .sf3 font
    # otherwise decompresses every sample on each start)
    subprocess.run(["fluidsynth", "-ni", "-q", "-o", "synth.dynamic-sample-loading=1",
                    "-g", f"{gain:.2f}", "-r", str(SR), "-F", str(wav), str(soundfont),
                    str(mid)], check=True, capture_output=True)
    y, sr = soundfile.read(str(wav), dtype="float32", always_2d=True)
    return y.mean(axis=1), sr


def build_piece(piece: Piece, out: Path, fonts: dict[str, Path] | None = None) -> Piece:
    """``piece`` rendered into ``out`` through each of ``fonts`` (name -> soundfont file;
    the corpus's two, ``SOUNDFONTS``, by default)."""
    import pretty_midi
    import soundfile

    rng = np.random.default_rng(_seed(piece.id, "render", str(VERSION)))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "song.mma"
        src.write_text(mma_source(piece, rng), encoding="utf-8")
        proc = subprocess.run(["mma", "-f", str(Path(tmp) / "song.mid"), str(src)],
                              capture_output=True, text=True, cwd=tmp)
        mid = Path(tmp) / "song.mid"
        if proc.returncode != 0 or not mid.exists():
            raise RuntimeError(f"mma failed on {piece.id}: {proc.stdout[-300:]}")
        pm = pretty_midi.PrettyMIDI(str(mid))
        _dress(pm, piece, rng)
        pm.write(str(mid))
        for font, sf in (fonts or SOUNDFONTS).items():
            rid = f"{piece.id}.{font}"
            gain = float(rng.uniform(0.4, 0.8))
            y, sr = render_midi(mid, sf, gain, Path(tmp) / f"{font}.wav")
            y, fx = _effects(y.astype(np.float64), rng)
            dur = len(y) / sr
            beats, downbeats = _grid(pm, piece.meter, min(dur, pm.get_end_time()), piece.sub)
            soundfile.write(str(out / f"{rid}.flac"), y, sr)
            np.savetxt(out / f"{rid}.beats.txt", beats, fmt="%.5f")
            np.savetxt(out / f"{rid}.downbeats.txt", downbeats, fmt="%.5f")
            piece.renders.append({"id": rid, "soundfont": font, "gain": round(gain, 2),
                                  "effects": fx, "duration": round(dur, 2)})
    (out / f"{piece.id}.json").write_text(json.dumps({"version": VERSION, **asdict(piece)}),
                                          encoding="utf-8")
    return piece


def _build(args: tuple) -> Piece | str:
    piece, out, *fonts = args
    try:
        os.nice(5)
    except OSError:
        pass
    try:
        return build_piece(piece, out, *fonts)
    except Exception as exc:  # noqa: BLE001 - one bad groove file must not stop the corpus
        return f"{piece.id}: {exc}"


def build_missing(pieces: list[Piece], out: Path, jobs: int,
                  fonts: dict[str, Path] | None = None) -> int:
    """Build into ``out`` each of ``pieces`` without its record there yet (a side set of
    pieces: slow renders, extra grooves, other soundfonts), through ``fonts`` (as
    :func:`build_piece`); returns how many failed, each printed."""
    out.mkdir(parents=True, exist_ok=True)
    todo = [(p, out, fonts) for p in pieces if not (out / f"{p.id}.json").exists()]
    failed = 0
    with ProcessPoolExecutor(max(1, jobs)) as ex:
        for r in ex.map(_build, todo):
            if isinstance(r, str):
                failed += 1
                sys.stdout.write(f"failed: {r}\n")
    return failed


def load_index(out: Path = DEFAULT_OUT) -> list[dict]:
    """One dict per rendered file (``id``, ``path``, ``half``, ``family``, ...)."""
    pieces = []
    for rec in sorted(out.glob("*.json")):  # per-piece records (index.json sums them up)
        if rec.name != "index.json":
            q = json.loads(rec.read_text(encoding="utf-8"))
            if q.pop("version", None) == VERSION:
                pieces.append(q)
    rows = []
    for p in pieces:
        for r in p["renders"]:
            rows.append({**{k: v for k, v in p.items() if k != "renders"}, **r,
                         "piece": p["id"], "path": str(out / f"{r['id']}.flac"),
                         "beats": str(out / f"{r['id']}.beats.txt"),
                         "downbeats": str(out / f"{r['id']}.downbeats.txt")})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--limit", type=int, default=0, help="first N pieces only (a quick look)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for tool in ("mma", "fluidsynth"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install mma fluidsynth "
                             "fluid-soundfont-gm musescore-general-soundfont-small")
    for sf in SOUNDFONTS.values():
        if not sf.exists():
            raise SystemExit(f"soundfont {sf} not found")
    args.out.mkdir(parents=True, exist_ok=True)
    pieces = plan_corpus()
    if args.limit:
        pieces = pieces[: args.limit]
    index_path = args.out / "index.json"
    done: dict[str, dict] = {}
    for q in pieces:  # cached: its record, of this version, and every render on disk
        rec = args.out / f"{q.id}.json"
        if rec.exists():
            old = json.loads(rec.read_text(encoding="utf-8"))
            if old.pop("version", None) == VERSION and all(
                    (args.out / f"{r['id']}.flac").exists() for r in old["renders"]):
                done[q.id] = old
    todo = [q for q in pieces if q.id not in done]
    log.info("%d pieces planned, %d cached, %d to build", len(pieces), len(pieces) - len(todo),
             len(todo))
    built: list[dict] = [done[q.id] for q in pieces if q.id in done]
    failed = []
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        for i, r in enumerate(ex.map(_build, [(q, args.out) for q in todo])):
            if isinstance(r, str):
                failed.append(r)
                log.warning("skipped %s", r)
            else:
                built.append(asdict(r))
            if (i + 1) % 20 == 0:
                log.info("%d/%d built", i + 1, len(todo))
    order = {q.id: i for i, q in enumerate(pieces)}
    built.sort(key=lambda q: order[q["id"]])
    index_path.write_text(json.dumps({"version": VERSION, "pieces": built, "failed": failed},
                                     indent=1), encoding="utf-8")
    halves = {h: sum(1 for q in built if q["half"] == h) for h in ("tune", "test")}
    fams = {h: len({q["family"] for q in built if q["half"] == h}) for h in ("tune", "test")}
    log.info("%d pieces (%d files): tune %d pieces / %d families, test %d / %d; %d failed",
             len(built), sum(len(q["renders"]) for q in built), halves["tune"], fams["tune"],
             halves["test"], fams["test"], len(failed))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
