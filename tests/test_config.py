from fractions import Fraction

import pytest

from musicvid import Genre, InvalidOptionError, Palette, Profile, RenderConfig, Style, parse_fps

GENRES = "pop rock hip-hop electronic country jazz classical christian blues folk".split()
STYLES = "cinematic energetic minimalist artistic vintage futuristic dramatic playful".split()
PALETTES = "warm cool monochrome vibrant".split()


def test_enums_have_exactly_the_documented_values():
    assert Genre.values() == GENRES
    assert Style.values() == STYLES
    assert Palette.values() == PALETTES


@pytest.mark.parametrize("enum, bad", [(Genre, "polka"), (Style, "noir"), (Palette, "pastel")])
def test_unknown_value_lists_the_valid_ones(enum, bad):
    with pytest.raises(InvalidOptionError) as info:
        enum.parse(bad)
    msg = str(info.value)
    assert bad in msg
    for v in enum.values():
        assert v in msg
    assert isinstance(info.value, ValueError)


def test_parse_is_forgiving_about_case_and_underscores():
    assert Genre.parse("Hip_Hop") is Genre.HIP_HOP
    assert Palette.parse(" WARM ") is Palette.WARM


def test_cpu_profile_is_default(monkeypatch):
    c = RenderConfig.create()
    assert c.profile is Profile.CPU
    assert (c.keyframe_width, c.keyframe_height, c.steps) == (768, 432, 20)
    assert c.motion == "kenburns"


@pytest.mark.parametrize("flag, profile", [("1", Profile.CPU), ("0", Profile.GPU),
                                           ("true", Profile.CPU), ("false", Profile.GPU)])
def test_sota_cpu_only_picks_the_profile(monkeypatch, flag, profile):
    monkeypatch.setenv("SOTA_CPU_ONLY", flag)
    assert RenderConfig.create().profile is profile


def test_gpu_profile_settings(monkeypatch):
    c = RenderConfig.create("gpu")
    assert (c.keyframe_width, c.keyframe_height) == (1344, 768)
    assert c.steps == 30 and c.dtype == "float16" and (c.width, c.height) == (1920, 1080)


def test_bad_sota_cpu_only_is_an_error(monkeypatch):
    monkeypatch.setenv("SOTA_CPU_ONLY", "maybe")
    with pytest.raises(InvalidOptionError, match="SOTA_CPU_ONLY"):
        RenderConfig.create()


def test_models_from_environment_and_overrides(monkeypatch):
    monkeypatch.setenv("MUSICVID_SDXL_MODEL", "/models/sdxl")
    monkeypatch.setenv("MUSICVID_SVD_MODEL", "me/svd")
    c = RenderConfig.create()
    assert c.sdxl_model == "/models/sdxl" and c.svd_model == "me/svd"
    assert RenderConfig.create(sdxl_model="other/id").sdxl_model == "other/id"


def test_unknown_option_and_bad_values():
    with pytest.raises(InvalidOptionError, match="colour"):
        RenderConfig.create(colour="red")
    with pytest.raises(InvalidOptionError, match="seed"):
        RenderConfig.create(seed=-1)
    with pytest.raises(InvalidOptionError, match="seed"):
        RenderConfig.create(seed="abc")
    with pytest.raises(InvalidOptionError, match="width"):
        RenderConfig.create(width=641)


@pytest.mark.parametrize("text, fps", [("30", Fraction(30)), (25, Fraction(25)),
                                        ("29.97", Fraction(30000, 1001)),
                                        ("30000/1001", Fraction(30000, 1001)),
                                        (59.94, Fraction(60000, 1001)), ("23.976", Fraction(24000, 1001))])
def test_parse_fps(text, fps):
    assert parse_fps(text) == fps


@pytest.mark.parametrize("bad", ["0", "-5", "abc", "1/0", "1000"])
def test_parse_fps_rejects(bad):
    with pytest.raises(InvalidOptionError, match="fps"):
        parse_fps(bad)
