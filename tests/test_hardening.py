"""Hostile inputs to the library and the CLI: hand-edited storyboards, outputs that
would destroy the input, bad cache entries, huge images. Each ends in a typed
:class:`~musicvid.MusicVidError` (``musicvid: error: ...`` on the command line), never a
traceback or a hang."""

import copy
import json

import pytest

from musicvid import Storyboard, StoryboardError
from musicvid.cli import main

SMALL = ["--width", "160", "--height", "90", "--keyframe-width", "64",
         "--keyframe-height", "32", "--analyzer", "fake", "--keyframes", "solid"]


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


# -- 6. the output must not be the input, nor a directory ---------------------------------
def test_output_equal_to_the_input_is_refused_and_the_song_kept(fakes, song, tmp_path, capsys):
    original = song.read_bytes()
    link = tmp_path / "link.wav"
    link.symlink_to(song)
    hard = tmp_path / "hard.wav"
    hard.hardlink_to(song)
    for output in (song, tmp_path / "." / song.name, link, hard):
        code, err = cli(["render", str(song), "-o", str(output), "-q", *SMALL], capsys)
        assert code == 2 and "is the input song" in err, (output, err)
        assert song.read_bytes() == original
    code, err = cli(["render", str(link), "-o", str(song), "-q", *SMALL], capsys)
    assert code == 2 and song.read_bytes() == original


def test_an_output_that_is_a_directory_or_under_a_file_is_refused_first(
        fakes, song, tmp_path, capsys):
    folder = tmp_path / "videos"
    folder.mkdir()
    code, err = cli(["render", str(song), "-o", str(folder), "-q", *SMALL], capsys)
    assert code == 2 and "is a directory" in err and "musicvid: error: " in err
    assert list(folder.iterdir()) == [] and list(tmp_path.glob(".*part*")) == []
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    code, err = cli(["render", str(song), "-o", str(a_file / "x.mp4"), "-q", *SMALL], capsys)
    assert code == 2 and "not a directory" in err, err


def test_a_directory_given_as_audio_says_so(fakes, tmp_path, capsys):
    code, err = cli(["render", str(tmp_path), "-o", str(tmp_path / "v.mp4"), "-q", *SMALL],
                    capsys)
    assert code == 2 and "is a directory" in err and "not found" not in err, err
    code, err = cli(["render", str(tmp_path / "none.wav"), "-o", str(tmp_path / "v.mp4"),
                     "-q", *SMALL], capsys)
    assert code == 2 and "not found" in err


# -- 7. bad cache entries are made again --------------------------------------------------
def small_config():
    from musicvid import RenderConfig

    return RenderConfig.create(width=160, height=90, keyframe_width=64, keyframe_height=32,
                               analyzer="fake", keyframes="solid", seed=5)


def test_an_empty_cached_keyframe_is_made_again(fakes, song, tmp_path, cache_dir):
    from musicvid import render

    first = render(song, tmp_path / "a.mp4", small_config())
    pngs = list((cache_dir / "keyframe").rglob("*.png"))
    assert pngs and first.stats["keyframes_generated"] == len(pngs)
    for p in pngs:
        p.write_bytes(b"")  # e.g. a disk that filled up under another program
    pngs[0].write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    again = render(song, tmp_path / "b.mp4", small_config())
    assert again.stats["keyframes_generated"] == len(pngs)
    assert all(p.stat().st_size > 100 for p in pngs)
    third = render(song, tmp_path / "c.mp4", small_config())
    assert third.stats["keyframes_cached"] >= len(pngs) and third.stats["keyframes_generated"] == 0


def test_an_analysis_entry_with_wrong_types_is_made_again(fakes, song, tmp_path, cache_dir):
    from musicvid import render

    render(song, tmp_path / "a.mp4", small_config())
    (entry,) = (cache_dir / "analysis").rglob("*.json")
    good = json.loads(entry.read_text())
    for bad in ({**good, "beats": "many"}, {**good, "duration": "long"}, [1, 2],
                {**good, "sections": [{"start": "x"}]}, {**good, "surprise": 1}):
        entry.write_text(json.dumps(bad))
        result = render(song, tmp_path / "b.mp4", small_config())
        assert result.stats["analysis_cached"] is False, bad
        assert json.loads(entry.read_text()) == good
    assert render(song, tmp_path / "c.mp4", small_config()).stats["analysis_cached"] is True


def test_cache_entries_are_flushed_to_disk_before_the_rename(tmp_path, monkeypatch):
    import os

    from musicvid import cache as cache_mod

    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(cache_mod.os, "fsync", lambda fd: (events.append("fsync"),
                                                          real_fsync(fd))[1])
    monkeypatch.setattr(cache_mod.os, "replace", lambda a, b: (events.append("replace"),
                                                              real_replace(a, b))[1])
    cache = cache_mod.Cache(tmp_path)
    cache.put_json("analysis", "ab" * 32, {"x": 1})
    assert events == ["fsync", "replace"]
    assert cache.get_json("analysis", "ab" * 32) == {"x": 1}


# -- 9. clean errors, not tracebacks -------------------------------------------------------
def test_an_unwritable_cache_dir_is_a_clean_error(fakes, song, tmp_path, capsys, monkeypatch):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    code, err = cli(["render", str(song), "-o", str(tmp_path / "v.mp4"), "-q",
                     "--cache-dir", str(a_file / "cache"), *SMALL], capsys)
    assert code == 2 and "musicvid: error: cannot write to the cache directory" in err, err

    import errno
    import tempfile

    from musicvid import cache as cache_mod

    def read_only(*args, **kw):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(cache_mod.tempfile, "mkstemp", read_only)
    code, err = cli(["render", str(song), "-o", str(tmp_path / "v.mp4"), "-q",
                     "--cache-dir", str(tmp_path / "ro"), *SMALL], capsys)
    assert code == 2 and "Permission denied" in err and "--cache-dir" in err, err
    monkeypatch.setattr(cache_mod.tempfile, "mkstemp", tempfile.mkstemp)


def huge_png(path, side=20000):
    """A PNG whose header claims side x side pixels (a decompression bomb to Pillow)."""
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return path


def test_a_decompression_bomb_picture_is_a_clean_error(fakes, song, tmp_path, capsys):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    huge_png(pictures / "huge.png")
    argv = ["render", str(song), "-o", str(tmp_path / "v.mp4"), "-q", "--images",
            str(pictures), *SMALL[:-2], "--keyframes", "images"]
    code, err = cli(argv, capsys)
    assert code == 2 and "musicvid: error: " in err and "huge.png" in err, err
    assert "too large" in err

    from musicvid.defaults.images_keyframes import assigned_image  # the --init-images loader
    from musicvid.protocols import StageContext

    board = Storyboard.from_dict(GOOD)
    config = small_config().replace(init_images=pictures)
    ctx = StageContext(config, "keyframes", lambda *a: None, lambda: False)
    ctx.extra["storyboard"] = board
    from musicvid import MusicVidError

    with pytest.raises(MusicVidError, match="huge.png"):
        assigned_image(board.shots[0], ctx)


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_serve_with_a_non_finite_upload_limit_is_a_clean_error(value, tmp_path, capsys):
    code, err = cli(["serve", "--data-dir", str(tmp_path), "--max-upload-mb", value], capsys)
    assert code == 2 and err.startswith("musicvid: error: invalid --max-upload-mb"), err
    assert not (tmp_path / "jobs.sqlite3").exists()
