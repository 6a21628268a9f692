"""Plan -> edit -> render, the sync report, the contact sheet and the colour grade, end to end
(fake keyframes, real encoder)."""

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from musicvid import (
    Analysis,
    Pipeline,
    RenderConfig,
    Section,
    Shot,
    Storyboard,
    StoryboardError,
    hookimpl,
    render,
)
from musicvid.cli import main
from musicvid.contact_sheet import PLACEHOLDER
from musicvid.grade import grade_array
from musicvid.plugins import get_plugin_manager, reset_plugin_manager
from musicvid.sync import sync_path, sync_report
from musicvid.testing import SolidKeyframes, write_click_track

SMALL = dict(width=160, height=90, keyframe_width=64, keyframe_height=36)
LAYOUT = [("intro", 0, 0.2), ("chorus", 1, 0.9), ("verse", 2, 0.4), ("chorus", 1, 0.9)]


class ClickAnalyzer:
    """Hears exactly what the click track's sidecar (``song.analysis.json``) says."""

    name = "clicks"

    def analyze(self, audio, ctx):
        data = json.loads(Path(audio).with_suffix(".analysis.json").read_text())
        return Analysis.from_dict(data)


class Plugin:
    @hookimpl
    def register_analyzers(self, register):
        register(ClickAnalyzer)

    @hookimpl
    def register_keyframe_generators(self, register):
        register(SolidKeyframes)


@pytest.fixture
def stages():
    reset_plugin_manager()
    get_plugin_manager().register(Plugin(), name="test-stages")
    SolidKeyframes.calls = 0
    yield
    reset_plugin_manager()


@pytest.fixture
def song(tmp_path):
    def make(bpm=120, duration=8.0, layout=LAYOUT, bars=2, name="song"):
        path = tmp_path / f"{name}.wav"
        beats = write_click_track(path, bpm, duration, sr=16000)
        bar = 4 * 60 / bpm
        sections = []
        for i, (label, group, energy) in enumerate(layout):
            start, end = i * bars * bar, (i + 1) * bars * bar
            if start < duration:
                sections.append(Section(start, min(end, duration), label, group, energy))
        sections[-1].end = duration
        analysis = Analysis(duration=duration, sample_rate=16000, tempo=bpm, beats=beats,
                            downbeats=beats[::4], sections=sections)
        path.with_suffix(".analysis.json").write_text(analysis.to_json())
        return path, beats
    return make


def opts(**kw):
    return dict(analyzer="clicks", keyframes="solid", **SMALL, **kw)


def cli_opts(fps=30, *extra):
    return ["--analyzer", "clicks", "--keyframes", "solid", "--width", "160", "--height", "90",
            "--keyframe-width", "64", "--keyframe-height", "36", "--fps", str(fps), *extra]


def decode_frames(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


# -- acceptance: the written video cuts on the beat, frame exact -------------------------

@pytest.mark.parametrize("fps", ["24", "25", "30", "60"])
def test_render_cuts_on_beats_and_reports_sync(tmp_path, stages, song, fps):
    audio, beats = song(bpm=120, duration=16.5)
    out = tmp_path / "out.mp4"
    result = render(audio, out, **opts(fps=fps))
    rate = Fraction(int(fps))
    n = int(round(Fraction(16.5) * rate))
    with av.open(str(out)) as c:
        assert c.streams.video[0].frames == n
    report_path = sync_path(out)
    assert report_path == tmp_path / "out.sync.json" and report_path.is_file()
    data = json.loads(report_path.read_text())
    assert data == result.sync.to_dict()
    assert len(data["cuts"]) == len(result.storyboard.shots) - 1 >= 4
    frame_ms = 1000 / float(rate)
    for cut in data["cuts"]:
        true_offset = min(abs(cut["time"] - b) for b in beats) * 1000
        assert true_offset <= frame_ms / 2 + 1e-6  # on the beat frame
        assert abs(cut["offset_ms"]) == pytest.approx(true_offset, abs=1e-3)
    assert data["cuts_within_one_frame"] == len(data["cuts"])
    assert data["max_abs_offset_ms"] <= frame_ms / 2 + 1e-6
    assert data["mean_abs_offset_ms"] <= data["max_abs_offset_ms"]
    assert abs(data["av_delta_frames"]) <= 1.0 and data["video_frames"] == n
    assert any(c["section_change"] and c["transition"] == "crossfade" for c in data["cuts"])


def test_sync_report_measures_what_it_is_given():
    analysis = Analysis(duration=3.0, sample_rate=8000, tempo=120, beats=[0.5, 1.0, 1.5, 2.0])
    shots = [Shot(0, 0, 10, "a", 1), Shot(1, 10, 45, "b", 2, section_index=1),
             Shot(2, 45, 90, "c", 3, section_index=1)]
    board = Storyboard(fps=30, frame_count=90, shots=shots)
    report = sync_report(board, analysis)
    assert [c["frame"] for c in report.cuts] == [10, 45]
    assert report.cuts[0]["offset_ms"] == pytest.approx(-166.667, abs=1e-3)  # 0.333 s vs 0.5
    assert report.cuts[1]["offset_ms"] == pytest.approx(0.0, abs=1e-9)  # 1.5 s on the beat
    assert report.cuts[0]["section_change"] and not report.cuts[1]["section_change"]
    assert report.max_abs_offset_ms == pytest.approx(166.667, abs=1e-3)
    assert report.mean_abs_offset_ms == pytest.approx(83.333, abs=1e-3)
    assert report.cuts_within_one_frame == 1 and report.av_delta_frames is None
    assert "2 cuts" in report.summary() and "max 166.7 ms" in report.summary()
    silent = sync_report(board, Analysis(duration=3.0, sample_rate=8000, tempo=0, beats=[]))
    assert silent.max_abs_offset_ms is None and "no beats" in silent.summary()


# -- plan, edit, render ------------------------------------------------------------------

def test_plan_command_writes_the_documented_json(tmp_path, stages, song, capsys):
    audio, _ = song(duration=16.0)
    plan_path = tmp_path / "plan.json"
    assert main(["plan", str(audio), "-o", str(plan_path), *cli_opts(25, "--pulse", "1")]) == 0
    err = capsys.readouterr().err
    data = json.loads(plan_path.read_text())
    assert data["fps"] == 25 and isinstance(data["fps"], int)
    assert data["frame_count"] == 400 and data["shots"][-1]["end_frame"] == 400
    for shot in data["shots"]:
        assert {"start_frame", "end_frame", "start", "end", "section", "prompt", "seed",
                "motion"} <= set(shot)
        assert shot["start"] == shot["start_frame"] / 25 and shot["end"] == shot["end_frame"] / 25
    assert any(s["motion"].get("pulses") for s in data["shots"])
    assert f"planned {len(data['shots'])} shots in 4 sections" in err and "sync:" in err
    # no -o: the plan goes to standard output
    assert main(["plan", str(audio), *cli_opts(25, "--pulse", "1")]) == 0
    assert json.loads(capsys.readouterr().out) == data


def test_edit_one_shot_regenerates_exactly_one_keyframe(tmp_path, stages, song, capsys,
                                                        cache_dir):
    audio, _ = song(duration=8.0)
    plan_path = tmp_path / "plan.json"
    assert main(["plan", str(audio), "-o", str(plan_path), *cli_opts()]) == 0
    data = json.loads(plan_path.read_text())
    distinct = {(s["prompt"], s["negative_prompt"], s["seed"]) for s in data["shots"]}
    out = tmp_path / "a.mp4"
    assert main(["render", str(audio), "-o", str(out), "-q", "--storyboard", str(plan_path),
                 *cli_opts()]) == 0
    assert SolidKeyframes.calls == len(distinct)
    err = capsys.readouterr().err
    assert f"{len(distinct)} keyframes generated" in err and "sync: " in err
    rendered = json.loads(sync_path(out).read_text())
    assert [c["frame"] for c in rendered["cuts"]] == [s["start_frame"] for s in data["shots"][1:]]

    # a hand edit to one shot's prompt: exactly one new keyframe, the rest from the cache
    edited = dict(data, shots=[dict(s) for s in data["shots"]])
    edited["shots"][2]["prompt"] = "a lighthouse in a storm, hand-written"
    plan_path.write_text(json.dumps(edited))
    before = SolidKeyframes.calls
    assert main(["render", str(audio), "-o", str(tmp_path / "b.mp4"), "-q", "--storyboard",
                 str(plan_path), *cli_opts()]) == 0
    assert SolidKeyframes.calls - before == 1
    err = capsys.readouterr().err
    assert "1 keyframes generated" in err
    assert len(list((cache_dir / "keyframe").rglob("*.png"))) == len(distinct) + 1


def test_plan_command_applies_the_adjust_storyboard_hook(tmp_path, stages, song):
    class Slow:
        @hookimpl
        def adjust_storyboard(self, storyboard, config):
            for s in storyboard.shots:
                s.motion["kind"] = "kenburns"
                s.seed = config.seed + 1000

    get_plugin_manager().register(Slow())
    audio, _ = song(duration=6.0)
    assert main(["plan", str(audio), "-o", str(tmp_path / "p.json"), *cli_opts()]) == 0
    shots = json.loads((tmp_path / "p.json").read_text())["shots"]
    assert {s["motion"]["kind"] for s in shots} == {"kenburns"}
    assert {s["seed"] for s in shots} == {1000}


def test_cli_storyboard_options(tmp_path, stages, song):
    audio, _ = song(bpm=174, duration=16.0, bars=2)
    free, capped = tmp_path / "free.json", tmp_path / "capped.json"
    assert main(["plan", str(audio), "-o", str(free), *cli_opts()]) == 0
    assert main(["plan", str(audio), "-o", str(capped), *cli_opts(30, "--max-keyframes", "2",
                                                                   "--crossfade-frames", "0")]) == 0
    a, b = json.loads(free.read_text()), json.loads(capped.read_text())
    assert len({(s["prompt"], s["seed"]) for s in a["shots"]}) > 2
    assert len({(s["prompt"], s["seed"]) for s in b["shots"]}) == 2
    assert {s["transition"] for s in b["shots"]} == {"cut"}
    assert [s["start_frame"] for s in a["shots"]] == [s["start_frame"] for s in b["shots"]]
    assert main(["plan", str(audio), *cli_opts(30, "--grade", "3")]) == 2  # a typed error


# -- contact sheet -----------------------------------------------------------------------

def tile_centres(sheet_size, board, columns):
    """The centre pixel of each shot's thumbnail (the layout of contact_sheet)."""
    from musicvid import contact_sheet as cs

    tw = 320
    th = round(tw * board.height / board.width)
    title_h = 2 * 17 + cs.PAD
    cell_w, cell_h = tw + cs.PAD, th + 17 * 5 + 4 + cs.PAD
    rows = -(-len(board.shots) // columns)
    assert sheet_size == (cs.PAD + columns * cell_w, title_h + cs.PAD + rows * cell_h)
    return [(cs.PAD + (i % columns) * cell_w + tw // 2,
             title_h + cs.PAD + (i // columns) * cell_h + th // 2)
            for i in range(len(board.shots))]


def test_contact_sheet_shows_graded_keyframes_in_shot_order(tmp_path, stages, song, capsys):
    audio, _ = song(duration=8.0)
    plan_path, sheet_path = tmp_path / "plan.json", tmp_path / "plan.png"
    # before any render: the plan with placeholders
    assert main(["plan", str(audio), "-o", str(plan_path), "--contact-sheet", str(sheet_path),
                 *cli_opts(30, "--palette", "warm")]) == 0
    assert "(0 of" in capsys.readouterr().err
    board = Storyboard.load(plan_path)
    cols = min(5, len(board.shots))
    with Image.open(sheet_path) as im:
        centres = tile_centres(im.size, board, cols)
        assert all(im.getpixel(c) == PLACEHOLDER for c in centres)
    # a render draws the real keyframes, graded as the video shows them
    out_sheet = tmp_path / "render.png"
    result = render(audio, tmp_path / "v.mp4", contact_sheet=out_sheet,
                    storyboard=board, **opts(palette="warm"))
    assert result.contact_sheet == out_sheet
    with Image.open(out_sheet) as im:
        for shot, c in zip(board.shots, tile_centres(im.size, board, cols)):
            raw = ((shot.seed >> 16) & 255, (shot.seed >> 8) & 255, shot.seed & 255)
            graded = grade_array(np.array([[raw]], np.uint8), "warm")[0, 0]
            assert np.abs(np.array(im.getpixel(c)) - graded.astype(int)).max() <= 3
    # and the plan command finds them in the cache now
    assert main(["plan", str(audio), "-o", str(plan_path), "--contact-sheet", str(sheet_path),
                 *cli_opts(30, "--palette", "warm")]) == 0
    n = len(board.shots)
    assert f"({n} of {n} shots have a keyframe" in capsys.readouterr().err


# -- colour grade in the pipeline --------------------------------------------------------

def chroma_spread(frames):
    """The largest over frames of the median pixel's max(R, G, B) - min(R, G, B)."""
    return max(int(np.median(f.astype(int).max(axis=-1) - f.astype(int).min(axis=-1)))
               for f in frames)


def test_the_grade_is_applied_where_keyframes_are_loaded(tmp_path, stages, song, cache_dir):
    audio, _ = song(duration=4.0, layout=[("verse", 0, 0.5)])
    mono = render(audio, tmp_path / "mono.mp4", **opts(palette="monochrome"))
    assert chroma_spread(decode_frames(tmp_path / "mono.mp4")) <= 4  # grey (yuv420p noise)
    off = render(audio, tmp_path / "off.mp4", **opts(palette="monochrome", grade=0.0))
    assert chroma_spread(decode_frames(tmp_path / "off.mp4")) > 20
    assert SolidKeyframes.calls == len({s.seed for s in mono.storyboard.shots})
    assert off.stats["keyframes_generated"] == 0  # the grade never touches the cache
    for png in (cache_dir / "keyframe").rglob("*.png"):
        with Image.open(png) as im:
            arr = np.asarray(im.convert("RGB")).astype(int)
            assert (arr.max(axis=-1) - arr.min(axis=-1)).max() > 20  # raw colours kept

    # a saved plan carries its grade: rendering it under another palette keeps it grey
    board = mono.storyboard
    assert board.meta["grade"] == {"palette": "monochrome", "strength": 1.0}
    render(audio, tmp_path / "again.mp4", storyboard=Storyboard.from_dict(board.to_dict()),
           **opts(palette="vibrant"))
    assert chroma_spread(decode_frames(tmp_path / "again.mp4")) <= 4
    board.meta["grade"] = {"palette": "sepia"}
    with pytest.raises(StoryboardError, match="meta.grade"):
        render(audio, tmp_path / "bad.mp4", storyboard=board, **opts())


def test_contact_sheet_for_a_render_without_cache(tmp_path, stages, song):
    audio, _ = song(duration=4.0)
    cfg = RenderConfig.create(use_cache=False, **opts())
    result = render(audio, tmp_path / "v.mp4", cfg, contact_sheet=tmp_path / "s.png")
    with Image.open(tmp_path / "s.png") as im:
        centres = tile_centres(im.size, result.storyboard, min(5, len(result.storyboard.shots)))
        assert all(im.getpixel(c) != PLACEHOLDER for c in centres)
    pipe = Pipeline(cfg)
    try:  # nothing was kept: a later sheet has only placeholders
        _, found = pipe.contact_sheet(result.storyboard, tmp_path / "later.png")
        assert found == 0
    finally:
        pipe.close()
