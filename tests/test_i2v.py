"""--motion i2v: any diffusers image-to-video family, chained and retimed to the shot.

Every family is a tiny random pipeline built offline, saved with ``save_pretrained`` and
loaded back through the same ``from_pretrained`` path as a hub id.
"""

import os
import subprocess
import sys

import av
import numpy as np
import pytest
import torch
from PIL import Image

from musicvid import Analysis, Keyframe, ModelLoadError, RenderConfig, Section, Shot, Storyboard
from musicvid.defaults import i2v_motion, sdxl_keyframes
from musicvid.defaults.i2v_motion import (
    FAMILIES,
    I2VMotion,
    family_of,
    motion_words,
    plan_segments,
    snap_frames,
)
from musicvid.pipeline import Pipeline
from musicvid.plugins import list_stages
from musicvid.protocols import StageContext

W, H = 48, 28
# generation settings per tiny family: 9 frames a segment (4k+1 and 8k+1 both)
FAST = {"wan": {"i2v_width": "32", "i2v_height": "32"},
        "ltx": {"i2v_width": "64", "i2v_height": "32"},
        "cogvideox": {}}  # CogVideoX's learned positional embeddings fix its size (16x16)
COMMON = {"i2v_steps": "2", "i2v_frames": "9"}


def ctx_for(model, transition="cut", **options):
    c = RenderConfig.create(width=W, height=H, video_model=str(model), transition=transition,
                            options={**COMMON, **options})
    return StageContext(c, "motion")


def board_of(*lengths, fps=30, sections=None):
    shots, start = [], 0
    for i, n in enumerate(lengths):
        sec = sections[i] if sections else 0
        shots.append(Shot(i, start, start + n, f"prompt {i}", seed=11 + i, section_index=sec,
                          energy=0.5, motion={"kind": "auto", "pulses": []}))
        start += n
    return Storyboard(fps=fps, frame_count=start, shots=shots, width=W, height=H)


def analysis_of(board):
    dur = board.frame_count / float(board.fps)
    return Analysis(duration=dur, sample_rate=22050, tempo=120.0, beats=[], downbeats=[],
                    sections=[Section(0.0, dur, "verse", 0, 0.5)])


def keyframe(colour=(200, 60, 30)):
    return Keyframe(Image.new("RGB", (64, 64), colour))


class Spy:
    """Records each segment's conditioning images and the frames it returned."""

    def __init__(self, monkeypatch):
        self.calls = []
        real = I2VMotion.segment

        def segment(stage, pipe, s, first, frames, shot, ctx, seed, last=None, label=""):
            out = real(stage, pipe, s, first, frames, shot, ctx, seed, last, label)
            self.calls.append({"shot": shot.index, "first": np.asarray(first), "frames": frames,
                               "last": None if last is None else np.asarray(last), "out": out})
            return out

        monkeypatch.setattr(I2VMotion, "segment", segment)


def morph_shot_0(monkeypatch, model, family, board, nxt=(0, 0, 255)):
    """Shot 0 of ``board`` animated by ``model`` (of ``family``) with morph transitions,
    the next shot's keyframe solid ``nxt``; ``(clip, spy, stage, ctx)``."""
    spy = Spy(monkeypatch)
    stage = I2VMotion()
    ctx = ctx_for(model, transition="morph", **FAST[family])
    ctx.extra["keyframe_of"] = lambda s: keyframe(nxt)
    clip = stage.animate(keyframe(), board.shots[0], board, analysis_of(board), ctx)
    return clip, spy, stage, ctx


# -- the segment plan -------------------------------------------------------------------
def test_frame_counts_follow_each_family_rule():
    assert snap_frames(81, 4) == 81 and snap_frames(82, 4) == 85 and snap_frames(2, 4) == 5
    assert snap_frames(90, 8) == 97 and snap_frames(97, 8) == 97 and snap_frames(3, 8) == 9
    assert snap_frames(200, 4, most=81) == 81
    for fam in FAMILIES.values():
        assert (fam.frames - 1) % fam.step == 0, fam.name


def test_a_short_shot_plays_at_native_speed_and_is_trimmed_not_stretched():
    plan = plan_segments(20, 30.0, 16.0, 81, 4)
    assert plan.lengths == (13,) and plan.stretch == 1.0  # 20 frames at 30 fps: 10.1 native
    assert plan.positions[1] == pytest.approx(16 / 30)
    assert plan.positions[-1] <= plan.total - 1


def test_a_shot_of_three_clips_is_chained_not_stretched():
    clip_s = 81 / 16
    n_out = round(3 * clip_s * 30)
    plan = plan_segments(n_out, 30.0, 16.0, 81, 4)
    assert len(plan.lengths) == 3 and plan.total == 1 + sum(n - 1 for n in plan.lengths)
    assert 1.0 <= plan.stretch <= 1.25
    steps = np.diff(plan.positions)
    assert np.allclose(steps, steps[0]) and steps[0] >= 16 / 30 / 1.25
    assert plan.positions[-1] <= plan.total - 1


def test_stretching_is_used_only_to_save_a_whole_segment():
    # 10% longer than one clip: one clip, 1.1x slower, instead of two
    n_out = round(81 / 16 * 30 * 1.1)
    plan = plan_segments(n_out, 30.0, 16.0, 81, 4)
    assert plan.lengths == (81,) and plan.stretch == pytest.approx(1.1, abs=0.01)
    # 40% longer: stretching would exceed 1.25x, so two segments at native speed
    plan = plan_segments(round(81 / 16 * 30 * 1.4), 30.0, 16.0, 81, 4)
    assert len(plan.lengths) == 2 and plan.stretch == 1.0


def test_very_long_shots_are_capped_at_max_segments():
    plan = plan_segments(3000, 30.0, 16.0, 81, 4, max_segments=4)
    assert len(plan.lengths) == 4 and plan.stretch > 1.25 and len(plan.positions) == 3000


def test_motion_words_grow_with_energy():
    assert motion_words(0.1) != motion_words(0.5) != motion_words(0.9)
    assert "dynamic" in motion_words(0.9) and "gentle" in motion_words(0.1)


# -- families from model_index.json -----------------------------------------------------
@pytest.mark.parametrize("name", ["wan", "ltx", "cogvideox"])
def test_family_is_read_from_model_index(tiny_video_models, name):
    assert family_of(str(tiny_video_models[name])).name == name


def test_an_image_model_is_not_a_video_model(tiny_models):
    with pytest.raises(ModelLoadError, match="not an image-to-video model"):
        family_of(str(tiny_models["sdxl"]))
    assert family_of(str(tiny_models["svd"])).name == "svd"


def test_missing_model_says_which_option_to_set(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as info:
        family_of("nobody/no-such-video-model")
    assert "--video-model" in str(info.value) and "MUSICVID_VIDEO_MODEL" in str(info.value)
    with pytest.raises(ModelLoadError, match="model_index.json"):
        I2VMotion().preflight(ctx_for(tmp_path))


def test_video_model_alone_selects_the_i2v_stage(monkeypatch):
    assert RenderConfig.create(video_model="some/model").motion == "i2v"
    assert RenderConfig.create(video_model="some/model", motion="auto").motion == "auto"
    monkeypatch.setenv("MUSICVID_VIDEO_MODEL", "some/model")  # a default, not a choice
    assert RenderConfig.create().motion == "kenburns"
    assert RenderConfig.create().video_model == "some/model"


def test_i2v_is_registered_like_a_plugin():
    names = {e.name: e.plugin for e in list_stages("motion")}
    assert names["i2v"] == "musicvid.defaults.i2v_motion"


# -- chaining and retiming on real (tiny) pipelines -------------------------------------
@pytest.mark.parametrize("name", ["wan", "ltx", "cogvideox"])
def test_a_shot_three_clips_long_is_chained_from_each_last_frame(
        tiny_video_models, monkeypatch, name):
    spy = Spy(monkeypatch)
    stage = I2VMotion()
    ctx = ctx_for(tiny_video_models[name], **FAST[name])
    fam = stage.family(ctx)
    n_out = round(3 * 9 / fam.fps * 30)
    board = board_of(n_out)
    clip = stage.animate(keyframe(), board.shots[0], board, analysis_of(board), ctx)
    frames = list(clip)
    assert len(frames) == n_out == clip.frame_count and frames[0].shape == (H, W, 3)
    segs = clip.meta["segments"]
    assert len(segs) == len(spy.calls) == 3
    # each segment after the first starts from the previous segment's last frame
    for prev, cur in zip(spy.calls, spy.calls[1:], strict=False):
        assert np.array_equal(cur["first"], prev["out"][-1])
    assert segs[1]["start"] == len(spy.calls[0]["out"]) - 1
    # played at (nearly) the model's own speed across all segments: not stretched
    src = np.asarray(clip.meta["source_frames"])
    step = fam.fps / 30
    assert np.allclose(np.diff(src), np.diff(src)[0], atol=1e-3) and step / 1.25 <= np.diff(src)[0] <= step
    assert src[-1] > segs[2]["start"]  # the last segment is used
    assert clip.meta["generated"] == 1 + sum(c["frames"] - 1 for c in spy.calls)
    assert clip.meta["family"] == name


def test_a_short_shot_is_one_segment_at_native_speed(tiny_video_models, monkeypatch):
    spy = Spy(monkeypatch)
    board = board_of(12)
    clip = I2VMotion().animate(keyframe(), board.shots[0], board, analysis_of(board),
                               ctx_for(tiny_video_models["wan"], **FAST["wan"]))
    assert len(list(clip)) == 12 and len(spy.calls) == 1 and spy.calls[0]["frames"] == 9
    assert clip.meta["source_frames"][1] == pytest.approx(16 / 30, abs=1e-4)
    assert clip.meta["stretch"] == 1.0


def test_the_prompt_carries_motion_words_and_the_family_negative(tiny_video_models):
    stage = I2VMotion()
    ctx = ctx_for(tiny_video_models["wan"])
    shot = Shot(0, 0, 10, "a city at night", seed=1, negative_prompt="text", energy=0.9)
    assert stage.prompt(shot, ctx) == "a city at night, " + motion_words(0.9)
    assert stage.negative(shot, stage.family(ctx)).startswith("text, bright tones")
    quiet = ctx_for(tiny_video_models["wan"], i2v_motion_words="false")
    assert stage.prompt(shot, quiet) == "a city at night"


def test_family_defaults_and_buckets(tiny_video_models):
    stage = I2VMotion()
    c = RenderConfig.create(width=1920, height=1080, video_model=str(tiny_video_models["wan"]))
    board = Storyboard(fps=30, frame_count=1, shots=[Shot(0, 0, 1, "p", 1)], width=1920,
                       height=1080)
    s = stage.settings(StageContext(c, "motion"), board)
    assert (s["width"], s["height"], s["frames"], s["fps"], s["steps"]) == (832, 480, 81, 16, 40)
    board.width, board.height = 1080, 1920  # portrait: the swapped bucket
    assert stage.settings(StageContext(c, "motion"), board)["width"] == 480
    c.options = {"i2v_frames": "30"}  # snapped to 4k+1
    assert stage.settings(StageContext(c, "motion"), board)["frames"] == 33


# -- morph transitions ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["wan", "ltx"])
def test_morph_ends_a_shot_on_the_next_shots_keyframe(tiny_video_models, monkeypatch, name):
    board = board_of(40, 20, 20, sections=[0, 1, 1])
    clip, spy, stage, ctx = morph_shot_0(monkeypatch, tiny_video_models[name], name, board,
                                         nxt=(10, 200, 90))
    assert len(list(clip)) == 40 and clip.meta["morph"] is True
    assert spy.calls[-1]["last"] is not None
    assert np.allclose(spy.calls[-1]["last"].mean(axis=(0, 1)), (10, 200, 90), atol=1)
    assert all(c["last"] is None for c in spy.calls[:-1])
    # inside a section there is no morph
    assert stage.morph_target(board.shots[1], board, ctx) is None
    assert stage.clip_key_parts(board.shots[1], board, {0: "a", 1: "b", 2: "c"}, ctx) == {}
    assert stage.clip_key_parts(board.shots[0], board, {0: "a", 1: "b", 2: "c"}, ctx) == \
        {"morph_to": "b"}


def test_morph_needs_first_last_frame_conditioning(tiny_video_models):
    stage = I2VMotion()
    board = board_of(20, 20, sections=[0, 1])
    cog = ctx_for(tiny_video_models["cogvideox"], transition="morph")
    assert stage.morph_target(board.shots[0], board, cog) is None  # CogVideoX: none
    board.shots[1].transition = "morph"  # marked in the storyboard, no --transition
    wan = ctx_for(tiny_video_models["wan"])
    assert stage.morph_target(board.shots[0], board, wan) is board.shots[1]


# -- cache keys -------------------------------------------------------------------------
def test_clip_keys_follow_what_changes_the_frames(tiny_video_models, tmp_path):
    def keys(transition="cut", **options):
        c = RenderConfig.create(width=W, height=H, motion="i2v", keyframes="sdxl",
                                video_model=str(tiny_video_models["wan"]),
                                transition=transition, cache_dir=tmp_path,
                                options={**COMMON, **options})
        p = Pipeline(c)
        board = board_of(20, 20, sections=[0, 1])
        ctx = p._ctx("motion")
        ident = p.stage_identity("motion", ctx)
        kf = {0: "k0", 1: "k1"}
        return [p._clip_key(ident, s, board, analysis_of(board), kf) for s in board.shots]

    base = keys()
    assert keys() == base
    assert keys(i2v_steps="3") != base  # what is made
    assert keys(i2v_offload="model") == base  # how it is loaded
    morph = keys("morph")
    assert morph[0] != base[0]  # shot 0 morphs into shot 1's keyframe


# -- memory: one GPU, several models ----------------------------------------------------
def test_keyframe_models_are_released_before_the_video_model_loads(tiny_video_models,
                                                                   monkeypatch):
    monkeypatch.setitem(sdxl_keyframes._PIPELINES, ("fake",), object())
    stage = I2VMotion()
    stage.pipeline(ctx_for(tiny_video_models["wan"], i2v_release="always"))
    assert ("fake",) not in sdxl_keyframes._PIPELINES
    monkeypatch.setitem(sdxl_keyframes._PIPELINES, ("fake",), object())
    stage.pipeline(ctx_for(tiny_video_models["wan"], i2v_release="never"))
    assert ("fake",) in sdxl_keyframes._PIPELINES


def test_out_of_memory_falls_back_to_ken_burns_and_says_so(tiny_video_models, monkeypatch):
    def oom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20 GiB")

    monkeypatch.setattr(I2VMotion, "generate", oom)
    messages = []
    board = board_of(15)
    ctx = ctx_for(tiny_video_models["wan"])
    ctx.progress_callback = lambda stage, done, total, msg: messages.append(msg)
    clip = I2VMotion().animate(keyframe(), board.shots[0], board, analysis_of(board), ctx)
    assert clip.meta["motion"] == "kenburns" and clip.meta["fallback"] == "out of GPU memory"
    assert clip.meta["cache"] is False and len(list(clip)) == 15
    assert any("ran out of GPU memory" in m for m in messages)
    off = ctx_for(tiny_video_models["wan"], i2v_fallback="false")
    with pytest.raises(torch.cuda.OutOfMemoryError):
        I2VMotion().animate(keyframe(), board.shots[0], board, analysis_of(board), off)


def test_the_render_result_lists_the_fallbacks(tiny_video_models, monkeypatch, click, tmp_path,
                                                fakes):
    from musicvid import render

    def oom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(I2VMotion, "generate", oom)
    audio, _ = click(duration=3.0)
    result = render(audio, tmp_path / "oom.mp4", keyframes="solid", motion="i2v",
                    video_model=str(tiny_video_models["wan"]), width=64, height=36,
                    keyframe_width=64, keyframe_height=36)
    fallbacks = result.stats["motion_fallbacks"]
    assert len(fallbacks) == len(result.storyboard.shots)
    assert {f["reason"] for f in fallbacks} == {"out of GPU memory"}


# -- the command line, end to end -------------------------------------------------------
def render_args(audio, out, tiny_models, video_model, cache_dir, name, *extra):
    opts = {**COMMON, **FAST[name]}
    return ["render", audio, "-o", out, "--motion", "i2v", "--video-model", video_model,
            "--sdxl-model", tiny_models["sdxl"], "--width", 64, "--height", 36,
            "--keyframe-width", 64, "--keyframe-height", 64, "--steps", 2,
            "--cache-dir", cache_dir, *[x for k, v in opts.items() for x in ("--option", f"{k}={v}")],
            *extra]


def check_video(path, seconds):
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        n = sum(1 for _ in c.decode(video=0))
        vdur, adur = float(v.duration * v.time_base), float(a.duration * a.time_base)
    assert n == round(seconds * 30)
    assert abs(vdur - seconds) <= 1 / 30 and abs(adur - vdur) <= 1 / 30


def test_cli_renders_with_a_tiny_wan(tmp_path, tiny_models, tiny_video_models, click,
                                     cache_dir):
    audio, _ = click(duration=4.0)
    out = tmp_path / "wan.mp4"
    args = render_args(audio, out, tiny_models, tiny_video_models["wan"], cache_dir, "wan",
                       "--transition", "morph")
    proc = subprocess.run([sys.executable, "-m", "musicvid", *map(str, args)],
                          capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr
    check_video(out, 4.0)
    assert sorted((cache_dir / "clip").rglob("*.mkv"))  # i2v clips are cached


@pytest.mark.parametrize("name", ["ltx", "cogvideox"])
def test_cli_renders_with_tiny_ltx_and_cogvideox(tmp_path, tiny_models, tiny_video_models,
                                                 click, cache_dir, capsys, name):
    from musicvid import cli

    audio, _ = click(duration=3.0)
    out = tmp_path / f"{name}.mp4"
    args = render_args(audio, out, tiny_models, tiny_video_models[name], cache_dir, name)
    assert cli.main([str(a) for a in args]) == 0, capsys.readouterr().err
    check_video(out, 3.0)


def test_the_svd_family_is_animated_by_the_svd_stage(tiny_models, monkeypatch):
    from musicvid.defaults.svd_motion import SVDMotion

    seen = []

    def fake(self, keyframe, shot, board, analysis, ctx):
        from musicvid.defaults.svd_motion import svd_options

        seen.append(svd_options(ctx)["model"])  # the model the svd stage loads
        return np.zeros((4, 64, 64, 3), np.uint8)

    monkeypatch.setattr(SVDMotion, "generate", fake)
    board = board_of(10)
    ctx = ctx_for(tiny_models["svd"])
    clip = I2VMotion().animate(keyframe(), board.shots[0], board, analysis_of(board), ctx)
    assert seen == [str(tiny_models["svd"])] and clip.meta["family"] == "svd"
    assert len(list(clip)) == 10
    # the video model is the SVD model, whatever --option svd_model says
    seen.clear()
    ctx = ctx_for(tiny_models["svd"], svd_model="another/svd")
    I2VMotion().animate(keyframe(), board.shots[0], board, analysis_of(board), ctx)
    assert seen == [str(tiny_models["svd"])]


def test_i2v_module_keeps_one_video_model_loaded(tiny_video_models):
    stage = I2VMotion()
    stage.pipeline(ctx_for(tiny_video_models["wan"]))
    stage._families.clear()
    stage.pipeline(ctx_for(tiny_video_models["ltx"]))
    assert len(i2v_motion._PIPELINES) == 1
    i2v_motion.forget_pipelines()


def test_the_video_model_is_evicted_and_its_memory_freed_before_the_next_loads(monkeypatch):
    """Like SVD's: the old pipeline is gone (and collected) before the new one loads, so
    two video models are never resident at once."""
    import diffusers

    from musicvid.defaults import _model_cache, i2v_models

    events = []

    class FakePipeline:
        @classmethod
        def from_pretrained(cls, model, **kwargs):
            events.append(("load", model, len(i2v_models._PIPELINES)))
            return cls()

        def set_progress_bar_config(self, **kw):
            pass

        def to(self, device):
            return self

    monkeypatch.setattr(diffusers, "WanImageToVideoPipeline", FakePipeline)
    monkeypatch.setattr(_model_cache, "free_memory", lambda torch: events.append("freed"))
    i2v_motion.forget_pipelines()
    fam = FAMILIES["wan"]
    first = i2v_motion.load_i2v("model-a", fam, "cpu", "float32")
    assert i2v_motion.load_i2v("model-a", fam, "cpu", "float32") is first  # cached
    second = i2v_motion.load_i2v("model-b", fam, "cpu", "float32")
    assert events == [("load", "model-a", 0), "freed", ("load", "model-b", 0)]
    assert list(i2v_motion._PIPELINES.values()) == [second]
    i2v_motion.forget_pipelines()


def test_a_render_morphs_into_the_next_keyframe_at_a_section_change(
        tiny_video_models, monkeypatch, click, tmp_path, fakes):
    spy = Spy(monkeypatch)
    audio, _ = click(duration=8.0)  # four bars: at least two shots
    config = RenderConfig.create(keyframes="solid", motion="i2v", transition="morph",
                                 video_model=str(tiny_video_models["wan"]), width=64,
                                 height=36, keyframe_width=64, keyframe_height=64,
                                 cache_dir=tmp_path / "cache",
                                 options={**COMMON, **FAST["wan"]})
    pipe = Pipeline(config)
    board = pipe.plan(pipe.analyze(audio))
    assert len(board.shots) >= 2
    for shot in board.shots[1:]:
        shot.section_index, shot.transition, shot.transition_frames = 1, "cut", 0
    result = pipe.render(audio, tmp_path / "morph.mp4", storyboard=board)
    pipe.close()
    assert result.composite.frame_count == 240
    morphs = [c for c in spy.calls if c["last"] is not None]
    assert [c["shot"] for c in morphs] == [0]  # only into the new section
    # the morph target is shot 1's (solid-colour) keyframe, graded like every keyframe
    seed = board.shots[1].seed
    colour = np.array(((seed >> 16) & 255, (seed >> 8) & 255, seed & 255), float)
    corner = morphs[0]["last"][0, 0].astype(float)
    assert np.abs(corner - colour).max() < 60
    assert not np.allclose(morphs[0]["last"], morphs[0]["first"])


def test_wan_decodes_in_float32_when_the_transformer_is_not(tiny_video_models):
    fam = FAMILIES["wan"]
    pipe = i2v_motion.load_i2v(str(tiny_video_models["wan"]), fam, "cpu", "bfloat16")
    assert pipe.transformer.dtype == torch.bfloat16 and pipe.vae.dtype == torch.float32
    ltx = i2v_motion.load_i2v(str(tiny_video_models["ltx"]), FAMILIES["ltx"], "cpu", "bfloat16")
    assert ltx.vae.dtype == torch.bfloat16  # only where the family asks for it
    i2v_motion.forget_pipelines()


def test_cogvideox_15_is_told_apart_by_its_transformer(tiny_video_models):
    from types import SimpleNamespace

    stage = I2VMotion()
    c = RenderConfig.create(width=1920, height=1080,
                            video_model=str(tiny_video_models["cogvideox"]))
    board = Storyboard(fps=30, frame_count=1, shots=[Shot(0, 0, 1, "p", 1)], width=1920,
                       height=1080)
    v15 = SimpleNamespace(transformer=SimpleNamespace(config=SimpleNamespace(
        patch_size_t=2, use_learned_positional_embeddings=False)))
    s = stage.settings(StageContext(c, "motion"), board, v15)
    assert (s["fps"], s["frames"], s["width"], s["height"]) == (16, 81, 1360, 768)
    v10 = stage.settings(StageContext(c, "motion"), board)
    assert (v10["fps"], v10["frames"], v10["width"], v10["height"]) == (8, 49, 720, 480)


def test_wan_21_with_an_image_encoder_animates_but_does_not_morph(tmp_path, monkeypatch):
    from musicvid.testing.tiny_video_models import build_tiny_wan

    model = build_tiny_wan(tmp_path / "wan21", image_encoder=True)
    assert family_of(str(model)).morph is None
    clip, spy, _, _ = morph_shot_0(monkeypatch, model, "wan", board_of(12, 12, sections=[0, 1]))
    assert len(list(clip)) == 12 and clip.meta["morph"] is False
    assert spy.calls[0]["last"] is None and clip.meta["cache"] is True


def test_ltx_condition_models_animate_and_morph_through_their_conditions(tmp_path,
                                                                         monkeypatch):
    from musicvid.testing.tiny_video_models import build_tiny_ltx

    model = build_tiny_ltx(tmp_path / "ltx-0.9.7-distilled", condition=True)
    fam = family_of(str(model))
    assert fam.pipeline == "LTXConditionPipeline" and (fam.steps, fam.guidance) == (8, 1.0)
    clip, spy, _, _ = morph_shot_0(monkeypatch, model, "ltx", board_of(30, 12, sections=[0, 1]))
    assert len(list(clip)) == 30 and clip.meta["morph"] is True
    assert len(spy.calls) == len(clip.meta["segments"]) >= 2
    assert spy.calls[-1]["last"] is not None and spy.calls[0]["last"] is None
    assert np.array_equal(spy.calls[1]["first"], spy.calls[0]["out"][-1])
