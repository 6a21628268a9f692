"""The planner: cuts on the music, prompts with one identity, seeds, budget, transitions."""

import json
from fractions import Fraction

import pytest

from musicvid import (
    Analysis,
    InvalidOptionError,
    RenderConfig,
    Section,
    Storyboard,
    frame_count_for,
    plan,
)
from musicvid.planning import (
    MAX_SHOT_SECONDS,
    MIN_SHOT_SECONDS,
    beat_grid,
    build_prompt,
    choose_identity,
    crossfade_frames,
    estimate_clip_tokens,
    role_of,
)
from musicvid.planning import prompts as P
from musicvid.testing import click_track

FPS = ["24", "25", "30", "60", "30000/1001"]
TEMPOS = [90, 120, 174, [(0.0, 90), (13.0, 140)]]
SONG = [("intro", 0, 0.2), ("verse", 1, 0.45), ("chorus", 2, 0.9), ("verse", 1, 0.45),
        ("chorus", 2, 0.9), ("outro", 3, 0.25)]


def click_analysis(bpm=120, duration=30.0, layout=None, bars_per_section=4, meter=4,
                   curve=False):
    """An Analysis from a click track's known beats; sections laid out on its bar lines."""
    _, beats = click_track(bpm, duration, sr=1000, tone=False)
    downbeats = beats[::meter]
    sections = []
    if layout:
        starts = [downbeats[min(i * bars_per_section, len(downbeats) - 1)]
                  for i in range(len(layout))]
        for i, (label, group, energy) in enumerate(layout):
            end = starts[i + 1] if i + 1 < len(layout) else duration
            if end > starts[i]:
                sections.append(Section(starts[i], end, label, group, energy))
        sections[0].start = 0.0
        sections[-1].end = duration
    energy = []
    if curve:
        energy = [next((s.energy for s in sections if s.start <= i / 30 < s.end), 0.5)
                  for i in range(int(duration * 30))]
    tempo = bpm if isinstance(bpm, (int, float)) else bpm[0][1]
    return Analysis(duration=duration, sample_rate=1000, tempo=tempo, beats=beats,
                    downbeats=downbeats, meter=meter, curve_fps=30.0, energy=energy,
                    sections=sections), beats


def cut_frames(board):
    return [s.start_frame for s in board.shots[1:]]


def beat_frame_set(beats, fps):
    return {int(round(Fraction(b) * fps)) for b in beats}


# -- acceptance: cuts on beats, exact frame counts ----------------------------------------

@pytest.mark.parametrize("fps", FPS)
@pytest.mark.parametrize("bpm", TEMPOS, ids=["90", "120", "174", "90to140"])
def test_every_cut_is_on_a_beat_and_frames_are_exact(bpm, fps):
    duration = 37.3
    analysis, beats = click_analysis(bpm, duration, SONG, bars_per_section=3)
    board = plan(analysis, RenderConfig.create(fps=fps))
    rate = board.fps
    assert board.frame_count == int(round(Fraction(duration) * rate))  # N = round(d × fps)
    assert board.shots[0].start_frame == 0 and board.shots[-1].end_frame == board.frame_count
    for a, b in zip(board.shots, board.shots[1:]):
        assert a.end_frame == b.start_frame  # tiles [0, N), no gaps or overlaps
    cuts = cut_frames(board)
    assert len(cuts) >= 6
    on_beat = beat_frame_set(beats, rate)
    for c in cuts:
        assert c in on_beat
        t = float(Fraction(c) / rate)
        assert min(abs(t - b) for b in beats) <= 1 / float(rate)  # within one frame
    min_frames = round(MIN_SHOT_SECONDS * rate)
    assert all(s.frame_count >= min_frames for s in board.shots)


@pytest.mark.parametrize("fps", FPS)
@pytest.mark.parametrize("bpm", [90, 174])
def test_every_section_change_is_a_cut_on_its_downbeat(bpm, fps):
    analysis, _ = click_analysis(bpm, 40.0, SONG, bars_per_section=4)
    board = plan(analysis, RenderConfig.create(fps=fps))
    cuts = set(cut_frames(board))
    for sec in analysis.sections[1:]:
        downbeat = int(round(Fraction(sec.start) * board.fps))
        assert downbeat in cuts, (sec, sorted(cuts))
    # and every shot belongs to the section it plays in
    for shot in board.shots:
        sec = analysis.sections[shot.section_index]
        t = float(Fraction(shot.start_frame) / board.fps)
        assert sec.start - 1 / float(board.fps) <= t < sec.end
        assert shot.section == sec.label and shot.group == sec.group


@pytest.mark.parametrize("shift_beats", [0.4, -1.0, 1.3])
def test_section_boundaries_off_the_bar_line_snap_to_its_downbeat(shift_beats):
    analysis, beats = click_analysis(120, 40.0, SONG, bars_per_section=4)
    downbeats = [s.start for s in analysis.sections[1:]]
    for sec, prev in zip(analysis.sections[1:], analysis.sections):
        sec.start += shift_beats * 0.5  # the analyzer put the boundary a little off
        prev.end = sec.start
    board = plan(analysis, RenderConfig.create(fps=30))
    changes = [s.start_frame for a, s in zip(board.shots, board.shots[1:])
               if s.section_index != a.section_index]
    assert changes == [int(round(Fraction(d) * 30)) for d in downbeats]


def test_loud_sections_cut_faster_than_calm_ones():
    layout = [("verse", 0, 0.1), ("chorus", 1, 0.95), ("verse", 0, 0.1), ("chorus", 1, 0.95)]
    for curve in (False, True):  # section energies, then an energy curve
        analysis, _ = click_analysis(120, 64.0, layout, bars_per_section=8, curve=curve)
        board = plan(analysis, RenderConfig.create(fps=30))
        calm = [s.frame_count for s in board.shots if s.section == "verse"]
        loud = [s.frame_count for s in board.shots if s.section == "chorus"]
        assert sum(calm) / len(calm) >= 2.5 * sum(loud) / len(loud)
        assert max(loud) == 60  # one bar at 120 BPM, 30 fps
        assert set(calm) == {240}  # four bars


def test_shots_are_whole_bars_and_follow_the_tempo():
    lengths = {}
    for bpm in (90, 174):
        analysis, _ = click_analysis(bpm, 60.0, [("verse", 0, 0.5)])
        board = plan(analysis, RenderConfig.create(fps=30))
        bar = 4 * 60 / bpm
        inner = [s for s in board.shots[:-1]]
        for s in inner:
            bars = s.frame_count / 30 / bar
            assert abs(bars - round(bars)) < 0.05 and round(bars) in (1, 2, 4)
        lengths[bpm] = sum(s.frame_count for s in inner) / len(inner)
    assert lengths[174] < lengths[90]


def test_no_shot_is_longer_than_the_limit_on_a_slow_calm_song():
    analysis, beats = click_analysis(50, 60.0, [("intro", 0, 0.05)])  # a bar is 4.8 s
    board = plan(analysis, RenderConfig.create(fps=24))
    assert len(board.shots) > 5
    assert all(s.frame_count <= 8 * 24 for s in board.shots[:-1])
    assert set(cut_frames(board)) <= beat_frame_set(beats, Fraction(24))


def test_very_slow_bars_fall_back_to_beats():
    analysis, beats = click_analysis(40, 60.0, [("intro", 0, 0.05)], meter=7)  # 10.5 s bars
    board = plan(analysis, RenderConfig.create(fps=30))
    assert all(s.frame_count <= 8 * 30 for s in board.shots[:-1])
    assert set(cut_frames(board)) <= beat_frame_set(beats, Fraction(30))


def test_silence_gets_a_steady_grid():
    analysis = Analysis(duration=20.0, sample_rate=22050, tempo=0.0, beats=[])
    board = plan(analysis, RenderConfig.create(fps=25))
    assert board.frame_count == 500
    cuts = cut_frames(board)
    assert cuts, "a 20 s song should not be one shot"
    step = 25 * 0.5  # the fallback grid is 120 BPM
    assert all(abs(c / step - round(c / step)) < 1e-9 for c in cuts)
    assert board.meta["filled_beats"] > 30


def test_a_gap_in_the_beats_is_filled_in_phase():
    _, beats = click_track(120, 30.0, sr=1000, tone=False)
    kept = [b for b in beats if not 8.0 <= b < 16.0]  # the tracker lost eight seconds
    analysis = Analysis(duration=30.0, sample_rate=1000, tempo=120, beats=kept,
                        downbeats=kept[::4])
    grid = beat_grid(analysis)
    assert [round(t, 6) for t in grid.times] == beats  # filled exactly where they were
    filled = [t for t, d in zip(grid.times, grid.detected) if not d]
    assert len(filled) == 16 and all(8.0 <= t < 16.0 for t in filled)
    board = plan(analysis, RenderConfig.create(fps=30))
    assert any(8.0 < float(Fraction(c) / 30) < 16.0 for c in cut_frames(board))
    assert set(cut_frames(board)) <= beat_frame_set(beats, Fraction(30))


@pytest.mark.parametrize("tail", [5.0, 7.5, 20.0])
def test_after_the_last_beat_the_last_shot_holds(tail):
    """The beats stop at 20 s (the song rings out): no cut after the last beat, except
    in a ring-out longer than the maximum shot; the video still runs to the end."""
    _, beats = click_track(120, 20.0, sr=1000, tone=False)
    analysis = Analysis(duration=20.0 + tail, sample_rate=1000, tempo=120, beats=beats,
                        downbeats=beats[::4],
                        sections=[Section(0.0, 12.0, "verse", 0, 0.5),
                                  Section(12.0, 20.0, "chorus", 1, 0.9),
                                  Section(20.0, 20.0 + tail, "outro", 2, 0.2)])
    board = plan(analysis, RenderConfig.create(fps=30))
    last = round(beats[-1] * 30)
    inside = [c for c in cut_frames(board) if c <= last]
    after = [c for c in cut_frames(board) if c > last]
    assert inside and set(inside) <= beat_frame_set(beats, Fraction(30))
    assert board.shots[-1].end_frame == board.frame_count
    if tail <= MAX_SHOT_SECONDS:  # the last shot holds through the ring-out
        assert after == [] and "outro" not in {s.section for s in board.shots}
    else:  # a long ring-out is cut every MAX_SHOT_SECONDS after the last beat
        assert after and after[0] <= last + MAX_SHOT_SECONDS * 30
        assert all(s.frame_count <= MAX_SHOT_SECONDS * 30 for s in board.shots[1:]
                   if s.start_frame >= after[0])
        held = [s.frame_count for s in board.shots if s.start_frame >= after[0]][:-1]
        assert all(n > (MAX_SHOT_SECONDS - 2.0) * 30 for n in held)  # each as long as it can


@pytest.mark.parametrize("tail,heard_until", [
    ("silence", None),  # the last chord dies away in 1.5 s: silence to the end
    ("hiss", None),  # ... into a recording's noise floor, 26 dB under the music
    ("click", None),  # ... and the file ends on a click
    ("pad", 36.0),  # a pad still sounds 16 s after the last beat, then fades
])
def test_a_ring_out_is_cut_only_while_it_is_heard(tail, heard_until):
    """Beats to 20 s, the song to 40 s. Silence or hiss after the last chord is never
    cut (the last shot holds to the end); a pad heard for longer than the maximum shot
    is cut, and only where it still sounds."""
    _, beats = click_track(120, 20.0, sr=1000, tone=False)
    rate = 30.0
    energy = []
    for i in range(int(40.0 * rate)):
        t = i / rate
        if t < 20.0:
            e = 0.6
        elif heard_until is not None and t < heard_until:
            e = 0.3
        else:
            start = 20.0 if heard_until is None else heard_until
            e = max(0.6 * 10 ** (-3.0 * (t - start) / 1.5), 3e-4 if tail == "silence" else 0.05)
        energy.append(e)
    if tail == "click":
        energy[-1] = 1.0
    analysis = Analysis(duration=40.0, sample_rate=1000, tempo=120, beats=beats,
                        downbeats=beats[::4], energy=energy, curve_fps=rate,
                        sections=[Section(0.0, 20.0, "verse", 0, 0.6),
                                  Section(20.0, 40.0, "outro", 1, 0.2)])
    board = plan(analysis, RenderConfig.create(fps=30))
    last = round(beats[-1] * 30)
    after = [c for c in cut_frames(board) if c > last]
    assert board.shots[-1].end_frame == board.frame_count
    if heard_until is None:
        assert after == []
        assert board.shots[-1].frame_count > 20 * 30  # held through the whole ring-out
    else:
        assert after and all(c < heard_until * 30 for c in after)
        assert after[0] <= last + MAX_SHOT_SECONDS * 30


def test_a_tempo_change_is_not_mistaken_for_a_gap():
    _, beats = click_track([(0.0, 90), (13.0, 140)], 30.0, sr=1000, tone=False)
    analysis = Analysis(duration=30.0, sample_rate=1000, tempo=120, beats=beats,
                        downbeats=beats[::4])
    assert sum(1 for d in beat_grid(analysis).detected if not d) == 0


def test_missing_downbeats_are_every_meter_beats():
    _, beats = click_track(120, 20.0, sr=1000, tone=False)
    analysis = Analysis(duration=20.0, sample_rate=1000, tempo=120, beats=beats, meter=3)
    grid = beat_grid(analysis)
    assert list(grid.downbeats) == list(range(0, len(beats), 3))


@pytest.mark.parametrize("duration, shots", [(0.01, 1), (0.4, 1), (1.5, 1), (2.6, 1), (3.2, 2)])
def test_very_short_songs(duration, shots):
    _, beats = click_track(120, duration, sr=1000, tone=False)
    analysis = Analysis(duration=duration, sample_rate=1000, tempo=120, beats=beats,
                        downbeats=beats[::2], meter=2)
    for fps in ("24", "30000/1001", "60"):
        board = plan(analysis, RenderConfig.create(fps=fps))
        assert board.frame_count == frame_count_for(duration, board.fps)
        assert len(board.shots) == shots
        assert board.shots[-1].end_frame == board.frame_count


def test_short_sections_fold_into_their_neighbour():
    layout = [("intro", 0, 0.3), ("verse", 1, 0.5), ("chorus", 2, 0.9)]
    analysis, _ = click_analysis(120, 20.0, layout)
    analysis.sections.insert(2, Section(analysis.sections[1].end - 0.3,
                                        analysis.sections[1].end, "bridge", 9, 0.5))
    analysis.sections[1].end -= 0.3
    board = plan(analysis, RenderConfig.create(fps=30))
    assert "bridge" not in {s.section for s in board.shots}  # 0.3 s cannot hold a shot
    assert [s.section for s in board.shots][0] == "intro"
    assert all(s.frame_count >= 30 for s in board.shots)


def test_unsorted_sections_and_no_sections():
    analysis, _ = click_analysis(120, 24.0, [("verse", 0, 0.4), ("chorus", 1, 0.9)],
                                 bars_per_section=6)
    analysis.sections.reverse()
    board = plan(analysis, RenderConfig.create(fps=30))
    first = board.shots[0]
    assert analysis.sections[first.section_index].label == first.section == "verse"
    analysis.sections = []
    board = plan(analysis, RenderConfig.create(fps=30))
    assert {s.section for s in board.shots} == {"verse"}


# -- determinism, identity, families -----------------------------------------------------

def test_same_seed_same_storyboard_other_seed_other_seeds():
    analysis, _ = click_analysis(120, 40.0, SONG)
    cfg = RenderConfig.create(fps=30, seed=7, genre="rock", style="vintage", palette="warm")
    a, b = plan(analysis, cfg), plan(analysis, cfg)
    assert a.to_json() == b.to_json()
    c = plan(analysis, cfg.replace(seed=8))
    assert cut_frames(c) == cut_frames(a)  # the music decides the cuts
    assert {s.seed for s in c.shots}.isdisjoint({s.seed for s in a.shots})


def test_repeats_of_a_section_share_prompts_and_seeds():
    analysis, _ = click_analysis(120, 48.0, SONG, bars_per_section=5)
    board = plan(analysis, RenderConfig.create(fps=30, seed=3))
    by_occurrence = {}
    for s in board.shots:
        by_occurrence.setdefault((s.section, s.section_index), []).append(s)
    choruses = [v for (label, _), v in sorted(by_occurrence.items(), key=lambda kv: kv[0][1])
                if label == "chorus"]
    assert len(choruses) == 2
    first, second = choruses
    n = min(len(first), len(second))
    assert n >= 2
    assert [(s.prompt, s.seed) for s in first[:n]] == [(s.prompt, s.seed) for s in second[:n]]
    assert len({s.seed for s in first}) == len(first)  # shots of one chorus differ
    verse_seeds = {s.seed for s in board.shots if s.section == "verse"}
    assert verse_seeds.isdisjoint({s.seed for s in first + second})
    verses = [v for (label, _), v in by_occurrence.items() if label == "verse"]
    assert verses[0][0].seed == verses[1][0].seed


def test_one_visual_identity_for_the_whole_video():
    analysis, _ = click_analysis(120, 48.0, SONG)
    cfg = RenderConfig.create(fps=30, seed=11, genre="jazz", style="cinematic", palette="cool")
    board = plan(analysis, cfg)
    ident = choose_identity(cfg)
    assert board.meta["identity"] == ident.to_dict()
    for s in board.shots:
        for part in (ident.world, ident.subject, ident.look, ident.tone):
            assert part in s.prompt
        # the light changes with the section role, among the palette's lights
        lights = [x for x in P.LIGHTING["cool"] if x in s.prompt]
        assert len(lights) == 1
        assert (lights[0] == ident.lighting) == (s.section != "chorus"), s.prompt
    assert ident.world in P.WORLDS["jazz"] and ident.lighting in P.LIGHTING["cool"]
    assert ident.lens in P.LENSES["cinematic"]
    assert len({s.prompt for s in board.shots}) > 3  # framings vary shot to shot
    # the seed picks the identity; a handful of seeds gives several
    worlds = {choose_identity(cfg.replace(seed=k)).world for k in range(12)}
    assert len(worlds) >= 2


def test_section_roles_shape_the_prompt():
    cfg = RenderConfig.create(seed=1)
    chorus, intro = build_prompt(cfg, "chorus", 0.9), build_prompt(cfg, "intro", 0.2)
    assert P.ROLES["chorus"][0] in chorus and P.ROLES["intro"][0] in intro
    assert "intense" in chorus and "serene" in intro
    assert role_of("Chorus 2") == "chorus" and role_of("pre_chorus") == "verse"
    assert role_of("solo") == "bridge" and role_of("mystery") == "verse"


def test_prompts_fit_clip_for_every_template():
    # the longest option of every part together still fits, so no prompt is ever cut
    def longest(options, key):
        return max(options, key=key)

    for key in (lambda t: len(t.split()), estimate_clip_tokens):
        parts = [
            longest(P.LOOKS.values(), key),
            longest([s for v in P.SUBJECTS.values() for s in v], key) + " "
            + longest([a for a, _ in P.ROLES.values()], key),
            longest([w for v in P.WORLDS.values() for w in v], key),
            longest([f for _, fr in P.ROLES.values() for f in fr], key),
            longest([x for v in P.LIGHTING.values() for x in v], key),
            longest(P.TONES.values(), key), longest([x for v in P.LENSES.values() for x in v], key),
            "intense mood",
        ]
        text = ", ".join(parts)
        assert len(text.split()) <= P.MAX_WORDS and estimate_clip_tokens(text) <= P.MAX_TOKENS
    for genre in P.WORLDS:
        for style in P.LOOKS:
            for palette in P.TONES:
                cfg = RenderConfig.create(genre=genre, style=style, palette=palette, seed=5)
                for role in P.ROLES:
                    text = build_prompt(cfg, role, 0.9, variant=1)
                    assert P.TONES[palette] in text and P.LOOKS[style] in text
                    assert len(text.split()) <= P.MAX_WORDS


def test_fit_prompt_drops_the_least_important_parts():
    text = P.fit_prompt([(0, "keep me"), (5, "word " * 30), (9, "drop " * 40)], max_words=40)
    assert text.startswith("keep me") and "drop" not in text and len(text.split()) <= 40
    assert estimate_clip_tokens("a 35mm lens, 1970s") == 11  # digits count one by one


def test_negative_prompt_by_palette_and_style():
    analysis, _ = click_analysis(120, 10.0, [("verse", 0, 0.5)])
    mono = plan(analysis, RenderConfig.create(palette="monochrome", style="vintage"))
    warm = plan(analysis, RenderConfig.create(palette="warm"))
    assert "color" in mono.shots[0].negative_prompt and "modern" in mono.shots[0].negative_prompt
    assert "blue" in warm.shots[0].negative_prompt
    assert all("watermark" in s.negative_prompt for s in mono.shots + warm.shots)


# -- keyframe budget ---------------------------------------------------------------------

def distinct(board):
    return {(s.prompt, s.negative_prompt, s.seed) for s in board.shots}


def test_keyframe_budget_limits_distinct_keyframes():
    analysis, _ = click_analysis(174, 60.0, SONG, bars_per_section=6, curve=True)
    free = plan(analysis, RenderConfig.create(fps=30))
    families = {(s.section, s.group) for s in free.shots}
    assert len(free.shots) > len(distinct(free)) > len(families)  # repeats already share
    for budget in (len(families), len(families) + 3, 2):
        board = plan(analysis, RenderConfig.create(fps=30, max_keyframes=budget))
        assert len(distinct(board)) == min(budget, len(distinct(free)))
        assert board.meta["keyframes"] == len(distinct(board))
        assert cut_frames(board) == cut_frames(free)  # the budget never moves a cut
        if budget >= len(families):
            # every section and repeat group keeps a keyframe of its own
            own = {(s.section, s.group): set() for s in board.shots}
            for s in board.shots:
                own[(s.section, s.group)].add(s.seed)
            others = [seeds for fam, seeds in own.items()]
            assert all(seeds for seeds in others)
            assert len(set().union(*others)) == sum(len(x) for x in others)
        # every keyframe in the budgeted plan is one the free plan also makes
        assert distinct(board) <= distinct(free)


# -- transitions and pulses --------------------------------------------------------------

def test_crossfades_at_section_changes_hard_cuts_elsewhere():
    analysis, _ = click_analysis(120, 40.0, SONG)
    for fps in ("24", "30", "60"):
        cfg = RenderConfig.create(fps=fps)
        board = plan(analysis, cfg)
        fade = crossfade_frames(cfg)
        assert 2 <= fade <= 12
        prev = None
        for shot in board.shots:
            if prev is not None and shot.section_index != prev.section_index:
                assert shot.transition == "crossfade"
                assert shot.transition_frames == min(fade, prev.frame_count // 2,
                                                     shot.frame_count // 2)
            else:
                assert (shot.transition, shot.transition_frames) == ("cut", 0)
            prev = shot
    board = plan(analysis, RenderConfig.create(fps=30, crossfade_frames=0))
    assert {s.transition for s in board.shots} == {"cut"}
    board = plan(analysis, RenderConfig.create(fps=30, crossfade_frames=7))
    assert {s.transition_frames for s in board.shots} == {0, 7}


def test_downbeat_pulses_follow_energy():
    layout = [("verse", 0, 0.2), ("chorus", 1, 0.95)]
    analysis, beats = click_analysis(120, 32.0, layout, bars_per_section=8, curve=True)
    off = plan(analysis, RenderConfig.create(fps=30))
    assert all("pulses" not in s.motion and s.motion["kind"] == "auto" for s in off.shots)
    board = plan(analysis, RenderConfig.create(fps=30, pulse=1.0))
    downbeats = beat_frame_set(beats[::4], Fraction(30))
    strengths = {"verse": [], "chorus": []}
    for shot in board.shots:
        assert shot.motion["kind"] == "auto"
        for offset, strength in shot.motion.get("pulses", []):
            assert 0 <= offset < shot.frame_count
            assert shot.start_frame + offset in downbeats
            assert 0 < strength <= 1
            strengths[shot.section].append(strength)
    assert strengths["chorus"] and strengths["verse"]
    assert min(strengths["chorus"]) > max(strengths["verse"])
    half = plan(analysis, RenderConfig.create(fps=30, pulse=0.5))
    s_half = [p[1] for s in half.shots for p in s.motion.get("pulses", [])]
    assert max(s_half) == pytest.approx(0.5 * max(strengths["chorus"]), abs=0.002)


def test_storyboard_options_are_validated():
    for bad in (dict(max_keyframes=0), dict(pulse=1.5), dict(pulse=-0.1), dict(grade=2),
                dict(crossfade_frames=-1), dict(max_keyframes="many")):
        with pytest.raises(InvalidOptionError):
            RenderConfig.create(**bad)


def test_plan_json_has_the_documented_fields():
    analysis, _ = click_analysis(120, 12.0, SONG[:3], bars_per_section=2)
    board = plan(analysis, RenderConfig.create(fps="30000/1001", pulse=1.0))
    data = json.loads(board.to_json())
    assert isinstance(data["fps"], float) and abs(data["fps"] - 29.97) < 0.001
    for shot in data["shots"]:
        for key in ("start_frame", "end_frame", "start", "end", "section", "prompt", "seed",
                    "motion", "transition", "transition_frames", "negative_prompt"):
            assert key in shot
        assert shot["start"] == pytest.approx(shot["start_frame"] * 1001 / 30000, abs=1e-6)
    again = Storyboard.from_dict(data)
    assert again.to_dict() == board.to_dict()
