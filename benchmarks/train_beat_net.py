"""Train the beat and downbeat network shipped in ``musicvid/analysis/beat_net.npz``.

    python -m benchmarks.corpus                       # the corpus (cached)
    NUMBA_CACHE_DIR=/tmp/numba-cache python -m benchmarks.train_beat_net [--fold 0/2]

Reads the **tuning half** of the corpus only (the test half and the dev eight are never
read), plus ``SYNTHETIC`` synthetic grooves (:mod:`benchmarks.synthetic_grooves`: drum
machines with off-beat hats and bass, metronomes; a ``SYNTHETIC_SHARE`` of each batch).
The architecture is :mod:`musicvid.analysis.netbeats`'s: a 1x1 input layer, ten residual
blocks of kernel-3 convolutions dilated 1 ... 512 frames with ELU, two sigmoid outputs
(beat, downbeat); targets are the annotated beat and downbeat frames, their neighbours
at half weight. Each step takes a batch of random 17 s excerpts, each time-stretched by a
random factor between 0.8 and 1.25 (features and targets together), its level shifted
and its chroma rolled (a transposition), so the network sees every groove at many tempi
and keys. AdamW, a one-cycle learning rate, binary cross-entropy; seeded (numpy and
torch, deterministic torch algorithms), files in sorted order, a fixed thread count. The
shipped weights: 2400 steps, 9 min 49 s wall (17 CPU-minutes) on the 2-core machine.

``--fold i/k`` leaves out the tuning families of fold ``i`` of ``k`` (hash of the family
name, as the corpus split) and, after training, scores the left-out files (beat F,
AMLt, downbeat F): the cross-validation the decoder's constants are chosen by. Weights
from a fold run go to ``--out`` only if given. ``--set NAME=VALUE`` overrides a training
constant, ``--groove NAME=VALUE`` one of :mod:`benchmarks.synthetic_grooves` (for
example ``SKANK_SHARE=0.3``; those grooves' features are cached apart). ``--extra DIR``
adds the tuning renders of another corpus folder (``benchmarks/slow_renders.py``'s slow
renders, ``benchmarks/extra_grooves.py``'s grooves of the libraries the corpus does not
use): a family of the corpus's tuning half keeps its fold, one the corpus lacks is
trained on in every fold.

``--set BAND_DROP=0.5`` silences a random range of 2 to ``BAND_DROP_MAX`` of the 16 mel
bands (level and flux) in that share of the excerpts, and ``--merge A.npz B.npz --out
E.npz`` writes an ensemble the analyzer averages: neither is in the shipped recipe (on
the tuning folds the same files failed, docs/benchmarks.md).

``--set TEMPO_BINS=64`` adds a tempo output (after Böck, Davies and Knees's multi-task
TCN, 2019): the hidden state averaged over the excerpt, one linear layer, a softmax over
tempo classes log-spaced from 50 to 215 BPM, trained on a Gaussian around the excerpt's
annotated tempo (``TEMPO_SIGMA`` classes wide) at ``TEMPO_WEIGHT`` of the beat loss; the
decoder then adds ``netbeats.TEMPO_PRIOR`` times its log probability to each beat. The
shipped recipe has none: on the tuning folds it did not lower the octave errors (its own
tempo was within 6% on 132 of 202 held-out files, at double or half on 39) and the beats
scored lower (docs/benchmarks.md).

Needs torch (training only; the shipped network runs in numpy).
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.corpus import DEFAULT_OUT, load_index  # noqa: E402

CHANNELS = 24
DILATIONS = tuple(2 ** i for i in range(10))
DROPOUT = 0.1
CROP = 1500  # frames per excerpt (17 s)
BATCH = 16
STEPS = 2400
LR = 2e-3
WEIGHT_DECAY = 1e-4
STRETCH = (0.8, 1.25)
LEVEL_JITTER = 0.25  # a random offset of the level channels (x4 in log10 power: +-10 dB)
ROLL_CHROMA = True  # a random transposition (the chroma channels rolled)
BAND_DROP = 0.0  # share of excerpts with a random range of mel bands silenced (experiment)
BAND_DROP_MAX = 8  # the widest such range, in bands (of 16)
DOWN_WEIGHT = 1.0  # weight of the downbeat output's loss against the beat output's
SYNTHETIC = 200  # synthetic grooves (benchmarks/synthetic_grooves.py) beside the corpus
SYNTHETIC_SHARE = 0.35  # share of the excerpts of a batch drawn from them
TEMPO_BINS = 0  # classes of a tempo output (log-spaced over the decoder's range); 0: none
TEMPO_WEIGHT = 0.5  # weight of the tempo output's loss against the beat output's
TEMPO_SIGMA = 1.0  # width (bins) of the tempo target around the excerpt's tempo
SEED = 0
CACHE_VERSION = 4


def tempo_bpm() -> np.ndarray:
    """The tempo output's class centres (BPM), log-spaced over the decoder's range."""
    from musicvid.analysis.netbeats import MAX_BPM, MIN_BPM

    return np.geomspace(MIN_BPM, MAX_BPM, TEMPO_BINS)


def fold_of(family: str, k: int) -> int:
    return int(hashlib.sha1(family.encode()).hexdigest()[:8], 16) % k


def fold_weights(corpus: Path, i: int, k: int, tag: str = "") -> Path:
    """Where the network of fold ``i`` of ``k`` is kept under ``corpus`` (``tag``: a
    training experiment's, ``beat_net-fold{i}of{k}-TAG.npz``)."""
    return corpus / f"beat_net-fold{i}of{k}{'-' + tag if tag else ''}.npz"


def read_cache(cache: Path, version: int = CACHE_VERSION) -> dict:
    """The items of a feature cache, or none when it is missing or of another version."""
    if not cache.exists():
        return {}
    with cache.open("rb") as fh:
        old = pickle.load(fh)
    return old["items"] if old.get("version") == version else {}


def write_cache(cache: Path, items: dict, version: int = CACHE_VERSION) -> None:
    tmp = cache.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        pickle.dump({"version": version, "items": items}, fh)
    tmp.replace(cache)


def load_items(rows: list[dict], cache: Path) -> list[dict]:
    """Network inputs and beat/downbeat times per file (cached next to the corpus)."""
    from musicvid.analysis.features import compute_features
    from musicvid.analysis.netbeats import net_inputs
    from musicvid.audio import load_audio

    store: dict[str, dict] = read_cache(cache)
    changed = False
    out = []
    for r in rows:
        if r["id"] not in store:
            y, sr = load_audio(Path(r["path"]), sr=22050)
            f = compute_features(y, sr)
            store[r["id"]] = {"x": net_inputs(f), "fps": f.onset_fps,
                              "beats": np.loadtxt(r["beats"], ndmin=1),
                              "downbeats": np.loadtxt(r["downbeats"], ndmin=1)}
            changed = True
        out.append(store[r["id"]])
    if changed:
        write_cache(cache, store)
    return out


def synthetic_items(n: int, cache: Path) -> list[dict]:
    """Network inputs, beats and downbeats of the first ``n`` synthetic grooves (cached)."""
    from benchmarks.synthetic_grooves import groove
    from musicvid.analysis.features import compute_features
    from musicvid.analysis.netbeats import net_inputs

    store: dict[int, dict] = read_cache(cache)
    todo = [i for i in range(n) if i not in store]
    for i in todo:
        y, beats, downs = groove(i)
        f = compute_features(y, 22050)
        store[i] = {"x": net_inputs(f), "fps": f.onset_fps, "beats": beats, "downbeats": downs}
    if todo:
        write_cache(cache, store)
    return [store[i] for i in range(n)]


def targets(times: np.ndarray, n: int, fps: float) -> np.ndarray:
    t = np.zeros(n, dtype=np.float32)
    idx = np.round(np.asarray(times) * fps).astype(int)
    for d, w in ((-1, 0.5), (1, 0.5), (0, 1.0)):
        i = idx + d
        i = i[(i >= 0) & (i < n)]
        t[i] = np.maximum(t[i], w)
    return t


def tempo_target(beat_frames: np.ndarray, fps: float) -> np.ndarray:
    """A soft class target (sums to 1) at the tempo of these beats (frames), or zeros
    where an excerpt holds too few beats to have one."""
    t = np.zeros(TEMPO_BINS, dtype=np.float32)
    if TEMPO_BINS == 0 or len(beat_frames) < 4:
        return t
    bpm = 60.0 * fps / float(np.median(np.diff(beat_frames)))
    centres = np.log(tempo_bpm())
    step = float(centres[1] - centres[0])
    g = np.exp(-0.5 * ((centres - np.log(bpm)) / (TEMPO_SIGMA * step)) ** 2)
    return (g / g.sum()).astype(np.float32) if g.sum() > 1e-6 else t


def build_model(n_in: int):
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c: int, d: int):
            super().__init__()
            self.conv = nn.Conv1d(c, c, 3, dilation=d, padding=d)
            self.mix = nn.Conv1d(c, c, 1)
            self.drop = nn.Dropout(DROPOUT)

        def forward(self, h):
            return h + self.mix(self.drop(torch.nn.functional.elu(self.conv(h))))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Conv1d(n_in, CHANNELS, 1)
            self.blocks = nn.ModuleList([Block(CHANNELS, d) for d in DILATIONS])
            self.out = nn.Conv1d(CHANNELS, 2, 1)
            # the tempo: one class per excerpt, from the time-averaged hidden state
            self.tempo = nn.Linear(CHANNELS, TEMPO_BINS) if TEMPO_BINS else None

        def forward(self, x):
            """(beat and downbeat logits per frame, tempo logits per excerpt or None)."""
            h = torch.nn.functional.elu(self.inp(x))
            for b in self.blocks:
                h = b(h)
            return self.out(h), (self.tempo(h.mean(dim=-1)) if self.tempo is not None
                                 else None)

    return Net()


def batch(items: list[dict], rng: np.random.Generator, synth: list[dict] | None = None):
    """BATCH excerpts, each stretched in time: (inputs, targets, tempo targets) arrays."""
    xs, ys, ts = [], [], []
    for _ in range(BATCH):
        pool = synth if synth and rng.random() < SYNTHETIC_SHARE else items
        it = pool[int(rng.integers(len(pool)))]
        x, fps = it["x"], it["fps"]
        s = float(np.exp(rng.uniform(np.log(STRETCH[0]), np.log(STRETCH[1]))))
        n = x.shape[1]
        m = max(CROP, int(n * s))  # stretched length
        src = np.arange(m) / s
        src = np.clip(src, 0, n - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n - 1)
        fr = (src - lo).astype(np.float32)
        xs_full = x[:, lo] * (1 - fr) + x[:, hi] * fr
        yb = targets(it["beats"] * s, m, fps)
        yd = targets(it["downbeats"] * s, m, fps)
        start = int(rng.integers(0, max(1, m - CROP + 1)))
        xc = xs_full[:, start:start + CROP].copy()
        if LEVEL_JITTER:
            xc[:16] += np.float32(rng.uniform(-LEVEL_JITTER, LEVEL_JITTER))
        if ROLL_CHROMA:
            xc[32:44] = np.roll(xc[32:44], int(rng.integers(12)), axis=0)
        if BAND_DROP and rng.random() < BAND_DROP:  # a range of bands silent: no level, no flux
            width = int(rng.integers(2, BAND_DROP_MAX + 1))
            lo = int(rng.integers(0, 16 - width + 1))
            xc[lo:lo + width] = -1.0  # the level floor (-8 in log10 power, /4, +1)
            xc[16 + lo:16 + lo + width] = 0.0
        xs.append(xc)
        ys.append(np.stack([yb[start:start + CROP], yd[start:start + CROP]]))
        bf = np.asarray(it["beats"]) * s * fps
        ts.append(tempo_target(bf[(bf >= start) & (bf < start + CROP)], fps))
    return (np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32),
            np.stack(ts).astype(np.float32))


def train(items: list[dict], steps: int, threads: int, log=sys.stdout.write,
          synth: list[dict] | None = None):
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(SEED)
    net = build_model(items[0]["x"].shape[0])
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps,
                                                pct_start=0.1)
    lossf = torch.nn.BCEWithLogitsLoss(reduction="none")
    lw = torch.tensor([1.0, DOWN_WEIGHT]).view(1, 2, 1)
    t0 = time.perf_counter()
    run = 0.0
    for step in range(steps):
        x, y, tt = batch(items, rng, synth)
        net.train()
        out, tz = net(torch.from_numpy(x))
        loss = (lossf(out, torch.from_numpy(y)) * lw).mean()
        if tz is not None and TEMPO_WEIGHT:
            tt_ = torch.from_numpy(tt)
            has = tt_.sum(dim=1)
            ce = -(tt_ * torch.log_softmax(tz, dim=1)).sum(dim=1)
            loss = loss + TEMPO_WEIGHT * (ce * has).sum() / has.sum().clamp(min=1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        lv = loss.item()
        run = 0.98 * run + 0.02 * lv if step else lv
        if (step + 1) % 200 == 0:
            log(f"step {step + 1}/{steps}: loss {run:.4f} ({time.perf_counter() - t0:.0f} s)\n")
    return net


def export(net) -> dict[str, np.ndarray]:
    w: dict[str, np.ndarray] = {"dilations": np.array(DILATIONS, dtype=np.int64)}
    w["in_w"] = net.inp.weight.detach().numpy()[:, :, 0]
    w["in_b"] = net.inp.bias.detach().numpy()
    for i, b in enumerate(net.blocks):
        w[f"c{i}_w"] = b.conv.weight.detach().numpy()
        w[f"c{i}_b"] = b.conv.bias.detach().numpy()
        w[f"m{i}_w"] = b.mix.weight.detach().numpy()[:, :, 0]
        w[f"m{i}_b"] = b.mix.bias.detach().numpy()
    w["out_w"] = net.out.weight.detach().numpy()[:, :, 0]
    w["out_b"] = net.out.bias.detach().numpy()
    if net.tempo is not None:
        w["tempo_w"] = net.tempo.weight.detach().numpy()
        w["tempo_b"] = net.tempo.bias.detach().numpy()
        w["tempo_bpm"] = tempo_bpm()
    return {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in w.items()}


def merge(paths: list[Path], out: Path) -> None:
    """The networks of ``paths`` (single networks or ensembles) as one ensemble in ``out``."""
    from musicvid.analysis.netbeats import ensemble, members

    nets = []
    for path in paths:
        with np.load(path) as z:
            nets += members({k: z[k] for k in z.files})
    np.savez(out, **ensemble(nets))


def score(rows: list[dict], weights: Path) -> str:
    """Beat F, AMLt and downbeat F of the analyzer on ``rows`` with these weights."""
    from benchmarks.beats import beat_scores
    from benchmarks.beats_corpus import downbeat_f
    from musicvid.analysis import analyze_samples, netbeats
    from musicvid.audio import load_audio

    netbeats.WEIGHTS = weights
    netbeats._weights.cache_clear()
    fs, amls, dfs = [], [], []
    for r in rows:
        y, sr = load_audio(Path(r["path"]), sr=22050)
        a = analyze_samples(y, sr)
        s = beat_scores(np.loadtxt(r["beats"], ndmin=1), a.beats)
        fs.append(s["f"])
        amls.append(s["amlt"])
        dfs.append(downbeat_f(np.loadtxt(r["downbeats"], ndmin=1), a.downbeats))
    return (f"{len(rows)} left-out files: beat F {np.mean(fs):.3f}, AMLt {np.mean(amls):.3f}, "
            f"downbeat F {np.mean(dfs):.3f}")


def _override(namespace: dict, kv: str) -> None:
    """``NAME=VALUE`` set in ``namespace`` (a module's globals), as the type it has."""
    name, value = kv.split("=", 1)
    old = namespace[name]
    namespace[name] = type(old)(eval(value)) if not isinstance(old, tuple) else eval(value)


def main(argv: list[str] | None = None) -> int:
    from musicvid.analysis.netbeats import WEIGHTS

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", type=Path, default=DEFAULT_OUT)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--fold", default="")
    p.add_argument("--steps", type=int, default=STEPS)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a training constant (a fold experiment), e.g. DOWN_WEIGHT=2")
    p.add_argument("--extra", action="append", default=[], type=Path, metavar="DIR",
                   help="another corpus folder whose tuning renders join the training files "
                        "(the same fold split), e.g. .cache/beats-corpus-slow "
                        "(benchmarks/slow_renders.py)")
    p.add_argument("--groove", action="append", default=[], metavar="NAME=VALUE",
                   help="override a synthetic-groove constant, e.g. SKANK_SHARE=0.3 (its own "
                        "feature cache)")
    p.add_argument("--merge", nargs="+", type=Path, default=[], metavar="NPZ",
                   help="write the ensemble of these weights files to --out (its outputs the "
                        "mean of theirs) and train nothing")
    args = p.parse_args(argv)
    if args.merge:
        if args.out is None:
            p.error("--merge needs --out")
        merge(args.merge, args.out)
        sys.stdout.write(f"weights: {args.out} ({args.out.stat().st_size / 1024:.0f} kB), "
                         f"the ensemble of {len(args.merge)} files\n")
        return 0
    for kv in args.set:
        _override(globals(), kv)
    t0 = time.perf_counter()
    rows = sorted((r for r in load_index(args.corpus) if r["half"] == "tune"),
                  key=lambda r: r["id"])
    held: list[dict] = []
    tune_families = {r["family"] for r in rows}
    if args.fold:
        i, k = map(int, args.fold.split("/"))
        held = [r for r in rows if fold_of(r["family"], k) == i]
        rows = [r for r in rows if fold_of(r["family"], k) != i]
    items = load_items(rows, args.corpus / "net-inputs.pkl")
    for extra in args.extra:
        more = sorted((r for r in load_index(extra) if r["half"] == "tune"),
                      key=lambda r: r["id"])
        if args.fold:  # a tuning family stays in its fold; one the corpus lacks is in none
            more = [r for r in more
                    if r["family"] not in tune_families or fold_of(r["family"], k) != i]
        items += load_items(more, extra / "net-inputs.pkl")
    sys.stdout.write(f"{len(items)} tuning files ({time.perf_counter() - t0:.0f} s to load)\n")
    from benchmarks import synthetic_grooves

    for kv in args.groove:
        _override(vars(synthetic_grooves), kv)
    tag = "".join(f"-{kv}" for kv in args.groove)
    synth = (synthetic_items(SYNTHETIC, args.corpus / f"net-synthetic{tag}.pkl") if SYNTHETIC
             else [])
    sys.stdout.write(f"{len(synth)} synthetic grooves\n")
    net = train(items, args.steps, args.threads, synth=synth)
    out = args.out or (None if args.fold else WEIGHTS)
    if out is None:
        out = fold_weights(args.corpus, i, k)  # a fold run (the fold parsed above)
    np.savez(out, **export(net))
    sys.stdout.write(f"weights: {out} ({out.stat().st_size / 1024:.0f} kB); "
                     f"{time.perf_counter() - t0:.0f} s in all\n")
    if held:
        sys.stdout.write(score(held, out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
