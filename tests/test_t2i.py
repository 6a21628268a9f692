"""--image-model: keyframes from FLUX, SD3/3.5 and SDXL, by the model's family.

Each family is a tiny random pipeline built offline, saved and loaded back through
``from_pretrained`` like a hub id.
"""

import av
import pytest
import torch

from musicvid import ModelLoadError, RenderConfig, Shot
from musicvid.defaults import i2v_motion, t2i_keyframes
from musicvid.defaults.t2i_keyframes import T2IKeyframes, image_family_of
from musicvid.pipeline import Pipeline
from musicvid.plugins import list_stages
from musicvid.protocols import StageContext


def ctx_for(model, **kw):
    kw.setdefault("keyframe_width", 48)
    kw.setdefault("keyframe_height", 32)
    c = RenderConfig.create(image_model=str(model), **kw)
    return StageContext(c, "keyframes")


def shots(n=2):
    return [Shot(i, i * 10, i * 10 + 10, f"a lighthouse {i}", seed=5 + i,
                 negative_prompt="blurry") for i in range(n)]


@pytest.mark.parametrize("name,family", [("flux", "flux"), ("sd3", "sd3")])
def test_family_is_read_from_model_index(tiny_video_models, name, family):
    assert image_family_of(str(tiny_video_models[name])).name == family


def test_sdxl_is_a_family_and_a_video_model_is_not(tiny_models, tiny_video_models):
    assert image_family_of(str(tiny_models["sdxl"])).name == "sdxl"
    with pytest.raises(ModelLoadError, match="not a text-to-image model"):
        image_family_of(str(tiny_video_models["wan"]))


def test_image_model_alone_selects_the_t2i_stage(tiny_video_models):
    assert RenderConfig.create(image_model=str(tiny_video_models["flux"])).keyframes == "t2i"
    assert RenderConfig.create().keyframes == "sdxl"
    explicit = RenderConfig.create(image_model="x", keyframes="solid")
    assert explicit.keyframes == "solid"
    names = {e.name: e.plugin for e in list_stages("keyframes")}
    assert names["t2i"] == "musicvid.defaults.t2i_keyframes"


@pytest.mark.parametrize("name", ["flux", "sd3"])
def test_tiny_family_makes_keyframes_at_its_size(tiny_video_models, name):
    stage = T2IKeyframes()
    ctx = ctx_for(tiny_video_models[name], keyframe_width=56, keyframe_height=40,
                  options={"t2i_steps": "2"})
    stage.preflight(ctx)
    images = stage.generate(shots(2), ctx)
    assert [im.size for im in images] == [(48, 32), (48, 32)]  # multiples of 16
    again = stage.generate(shots(1), ctx)
    assert again[0].tobytes() == images[0].tobytes()  # seeded


def test_flux_defaults_follow_the_guidance_embedding(tiny_video_models, tmp_path):
    from musicvid.testing.tiny_video_models import build_tiny_flux

    stage = T2IKeyframes()
    ctx = ctx_for(tiny_video_models["flux"])
    schnell = stage.settings(ctx, stage.pipeline(ctx))
    assert (schnell["steps"], schnell["guidance"]) == (4, 0.0)
    dev_dir = build_tiny_flux(tmp_path / "flux-dev", guidance_embeds=True)
    dev_ctx = ctx_for(dev_dir)
    dev = stage.settings(dev_ctx, stage.pipeline(dev_ctx))
    assert (dev["steps"], dev["guidance"]) == (28, 3.5)
    sd3 = stage.settings(ctx_for(tiny_video_models["sd3"]))
    assert (sd3["steps"], sd3["guidance"]) == (28, 4.5)
    fixed = stage.settings(ctx_for(tiny_video_models["sd3"],
                                   options={"t2i_steps": "3", "t2i_guidance": "2"}))
    assert (fixed["steps"], fixed["guidance"]) == (3, 2.0)


def test_cache_keys_follow_the_model_and_size(tiny_video_models, tmp_path):
    def identity(model, **kw):
        kw = {"keyframe_width": 48, "keyframe_height": 32, **kw}
        c = RenderConfig.create(image_model=str(model), cache_dir=tmp_path, **kw)
        p = Pipeline(c)
        return p.stage_identity("keyframes", p._ctx("keyframes"))

    base = identity(tiny_video_models["flux"])
    assert identity(tiny_video_models["flux"]) == base
    assert identity(tiny_video_models["sd3"]) != base
    assert identity(tiny_video_models["flux"], keyframe_width=64) != base
    assert identity(tiny_video_models["flux"], options={"t2i_steps": "2"}) != base


def test_sdxl_models_go_through_the_sdxl_stage(tiny_models, monkeypatch):
    from musicvid.defaults.sdxl_keyframes import SDXLKeyframes

    seen = []
    monkeypatch.setattr(SDXLKeyframes, "generate",
                        lambda self, s, ctx: seen.append(ctx.config.sdxl_model) or [])
    stage = T2IKeyframes()
    ctx = ctx_for(tiny_models["sdxl"], few_step="turbo")
    stage.generate(shots(1), ctx)
    assert seen == [str(tiny_models["sdxl"])]
    assert stage.cache_key_parts(ctx)["few_step"] == "turbo"


def test_video_models_are_released_before_an_image_model_loads_on_a_gpu(
        tiny_video_models, monkeypatch):
    monkeypatch.setitem(i2v_motion._PIPELINES, ("fake",), object())
    t2i_keyframes.forget_pipelines()
    fam = image_family_of(str(tiny_video_models["sd3"]))
    t2i_keyframes.load_t2i(str(tiny_video_models["sd3"]), fam, "cpu", "float32")
    assert ("fake",) in i2v_motion._PIPELINES  # on a CPU nothing is released
    t2i_keyframes._release_video_models(torch)
    assert ("fake",) not in i2v_motion._PIPELINES


def test_missing_image_model_names_the_option(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as info:
        image_family_of("nobody/no-such-image-model")
    assert "--image-model" in str(info.value) and info.value.stage == "keyframes"


@pytest.mark.parametrize("name", ["flux", "sd3"])
def test_cli_renders_with_a_tiny_image_model(tmp_path, tiny_video_models, click, cache_dir,
                                             capsys, name):
    from musicvid import cli

    audio, _ = click(duration=3.0)
    out = tmp_path / f"{name}.mp4"
    args = ["render", audio, "-o", out, "--image-model", tiny_video_models[name],
            "--width", 64, "--height", 36, "--keyframe-width", 64, "--keyframe-height", 48,
            "--cache-dir", cache_dir, "--option", "t2i_steps=2"]
    assert cli.main([str(a) for a in args]) == 0, capsys.readouterr().err
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 90
    assert sorted((cache_dir / "keyframe").rglob("*.png"))


def test_a_lora_changes_flux_keyframes(tiny_video_models, tmp_path):
    from musicvid.testing.tiny_video_models import build_tiny_flux_lora

    lora = build_tiny_flux_lora(tiny_video_models["flux"], tmp_path / "lora")
    stage = T2IKeyframes()
    plain = stage.generate(shots(1), ctx_for(tiny_video_models["flux"]))[0]
    styled_ctx = ctx_for(tiny_video_models["flux"], lora=str(lora))
    styled = stage.generate(shots(1), styled_ctx)[0]
    assert styled.size == plain.size and styled.tobytes() != plain.tobytes()
    assert stage.cache_key_parts(styled_ctx)["lora"] == str(lora)
    t2i_keyframes.forget_pipelines()


def test_a_bad_lora_says_what_to_pass(tiny_video_models, tmp_path):
    bad = tmp_path / "not-a-lora.safetensors"
    bad.write_bytes(b"nonsense")
    with pytest.raises(ModelLoadError, match="--lora"):
        T2IKeyframes().generate(shots(1), ctx_for(tiny_video_models["flux"], lora=str(bad)))
