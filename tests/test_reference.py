"""Reference pictures: IP-Adapter on tiny random components, img2img where it cannot load."""

import logging

import numpy as np
import pytest
from PIL import Image

from musicvid import InvalidOptionError, Pipeline, RenderConfig, Shot, Storyboard
from musicvid.defaults import sdxl_keyframes
from musicvid.defaults.sdxl_reference import reference_digests
from musicvid.protocols import StageContext
from musicvid.testing.tiny_models import build_tiny_ip_adapter

TINY = dict(width=160, height=96, keyframe_width=64, keyframe_height=64, steps=2)


@pytest.fixture(scope="module")
def ip_adapter(tiny_models, tmp_path_factory):
    return build_tiny_ip_adapter(tiny_models["sdxl"], tmp_path_factory.mktemp("ip-adapter"))


@pytest.fixture(autouse=True)
def _fresh_pipelines():
    sdxl_keyframes.forget_pipelines()
    yield
    sdxl_keyframes.forget_pipelines()


def picture(path, color, size=(96, 80)):
    rng = np.random.default_rng(sum(color))
    arr = np.clip(np.array(color)[None, None, :] + rng.integers(-40, 40, (*size[::-1], 3)),
                  0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path)
    return path


def make(cfg, shots):
    gen = sdxl_keyframes.SDXLKeyframes()
    ctx = StageContext(cfg)
    gen.preflight(ctx)
    return gen, ctx, [np.asarray(im, dtype=np.int16) for im in gen.generate(shots, ctx)]


SHOTS = [Shot(0, 0, 1, "a red barn", seed=1), Shot(1, 1, 2, "a blue lake", seed=2)]


def test_references_go_through_the_ip_adapter(tiny_models, ip_adapter, tmp_path):
    red = picture(tmp_path / "red.png", (220, 30, 30))
    blue = picture(tmp_path / "blue.jpg", (30, 30, 220))
    base = RenderConfig.create(sdxl_model=str(tiny_models["sdxl"]), **TINY)
    _, _, plain = make(base, SHOTS)
    cfg = base.replace(reference=[red], ip_adapter_model=str(ip_adapter), ip_adapter_scale=1.0)
    gen, ctx, with_red = make(cfg, SHOTS)
    assert sdxl_keyframes.reference_mode(cfg) == "ip-adapter"
    pipe = sdxl_keyframes.load_sdxl(sdxl_keyframes.LoadOptions.from_config(cfg))
    assert pipe.unet.encoder_hid_proj is not None and pipe.image_encoder is not None
    assert any("IPAdapter" in type(p).__name__ for p in pipe.unet.attn_processors.values())
    # the plain pipeline is another object: renders without references are untouched
    plain_pipe = sdxl_keyframes.load_sdxl(sdxl_keyframes.LoadOptions.from_config(base))
    assert plain_pipe is not pipe and plain_pipe.unet.encoder_hid_proj is None
    assert all(np.abs(a - b).mean() > 1 for a, b in zip(plain, with_red, strict=True))
    # another reference, another picture; the same one again, the same picture
    _, _, with_blue = make(cfg.replace(reference=[blue]), SHOTS)
    assert np.abs(with_blue[0] - with_red[0]).mean() > 1
    _, _, again = make(cfg, SHOTS)
    assert all(np.array_equal(a, b) for a, b in zip(again, with_red, strict=True))
    # scale 0 leaves the adapter out: the plain picture
    _, _, none = make(cfg.replace(ip_adapter_scale=0.0), SHOTS)
    assert np.abs(none[0] - plain[0]).max() <= 2
    # several references, and a batch of shots in one call
    _, _, both = make(cfg.replace(reference=[red, blue], batch_size=2), SHOTS)
    assert len(both) == 2 and np.abs(both[0] - with_red[0]).mean() > 1


def test_the_reference_hash_is_in_the_keyframe_cache_key(tiny_models, ip_adapter, tmp_path):
    red = picture(tmp_path / "red.png", (220, 30, 30))
    board = Storyboard(fps=30, frame_count=2, shots=list(SHOTS), width=160, height=96)
    cfg = RenderConfig.create(sdxl_model=str(tiny_models["sdxl"]), reference=[red],
                              ip_adapter_model=str(ip_adapter), cache_dir=tmp_path / "c",
                              **TINY)
    keys = Pipeline(cfg).keyframe_keys(board)
    parts = sdxl_keyframes.SDXLKeyframes().cache_key_parts(StageContext(cfg))
    assert parts["reference"]["sha256"] == reference_digests([red])
    assert parts["reference"]["mode"] == "ip-adapter"
    plain = Pipeline(cfg.replace(reference=[])).keyframe_keys(board)
    assert keys[0] != plain[0]
    # new bytes in the same file: new keys
    picture(red, (10, 200, 10))
    assert Pipeline(cfg).keyframe_keys(board)[0] != keys[0]
    assert Pipeline(cfg.replace(ip_adapter_scale=0.3)).keyframe_keys(board)[0] != \
        Pipeline(cfg).keyframe_keys(board)[0]


def test_without_the_adapter_keyframes_start_from_the_reference(tiny_models, tmp_path, caplog):
    red = picture(tmp_path / "red.png", (220, 30, 30), size=(64, 64))
    base = RenderConfig.create(sdxl_model=str(tiny_models["sdxl"]), **TINY)
    cfg = base.replace(reference=[red], ip_adapter_model=str(tmp_path / "no-adapter-here"),
                       strength=0.5, steps=4)
    with caplog.at_level(logging.WARNING):
        gen, ctx, images = make(cfg, SHOTS)
    assert sdxl_keyframes.reference_mode(cfg) == "img2img"
    assert "could not load the IP-Adapter" in caplog.text and "image-to-image" in caplog.text
    parts = gen.cache_key_parts(ctx)
    assert parts["reference"]["mode"] == "img2img" and parts["strength"] == 0.5
    # at low strength the keyframe keeps the reference's colours
    ref = np.asarray(Image.open(red).convert("RGB"), dtype=np.int16)
    _, _, plain = make(base, SHOTS)
    assert np.abs(images[0] - ref).mean() < np.abs(plain[0] - ref).mean()
    assert images[0][..., 0].mean() > images[0][..., 2].mean()


def test_bad_references_fail_before_any_work(tiny_models, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"this is not a picture")
    gen = sdxl_keyframes.SDXLKeyframes()
    for ref in (bad, tmp_path / "missing.png"):
        cfg = RenderConfig.create(sdxl_model=str(tiny_models["sdxl"]), reference=[ref], **TINY)
        with pytest.raises(InvalidOptionError, match="reference"):
            gen.preflight(StageContext(cfg))


def test_cli_render_with_references_caches_by_their_content(tiny_models, ip_adapter, tmp_path,
                                                            click, capsys):
    from musicvid.cli import main

    audio, _ = click(duration=3.0)
    red = picture(tmp_path / "red.png", (220, 30, 30))
    blue = picture(tmp_path / "blue.png", (30, 30, 220))
    base = ["render", str(audio), "--sdxl-model", str(tiny_models["sdxl"]),
            "--ip-adapter-model", str(ip_adapter), "--width", "160", "--height", "96",
            "--keyframe-width", "64", "--keyframe-height", "64", "--steps", "2",
            "--cache-dir", str(tmp_path / "cache"), "--concept", "a red fox", "-q"]

    def run(out, *refs):
        capsys.readouterr()
        args = [*base, "-o", str(tmp_path / out)]
        for r in refs:
            args += ["--reference", str(r)]
        assert main(args) == 0
        return capsys.readouterr().err

    first = run("a.mp4", red, blue)
    assert (tmp_path / "a.mp4").is_file() and " 0 from cache" in first
    assert "0 keyframes generated" in run("b.mp4", red, blue)
    assert "0 keyframes generated" not in run("c.mp4", blue)
