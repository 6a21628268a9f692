"""``--profile cpu-fast``: SDXL base + SDXL-Lightning's 4-step LoRA + TAESDXL, resolved
from the Hugging Face cache as on a user's machine after the first download (here a
cache laid out in the test with tiny random models under the real repo ids)."""

import shutil

import numpy as np
import pytest

from musicvid import DEFAULT_SDXL_MODEL, DEFAULT_TINY_VAE, Profile, RenderConfig, Shot, render
from musicvid.defaults import sdxl_keyframes
from musicvid.protocols import StageContext
from musicvid.testing.tiny_models import build_tiny_lora, build_tiny_vae

LIGHTNING = "ByteDance/SDXL-Lightning"
LIGHTNING_FILE = "sdxl_lightning_4step_lora.safetensors"
REV = "0" * 40
# diffusers' hub download of a single model passes an argument huggingface_hub deprecated
pytestmark = pytest.mark.filterwarnings("ignore:The `local_dir_use_symlinks`:UserWarning")


@pytest.fixture(autouse=True)
def _fresh_pipelines():
    sdxl_keyframes.forget_pipelines()
    yield
    sdxl_keyframes.forget_pipelines()


def _as_hub_repo(root, repo, src):
    """Lay ``src`` out as the cached snapshot of ``repo`` (``models--owner--name``)."""
    d = root / f"models--{repo.replace('/', '--')}"
    shutil.copytree(src, d / "snapshots" / REV)
    (d / "refs").mkdir(parents=True)
    (d / "refs" / "main").write_text(REV)


@pytest.fixture
def hub_cache(tiny_models, tmp_path, monkeypatch):
    """A Hugging Face cache holding tiny models under the ids cpu-fast downloads."""
    from huggingface_hub import constants

    lora_dir = build_tiny_lora(tiny_models["sdxl"], tmp_path / "lora")
    (lora_dir / "pytorch_lora_weights.safetensors").rename(lora_dir / LIGHTNING_FILE)
    root = tmp_path / "hub"
    _as_hub_repo(root, DEFAULT_SDXL_MODEL, tiny_models["sdxl"])
    _as_hub_repo(root, LIGHTNING, lora_dir)
    _as_hub_repo(root, DEFAULT_TINY_VAE, build_tiny_vae(tmp_path / "taesd"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(root))
    monkeypatch.delenv("MUSICVID_SDXL_MODEL", raising=False)
    monkeypatch.delenv("MUSICVID_TINY_VAE", raising=False)
    return root


def test_cpu_fast_profile_choices():
    assert "cpu-fast" in Profile.values()
    c = RenderConfig.create(profile="cpu-fast")
    assert c.profile is Profile.CPU_FAST
    assert (c.sdxl_model, c.few_step, c.steps, c.guidance_scale) == (
        DEFAULT_SDXL_MODEL, "lightning", 4, 0.0)
    assert c.tiny_vae == DEFAULT_TINY_VAE == "madebyollin/taesdxl"
    assert (c.width, c.height, c.device, c.dtype) == (1280, 720, "cpu", "float32")
    load = sdxl_keyframes.LoadOptions.from_config(c)
    assert load.lora == f"{LIGHTNING}/{LIGHTNING_FILE}"
    # explicit options still win over the profile
    assert RenderConfig.create(profile="cpu-fast", steps=8).steps == 8
    # the Lightning LoRA is made for the base model: a fine-tune does not get it
    tuned = RenderConfig.create(profile="cpu-fast", sdxl_model="someone/sdxl-finetune")
    assert sdxl_keyframes.LoadOptions.from_config(tuned).lora is None


def test_lora_source_reads_a_file_of_a_hub_repo(tmp_path):
    assert sdxl_keyframes.lora_source(f"{LIGHTNING}/{LIGHTNING_FILE}") == (
        LIGHTNING, {"weight_name": LIGHTNING_FILE})
    assert sdxl_keyframes.lora_source("owner/name/sub/dir/w.safetensors") == (
        "owner/name", {"weight_name": "w.safetensors", "subfolder": "sub/dir"})
    assert sdxl_keyframes.lora_source("latent-consistency/lcm-lora-sdxl") == (
        "latent-consistency/lcm-lora-sdxl", {})
    local = tmp_path / "a" / "b" / "c.safetensors"
    local.parent.mkdir(parents=True)
    local.write_bytes(b"")
    assert sdxl_keyframes.lora_source(str(local)) == (str(local), {})


def test_cpu_fast_loads_lightning_lora_and_taesdxl_from_the_hub_cache(hub_cache, tiny_models):
    shot = [Shot(0, 0, 1, "a lighthouse at night", seed=3)]
    size = dict(keyframe_width=64, keyframe_height=64)
    fast = StageContext(RenderConfig.create(profile="cpu-fast", **size), "keyframes")
    image = sdxl_keyframes.SDXLKeyframes().generate(shot, fast)[0]
    pipe = sdxl_keyframes.load_sdxl(sdxl_keyframes.LoadOptions.from_config(fast.config))
    assert type(pipe.vae).__name__ == "AutoencoderTiny"
    assert type(pipe.scheduler).__name__ == "EulerDiscreteScheduler"
    assert pipe.scheduler.config.timestep_spacing == "trailing"
    assert image.size == (64, 64)
    fused = {k: v.clone() for k, v in pipe.unet.state_dict().items() if "to_q" in k}
    # the same sampler without the LoRA: other attention weights, another image
    sdxl_keyframes.forget_pipelines()
    plain = StageContext(RenderConfig.create(
        profile="cpu-fast", sdxl_model=str(tiny_models["sdxl"]), **size), "keyframes")
    assert sdxl_keyframes.LoadOptions.from_config(plain.config).lora is None
    other = sdxl_keyframes.SDXLKeyframes().generate(shot, plain)[0]
    base = sdxl_keyframes.load_sdxl(sdxl_keyframes.LoadOptions.from_config(plain.config))
    weights = base.unet.state_dict()
    assert fused and all(k in weights for k in fused)
    assert all(not (fused[k] == weights[k]).all() for k in fused)
    assert np.abs(np.asarray(image, np.int16) - np.asarray(other, np.int16)).max() > 0


def test_render_with_the_cpu_fast_profile(hub_cache, tmp_path, click):
    audio, _ = click(duration=6.0)
    result = render(audio, tmp_path / "o.mp4", RenderConfig.create(
        profile="cpu-fast", width=160, height=96, keyframe_width=64, keyframe_height=64))
    assert result.composite.frame_count == 180
    assert result.stats["keyframes_generated"] >= 1
