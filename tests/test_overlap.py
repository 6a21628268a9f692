"""Keyframes made while earlier shots are encoded (``overlap``), and pictures that make
one keyframe each whatever the number of shots showing them."""

import threading
from contextlib import closing

import pytest
from PIL import Image

from musicvid import MusicVidError, RenderConfig
from musicvid.pipeline import Pipeline, create_stage
from musicvid.testing import SolidKeyframes


class GatedKeyframes(SolidKeyframes):
    """Solid keyframes; every shot after the first waits until the encoder has written
    frames (or a guard timeout), and records whether it had."""

    name = "gated"
    batch_size = 1

    def __init__(self, encoding: threading.Event, fail_at: int | None = None):
        self.encoding = encoding
        self.fail_at = fail_at
        self.log: list[tuple[int, bool]] = []

    def generate(self, shots, ctx):
        for s in shots:
            if s.index == self.fail_at:
                raise MusicVidError("this keyframe cannot be made")
            if s.index > 0:
                self.encoding.wait(timeout=20)  # a guard: without overlap nothing sets it
            self.log.append((s.index, self.encoding.is_set()))
        return super().generate(shots, ctx)


def _pipeline(overlap, fail_at=None):
    encoding = threading.Event()
    gen = GatedKeyframes(encoding, fail_at)

    def factory(kind, name, config):
        return gen if kind == "keyframes" else create_stage(kind, name, config)

    def progress(stage, done, total, message):
        if stage == "composite" and message == "encoding":
            encoding.set()

    config = RenderConfig.create(width=160, height=96, keyframe_width=64, keyframe_height=64,
                                 keyframes="solid", overlap=overlap, use_cache=False)
    return Pipeline(config, progress=progress, stage_factory=factory), gen


def test_overlap_makes_later_keyframes_while_earlier_shots_encode(tmp_path, click):
    audio, _ = click(duration=20.0)
    pipe, gen = _pipeline("on")
    try:
        result = pipe.render(audio, tmp_path / "o.mp4")
    finally:
        pipe.close()
    distinct = {(s.prompt, s.negative_prompt, s.seed) for s in result.storyboard.shots}
    assert len(gen.log) == len(distinct) >= 3
    assert gen.log[0] == (0, False)  # the first keyframe comes before any frame
    assert all(seen for _, seen in gen.log[1:])  # the others while frames were encoded
    assert result.composite.frame_count == 600
    assert pipe.overlaps_keyframes()


def test_without_overlap_every_keyframe_comes_before_the_encoder(tmp_path, click,
                                                                 monkeypatch):
    audio, _ = click(duration=12.0)
    pipe, gen = _pipeline("off")
    monkeypatch.setattr(gen.encoding, "wait", lambda timeout=None: False)  # no guard wait
    try:
        pipe.render(audio, tmp_path / "o.mp4")
    finally:
        pipe.close()
    assert gen.log and not any(seen for _, seen in gen.log)
    assert not pipe.overlaps_keyframes()


def test_a_keyframe_failure_while_overlapping_fails_the_render(tmp_path, click):
    audio, _ = click(duration=20.0)
    pipe, gen = _pipeline("on", fail_at=2)
    try:
        with pytest.raises(MusicVidError, match="cannot be made") as info:
            pipe.render(audio, tmp_path / "o.mp4")
    finally:
        pipe.close()
    assert info.value.stage == "keyframes"
    assert not (tmp_path / "o.mp4").exists()
    assert not [t for t in threading.enumerate() if t.name == "musicvid-keyframes"]


def test_auto_overlaps_pictures_and_gpu_keyframes_not_cpu_sdxl():
    def overlaps(**kw):
        with closing(Pipeline(RenderConfig.create(**kw))) as pipe:
            return pipe.overlaps_keyframes()

    assert overlaps(keyframes="images", images="/nowhere") is True
    assert overlaps() is False  # SDXL on the CPU: the encoder would share its cores
    assert overlaps(device="cuda") is True
    assert overlaps(device="cuda", overlap="off") is False
    assert overlaps(overlap="on") is True


def test_pictures_make_one_keyframe_each(tmp_path, click):
    from musicvid import render

    pics = tmp_path / "pics"
    pics.mkdir()
    Image.new("RGB", (320, 200), (200, 40, 40)).save(pics / "a.png")
    Image.new("RGB", (320, 200), (40, 200, 40)).save(pics / "b.png")
    audio, _ = click(duration=24.0)
    result = render(audio, tmp_path / "o.mp4", width=160, height=96, keyframe_width=64,
                    keyframe_height=64, images=pics)
    shots = result.storyboard.shots
    assert len(shots) > 2
    assert result.stats["keyframes_generated"] == 2  # one per picture, not one per shot
    pipe = Pipeline(RenderConfig.create(width=160, height=96, keyframe_width=64,
                                        keyframe_height=64, images=pics))
    try:
        keys = pipe.keyframe_keys(result.storyboard)
    finally:
        pipe.close()
    assert len(set(keys.values())) == 2
