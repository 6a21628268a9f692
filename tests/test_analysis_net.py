"""The beat and downbeat network: numpy inference equals the training graph, and the
decoder finds known beats in constructed activations."""

import numpy as np

from musicvid.analysis import netbeats
from musicvid.analysis._dbn import beat_viterbi

FPS = 22050 / 256


def _activation(beat_frames, n, width=1.0, floor=0.02):
    t = np.arange(n)[:, None]
    act = np.exp(-0.5 * ((t - np.asarray(beat_frames)[None, :]) / width) ** 2).max(axis=1)
    return np.clip(floor + (1 - floor) * act, 0, 1)


def test_beat_decoder_finds_a_steady_beat_and_ignores_weaker_off_beats():
    period = 60 * FPS / 110
    beats = np.arange(20, 2500, period)
    act = _activation(beats, 2600)
    act = np.maximum(act, 0.4 * _activation(beats + period / 2, 2600))  # off-beats
    out = beat_viterbi(act, 24, 104, 100.0, 16.0, np.zeros(81))
    out = out[(out > beats[0] - period / 2) & (out < beats[-1] + period / 2)]  # the music
    err = np.abs(out[:, None] - beats[None, :]).min(axis=0)
    assert len(out) == len(beats)  # one per beat: no off-beat, none missing
    assert err.max() <= 2.0  # whole frames at whole-frame intervals: a drift of <= 2
    # moved to the activation's peaks: to a fraction of a frame
    fine = netbeats._refine(act, out)
    assert np.abs(fine[:, None] - beats[None, :]).min(axis=0).max() <= 0.25


def test_beat_decoder_follows_a_tempo_change():
    first = np.arange(20, 1300, 60 * FPS / 90)
    second = first[-1] + np.cumsum(np.full(30, 60 * FPS / 140))
    beats = np.concatenate([first, second])
    n = int(beats[-1]) + 20
    out = beat_viterbi(_activation(beats, n), 24, 104, 100.0, 16.0, np.zeros(81))
    err = np.abs(out[:, None] - beats[None, :]).min(axis=0)
    assert np.mean(err <= 2.0) >= 0.9


def test_numpy_forward_equals_the_training_network(monkeypatch):
    import torch

    from benchmarks import train_beat_net
    from benchmarks.train_beat_net import build_model, export

    monkeypatch.setattr(train_beat_net, "TEMPO_BINS", 64)  # with the tempo output
    torch.manual_seed(1)
    net = build_model(44).eval()
    x = np.random.default_rng(0).standard_normal((44, 700)).astype(np.float32)
    with torch.no_grad():
        acts, tempo = net(torch.from_numpy(x[None]))
    w = export(net)
    got = netbeats.forward(w, x)
    np.testing.assert_allclose(got, torch.sigmoid(acts).numpy()[0], atol=1e-5)
    # the tempo output: one distribution over the exported class tempi
    probs = netbeats.tempo_probs(w, netbeats._hidden(w, x))
    np.testing.assert_allclose(probs, torch.softmax(tempo, dim=1).numpy()[0], atol=1e-5)
    assert len(w["tempo_bpm"]) == len(probs) and np.all(np.diff(w["tempo_bpm"]) > 0)
    # the default recipe has none
    monkeypatch.setattr(train_beat_net, "TEMPO_BINS", 0)
    plain = export(build_model(44))
    assert "tempo_w" not in plain and netbeats.tempo_probs(plain, netbeats._hidden(plain, x)) is None


def test_an_ensemble_file_averages_its_networks(tmp_path, monkeypatch):
    """Two networks merged into one weights file (``train_beat_net --merge``) load as
    two members, and the analyzer's activations are the mean of their outputs."""
    import torch

    from benchmarks.train_beat_net import build_model, export, merge
    from musicvid.analysis.features import compute_features

    nets = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        nets.append(export(build_model(44)))
    paths = []
    for j, w in enumerate(nets):
        paths.append(tmp_path / f"net{j}.npz")
        np.savez(paths[-1], **w)
    out = tmp_path / "ensemble.npz"
    merge(paths, out)
    with np.load(out) as z:
        got = netbeats.members({k: z[k] for k in z.files})
    assert len(got) == 2
    for a, b in zip(got, nets):
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    sr = 22050
    t = np.arange(3 * sr) / sr
    y = (np.sin(2 * np.pi * 220 * t) * (np.mod(t, 0.5) < 0.05)).astype(np.float32)
    f = compute_features(y, sr)
    x = netbeats.net_inputs(f)
    monkeypatch.setattr(netbeats, "WEIGHTS", out)
    netbeats._weights.cache_clear()
    try:
        beat, down, tempo = netbeats.net_outputs(f)
    finally:
        netbeats._weights.cache_clear()
    want = (netbeats.forward(nets[0], x) + netbeats.forward(nets[1], x)) / 2
    np.testing.assert_allclose(beat, want[0], atol=1e-6)
    np.testing.assert_allclose(down, want[1], atol=1e-6)
    assert tempo is None
    # the shipped single-network layout is one member
    assert len(netbeats.members(nets[0])) == 1


def test_shipped_weights_are_small_and_load():
    assert netbeats.WEIGHTS.exists()
    assert netbeats.WEIGHTS.stat().st_size < 5 * 1024 * 1024
    assert netbeats.available()


def test_a_break_the_network_does_not_hear_is_counted_through():
    """Eight wandering beats in a break (nothing heard) become the steady grid between
    the heard beats around them; a single weak beat is left as decoded."""
    grid = np.arange(40) * 0.5
    decoded = grid.copy()
    decoded[12:20] += np.array([0.07, -0.11, 0.13, 0.2, -0.05, 0.16, -0.12, 0.09])
    decoded[30] += 0.03
    heard = np.ones(40, dtype=bool)
    heard[12:20] = False
    heard[30] = False
    out = netbeats._bridge(decoded, heard)
    assert len(out) == 40
    assert np.allclose(out[:30], grid[:30]) and np.allclose(out[31:], grid[31:])
    assert out[30] == decoded[30]


def test_skank_grooves_put_loud_chord_stabs_on_every_and(monkeypatch):
    """``SKANK_SHARE`` (a fold experiment's option) turns some synthetic grooves into a
    skank: the loudest attacks move to the "and"s while the beats and bars stay where
    they were, and the pieces it does not apply to are unchanged."""
    from benchmarks import synthetic_grooves as g

    sr = 22050

    def attack_ratio(y, beats):  # energy just after the "and"s over just after the beats
        def near(times):
            w = int(0.03 * sr)
            return sum(float(np.sum(y[int(t * sr):int(t * sr) + w] ** 2)) for t in times)
        return near(beats[:-1] + np.diff(beats) / 2) / near(beats[:-1])

    plain = {s: g.groove(s, sr=sr, seconds=10.0) for s in range(12)}
    monkeypatch.setattr(g, "SKANK_SHARE", 1.0)
    changed = 0
    for s, (y0, beats0, downs0) in plain.items():
        y1, beats1, downs1 = g.groove(s, sr=sr, seconds=10.0)
        np.testing.assert_array_equal(beats0, beats1)
        np.testing.assert_array_equal(downs0, downs1)
        if not np.array_equal(y0, y1):
            changed += 1
            assert attack_ratio(y1, beats1) > 1.5 * attack_ratio(y0, beats0)
    assert 3 <= changed < 12  # metronomes, 3/4 and 6/8 stay as they are


def test_phase_cues_read_kicks_on_the_beat_and_hats_between(tmp_path):
    import soundfile as sf

    from benchmarks.phase_cues import file_cues, fit_through_origin
    from musicvid.analysis.features import compute_features

    sr, period = 22050, 0.5
    n = int(20 * sr)
    y = np.zeros(n, np.float32)
    t = np.arange(int(0.15 * sr)) / sr
    kick = (np.sin(2 * np.pi * 60 * t) * np.exp(-t / 0.04)).astype(np.float32)
    hat = (np.random.default_rng(0).standard_normal(int(0.03 * sr)) * 0.2).astype(np.float32)
    beats = np.arange(0.25, 19.5, period)
    for b in beats:
        i = int(b * sr)
        y[i:i + len(kick)] += kick
        j = int((b + period / 2) * sr)
        y[j:j + len(hat)] += hat
    sf.write(tmp_path / "k.flac", y, sr)
    f = compute_features(y, sr)
    zero = np.zeros(len(f.onset))
    cues = {}
    for name, ref in (("on", beats), ("off", beats + period / 2)):
        np.savetxt(tmp_path / f"{name}.txt", ref)
        row = {"beats": str(tmp_path / f"{name}.txt"), "path": str(tmp_path / "k.flac")}
        cues[name] = file_cues(row, f, zero, zero)
    # the kick's low and percussive onsets mark the beat, the hats' top band the "and"s
    assert cues["on"]["low"] > 1.0 and cues["on"]["perc"] > 1.0
    assert cues["on"]["band7"] < -1.0
    assert cues["off"]["low"] < -1.0 and cues["off"]["perc"] < -1.0
    assert cues["off"]["band7"] > 1.0
    assert cues["on"]["act"] == 0.0

    # a rule through the origin that separates the beat grids from the half-beat ones
    x = np.array([[2.0, -1.0], [1.5, 0.5], [3.0, -2.0]])
    w = fit_through_origin(x, 10.0)
    assert np.all(x @ w > 0)


def test_the_tempo_prior_picks_the_counted_beat_where_the_eighths_fire_as_strongly():
    """An activation that fires as strongly on every eighth note as on the beat: without
    a prior the decoder may count either; a tempo output that believes the slower tempo
    makes it count the beats."""
    period = 60 * FPS / 80  # 80 BPM, eighths at 160
    beats = np.arange(20, 2500, period)
    eighths = np.sort(np.concatenate([beats, beats + period / 2]))
    act = _activation(eighths, 2600)
    bpm = np.geomspace(50, 215, 64)
    probs = np.exp(-0.5 * ((np.log(bpm) - np.log(80)) / 0.05) ** 2)
    probs /= probs.sum()
    min_iv, max_iv = 24, 104
    prior = netbeats.tempo_prior(probs, bpm, min_iv, max_iv, FPS)
    assert prior.shape == (max_iv - min_iv + 1,) and prior.max() == 0.0
    assert prior[int(round(period)) - min_iv] > prior[int(round(period / 2)) - min_iv]
    fast = beat_viterbi(act, min_iv, max_iv, 100.0, 16.0, np.zeros_like(prior))
    slow = beat_viterbi(act, min_iv, max_iv, 100.0, 16.0, prior)
    assert np.median(np.diff(fast)) < 0.6 * period  # unguided: the eighth notes
    assert abs(np.median(np.diff(slow)) - period) <= 1.0  # guided: the beats
    # and it finds them: each decoded beat on an annotated one
    inner = slow[(slow > beats[0] - 5) & (slow < beats[-1] + 5)]
    assert np.abs(inner[:, None] - eighths[None, :]).min(axis=1).max() <= 3.0  # whole frames
    # no tempo output, or a zero weight: no prior
    assert not netbeats.tempo_prior(None, bpm, min_iv, max_iv, FPS).any()


def test_extra_grooves_leave_every_test_family_out(tmp_path, monkeypatch):
    """The extra training grooves (``benchmarks/extra_grooves.py``) take the libraries the
    corpus does not use, but never a family of the test half, nor one whose name is a test
    family's with its digits moved, nor an intro; a tuning family keeps its name."""
    import dataclasses

    from benchmarks import corpus, extra_grooves

    lib = tmp_path / "lib"
    for name, files in {"stdlib": ["8beat", "rock1", "waltz", "swing"],
                        "zoom": ["beat8", "rock", "waltz", "dnb", "intro"],
                        "pflib": ["metal1"], "alexis": []}.items():
        (lib / name).mkdir(parents=True)
        for f in files:
            (lib / name / f"{f}.mma").write_text(f"Time 4\nDefGroove {f.title()}\n")
    monkeypatch.setattr(corpus, "MMA_LIB", lib)
    main = corpus.plan_corpus(("stdlib",))
    split = {"8beat": "test", "waltz": "test", "rock": "tune", "swing": "tune"}
    main = [dataclasses.replace(p, half=split[p.family]) for p in main]
    test = {p.family for p in main if p.half == "test"}
    halves = extra_grooves.extra_halves(main)
    assert not set(halves) & test
    assert "intro" not in halves
    assert "dnb" in halves and "metal" in halves  # families the corpus lacks
    assert "beat8" not in halves  # zoom beat8 is stdlib 8beat (test) with its digit moved
    assert "rock" in halves and "waltz" not in halves  # a tuning family stays, a test one not
    pieces = corpus.plan_corpus(extra_grooves.LIBS, halves)
    assert {p.family for p in pieces} == set(halves)
    assert all(p.half == "tune" and p.lib in extra_grooves.LIBS for p in pieces)


def test_side_set_scores_group_missed_cuts_and_count_bar_cuts():
    """The side sets' report (``benchmarks/slow_renders.py``, ``extra_grooves --score``):
    missed cuts per failure group, an octave error split by direction, and the bar cuts
    on a true downbeat summed over the files."""
    from benchmarks.beat_decode_cv import missed, summary

    def row(fail: str, bpm: float, cuts: int, ok: int, bar: int, bar_ok: int) -> dict:
        return {"f": 0.5, "amlt": 0.5, "down_f": 0.5, "fail": fail, "bpm": bpm,
                "ref_bpm": 100.0, "cuts": cuts, "cuts_ok": ok, "bar_cuts": bar,
                "bar_cuts_ok": bar_ok}

    res = [row("", 100, 10, 9, 3, 3), row("octave", 200, 8, 2, 2, 0),
           row("octave", 50, 6, 6, 1, 1), row("off-beat", 100, 5, 0, 2, 0)]
    assert missed(res) == ("double: 1 files, 6 cuts missed; half: 1 files, 0 cuts missed; "
                           "off-beat: 1 files, 5 cuts missed; right: 1 files, 1 cuts missed")
    s = summary(res)
    assert "octave 2 (1 double), off-beat 1" in s
    assert "cuts 17/29 (58.6%)" in s and "bar cuts on a downbeat 4/8 (50.0%)" in s


def test_band_dropout_silences_a_range_of_bands_and_keeps_the_targets(monkeypatch):
    """``BAND_DROP`` (a training experiment): the chosen excerpts lose a contiguous range
    of mel bands (level at its floor, flux zero); chroma and the targets are untouched."""
    from benchmarks import train_beat_net as t

    rng0 = np.random.default_rng(0)
    item = {"x": rng0.uniform(-0.9, 0.9, (44, 4000)).astype(np.float32), "fps": FPS,
            "beats": np.arange(0.5, 45.0, 0.5), "downbeats": np.arange(0.5, 45.0, 2.0)}
    monkeypatch.setattr(t, "BATCH", 1)  # one excerpt a draw: the same excerpt both ways
    for seed in range(8):
        plain_x, plain_y, _ = t.batch([item], np.random.default_rng(seed))
        monkeypatch.setattr(t, "BAND_DROP", 1.0)
        x, y, _ = t.batch([item], np.random.default_rng(seed))
        monkeypatch.setattr(t, "BAND_DROP", 0.0)
        np.testing.assert_array_equal(y, plain_y)  # same excerpt, same targets
        xe, pe = x[0], plain_x[0]
        silent = np.all(xe[:16] == -1.0, axis=1) & np.all(xe[16:32] == 0.0, axis=1)
        k = np.flatnonzero(silent)
        assert 2 <= len(k) <= t.BAND_DROP_MAX and np.all(np.diff(k) == 1)  # one range
        keep = np.setdiff1d(np.arange(16), k)
        np.testing.assert_array_equal(xe[keep], pe[keep])
        np.testing.assert_array_equal(xe[16 + keep], pe[16 + keep])
        np.testing.assert_array_equal(xe[32:], pe[32:])
        assert not np.any(np.all(pe[:16] == -1.0, axis=1))  # off: nothing silenced


def test_freedoom_reads_midi_lumps_and_keeps_only_notation_that_can_be_ground_truth(tmp_path):
    """``benchmarks/freedoom.py``: the music lumps of a WAD that are MIDI files are read
    out (others not); a piece whose notes sit on its beat grid is kept with its beats and
    bars, one played in free time against its tempo map is left out, with the reason."""
    import io
    import struct

    import pretty_midi
    import pytest

    from benchmarks import freedoom

    def song(jitter: float) -> bytes:
        pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
        inst = pretty_midi.Instrument(0)
        rng = np.random.default_rng(1)
        for k in range(80):  # eighth notes at 120 BPM, 20 s
            t = k * 0.25 + (rng.uniform(-jitter, jitter) if k else 0.0)
            inst.notes.append(pretty_midi.Note(90, 60 + k % 5, max(t, 0.0), max(t, 0.0) + 0.2))
        pm.instruments.append(inst)
        buf = io.BytesIO()
        pm.write(buf)
        return buf.getvalue()

    lumps = [(b"D_GRID", song(0.0)), (b"D_FREE", song(0.1)), (b"D_MUSX", b"MUS\x1a....")]
    body, dirs = b"", b""
    for name, data in lumps:
        dirs += struct.pack("<ii8s", 12 + len(body), len(data), name)
        body += data
    wad = tmp_path / "t.wad"
    wad.write_bytes(b"IWAD" + struct.pack("<ii", len(lumps), 12 + len(body)) + body + dirs)
    got = freedoom.midi_lumps(wad)
    assert set(got) == {"grid", "free"}  # the MUS lump is not a MIDI file
    pm = pretty_midi.PrettyMIDI(io.BytesIO(got["grid"]))
    beats, downs, meter, why = freedoom.ground_truth(pm, 60.0)
    assert why == "" and meter == 4
    assert len(beats) >= freedoom.MIN_BEATS
    assert np.allclose(np.diff(beats), 0.5, atol=1e-6) and np.allclose(downs, beats[::4])
    _, _, _, why = freedoom.ground_truth(pretty_midi.PrettyMIDI(io.BytesIO(got["free"])), 60.0)
    assert "on the grid" in why
    (tmp_path / "bad.wad").write_bytes(b"nope")
    with pytest.raises(ValueError, match="not a WAD"):
        freedoom.midi_lumps(tmp_path / "bad.wad")


def test_other_fonts_render_the_tuning_pieces_through_fonts_the_corpus_lacks(monkeypatch, tmp_path):
    """``benchmarks/other_fonts.py``: only tuning pieces, every one of them, through two
    soundfonts other than the corpus's (so no render id meets a corpus render's), the
    fonts handed on to each piece's build."""
    from benchmarks import corpus, other_fonts

    plan = corpus.plan_corpus()
    pieces = other_fonts.font_pieces()
    assert pieces and {p.half for p in pieces} == {"tune"}
    assert {p.id for p in pieces} == {p.id for p in plan if p.half == "tune"}
    assert len(other_fonts.FONTS) == 2 and not set(other_fonts.FONTS) & set(corpus.SOUNDFONTS)
    seen = []
    monkeypatch.setattr(corpus, "build_piece",
                        lambda piece, out, fonts=None: seen.append((piece.id, fonts)) or piece)
    assert corpus._build((pieces[0], tmp_path, other_fonts.FONTS)) is pieces[0]
    assert corpus._build((pieces[1], tmp_path)) is pieces[1]
    assert seen == [(pieces[0].id, other_fonts.FONTS), (pieces[1].id, None)]
