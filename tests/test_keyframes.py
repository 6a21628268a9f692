"""The SDXL keyframe stage on tiny real pipelines: presets, LoRA, tiny VAE, refiner,
img2img, the images source, batching and OOM handling."""

import av
import numpy as np
import pytest
from PIL import Image

from musicvid import InvalidOptionError, ModelLoadError, MusicVidError, RenderConfig, Shot, render
from musicvid.defaults import images_keyframes, sdxl_keyframes
from musicvid.protocols import StageContext
from musicvid.testing import TINY
from musicvid.testing.tiny_models import build_tiny_lora, build_tiny_vae
from musicvid.types import Storyboard


def ctx_for(tiny_models, **kw):
    opts = dict(TINY, sdxl_model=str(tiny_models["sdxl"]))
    opts.update(kw)
    return StageContext(RenderConfig.create(**opts), "keyframes")


def shots(n=2, prompt="a lighthouse at night"):
    return [Shot(i, i, i + 1, prompt, seed=100 + i) for i in range(n)]


def arr(im):
    return np.asarray(im, dtype=np.int16)


@pytest.fixture(autouse=True)
def _fresh_pipelines():
    sdxl_keyframes.forget_pipelines()
    yield
    sdxl_keyframes.forget_pipelines()


@pytest.mark.parametrize("preset, scheduler, steps, cfg", [
    ("turbo", "EulerAncestralDiscreteScheduler", 4, 0.0),
    ("lightning", "EulerDiscreteScheduler", 4, 0.0),
    ("lcm", "LCMScheduler", 6, 1.0),
])
def test_few_step_presets_set_sampler_steps_guidance(tiny_models, preset, scheduler, steps, cfg):
    c = RenderConfig.create(few_step=preset, sdxl_model=str(tiny_models["sdxl"]))
    assert (c.steps, c.guidance_scale) == (steps, cfg)
    assert RenderConfig.create(few_step=preset, steps=2).steps == 2  # explicit wins
    ctx = ctx_for(tiny_models, few_step=preset, steps=2)
    images = sdxl_keyframes.SDXLKeyframes().generate(shots(1), ctx)
    pipe = sdxl_keyframes.load_sdxl(sdxl_keyframes.LoadOptions.from_config(ctx.config))
    assert type(pipe.scheduler).__name__ == scheduler
    if preset != "lcm":
        assert pipe.scheduler.config.timestep_spacing == "trailing"
    assert images[0].size == (64, 64)


def test_unknown_few_step_lists_presets():
    with pytest.raises(InvalidOptionError, match="turbo, lightning, lcm"):
        RenderConfig.create(few_step="hyper")


def test_lcm_preset_brings_lcm_lora_only_for_the_base_model():
    base = sdxl_keyframes.LoadOptions.from_config(RenderConfig.create(few_step="lcm"))
    assert base.lora == "latent-consistency/lcm-lora-sdxl"
    tuned = sdxl_keyframes.LoadOptions.from_config(
        RenderConfig.create(few_step="lcm", sdxl_model="someone/lcm-finetune"))
    assert tuned.lora is None


def test_lora_is_fused_and_changes_the_image(tiny_models, tmp_path):
    lora = build_tiny_lora(tiny_models["sdxl"], tmp_path / "lora")
    gen = sdxl_keyframes.SDXLKeyframes()
    plain = arr(gen.generate(shots(1), ctx_for(tiny_models))[0])
    sdxl_keyframes.forget_pipelines()
    styled = arr(gen.generate(shots(1), ctx_for(tiny_models, lora=str(lora)))[0])
    assert np.abs(plain - styled).mean() > 0.5
    assert gen.cache_key_parts(ctx_for(tiny_models, lora=str(lora)))["lora"] == str(lora)


def test_missing_lora_is_a_model_error(tiny_models, tmp_path):
    with pytest.raises(ModelLoadError, match="--lora"):
        sdxl_keyframes.SDXLKeyframes().generate(
            shots(1), ctx_for(tiny_models, lora=str(tmp_path / "none.safetensors")))


def test_tiny_vae_decodes(tiny_models, tmp_path):
    vae = build_tiny_vae(tmp_path / "taesd")
    ctx = ctx_for(tiny_models, tiny_vae=str(vae))
    images = sdxl_keyframes.SDXLKeyframes().generate(shots(1), ctx)
    pipe = sdxl_keyframes.load_sdxl(sdxl_keyframes.LoadOptions.from_config(ctx.config))
    assert type(pipe.vae).__name__ == "AutoencoderTiny"
    assert images[0].size == (64, 64)


def test_refiner_runs_the_last_steps(tiny_models, tmp_path):
    from musicvid.testing.tiny_models import build_tiny_sdxl

    gen = sdxl_keyframes.SDXLKeyframes()
    plain = arr(gen.generate(shots(1), ctx_for(tiny_models, steps=4))[0])
    # the base model as its own refiner: the hand-over is seamless, the image is the same
    same = arr(gen.generate(shots(1), ctx_for(tiny_models, steps=4,
                                             refiner_model=str(tiny_models["sdxl"])))[0])
    assert np.abs(same - plain).max() <= 2
    other = build_tiny_sdxl(tmp_path / "refiner", seed=1)
    refined = arr(gen.generate(shots(1), ctx_for(tiny_models, steps=4, refiner_fraction=0.5,
                                                refiner_model=str(other)))[0])
    assert refined.shape == plain.shape
    assert np.abs(refined - plain).mean() > 0.1 and np.abs(refined - plain).max() > 5


def test_batched_generation_matches_one_at_a_time(tiny_models):
    gen = sdxl_keyframes.SDXLKeyframes()
    ctx = ctx_for(tiny_models)
    batch = [arr(im) for im in gen.generate(shots(3), ctx)]
    single = [arr(gen.generate([s], ctx)[0]) for s in shots(3)]
    for a, b in zip(batch, single):
        assert np.abs(a - b).max() <= 2
    assert np.abs(batch[0] - batch[1]).mean() > 1  # different seeds differ


def test_gpu_oom_retries_with_offload_then_gives_a_clear_error(tiny_models, monkeypatch):
    import torch

    gen = sdxl_keyframes.SDXLKeyframes()
    ctx = ctx_for(tiny_models)
    real_run = sdxl_keyframes.SDXLKeyframes._run
    calls = []
    messages = []
    ctx.progress_callback = lambda stage, done, total, msg: messages.append(msg)

    def flaky(self, pipe, batch, c):
        calls.append(len(batch))
        if len(calls) == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return real_run(self, pipe, batch, c)

    monkeypatch.setattr(sdxl_keyframes.SDXLKeyframes, "_run", flaky)
    images = gen.generate(shots(2), ctx)
    assert len(images) == 2 and calls == [2, 1, 1]
    assert any("out of memory" in m for m in messages)

    def always(self, pipe, batch, c):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(sdxl_keyframes.SDXLKeyframes, "_run", always)
    with pytest.raises(MusicVidError, match="keyframe-width"):
        gen.generate(shots(2), ctx)


def _pictures(folder, colours):
    folder.mkdir()
    for i, c in enumerate(colours):
        Image.new("RGB", (120 + 10 * i, 80), c).save(folder / f"{i:02d}.png")
    return folder


def test_assign_in_order_and_by_energy(tmp_path):
    pics = _pictures(tmp_path / "p", [(10, 10, 10), (250, 250, 250), (128, 128, 128)])
    files = images_keyframes.list_images(pics)
    s = [Shot(i, i, i + 1, f"p{i}", i, energy=e) for i, e in enumerate([0.9, 0.1, 0.5])]
    order = images_keyframes.assign(s, files, "order")
    assert [order[i].name for i in range(3)] == ["00.png", "01.png", "02.png"]
    energy = images_keyframes.assign(s, files, "energy")
    # loudest shot -> brightest picture, quietest -> darkest
    assert energy[0].name == "01.png" and energy[1].name == "00.png" and energy[2].name == "02.png"
    # repeated sections (same prompt + seed) share a picture
    rep = [Shot(0, 0, 1, "chorus", 5), Shot(1, 1, 2, "verse", 6), Shot(2, 2, 3, "chorus", 5)]
    again = images_keyframes.assign(rep, files, "order")
    assert again[0] == again[2] != again[1]


def test_images_folder_errors(tmp_path):
    with pytest.raises(InvalidOptionError, match="not a folder"):
        images_keyframes.list_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(InvalidOptionError, match="no .jpg"):
        images_keyframes.list_images(tmp_path / "empty")


def test_photo_video_renders_the_users_pictures(tmp_path, click):
    pics = _pictures(tmp_path / "photos", [(220, 30, 30), (30, 200, 40), (30, 40, 220)])
    audio, _ = click(duration=8.0)
    out = tmp_path / "v.mp4"
    result = render(audio, out, images=pics, width=160, height=96)  # --images implies the stage
    assert result.stats["keyframes_generated"] >= 2
    with av.open(str(out)) as c:
        first = next(c.decode(video=0)).to_ndarray(format="rgb24")
    r, g, b = first[48, 80].astype(int)
    assert r > 150 and g < 100 and b < 100


def test_img2img_restyles_pictures_and_keys_on_the_picture(tiny_models, tmp_path):
    pics = _pictures(tmp_path / "init", [(200, 60, 60), (60, 60, 200)])
    gen = sdxl_keyframes.SDXLKeyframes()
    ctx = ctx_for(tiny_models, init_images=pics, strength=0.5)
    board = Storyboard(fps=30, frame_count=2, shots=shots(2))
    ctx.extra["storyboard"] = board
    gen.preflight(ctx)
    images = gen.generate(board.shots, ctx)
    assert images[0].size == (64, 64)
    k0 = gen.shot_key_parts(board.shots[0], ctx)
    k1 = gen.shot_key_parts(board.shots[1], ctx)
    assert k0 != k1  # each shot keyed by its picture's content
    strong_ctx = ctx_for(tiny_models, init_images=pics, strength=1.0)
    strong_ctx.extra["storyboard"] = board
    strong = gen.generate(board.shots, strong_ctx)
    assert np.abs(arr(strong[0]) - arr(images[0])).mean() > 0.5


def test_img2img_missing_folder_fails_before_any_work(tiny_models, tmp_path, click):
    audio, _ = click(duration=2.0)
    with pytest.raises(InvalidOptionError, match="--init-images"):
        render(audio, tmp_path / "o.mp4", sdxl_model=str(tiny_models["sdxl"]),
               init_images=tmp_path / "nowhere", **TINY)
    assert not (tmp_path / "o.mp4").exists()
