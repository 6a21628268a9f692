import pytest

from musicvid import RenderConfig, render
from musicvid.budget import (
    STEP_RANGES,
    BudgetPlan,
    BudgetTracker,
    Costs,
    choose,
    ladder,
    model_family,
    step_floor,
)
from musicvid.defaults import sdxl_keyframes
from musicvid.protocols import StageContext

COSTS = Costs(step_s=10.0, text_s=1.0, decode_s=5.0, width=768, height=432)
BASE = "stabilityai/stable-diffusion-xl-base-1.0"


def plan_for(budget_s, config, *, distinct=40, groups=4, other_s=120.0, costs=COSTS):
    return choose(budget_s, costs, ladder(config), width=config.keyframe_width,
                  height=config.keyframe_height, min_keyframes=groups,
                  max_keyframes=distinct, other_s=other_s)


def local_model(**kw):  # a local model: no rung that downloads another model
    return RenderConfig.create(sdxl_model="/models/my-sdxl", **kw)


def test_step_ranges_table():
    assert STEP_RANGES["sdxl"][0] == 20
    assert STEP_RANGES["turbo"] == (1, 4)
    for family in ("lightning", "hyper", "lcm"):
        low, high = STEP_RANGES[family]
        assert 2 <= low <= high == 8


def test_model_family_and_floor():
    assert model_family(RenderConfig.create()) == "sdxl"
    assert step_floor(RenderConfig.create(steps=30)) == 20
    assert step_floor(RenderConfig.create(steps=12)) == 12  # never cut what is already low
    assert model_family(RenderConfig.create(few_step="lcm")) == "lcm"
    assert step_floor(RenderConfig.create(few_step="lcm")) == 6  # distilled: as made
    assert model_family(RenderConfig.create(sdxl_model="stabilityai/sdxl-turbo")) == "turbo"
    assert model_family(RenderConfig.create(lora="someone/hyper-sdxl-8step-lora")) == "hyper"


def test_plenty_of_time_uses_every_distinct_shot_at_full_quality():
    c = RenderConfig.create(steps=30)
    p = plan_for(3600 * 10, c)
    assert (p.keyframes, p.steps, p.width, p.height, p.fits) == (40, 30, 768, 432, True)
    assert p.sampler == "as configured" and p.changes == {}
    assert p.estimate_s == pytest.approx(120 + 40 * (1 + 30 * 10 + 5))


@pytest.mark.parametrize("budget_min", [5, 20, 45, 60, 120, 600])
@pytest.mark.parametrize("steps", [20, 30, 50])
def test_never_fewer_steps_than_the_floor(budget_min, steps):
    for c in (RenderConfig.create(steps=steps), local_model(steps=steps)):
        p = plan_for(budget_min * 60, c)
        few = p.changes.get("few_step")
        floor = STEP_RANGES[few][0] if few else STEP_RANGES["sdxl"][0]
        assert p.steps >= floor
        if not few:
            assert p.steps >= 20


def test_tiny_vae_comes_before_fewer_steps_and_the_preset_before_a_smaller_size():
    c = RenderConfig.create(steps=30)
    full = COSTS.per_keyframe(30, 768, 432)
    tiny = COSTS.per_keyframe(30, 768, 432, tiny_vae=True)
    # all 40 do not fit with the full VAE, do with the tiny one: steps stay at 30
    p = plan_for(120 + 40 * (full + tiny) / 2, c)
    assert (p.sampler, p.steps, p.width, p.keyframes) == ("tiny VAE", 30, 768, 40)
    assert p.changes["tiny_vae"] == "madebyollin/taesdxl" and p.fits
    # a little less: fewer steps, not below 20, tiny VAE kept
    p = plan_for(120 + 40 * COSTS.per_keyframe(25, 768, 432, tiny_vae=True), c)
    assert 20 <= p.steps < 30 and p.changes["tiny_vae"] and p.width == 768
    assert p.keyframes == 40
    # less than 20 steps would need: the Lightning preset at full size before shrinking
    lightning = COSTS.per_keyframe(4, 768, 432, cfg=False, tiny_vae=True)
    p = plan_for(120 + 40 * lightning * 1.05, c)
    assert p.changes["few_step"] == "lightning" and p.steps == 4
    assert p.changes["guidance_scale"] == 0.0 and (p.width, p.height) == (768, 432)
    assert p.keyframes == 40 and p.fits
    # only after the preset: smaller keyframes, still one per distinct shot
    p = plan_for(120 + 40 * lightning * 0.8, c)
    assert p.changes["few_step"] == "lightning" and p.width < 768 and p.keyframes == 40
    assert p.width % 8 == 0 and p.height % 8 == 0


def test_keyframes_per_distinct_shot_before_fewer_keyframes():
    # a local model: no preset to switch to; the size goes down before the count does
    c = local_model(steps=20)
    per = COSTS.per_keyframe(20, 768, 432)
    p = plan_for(120 + 40 * per * 0.7, c)
    assert p.keyframes == 40 and p.width < 768 and p.steps == 20
    # the smallest size cannot hold 40: as many as fit there, at least one per group
    p = plan_for(120 + 10 * per, c)
    assert 4 <= p.keyframes < 40 and p.fits and p.steps == 20


def test_impossible_budget_says_so_and_keeps_one_per_section_group():
    p = plan_for(10, RenderConfig.create(), other_s=60)
    assert not p.fits and p.keyframes == 4 and "over budget" in p.summary()
    assert p.steps >= 4


def test_few_step_models_keep_their_steps():
    p = plan_for(100, RenderConfig.create(few_step="lcm"), other_s=0)
    assert p.steps == 6 and "few_step" not in p.changes


def test_reload_time_is_charged_to_rungs_that_switch_models():
    c = RenderConfig.create(steps=20)
    per = COSTS.per_keyframe(20, 768, 432)
    args = dict(width=768, height=432, min_keyframes=4, max_keyframes=40, other_s=0)
    # enough for all 40 as configured: a big reload cost does not matter
    assert choose(40 * per + 1, COSTS, ladder(c), reload_s=1e6, **args).sampler == "as configured"
    # not enough: with free reloads the tiny VAE wins, with huge ones nothing that reloads
    assert choose(30 * per, COSTS, ladder(c), **args).changes.get("tiny_vae")
    p = choose(30 * per, COSTS, ladder(c), reload_s=1e6, **args)
    assert not p.changes.get("tiny_vae") and not p.changes.get("few_step")


def test_costs_without_cfg_and_with_the_tiny_vae():
    c = Costs(step_s=20.0, text_s=1.0, decode_s=20.0, width=64, height=64, step1_s=11.0)
    assert c.per_keyframe(4, 64, 64, cfg=False) == pytest.approx(1 + 4 * 11 + 20)
    assert c.per_keyframe(4, 64, 64, cfg=False, tiny_vae=True) == pytest.approx(
        1 + 44 + 20 * 0.077)
    assert c.per_keyframe(2, 128, 64) == pytest.approx(1 + (40 + 20) * 2)


def test_tracker_re_estimates_from_the_keyframes_made_and_the_encoder():
    plan = BudgetPlan(4, 20, 768, 432, 100.0, 400.0, 50.0, 460.0, True, encode_s=50.0)
    now = [10.0]
    seen = []
    t = BudgetTracker(plan, 0.0, lambda *a: seen.append(a), clock=lambda: now[0])
    t("keyframes", 0, 4, "4 keyframes to generate")
    for i, at in enumerate((40.0, 60.0, 80.0, 100.0), 1):
        now[0] = at
        t("keyframes", i, 4, "keyframe")
    ests = [e["estimate_s"] for e in plan.estimates]
    # keyframes take 20 s, not the planned 100: the estimate comes down to the truth
    assert ests[0] == pytest.approx(40 + 3 * 30 + 50)  # first keyframe (model load in it)
    assert ests[1] == pytest.approx(60 + 2 * 20 + 50)
    assert ests[-1] == pytest.approx(100 + 50)
    budget_msgs = [m for st, d, n, m in seen if st == "budget"]
    assert len(budget_msgs) == 4 and all("re-estimate" in m for m in budget_msgs)
    assert [a for a in seen if a[0] == "keyframes"][0] == ("keyframes", 0, 4,
                                                           "4 keyframes to generate")
    # encoding at 100 frames/s with 1000 frames: the estimate follows the encoder
    now[0] = 101.0
    t("composite", 30, 1000, "encoding")
    now[0] = 106.0
    t("composite", 530, 1000, "encoding")
    assert plan.estimates[-1]["estimate_s"] == pytest.approx(106 + 470 / 100)


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


def _song_with_repeats():
    """An analysis (120 BPM clicks) laid out intro/verse/chorus/verse/chorus/outro."""
    from musicvid import Analysis, Section
    from musicvid.testing import click_track

    duration = 96.0
    _, beats = click_track(120, duration, sr=1000, tone=False)
    layout = [("intro", 0, 0.2), ("verse", 1, 0.45), ("chorus", 2, 0.9), ("verse", 1, 0.45),
              ("chorus", 2, 0.9), ("outro", 3, 0.25)]
    span = duration / len(layout)
    sections = [Section(i * span, (i + 1) * span, label, group, energy)
                for i, (label, group, energy) in enumerate(layout)]
    return Analysis(duration=duration, sample_rate=1000, tempo=120.0, beats=beats,
                    downbeats=beats[::4], meter=4, curve_fps=30.0, sections=sections)


def _budget_pipeline(tiny_models, monkeypatch, minutes, step_s):
    import musicvid.budget as budget_mod
    from musicvid.pipeline import Pipeline

    fake = {"step_s": step_s, "text_s": 1.0, "decode_s": 5.0, "width": 64, "height": 64,
            "load_s": 0.0}
    monkeypatch.setattr(sdxl_keyframes.SDXLKeyframes, "calibrate", lambda self, ctx: dict(fake))
    monkeypatch.setattr(budget_mod, "measure_encode_fps", lambda *a, **k: 300.0)
    config = RenderConfig.create(sdxl_model=str(tiny_models["sdxl"]), width=160, height=96,
                                 keyframe_width=64, keyframe_height=64, steps=2,
                                 time_budget=minutes)
    return Pipeline(config)


def test_budget_gives_every_distinct_shot_its_keyframe_and_repeats_reuse_theirs(
        tiny_models, monkeypatch):
    import time

    analysis = _song_with_repeats()
    pipe = _budget_pipeline(tiny_models, monkeypatch, minutes=60.0, step_s=2.0)
    try:
        plan = pipe.fit_budget(analysis, time.perf_counter())
        board = pipe.plan(analysis)
        distinct = {(s.prompt, s.negative_prompt, s.seed) for s in board.shots}
        assert len(board.shots) > len(distinct)  # the second verse and chorus repeat
        assert plan.keyframes == plan.distinct_shots == len(distinct) and plan.fits
        keys = pipe.keyframe_keys(board)
        by_shot = {}
        for s in board.shots:
            by_shot.setdefault((s.prompt, s.negative_prompt, s.seed), set()).add(keys[s.index])
        assert all(len(k) == 1 for k in by_shot.values())  # a repeat reuses its keyframe
        assert len(set(keys.values())) == len(distinct)
        pipe.keyframes(board)
        assert pipe.stats["keyframes_generated"] == len(distinct)
    finally:
        pipe.close()


def test_tight_budget_keeps_a_keyframe_per_section_group(tiny_models, monkeypatch):
    import time

    analysis = _song_with_repeats()
    pipe = _budget_pipeline(tiny_models, monkeypatch, minutes=12.0, step_s=60.0)
    try:
        plan = pipe.fit_budget(analysis, time.perf_counter())
        board = pipe.plan(analysis)
        assert plan.steps == 2  # a local model below the floor: never cut further
        assert 4 <= plan.keyframes < plan.distinct_shots
        own: dict = {}
        for s in board.shots:
            own.setdefault(s.group, set()).add((s.prompt, s.seed))
        assert len(own) == 4 and all(own.values())
        assert len({(s.prompt, s.negative_prompt, s.seed) for s in board.shots}) == plan.keyframes
    finally:
        pipe.close()


def test_the_printed_estimate_updates_as_the_run_goes(tiny_models, tmp_path, click,
                                                      monkeypatch):
    # calibrated at 20 s a step, the tiny model takes milliseconds: the re-estimates,
    # made from the keyframes really made, fall far below the first estimate
    fake = {"step_s": 20.0, "text_s": 1.0, "decode_s": 5.0, "width": 64, "height": 64,
            "load_s": 0.0}
    monkeypatch.setattr(sdxl_keyframes.SDXLKeyframes, "calibrate", lambda self, ctx: dict(fake))
    audio, _ = click(duration=20.0)
    seen = []
    result = render(audio, tmp_path / "o.mp4", sdxl_model=str(tiny_models["sdxl"]),
                    width=160, height=96, keyframe_width=64, keyframe_height=64, steps=4,
                    time_budget=30.0, progress=lambda st, d, t, m: seen.append((st, d, t, m)))
    budget = result.stats["budget"]
    messages = [m for st, d, t, m in seen if st == "budget" and d == t]
    assert messages[0].startswith("estimate")
    updates = [m for m in messages if m.startswith("re-estimate")]
    assert len(updates) >= result.stats["keyframes_generated"] >= 2
    ests = budget["estimates"]
    assert ests[0]["from"] == "calibration" and len(ests) == len(updates) + 1
    assert ests[-1]["estimate_s"] < ests[0]["estimate_s"] / 3
    assert [e["elapsed_s"] for e in ests] == sorted(e["elapsed_s"] for e in ests)


def test_a_tight_budget_on_the_base_model_switches_to_lightning_and_taesdxl(monkeypatch):
    import time

    import musicvid.budget as budget_mod
    from musicvid.pipeline import Pipeline

    # 25 s a CFG step, 21 s a full decode: 20 steps for 40 shots would take hours
    fake = {"step_s": 25.0, "step1_s": 13.0, "text_s": 1.0, "decode_s": 21.0,
            "width": 768, "height": 432, "load_s": 30.0, "cfg": True, "tiny_vae": False}
    monkeypatch.setattr(sdxl_keyframes.SDXLKeyframes, "calibrate", lambda self, ctx: dict(fake))
    monkeypatch.setattr(budget_mod, "measure_encode_fps", lambda *a, **k: 50.0)
    analysis = _song_with_repeats()
    pipe = Pipeline(RenderConfig.create(time_budget=60.0))
    try:
        plan = pipe.fit_budget(analysis, time.perf_counter())
        c = pipe.config
    finally:
        pipe.close()
    assert plan.fits and plan.keyframes == plan.distinct_shots
    assert (c.few_step, c.steps, c.guidance_scale, c.tiny_vae) == (
        "lightning", 4, 0.0, "madebyollin/taesdxl")
    assert sdxl_keyframes.LoadOptions.from_config(c).lora.startswith("ByteDance/SDXL-Lightning/")
    # priced without CFG (the measured one-branch step) and with the tiny VAE
    assert plan.per_keyframe_s == pytest.approx(1.0 + 4 * 13.0 + 21.0 * 0.077)


def test_a_setting_given_as_the_stage_option_is_kept_and_planned_with(monkeypatch):
    import time

    import musicvid.budget as budget_mod
    from musicvid.pipeline import Pipeline

    # the costs that make the base model switch to Lightning (the test above)
    fake = {"step_s": 25.0, "step1_s": 13.0, "text_s": 1.0, "decode_s": 21.0,
            "width": 768, "height": 432, "load_s": 30.0, "cfg": True, "tiny_vae": False}
    monkeypatch.setattr(sdxl_keyframes.SDXLKeyframes, "calibrate", lambda self, ctx: dict(fake))
    monkeypatch.setattr(budget_mod, "measure_encode_fps", lambda *a, **k: 50.0)
    pipe = Pipeline(RenderConfig.create(time_budget=60.0, steps=20,
                                        options={"sdxl_steps": "30"}))
    try:
        plan = pipe.fit_budget(_song_with_repeats(), time.perf_counter())
        stage_steps = pipe.stage("keyframes").options(pipe._ctx("keyframes")).steps
        c = pipe.config
    finally:
        pipe.close()
    # --option sdxl_steps=30 wins over --steps 20 and over the budget: no fewer steps,
    # no Lightning; what the plan prices is what the stage runs
    assert plan.fixed == ["steps"] and plan.steps == c.steps == stage_steps == 30
    assert c.few_step is None and c.guidance_scale == 6.0
    decode = 21.0 * (0.077 if c.tiny_vae else 1.0)
    assert plan.per_keyframe_s == pytest.approx(
        1.0 + (30 * 25.0 + decode) * plan.width * plan.height / (768 * 432))
