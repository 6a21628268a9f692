import threading

import av
import pytest

from musicvid import Pipeline, RenderCancelled, RenderConfig, Storyboard, render
from musicvid.plugins import get_plugin_manager
from musicvid.testing import SMALL, SolidKeyframes


def probe(path):
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        return {"vcodec": v.codec_context.name, "acodec": a.codec_context.name,
                "frames": v.frames, "pix_fmt": v.codec_context.pix_fmt,
                "vdur": float(v.duration * v.time_base), "adur": float(a.duration * a.time_base),
                "decoded": sum(1 for _ in c.decode(video=0))}


@pytest.mark.parametrize("fps", ["30", "24", "30000/1001"])
def test_render_writes_h264_aac_frame_exact(tmp_path, click, fakes, fps):
    audio, _ = click(duration=5.3)
    out = tmp_path / "v.mp4"
    result = render(audio, out, keyframes="solid", fps=fps, **SMALL)
    info = probe(out)
    cfg = RenderConfig.create(fps=fps)
    expected = round(5.3 * cfg.fps)
    assert info["vcodec"] == "h264" and info["acodec"] == "aac" and info["pix_fmt"] == "yuv420p"
    assert info["frames"] == info["decoded"] == expected == result.composite.frame_count
    frame = 1 / float(cfg.fps)
    assert abs(info["vdur"] - 5.3) <= frame
    assert abs(info["adur"] - 5.3) <= frame
    assert abs(info["vdur"] - info["adur"]) <= frame


def test_second_run_hits_the_cache(tmp_path, click, fakes):
    audio, _ = click(duration=6.0)
    first = render(audio, tmp_path / "a.mp4", keyframes="solid", **SMALL)
    generated = SolidKeyframes.calls
    assert generated == first.stats["keyframes_generated"] > 0
    second = render(audio, tmp_path / "b.mp4", keyframes="solid", **SMALL)
    assert SolidKeyframes.calls == generated  # nothing generated again
    assert second.stats["analysis_cached"] and second.stats["keyframes_generated"] == 0
    # a different seed changes prompts' seeds -> new keyframes
    render(audio, tmp_path / "c.mp4", keyframes="solid", seed=99, **SMALL)
    assert SolidKeyframes.calls > generated


def test_no_cache_option_keeps_nothing(tmp_path, click, fakes, cache_dir):
    audio, _ = click(duration=3.0)
    a = render(audio, tmp_path / "a.mp4", keyframes="solid", use_cache=False, **SMALL)
    b = render(audio, tmp_path / "b.mp4", keyframes="solid", use_cache=False, **SMALL)
    unique = len({(s.prompt, s.seed) for s in a.storyboard.shots})
    assert a.stats["keyframes_generated"] == b.stats["keyframes_generated"] == unique
    assert SolidKeyframes.calls == 2 * unique
    assert not cache_dir.exists() or not any(cache_dir.rglob("*.png"))


def test_progress_reports_every_stage(tmp_path, click, fakes):
    audio, _ = click(duration=4.0)
    seen = []
    render(audio, tmp_path / "a.mp4", keyframes="solid",
           progress=lambda stage, done, total, msg: seen.append((stage, done, total)), **SMALL)
    stages = [s for s, _, _ in seen]
    for stage in ("analyze", "plan", "keyframes", "motion", "composite"):
        assert stage in stages
    last = [x for x in seen if x[0] == "composite"][-1]
    assert last[1] == last[2] == 120


def test_cancel_between_units_leaves_no_output(tmp_path, click, fakes):
    audio, _ = click(duration=6.0)
    stop = threading.Event()

    def progress(stage, done, total, msg):
        if stage == "composite" and done >= 30:
            stop.set()

    out = tmp_path / "a.mp4"
    with pytest.raises(RenderCancelled):
        render(audio, out, keyframes="solid", progress=progress, cancel=stop, **SMALL)
    assert not out.exists()
    assert not list(tmp_path.glob(".*part*"))


def test_render_from_a_storyboard_renders_that_plan(tmp_path, click, fakes):
    audio, _ = click(duration=6.0)
    cfg = RenderConfig.create(keyframes="solid", **SMALL)
    pipe = Pipeline(cfg)
    board = pipe.plan(pipe.analyze(audio))
    board.shots[0].prompt = "a hand-edited prompt"
    path = tmp_path / "plan.json"
    path.write_text(board.to_json())
    before = SolidKeyframes.calls
    result = render(audio, tmp_path / "a.mp4", cfg, storyboard=Storyboard.load(path))
    assert result.storyboard.shots[0].prompt == "a hand-edited prompt"
    assert SolidKeyframes.calls - before == len(board.shots)


def test_storyboard_for_another_song_is_rejected(tmp_path, click, fakes):
    from musicvid import StoryboardError

    short, _ = click(duration=3.0, name="short.wav")
    long, _ = click(duration=6.0, name="long.wav")
    pipe = Pipeline(RenderConfig.create(keyframes="solid", **SMALL))
    board = pipe.plan(pipe.analyze(short))
    with pytest.raises(StoryboardError, match="another song"):
        render(long, tmp_path / "x.mp4", keyframes="solid", storyboard=board, **SMALL)
    assert not (tmp_path / "x.mp4").exists()


def test_adjust_storyboard_hook_rewrites_prompts(tmp_path, click, fakes):
    from musicvid import hookimpl

    class Rewriter:
        @hookimpl
        def adjust_storyboard(self, storyboard):
            for s in storyboard.shots:
                s.prompt = "rewritten " + s.prompt

    get_plugin_manager().register(Rewriter())
    audio, _ = click(duration=4.0)
    result = render(audio, tmp_path / "a.mp4", keyframes="solid", **SMALL)
    assert all(s.prompt.startswith("rewritten ") for s in result.storyboard.shots)


def test_analyze_applies_options_on_top_of_a_given_config(tmp_path, click, fakes):
    from musicvid import analyze

    audio, _ = click(duration=4.0)
    config = RenderConfig.create(fps=30)
    analysis = analyze(audio, config, analyzer="fake", fps=24)
    assert analysis.curve_fps == 24.0  # the fake analyzer ran, at the option's fps
    assert config.fps == 30 and config.analyzer != "fake"  # the given config is unchanged
