"""The SDXL stage's settings are its options (``--option sdxl_steps=3``), aliasing the
RenderConfig fields and flags (``--steps 3``)."""

import pytest

from musicvid import RenderConfig, Shot
from musicvid.defaults import sdxl_keyframes
from musicvid.errors import InvalidOptionError
from musicvid.pipeline import Pipeline
from musicvid.protocols import StageContext
from musicvid.testing import TINY, run_cli


@pytest.fixture(autouse=True)
def fresh_pipelines():
    sdxl_keyframes.forget_pipelines()
    yield
    sdxl_keyframes.forget_pipelines()


def config(tiny_models, **kw):
    return RenderConfig.create(**{**TINY, "sdxl_model": str(tiny_models["sdxl"]), **kw})


def unet_calls(pipe, monkeypatch):
    calls = []
    forward = pipe.unet.forward

    def counting(*args, **kwargs):
        calls.append(1)
        return forward(*args, **kwargs)

    monkeypatch.setattr(pipe.unet, "forward", counting)
    return calls


def test_the_steps_option_sets_the_denoising_steps(tiny_models, monkeypatch):
    c = config(tiny_models, steps=2, options={"sdxl_steps": "3"})
    pipe = sdxl_keyframes.load_sdxl(sdxl_keyframes.LoadOptions.from_config(c))
    calls = unet_calls(pipe, monkeypatch)
    gen = sdxl_keyframes.SDXLKeyframes()
    gen.generate([Shot(0, 0, 1, "a red barn", seed=1)], StageContext(c, "keyframes"))
    assert len(calls) == 3  # the option wins over --steps 2
    calls.clear()
    gen.generate([Shot(0, 0, 1, "a red barn", seed=1)],
                 StageContext(config(tiny_models, steps=2), "keyframes"))
    assert len(calls) == 2  # without it, the flag's field


def test_an_invalid_option_value_fails_naming_the_option(tiny_models):
    gen = sdxl_keyframes.SDXLKeyframes()
    with pytest.raises(InvalidOptionError, match="sdxl_steps"):
        gen.preflight(StageContext(config(tiny_models, options={"sdxl_steps": "0"}),
                                   "keyframes"))
    with pytest.raises(InvalidOptionError, match="sdxl_few_step"):
        gen.preflight(StageContext(config(tiny_models, options={"sdxl_few_step": "fast"}),
                                   "keyframes"))


def test_cache_keys_are_the_same_whichever_way_a_setting_is_given(tiny_models):
    def identity(**kw):
        pipe = Pipeline(config(tiny_models, **kw))
        try:
            return pipe.stage_identity("keyframes", pipe._ctx("keyframes"))
        finally:
            pipe.close()

    by_flag = identity(steps=3, guidance_scale=2.5)
    by_option = identity(options={"sdxl_steps": "3", "sdxl_guidance_scale": "2.5"})
    assert by_flag == by_option
    assert identity(steps=2) != by_flag


def test_the_model_option_is_the_model_loaded(tiny_models):
    c = RenderConfig.create(**TINY, sdxl_model="nobody/not-a-real-model-xyz",
                            options={"sdxl_model": str(tiny_models["sdxl"])})
    gen = sdxl_keyframes.SDXLKeyframes()
    ctx = StageContext(c, "keyframes")
    assert gen.cache_key_parts(ctx)["model"] == str(tiny_models["sdxl"])
    assert sdxl_keyframes.LoadOptions.from_config(c).model == str(tiny_models["sdxl"])
    (image,) = gen.generate([Shot(0, 0, 1, "a red barn", seed=1)], ctx)
    assert image.size == (64, 64)


def test_few_step_and_lora_options_resolve_like_their_flags():
    by_flag = sdxl_keyframes.LoadOptions.from_config(RenderConfig.create(few_step="lcm"))
    by_option = sdxl_keyframes.LoadOptions.from_config(
        RenderConfig.create(options={"sdxl_few_step": "lcm"}))
    assert by_flag == by_option and by_option.lora  # the preset's LoRA


def test_plugins_options_lists_the_sdxl_settings_with_their_flags():
    proc = run_cli("plugins", "--options")
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[1].split("=")[0]: line for line in proc.stdout.splitlines()
             if line.strip().startswith("--option")}
    assert "(same as --steps)" in lines["sdxl_steps"]
    assert "(same as --sdxl-model)" in lines["sdxl_model"]
    assert "sdxl_guidance_scale" in lines and "svd_model" in lines
