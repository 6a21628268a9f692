import av
import numpy as np
import pytest
import torch

from musicvid import (
    DEFAULT_SVD_MODEL,
    Analysis,
    Keyframe,
    ModelLoadError,
    RenderConfig,
    Section,
    Shot,
    Storyboard,
    list_stages,
    render,
)
from musicvid.defaults import auto_motion, svd_motion
from musicvid.defaults.auto_motion import AutoMotion
from musicvid.defaults.svd_motion import SVDMotion, svd_size, time_warp
from musicvid.protocols import StageContext
from musicvid.testing import TINY_SVD_OPTIONS as FAST
from musicvid.testing import run_cli

W, H = 96, 54


def cli_args(audio, out, tiny_models, cache_dir):
    opts = [x for k, v in FAST.items() for x in ("--option", f"{k}={v}")]
    return ["render", audio, "-o", out, "--motion", "svd", "--svd-model", tiny_models["svd"],
            "--sdxl-model", tiny_models["sdxl"], "--width", 160, "--height", 90,
            "--keyframe-width", 64, "--keyframe-height", 64, "--steps", 2,
            "--cache-dir", cache_dir, *opts]


def test_cli_render_with_tiny_svd_end_to_end_then_from_the_clip_cache(
        tmp_path, tiny_models, click, cache_dir, monkeypatch, capsys):
    audio, _ = click(duration=8.5)
    out = tmp_path / "svd.mp4"
    proc = run_cli(*cli_args(audio, out, tiny_models, cache_dir))
    assert proc.returncode == 0, proc.stderr
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert (v.codec_context.name, a.codec_context.name) == ("h264", "aac")
        assert v.frames == 255 == sum(1 for _ in c.decode(video=0))
        vdur, adur = float(v.duration * v.time_base), float(a.duration * a.time_base)
    assert abs(vdur - 8.5) <= 1 / 30 and abs(adur - vdur) <= 1 / 30
    clips = sorted((cache_dir / "clip").rglob("*.mkv"))
    assert len(clips) == 2  # one per shot
    mtimes = [p.stat().st_mtime_ns for p in clips]

    # the same render again: every clip comes from the cache, SVD never runs
    def no_svd(*a, **k):
        raise AssertionError("SVD ran although its clip was cached")

    monkeypatch.setattr(SVDMotion, "generate", no_svd)
    from musicvid import cli

    again = tmp_path / "again.mp4"
    argv = [str(x) for x in cli_args(audio, again, tiny_models, cache_dir)]
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert [p.stat().st_mtime_ns for p in clips] == mtimes
    with av.open(str(again)) as c:
        assert c.streams.video[0].frames == 255


def board_of(*lengths, fps=30, w=W, h=H, energies=None):
    shots, start = [], 0
    for i, n in enumerate(lengths):
        e = energies[i] if energies else 0.5
        shots.append(Shot(i, start, start + n, "p", seed=7 + i, energy=e))
        start += n
    return Storyboard(fps=fps, frame_count=start, shots=shots, width=w, height=h)


def analysis_of(board, section_energy=0.5):
    dur = board.frame_count / float(board.fps)
    return Analysis(duration=dur, sample_rate=22050, tempo=120.0, beats=[], downbeats=[],
                    sections=[Section(0.0, dur, "verse", 0, section_energy)])


def ctx(profile="cpu", **options):
    return StageContext(RenderConfig.create(profile=profile, width=W, height=H,
                                            options={**FAST, **options}), "motion")


def generated(n=4, gw=64, gh=64):
    """Frames whose brightness encodes their index: 0, 60, 120, ..."""
    return np.stack([np.full((gh, gw, 3), 60 * i, np.uint8) for i in range(n)])


def keyframe():
    from PIL import Image

    return Keyframe(Image.new("RGB", (64, 64), (90, 120, 150)))


def test_time_warp_spreads_frames_exactly():
    i0, i1, wt = time_warp(4, 10)
    assert (i0[0], wt[0]) == (0, 0.0) and i0[-1] + wt[-1] == pytest.approx(3)
    pos = i0 + wt
    assert np.all(np.diff(pos) > 0) and len(pos) == 10
    assert time_warp(25, 1)[0].tolist() == [0]


@pytest.mark.parametrize("frames,hybrid", [(1, "false"), (3, "false"), (50, "false"),
                                           (50, "true"), (200, "true")])
def test_svd_clip_has_exactly_the_shot_frame_count(frames, hybrid):
    board = board_of(frames)
    shot = board.shots[0]
    shot.motion = {"kind": "svd", "pulses": []}
    c = ctx(svd_hybrid=hybrid)
    clip = SVDMotion().clip_from_frames(generated(), keyframe(), shot, board,
                                        analysis_of(board), c)
    out = list(clip)
    assert len(out) == frames == clip.frame_count
    assert out[0].shape == (H, W, 3)
    assert out[0].mean() == pytest.approx(0, abs=1)  # starts on the first generated frame
    if hybrid == "false" and frames > 1:
        assert out[-1].mean() == pytest.approx(180, abs=1)  # ends on the last one
        means = [f.mean() for f in out]
        assert all(a <= b + 0.5 for a, b in zip(means, means[1:]))  # blended in between


def test_hybrid_plays_svd_at_its_speed_then_ken_burns_from_its_last_frame():
    board = board_of(120)
    shot = board.shots[0]
    shot.motion = {"kind": "svd", "pulses": []}
    clip = SVDMotion().clip_from_frames(generated(), keyframe(), shot, board,
                                        analysis_of(board), ctx())
    out = list(clip)
    n_svd = clip.meta["svd_frames"]
    assert n_svd == round(4 / 7 * 30) and len(out) == 120
    assert np.array_equal(out[n_svd], out[n_svd - 1])  # the move starts on the last frame


def test_section_energy_sets_motion_bucket_and_noise():
    board = board_of(30)
    s = SVDMotion()
    calm = s.conditioning(board.shots[0], board, analysis_of(board, 0.1), ctx())
    wild = s.conditioning(board.shots[0], board, analysis_of(board, 0.9), ctx())
    assert calm["motion_bucket_id"] < wild["motion_bucket_id"] <= 255
    assert calm["noise_aug_strength"] < wild["noise_aug_strength"]
    fixed = s.conditioning(board.shots[0], board, analysis_of(board, 0.9),
                           ctx(svd_motion_bucket="40", svd_noise_aug="0.01"))
    assert fixed == {"motion_bucket_id": 40, "noise_aug_strength": 0.01}


def test_generation_size_follows_the_output_aspect():
    assert svd_size(1920, 1080) == (1024, 576)
    assert svd_size(1080, 1920) == (576, 1024)
    assert svd_size(1080, 1080) == (768, 768)
    w, h = svd_size(160, 90)
    assert w % 8 == 0 and h % 8 == 0 and abs(w / h - 16 / 9) < 0.1


def test_tiny_svd_generates_the_requested_frames(tiny_models):
    board = board_of(20)
    c = ctx()
    c.config.svd_model = str(tiny_models["svd"])
    frames = SVDMotion().generate(keyframe(), board.shots[0], board, analysis_of(board), c)
    assert frames.shape == (4, 64, 64, 3) and frames.dtype == np.uint8


def test_gated_default_model_says_how_to_get_access(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as info:
        svd_motion.load_svd(DEFAULT_SVD_MODEL, "cpu", "float32")
    msg = str(info.value)
    assert "HF_TOKEN" in msg and "licence" in msg
    assert "--svd-model" in msg and "MUSICVID_SVD_MODEL" in msg
    assert info.value.stage == "motion"


def test_folder_without_a_model_fails_in_preflight(tmp_path):
    c = ctx()
    c.config.svd_model = str(tmp_path)
    with pytest.raises(ModelLoadError, match="model_index.json"):
        SVDMotion().preflight(c)


def test_svd_and_auto_are_registered_like_plugins():
    names = {(e.kind, e.name): e.plugin for e in list_stages("motion")}
    assert names[("motion", "svd")] == "musicvid.defaults.svd_motion"
    assert names[("motion", "auto")] == "musicvid.defaults.auto_motion"


def test_shots_marked_kenburns_stay_kenburns_under_svd(monkeypatch):
    monkeypatch.setattr(SVDMotion, "generate", lambda *a: pytest.fail("SVD ran"))
    board = board_of(10)
    board.shots[0].motion = {"kind": "kenburns"}
    clip = SVDMotion().animate(keyframe(), board.shots[0], board, analysis_of(board), ctx())
    assert clip.meta["motion"] == "kenburns" and clip.meta["cache"] is False
    assert len(list(clip)) == 10


def test_auto_never_uses_svd_on_the_cpu_profile(monkeypatch):
    monkeypatch.setattr(SVDMotion, "generate", lambda *a: pytest.fail("SVD ran"))
    board = board_of(40)
    board.shots[0].motion = {"kind": "svd"}
    clip = AutoMotion().animate(keyframe(), board.shots[0], board, analysis_of(board), ctx())
    assert clip.meta["motion"] == "kenburns" and "cpu profile" in clip.meta["fallback"]
    gpu_without_cuda = AutoMotion().svd_possible(ctx("gpu"))
    assert gpu_without_cuda[0] is torch.cuda.is_available()


def fake_svd(calls):
    def generate(self, keyframe, shot, board, analysis, ctx):
        calls.append(shot.index)
        return generated()

    return generate


class Clock:
    """Stands in for the time module: each fake SVD shot takes a minute."""

    now = 0.0

    def perf_counter(self):
        return self.now


def test_auto_spends_its_budget_on_the_loudest_shots(monkeypatch):
    calls = []
    clock = Clock()
    monkeypatch.setattr(auto_motion, "time", clock)
    monkeypatch.setattr(AutoMotion, "svd_possible", lambda self, ctx: (True, ""))

    def minute_long_svd(self, *args):
        clock.now += 60.0
        return fake_svd(calls)(self, *args)

    monkeypatch.setattr(SVDMotion, "generate", minute_long_svd)
    board = board_of(30, 30, 30, 30, energies=[0.2, 0.9, 0.4, 0.8])
    auto = AutoMotion()
    c = ctx("gpu", svd_budget="100")  # 100 s: one minute-long shot fits, not two
    kinds = [auto.animate(keyframe(), s, board, analysis_of(board), c).meta["motion"]
             for s in board.shots]
    assert calls == [1]  # the loudest shot
    assert kinds == ["kenburns", "svd", "kenburns", "kenburns"]
    calls.clear()
    unlimited = [AutoMotion().animate(keyframe(), s, board, analysis_of(board),
                                      ctx("gpu")).meta["motion"] for s in board.shots]
    assert unlimited == ["svd"] * 4 and calls == [0, 1, 2, 3]


@pytest.fixture
def svd_out_of_memory(monkeypatch, fakes):
    """``auto`` takes SVD for every shot, as on a GPU, and SVD runs out of GPU memory."""
    def oom(*a, **k):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(AutoMotion, "svd_possible", lambda self, ctx: (True, ""))
    monkeypatch.setattr(SVDMotion, "generate", oom)


def test_cuda_out_of_memory_falls_back_to_ken_burns_with_a_warning(tmp_path, click, cache_dir,
                                                                   svd_out_of_memory):
    audio, _ = click(duration=6.0)
    seen = []
    result = render(audio, tmp_path / "auto.mp4", profile="gpu", motion="auto",
                    keyframes="solid", width=160, height=90, keyframe_width=64,
                    keyframe_height=32, progress=lambda *a: seen.append(a))
    warnings = [m for stage, _, _, m in seen if stage == "motion" and "out of GPU memory" in m]
    # one warning per shot tried; after two OOMs the render stops trying SVD
    assert len(warnings) == min(2, len(result.storyboard.shots)) > 0
    assert "Ken Burns instead" in warnings[0]
    assert result.composite.frame_count == 180
    assert not list((cache_dir / "clip").rglob("*.mkv"))  # fallbacks are not cached


def test_auto_says_in_the_result_which_shots_fell_back_to_ken_burns(click, tmp_path,
                                                                    svd_out_of_memory):
    audio, _ = click(duration=3.0)
    result = render(audio, tmp_path / "auto.mp4", profile="gpu", device="cpu",
                    dtype="float32", keyframes="solid", motion="auto", width=64,
                    height=36, keyframe_width=64, keyframe_height=36)
    reasons = [f["reason"] for f in result.stats["motion_fallbacks"]]
    assert len(reasons) == len(result.storyboard.shots)
    assert "CUDA out of memory" in reasons


def test_svd_cache_evicts_before_loading_the_next_model(monkeypatch):
    """With one pipeline allowed, the old one is dropped before the new one loads, so two
    are never resident at once."""
    import diffusers

    resident_at_load = []

    class FakePipeline:
        @classmethod
        def from_pretrained(cls, model, **kwargs):
            resident_at_load.append(len(svd_motion._PIPELINES))
            return cls()

        def set_progress_bar_config(self, **kw):
            pass

        def to(self, device):
            return self

    monkeypatch.setattr(diffusers, "StableVideoDiffusionPipeline", FakePipeline)
    monkeypatch.setattr(svd_motion, "MAX_LOADED", 1)
    monkeypatch.setattr(svd_motion, "_PIPELINES", type(svd_motion._PIPELINES)())
    first = svd_motion.load_svd("model-a", "cpu", "float32")
    assert svd_motion.load_svd("model-a", "cpu", "float32") is first  # cached
    second = svd_motion.load_svd("model-b", "cpu", "float32")
    assert second is not first
    assert resident_at_load == [0, 0]
    assert list(svd_motion._PIPELINES.values()) == [second]


def test_auto_keeps_each_renders_budget_apart_on_a_shared_stage(monkeypatch):
    """A server shares one ``auto`` stage between jobs: two renders interleaved shot by shot
    each spend their own budget (before, each switch of storyboard reset the other's)."""
    calls = []
    clock = Clock()
    monkeypatch.setattr(auto_motion, "time", clock)
    monkeypatch.setattr(AutoMotion, "svd_possible", lambda self, ctx: (True, ""))

    def minute_long_svd(self, keyframe, shot, board, analysis, ctx):
        clock.now += 60.0
        calls.append((board.shots[0].energy, shot.index))
        return generated()

    monkeypatch.setattr(SVDMotion, "generate", minute_long_svd)
    shared = AutoMotion()
    boards = [board_of(30, 30, 30, 30, energies=[0.2, 0.9, 0.4, 0.8]),
              board_of(30, 30, 30, 30, energies=[0.3, 0.5, 0.95, 0.1])]
    ctxs = [ctx("gpu", svd_budget="100"), ctx("gpu", svd_budget="100")]  # two jobs
    kinds: list[list[str]] = [[], []]
    for i in range(4):
        for job in (0, 1):
            b = boards[job]
            clip = shared.animate(keyframe(), b.shots[i], b, analysis_of(b), ctxs[job])
            kinds[job].append(clip.meta["motion"])
    # each render's budget fits one minute-long shot: its own loudest one
    assert kinds == [["kenburns", "svd", "kenburns", "kenburns"],
                     ["kenburns", "kenburns", "svd", "kenburns"]]
    assert sorted(calls) == [(0.2, 1), (0.3, 2)]
    # a later render through the same context starts with a fresh budget
    again = board_of(30, energies=[0.5])
    assert shared.animate(keyframe(), again.shots[0], again, analysis_of(again),
                          ctxs[0]).meta["motion"] == "svd"
