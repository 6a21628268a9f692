import pytest

from musicvid import RenderConfig, render
from musicvid.budget import Costs, choose
from musicvid.defaults import sdxl_keyframes
from musicvid.protocols import StageContext

COSTS = Costs(step_s=10.0, text_s=1.0, decode_s=5.0, width=768, height=432)


def test_plenty_of_time_uses_every_shot_at_full_quality():
    p = choose(3600 * 10, COSTS, steps=18, width=768, height=432, min_keyframes=4,
               max_keyframes=40, other_s=120)
    assert (p.keyframes, p.steps, p.width, p.height, p.fits) == (40, 18, 768, 432, True)
    assert p.estimate_s == pytest.approx(120 + 40 * (1 + 18 * 10 + 5))


def test_budget_buys_as_many_keyframes_as_fit():
    per = 1 + 18 * 10 + 5
    p = choose(120 + 7.5 * per, COSTS, steps=18, width=768, height=432, min_keyframes=4,
               max_keyframes=40, other_s=120)
    assert p.keyframes == 7 and p.steps == 18 and p.estimate_s <= 120 + 7.5 * per


def test_tight_budget_lowers_steps_then_size():
    # 4 section groups need 4 keyframes; at 18 steps that is 744 s, we only have 600
    p = choose(600, COSTS, steps=18, width=768, height=432, min_keyframes=4, max_keyframes=40,
               other_s=0)
    assert p.fits and p.keyframes >= 4 and p.steps < 18 and (p.width, p.height) == (768, 432)
    # at 400 s even 12 steps (the floor for full models) do not fit: the size goes down
    q = choose(400, COSTS, steps=18, width=768, height=432, min_keyframes=4, max_keyframes=40,
               other_s=0)
    assert q.fits and q.width < 768 and q.keyframes >= 4 and q.steps >= 12
    assert q.width % 8 == 0 and q.height % 8 == 0


def test_impossible_budget_says_so():
    p = choose(10, COSTS, steps=18, width=768, height=432, min_keyframes=4, max_keyframes=40,
               other_s=60)
    assert not p.fits and p.keyframes == 1 and "over budget" in p.summary()


def test_few_step_models_keep_their_steps():
    p = choose(100, COSTS, steps=4, width=768, height=432, min_keyframes=4, max_keyframes=40,
               other_s=0, min_steps=4)
    assert p.steps == 4


def test_calibrate_measures_the_real_pipeline(tiny_models):
    ctx = StageContext(RenderConfig.create(sdxl_model=str(tiny_models["sdxl"]),
                                           keyframe_width=64, keyframe_height=64, steps=2))
    m = sdxl_keyframes.SDXLKeyframes().calibrate(ctx)
    assert m["width"] == 64 and m["height"] == 64
    assert all(m[k] > 0 for k in ("step_s", "text_s", "decode_s"))


def test_render_with_a_time_budget_reports_its_estimate(tiny_models, tmp_path, click):
    audio, _ = click(duration=6.0)
    seen = []
    result = render(audio, tmp_path / "o.mp4", sdxl_model=str(tiny_models["sdxl"]),
                    width=160, height=96, keyframe_width=64, keyframe_height=64, steps=2,
                    time_budget=5.0,
                    progress=lambda st, d, t, m: seen.append((st, m)))
    budget = result.stats["budget"]
    assert budget["fits"] and budget["keyframes"] >= 1
    assert any(st == "budget" and "estimate" in m for st, m in seen)
    # the budget's choice is what was rendered
    assert result.stats["keyframes_generated"] <= budget["keyframes"]


def test_tight_budget_limits_unique_keyframes(tiny_models, tmp_path, click, monkeypatch):
    # pretend each step costs 20 s on this machine: a 10-minute budget buys few keyframes
    fake = {"step_s": 20.0, "text_s": 1.0, "decode_s": 5.0, "width": 64, "height": 64,
            "load_s": 0.0}
    monkeypatch.setattr(sdxl_keyframes.SDXLKeyframes, "calibrate", lambda self, ctx: dict(fake))
    audio, _ = click(duration=30.0)
    result = render(audio, tmp_path / "o.mp4", sdxl_model=str(tiny_models["sdxl"]),
                    width=160, height=96, keyframe_width=64, keyframe_height=64, steps=4,
                    time_budget=10.0)
    budget = result.stats["budget"]
    unique = {(s.prompt, s.negative_prompt, s.seed) for s in result.storyboard.shots}
    assert len(unique) == budget["keyframes"] < len(result.storyboard.shots)
    assert result.stats["keyframes_generated"] == budget["keyframes"]
    per = 1.0 + 4 * 20.0 + 5.0
    assert budget["per_keyframe_s"] == pytest.approx(per)
    assert budget["estimate_s"] <= 600 and budget["fits"]
    # one more keyframe would not have fitted
    assert budget["estimate_s"] + per > 600 - 30
