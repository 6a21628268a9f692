import json
import subprocess
import sys

import av
import numpy as np
import pytest

from musicvid import ModelLoadError, RenderConfig, render
from musicvid.defaults import sdxl_keyframes
from musicvid.testing import TINY, run_cli


def test_cli_render_with_tiny_sdxl_end_to_end_then_cached(tmp_path, tiny_models, click, cache_dir):
    audio, _ = click(duration=20.0)
    out = tmp_path / "out.mp4"
    args = ["render", audio, "-o", out, "--sdxl-model", tiny_models["sdxl"], "--width", 320,
            "--height", 180, "--keyframe-width", 128, "--keyframe-height", 72, "--steps", 2,
            "--cache-dir", cache_dir]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert (v.codec_context.name, a.codec_context.name) == ("h264", "aac")
        assert v.frames == 600
        vdur, adur = float(v.duration * v.time_base), float(a.duration * a.time_base)
    assert abs(vdur - 20.0) <= 1 / 30 and abs(adur - 20.0) <= 1 / 30
    keyframes = list((cache_dir / "keyframe").rglob("*.png"))
    assert keyframes and "0 from cache" in proc.stderr
    mtimes = {p: p.stat().st_mtime_ns for p in keyframes}
    proc2 = run_cli(*args[:3], tmp_path / "again.mp4", *args[4:])
    assert proc2.returncode == 0, proc2.stderr
    assert "0 keyframes generated" in proc2.stderr
    assert {p: p.stat().st_mtime_ns for p in keyframes} == mtimes


def test_model_from_environment_variable(tmp_path, tiny_models, click, monkeypatch):
    monkeypatch.setenv("MUSICVID_SDXL_MODEL", str(tiny_models["sdxl"]))
    audio, _ = click(duration=2.0)
    result = render(audio, tmp_path / "o.mp4", RenderConfig.create(**TINY))
    assert result.stats["keyframes_generated"] >= 1


def test_same_seed_same_keyframe_different_seed_differs(tiny_models, tmp_path):
    from musicvid import Shot
    from musicvid.protocols import StageContext

    gen = sdxl_keyframes.SDXLKeyframes()
    ctx = StageContext(RenderConfig.create(sdxl_model=str(tiny_models["sdxl"]), **TINY))
    shots = [Shot(0, 0, 1, "a red barn", seed=1), Shot(1, 1, 2, "a red barn", seed=1),
             Shot(2, 2, 3, "a red barn", seed=2)]
    a, b, c = (np.asarray(im, dtype=np.int16) for im in gen.generate(shots, ctx))
    assert a.shape == (64, 64, 3)
    assert np.array_equal(a, b) and np.abs(a - c).mean() > 1


def test_missing_local_model_dir_names_option_and_variable(tmp_path):
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with pytest.raises(ModelLoadError) as info:
        sdxl_keyframes.load_sdxl(str(empty), "cpu", "float32")
    assert str(empty) in str(info.value) and "model_index.json" in str(info.value)


def test_hub_id_offline_says_where_it_looked(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as info:
        sdxl_keyframes.load_sdxl("nobody/not-a-real-model-xyz", "cpu", "float32")
    msg = str(info.value)
    assert "--sdxl-model" in msg and "MUSICVID_SDXL_MODEL" in msg and "cache" in msg


def test_missing_torch_fails_fast_with_install_hint(tmp_path, click):
    audio, _ = click(duration=2.0)
    code = f"""
import sys

class NoTorch:  # as if torch were not installed
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")

sys.meta_path.insert(0, NoTorch())
import musicvid
from musicvid import render, MissingDependencyError
try:
    render({str(audio)!r}, {str(tmp_path / 'o.mp4')!r}, width=160, height=96)
except MissingDependencyError as e:
    print('ERR', e)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "ERR" in proc.stdout, proc.stderr
    assert "pip install" in proc.stdout and "torch==2.13.0" in proc.stdout
    assert "[keyframes/sdxl]" in proc.stdout
    assert not (tmp_path / "o.mp4").exists()


def test_import_musicvid_does_not_import_torch():
    proc = subprocess.run([sys.executable, "-c",
                           "import musicvid, sys; assert 'torch' not in sys.modules; "
                           "assert 'librosa' not in sys.modules; assert 'av' not in sys.modules"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_tiny_models_command_writes_loadable_models(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "musicvid.testing", "tiny-models",
                           str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for name, cls in (("sdxl", "StableDiffusionXLPipeline"),
                      ("svd", "StableVideoDiffusionPipeline")):
        index = json.loads((tmp_path / name / "model_index.json").read_text())
        assert index["_class_name"] == cls
    whisper = json.loads((tmp_path / "whisper" / "config.json").read_text())
    assert whisper["architectures"] == ["WhisperForConditionalGeneration"]
    assert "whisper:" in proc.stdout


def test_cli_analyze_prints_json(click):
    audio, beats = click(bpm=120, duration=8.0)
    proc = run_cli("analyze", audio)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert abs(data["duration"] - 8.0) < 0.05
    assert abs(data["tempo"] - 120) < 3
    assert len(data["beats"]) >= 12


def test_cli_plugins_lists_stages():
    proc = run_cli("plugins", "--json")
    rows = json.loads(proc.stdout)
    assert {(r["kind"], r["name"]) for r in rows} >= {("analyzer", "librosa"), ("keyframes", "sdxl"),
                                                      ("motion", "kenburns"), ("compositor", "pyav")}


class RecordingPipeline:
    """Stands in for a diffusers pipeline class: records what ``from_pretrained`` got."""

    calls: list = []

    @classmethod
    def from_pretrained(cls, model, **kwargs):
        cls.calls.append(kwargs)
        return cls()

    def set_progress_bar_config(self, **kw):
        pass

    def to(self, device):
        return self


@pytest.mark.parametrize("version,keyword", [("0.30.0", "torch_dtype"), ("0.39.0", "torch_dtype"),
                                             ("0.40.0", "dtype"), ("0.42.1", "dtype"),
                                             ("1.0.0.dev0", "dtype")])
def test_loaders_pass_the_dtype_keyword_the_installed_diffusers_reads(monkeypatch, version,
                                                                       keyword):
    """diffusers before 0.40 ignores ``dtype=`` (it loads float32); 0.40 on deprecates
    ``torch_dtype=``. Every loader passes the one the installed release reads."""
    import diffusers
    import torch

    from musicvid.defaults import svd_motion

    RecordingPipeline.calls = []
    monkeypatch.setattr(diffusers, "__version__", version)
    for name in ("StableDiffusionXLPipeline", "StableVideoDiffusionPipeline", "AutoencoderTiny"):
        monkeypatch.setattr(diffusers, name, RecordingPipeline)
    monkeypatch.setattr(svd_motion, "_PIPELINES", type(svd_motion._PIPELINES)())
    sdxl_keyframes._load_uncached(sdxl_keyframes.LoadOptions("m", "cpu", "bfloat16",
                                                             tiny_vae="v"), "cpu")
    svd_motion.load_svd("m", "cpu", "bfloat16")
    assert len(RecordingPipeline.calls) == 3  # SDXL, its tiny VAE, SVD
    for kwargs in RecordingPipeline.calls:
        assert kwargs.get(keyword) is torch.bfloat16
        assert {"dtype", "torch_dtype"} & kwargs.keys() == {keyword}
