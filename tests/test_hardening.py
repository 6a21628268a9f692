"""Hostile inputs to the library and the CLI: hand-edited storyboards, outputs that
would destroy the input, bad cache entries, huge images. Each ends in a typed
:class:`~musicvid.MusicVidError` (``musicvid: error: ...`` on the command line), never a
traceback or a hang."""

import copy
import json

import pytest

from musicvid import Storyboard, StoryboardError
from musicvid.cli import main
from musicvid.plugins import get_plugin_manager, reset_plugin_manager
from musicvid.testing import FakeStagesPlugin

SMALL = ["--width", "160", "--height", "90", "--keyframe-width", "64",
         "--keyframe-height", "32", "--analyzer", "fake", "--keyframes", "solid"]


@pytest.fixture
def fakes():
    reset_plugin_manager()
    get_plugin_manager().register(FakeStagesPlugin(), name="fakes")
    yield
    reset_plugin_manager()


@pytest.fixture
def song(click):
    path, _ = click(duration=3.0, name="song.wav")
    return path


def cli(argv, capsys):
    """(exit status, stderr) of ``musicvid ARGV``; anything but a MusicVidError raises."""
    code = main(argv)
    return code, capsys.readouterr().err


GOOD = {"fps": 30, "frame_count": 90, "width": 160, "height": 90, "shots": [
    {"start_frame": 0, "end_frame": 45, "prompt": "a", "seed": 1, "energy": 0.5},
    {"start_frame": 45, "end_frame": 90, "prompt": "b", "seed": 2}]}


def edited(path, value):
    """GOOD with ``path`` (keys and indexes) set to ``value``."""
    data = copy.deepcopy(GOOD)
    target = data
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = value
    return data


# -- 4. storyboard fields -----------------------------------------------------------------
@pytest.mark.parametrize("data, message", [
    ([GOOD], "a storyboard is a JSON object, not list"),
    (edited(["shots", 1], "a shot"), "shot 1 must be a JSON object"),
    (edited(["shots"], {"0": 1}), "shots must be a list"),
    (edited(["shots", 0, "seed"], "abc"), "shot 0: seed must be an integer"),
    (edited(["shots", 0, "seed"], 1.5), "shot 0: seed must be an integer"),
    (edited(["shots", 0, "seed"], 2**70), "shot 0: seed must be an integer from 0 to"),
    (edited(["shots", 0, "seed"], True), "shot 0: seed must be an integer"),
    (edited(["shots", 1, "prompt"], 12345), "shot 1: prompt must be a string"),
    (edited(["shots", 0, "energy"], "loud"), "shot 0: energy must be a number from 0 to 1"),
    (edited(["shots", 0, "energy"], 7), "shot 0: energy must be a number from 0 to 1"),
    (edited(["shots", 0, "end_frame"], "45"), "shot 0: end_frame must be an integer"),
    (edited(["shots", 0, "motion"], "zoom"), "shot 0: motion must be a JSON object"),
    (edited(["shots", 0, "transition"], "wipe"), "shot 0: transition must be one of"),
    (edited(["width"], 100000), "width must be an even number of pixels from 16 to 8192"),
    (edited(["width"], 0), "width must be an even number"),
    (edited(["height"], -128), "height must be an even number"),
    (edited(["height"], 91), "height must be an even number"),
    (edited(["width"], "160"), "width must be an even number"),
    (edited(["frame_count"], "90"), "frame_count must be an integer"),
    (edited(["meta"], []), "meta must be a JSON object"),
    (edited(["fps"], 0.001), "fps"),
    ({"shots": GOOD["shots"]}, "the storyboard has no fps"),
])
def test_storyboard_from_dict_names_the_bad_field(data, message):
    with pytest.raises(StoryboardError, match=message.replace("(", r"\(")):
        Storyboard.from_dict(data)


def test_storyboard_from_dict_takes_the_good_one():
    board = Storyboard.from_dict(GOOD)
    assert (board.width, board.height, board.frame_count) == (160, 90, 90)
    assert [s.seed for s in board.shots] == [1, 2]


@pytest.mark.parametrize("field, value", [("width", 100000), ("width", 0), ("height", -128)])
def test_render_with_a_hand_edited_storyboard_size_is_a_clean_error(
        fakes, song, tmp_path, capsys, field, value):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(edited([field], value)))
    code, err = cli(["render", str(song), "-o", str(tmp_path / "v.mp4"), "-q",
                     "--storyboard", str(plan), *SMALL], capsys)
    assert code == 2 and err.startswith("musicvid: error: ") and field in err, err
    assert not (tmp_path / "v.mp4").exists()


def test_storyboard_validate_checks_the_size_of_one_made_in_python():
    board = Storyboard.from_dict(GOOD)
    board.width = 0
    with pytest.raises(StoryboardError, match="width"):
        board.validate()


# -- 10. the documented fps range ---------------------------------------------------------
@pytest.mark.parametrize("fps", ["0.001", "0.5", "1/2", "241"])
def test_fps_outside_1_to_240_is_refused(fps, fakes, song, tmp_path, capsys):
    from musicvid import InvalidOptionError
    from musicvid.config import parse_fps

    with pytest.raises(InvalidOptionError, match="between 1 and 240"):
        parse_fps(fps)
    code, err = cli(["render", str(song), "-o", str(tmp_path / "v.mp4"), "-q", "--fps", fps,
                     *SMALL], capsys)
    assert code == 2 and "musicvid: error: invalid fps" in err
    assert parse_fps("1") == 1 and parse_fps("240") == 240
