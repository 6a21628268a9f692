"""Lyrics: file formats, typed errors, imagery, alignment, the storyboard, captions."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from musicvid import LyricsError, RenderConfig, Storyboard, hookimpl, render
from musicvid.captions import CaptionBurner, caption_events, srt_text, vtt_text
from musicvid.lyrics import (
    LyricLine,
    Lyrics,
    Word,
    align_lyrics,
    apply_lyrics,
    decode_text,
    detect_format,
    imagery_words,
    load_lyrics,
    lyric_prompt,
    lyrics_of,
    parse_lyrics,
)
from musicvid.planning import estimate_clip_tokens, plan
from musicvid.plugins import get_plugin_manager
from musicvid.types import Analysis

SMALL = dict(width=320, height=180, keyframe_width=64, keyframe_height=32)

LRC = """[ti:Test song]
[ar:Nobody]
[00:01.00]City lights are burning bright
[00:03.50]<00:03.50>Broken <00:04.00>glass <00:04.60>golden <00:05.20>heart <00:05.80>
[00:06.50]
[00:08.00]Silver rivers under a violet sky
[00:11.00][00:15.00]Dancing shadows on the neon wall
"""


# -- formats --------------------------------------------------------------------------------
def test_lrc_lines_word_times_repeats_and_offset():
    lyr = parse_lyrics(LRC, "song.lrc")
    assert lyr.format == "lrc" and lyr.timed and lyr.meta["ti"] == "Test song"
    assert [ln.start for ln in lyr.lines] == [1.0, 3.5, 8.0, 11.0, 15.0]
    assert lyr.lines[0].end == 3.5  # until the next timestamp
    assert lyr.lines[2].end == 11.0
    broken = lyr.lines[1]
    assert broken.text == "Broken glass golden heart"
    assert [(w.text, w.start, w.end) for w in broken.words] == [
        ("Broken", 3.5, 4.0), ("glass", 4.0, 4.6), ("golden", 4.6, 5.2), ("heart", 5.2, 5.8)]
    assert broken.end == 5.8  # the trailing word tag ends the line
    assert lyr.lines[3].text == lyr.lines[4].text  # one line, two timestamps
    assert lyr.lines[4].end == 15.0 + 8.0  # the last line: at most 8 s
    shifted = parse_lyrics("[offset:+500]\n[00:02.00]hello there\n[00:04.00]again\n")
    assert [ln.start for ln in shifted.lines] == [1.5, 3.5]


def test_srt_and_vtt_cues_with_word_times():
    srt = parse_lyrics("1\n00:00:01,000 --> 00:00:02,500\n<i>first</i> line\n\n"
                       "2\n00:00:03,000 --> 00:00:04,000\nsecond\nline\n")
    assert srt.format == "srt"
    assert [(ln.text, ln.start, ln.end) for ln in srt.lines] == [
        ("first line", 1.0, 2.5), ("second line", 3.0, 4.0)]
    vtt = parse_lyrics("WEBVTT\n\nNOTE a comment\n\nintro\n00:01.000 --> 00:02.500 align:center\n"
                       "hello <00:01.800>world\n")
    assert vtt.format == "vtt"
    line = vtt.lines[0]
    assert (line.text, line.start, line.end) == ("hello world", 1.0, 2.5)
    assert [(w.text, w.start, w.end) for w in line.words] == [("hello", 1.0, 1.8),
                                                            ("world", 1.8, 2.5)]


def test_plain_text_is_untimed_and_headings_are_left_out():
    lyr = parse_lyrics("[Verse 1]\nFirst line here\n\n(Chorus)\nSecond line\n")
    assert lyr.format == "text" and not lyr.timed
    assert [(ln.text, ln.source_line) for ln in lyr.lines] == [("First line here", 2),
                                                             ("Second line", 5)]
    assert detect_format("just words\nmore words") == "text"
    assert detect_format("[00:01.00]x") == "lrc"


def test_soft_caption_text_reads_back_as_the_same_lines():
    lyr = parse_lyrics(LRC)
    again = parse_lyrics(srt_text(lyr))
    assert [(a.text, a.start, a.end) for a in again.lines] == [
        (b.text, round(b.start, 3), round(b.end, 3)) for b in lyr.lines]
    vtt = parse_lyrics(vtt_text(lyr))
    assert [(w.text, w.start) for w in vtt.lines[1].words] == [
        (w.text, w.start) for w in lyr.lines[1].words]


BAD_FILES = [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", None, "binary"),
    (b"", None, "empty"),
    (b"  \n\n  \n", None, "empty"),
    (b"[00:01.00]ok\n\xff\xfe\xfa broken\n", 2, "UTF-8"),
    (b"[00:01.00]one\n[00:7x.00]two\n", 2, "timestamp"),
    (b"[00:01.00]one\nno time here\n", 2, "timestamp"),
    (b"[00:01.00]one\n[00:01.00]two\n", 2, "overlaps"),
    (b"[00:01.00]one\n[00:75.00]two\n", 2, "below 60"),
    (b"[00:01.00]<00:02.00>one <00:01.50>two\n", 1, "before the word"),
    (b"1\n00:00:01,000 --> 00:00:03,000\nfirst\n\n2\n00:00:02,000 --> 00:00:04,000\nsecond\n",
     6, "overlap"),
    (b"1\n00:00:03,000 --> 00:00:01,000\nbackwards\n", 2, "before it starts"),
    (b"1\n00:00:01 --> 00:00:03,000\nno millis\n", 2, "bad cue timing"),
    (b"WEBVTT\n\n00:01.000 --> 00:02.000\nhi <00:03.000>there\n", 3, "outside its cue"),
]


@pytest.mark.parametrize("data,line,words", BAD_FILES)
def test_bad_lyrics_files_raise_typed_errors_naming_the_line(tmp_path, data, line, words):
    path = tmp_path / "bad.lrc"
    path.write_bytes(data)
    with pytest.raises(LyricsError) as err:
        load_lyrics(path)
    assert err.value.line == line
    assert words.lower() in str(err.value).lower()
    assert "bad.lrc" in str(err.value)
    if line is not None:
        assert f"line {line}" in str(err.value)


def test_timestamps_beyond_the_song_are_an_error(tmp_path):
    path = tmp_path / "late.lrc"
    path.write_text("[00:01.00]early\n[03:10.00]far too late\n", encoding="utf-8")
    assert len(load_lyrics(path).lines) == 2
    with pytest.raises(LyricsError, match="after the end of the song") as err:
        load_lyrics(path, duration=60.0)
    assert err.value.line == 2
    clipped = load_lyrics(path, duration=5.0 * 60)
    assert clipped.lines[-1].end <= 300.0


def test_utf16_with_bom_is_read():
    text = decode_text("[00:01.00]héllo wörld\n".encode("utf-16"))
    assert parse_lyrics(text).lines[0].text == "héllo wörld"


# -- imagery and prompts ---------------------------------------------------------------------
def test_imagery_keeps_nouns_and_adjectives_in_order():
    assert imagery_words("Oh baby I'm gonna take you to the golden city tonight") == [
        "golden", "city"]
    assert imagery_words("And we walk slowly through the cold blue rain") == [
        "walk", "cold", "blue", "rain"]
    assert imagery_words("yeah yeah oh oh la la") == []
    assert imagery_words("a b c one two three four five six seven eight nine ten") == [
        "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def test_lyric_prompt_puts_the_words_second_and_fits_clip():
    long = ", ".join(["cinematic film still"] + [f"part number {i} with several words"
                                                for i in range(12)])
    out = lyric_prompt(long, "Silver rivers under a violet sky")
    assert out.startswith("cinematic film still, silver rivers violet sky")
    assert estimate_clip_tokens(out) <= 75
    assert lyric_prompt("a, b", "oh yeah") == "a, b"  # no imagery: unchanged


# -- alignment ------------------------------------------------------------------------------
def _transcript(words):
    return Lyrics([LyricLine(" ".join(w for w, _, _ in words), words[0][1], words[-1][2],
                             [Word(*w) for w in words])], "transcript")


def test_plain_text_takes_the_times_of_matching_transcribed_words():
    plain = parse_lyrics("City lights burning\nBroken glass heart\n")
    heard = _transcript([("city", 1.0, 1.4), ("lights", 1.4, 1.9), ("uh", 2.0, 2.1),
                         ("burning", 2.2, 2.8), ("broken", 4.0, 4.5), ("glass", 4.5, 5.0),
                         ("hearts", 5.0, 5.6)])
    out = align_lyrics(plain, heard)
    assert out.timed
    a, b = out.lines
    assert (a.start, a.end) == (1.0, 2.8)
    assert [w.start for w in a.words] == [1.0, 1.4, 2.2]
    assert b.start == 4.0 and b.words[1].start == 4.5
    assert 5.0 <= b.words[2].start <= b.end <= 5.6  # "heart" unmatched: between neighbours


def test_alignment_to_a_transcript_of_noise_stays_in_order():
    plain = parse_lyrics("one two three\nfour five\nsix\n")
    heard = _transcript([("zq", 0.5, 0.9), ("xv", 1.0, 2.0), ("kk", 3.0, 3.5)])
    out = align_lyrics(plain, heard)
    starts = [w.start for ln in out.lines for w in ln.words]
    assert starts == sorted(starts) and starts[0] >= 0.5 and out.lines[-1].end <= 3.5
    for a, b in zip(out.lines, out.lines[1:], strict=False):
        assert a.end <= b.start


def test_alignment_without_any_transcribed_word_is_a_typed_error():
    with pytest.raises(LyricsError, match="no words"):
        align_lyrics(parse_lyrics("la la\n"), Lyrics([], "transcript"))


# -- the storyboard -------------------------------------------------------------------------
def _analysis(duration=24.0, bpm=120.0):
    beats = [i * 60.0 / bpm for i in range(int(duration * bpm / 60))]
    return Analysis(duration=duration, sample_rate=22050, tempo=bpm, beats=beats,
                    downbeats=beats[::4])


def test_shots_take_their_sung_line_and_repeats_reuse_the_keyframe():
    analysis = _analysis()
    config = RenderConfig.create(**SMALL)
    board = plan(analysis, config)
    section_prompts = {s.index: (s.prompt, s.seed) for s in board.shots}
    lyr = parse_lyrics("[00:02.00]Silver rivers under a violet sky\n[00:06.00]\n"
                       "[00:14.00]Silver rivers under a violet sky!\n[00:18.00]\n")
    apply_lyrics(board, analysis, lyr, config)
    sung = [s for s in board.shots if s.lyric]
    assert sung and all("silver rivers violet sky" in s.prompt for s in sung)
    assert len({(s.prompt, s.seed) for s in sung}) == 1  # the repeated line: one keyframe
    assert {s.lyric_line for s in sung} == {0, 1}
    for s in board.shots:
        if not s.lyric:  # instrumental: the section's prompt and seed
            assert (s.prompt, s.seed) == section_prompts[s.index]
    data = Storyboard.from_dict(board.to_dict())  # the JSON keeps each shot's line
    assert [s.lyric for s in data.shots] == [s.lyric for s in board.shots]
    assert lyrics_of(data).lines[0].text == "Silver rivers under a violet sky"


def test_a_cut_moves_to_a_line_start_on_a_beat():
    analysis = _analysis()
    config = RenderConfig.create(**SMALL)
    board = plan(analysis, config)
    cut = board.shots[1].start_frame
    beat_frame = cut + 15  # one beat (0.5 s) later, on the grid
    lyr = Lyrics([LyricLine("moving line", beat_frame / 30 + 0.01, beat_frame / 30 + 1.5)])
    apply_lyrics(board, analysis, lyr, config, min_frames=30)
    assert board.shots[1].start_frame == beat_frame
    assert board.shots[0].end_frame == beat_frame
    board.validate()
    far = plan(analysis, config)  # a line start with no beat within a frame: no move
    before = [s.start_frame for s in far.shots]
    apply_lyrics(far, analysis, Lyrics([LyricLine("x", (cut + 7) / 30, (cut + 40) / 30)]),
                 config, min_frames=30)
    assert [s.start_frame for s in far.shots] == before


# -- burned-in captions ---------------------------------------------------------------------
@pytest.mark.parametrize("size", [(640, 360), (360, 640), (400, 400)])
def test_burned_captions_stay_in_the_title_safe_area(size):
    w, h = size
    lyr = parse_lyrics("[00:00.10]A rather long line of words that has to wrap inside the "
                       "safe area of any frame\n[00:00.50]short\n")
    burner = CaptionBurner(lyr, w, h, Fraction(10), 20)
    base = np.full((h, w, 3), 60, np.uint8)
    frames = list(burner.burn(iter([base.copy() for _ in range(20)]), "rgb"))
    assert np.array_equal(frames[0], base)  # before the first line: untouched
    changed = np.any(frames[2] != base, axis=2)
    ys, xs = np.nonzero(changed)
    assert len(ys) > 100
    assert xs.min() >= 0.1 * w - 1 and xs.max() <= 0.9 * w + 1
    assert ys.min() >= 0.1 * h - 1 and ys.max() <= 0.9 * h + 1
    assert np.any(frames[2] == 255)  # white text
    assert np.any(frames[2] < 30)  # dark outline


def test_word_highlight_and_i420_agree_with_rgb():
    lyr = parse_lyrics("[00:00.00]<00:00.00>one <00:01.00>two <00:02.00>three <00:03.00>\n")
    fps = Fraction(10)
    events = caption_events(lyr, fps, 40)
    assert [(e.start, e.end, e.sung) for e in events] == [(0, 10, 1), (10, 20, 2), (20, 30, 3)]
    w, h = 320, 180
    burner = CaptionBurner(lyr, w, h, fps, 40)
    base = np.full((h, w, 3), 90, np.uint8)
    rgb = list(burner.burn(iter([base] * 40), "rgb"))
    assert not np.array_equal(rgb[5], rgb[15])  # another word lit
    yellow = (rgb[25][..., 0] > 200) & (rgb[25][..., 2] < 120)
    assert yellow.sum() > 0 and not ((rgb[5][..., 0] > 200) & (rgb[5][..., 2] < 120)).all()
    assert np.array_equal(rgb[35], base)  # after the line: untouched
    import cv2

    from musicvid._video import rgb_to_i420

    i420 = list(CaptionBurner(lyr, w, h, fps, 40).burn(iter([rgb_to_i420(base)] * 40), "i420"))
    back = cv2.cvtColor(i420[25], cv2.COLOR_YUV2RGB_I420).astype(int)
    assert np.abs(back - rgb[25].astype(int)).mean() < 2.0
    assert burner.sprites_drawn == 3  # one sprite per state, not per frame


# -- the whole path -------------------------------------------------------------------------
def _caption_on_frames(path_with, path_without, h):
    """Frames where the captioned video differs from the plain one in the caption band."""
    on = []
    with av.open(str(path_with)) as a, av.open(str(path_without)) as b:
        for i, (fa, fb) in enumerate(zip(a.decode(video=0), b.decode(video=0), strict=True)):
            x = fa.to_ndarray(format="rgb24")[int(0.6 * h):].astype(int)
            y = fb.to_ndarray(format="rgb24")[int(0.6 * h):].astype(int)
            if np.abs(x - y).max() > 80:
                on.append(i)
    return on


def test_render_with_an_lrc_times_captions_and_prompts_by_the_file(tmp_path, click, fakes):
    audio, _ = click(duration=18.0)
    lrc = tmp_path / "song.lrc"
    lrc.write_text(LRC, encoding="utf-8")
    fps = 30
    out = tmp_path / "sung.mp4"
    result = render(audio, out, keyframes="solid", lyrics=lrc, captions="both", **SMALL)
    unsung = render(audio, tmp_path / "unsung.mp4", keyframes="solid", captions="none", **SMALL)
    assert not (tmp_path / "unsung.srt").exists()
    plain = render(audio, tmp_path / "plain.mp4", keyframes="solid", captions="none",
                   storyboard=result.storyboard, **SMALL)  # the same shots, no captions
    assert not (tmp_path / "plain.srt").exists()
    lyr = load_lyrics(lrc, duration=18.0)
    # prompts carry the sung line's words
    board = result.storyboard
    for shot in board.shots:
        if shot.lyric:
            for word in imagery_words(shot.lyric):
                assert word in shot.prompt
    assert any("silver rivers violet sky" in s.prompt for s in board.shots)
    assert not any(s.lyric for s in unsung.storyboard.shots)
    # the burned captions appear within one frame of each line's timestamp
    on = _caption_on_frames(out, plain.output, SMALL["height"])
    starts = [f for f in on if f - 1 not in on]
    expected = [round(ln.start * fps) for ln in lyr.lines]
    gaps = {round(ln.end * fps) for ln in lyr.lines} & {round(ln.start * fps) for ln in lyr.lines}
    expected_runs = [f for f in expected if f not in gaps]
    assert len(starts) == len(expected_runs)
    for got, want in zip(starts, expected_runs, strict=True):
        assert abs(got - want) <= 1
    # the sync report, the soft files and the MP4's subtitle track agree with the file
    report = result.sync
    assert len(report.captions) == len(lyr.lines)
    assert report.captions_within_one_frame == len(lyr.lines)
    for cap, ln in zip(report.captions, lyr.lines, strict=True):
        assert abs(cap["on_time"] - ln.start) <= 1 / fps
    srt = load_lyrics(out.with_suffix(".srt"))
    assert [round(ln.start, 3) for ln in srt.lines] == [round(ln.start, 3) for ln in lyr.lines]
    assert out.with_suffix(".vtt").read_text(encoding="utf-8").startswith("WEBVTT")
    with av.open(str(out)) as c:
        sub = c.streams.subtitles[0]
        assert sub.codec_context.name == "mov_text"
        texts = [(float(p.pts * p.time_base), bytes(p)[2:].decode()) for p in c.demux(sub)
                 if p.size > 2]
    assert [t for _, t in texts] == [ln.text for ln in lyr.lines]
    for (t, _), ln in zip(texts, lyr.lines, strict=True):
        assert abs(t - ln.start) <= 1 / fps


def test_a_bad_lyrics_file_fails_before_any_work(tmp_path, click, fakes):
    audio, _ = click(duration=4.0)
    bad = tmp_path / "bad.srt"
    bad.write_bytes(b"1\n00:00:01,000 --> nonsense\nx\n")
    with pytest.raises(LyricsError, match="line 2"):
        render(audio, tmp_path / "x.mp4", keyframes="solid", lyrics=bad, **SMALL)
    assert not (tmp_path / "x.mp4").exists()
    late = tmp_path / "late.lrc"
    late.write_text("[00:01.00]fine\n[00:09.00]too late\n", encoding="utf-8")
    with pytest.raises(LyricsError, match="after the end of the song"):
        render(audio, tmp_path / "y.mp4", keyframes="solid", lyrics=late, **SMALL)
    with pytest.raises(Exception, match="captions"):
        RenderConfig.create(captions="sideways")


# -- transcription --------------------------------------------------------------------------
class _HeardWords:
    """A transcriber plugin that "hears" fixed words at fixed times."""

    name = "heard"
    calls = 0

    def cache_key_parts(self, ctx):
        return {"v": 1}

    def transcribe(self, audio, ctx):
        from musicvid.defaults.whisper_transcriber import group_lines

        type(self).calls += 1
        words = [("golden", 1.0, 1.5), ("city", 1.5, 2.0), ("lights", 2.0, 2.6),
                 ("cold", 6.0, 6.5), ("blue", 6.5, 7.0), ("rain", 7.0, 7.8)]
        return group_lines([Word(*w) for w in words], "heard")


class _HeardPlugin:
    @hookimpl
    def register_transcribers(self, register):
        register(_HeardWords)


def test_a_transcriber_plugin_times_plain_text_lyrics(tmp_path, click, fakes):
    get_plugin_manager().register(_HeardPlugin(), name="heard")
    audio, _ = click(duration=10.0)
    words = tmp_path / "words.txt"
    words.write_text("[Verse]\nGolden city lights\nCold blue rain\n", encoding="utf-8")
    _HeardWords.calls = 0
    result = render(audio, tmp_path / "v.mp4", keyframes="solid", lyrics=words,
                    transcriber="heard", **SMALL)
    lines = lyrics_of(result.storyboard).lines
    assert [(ln.text, ln.start, ln.end) for ln in lines] == [
        ("Golden city lights", 1.0, 2.6), ("Cold blue rain", 6.0, 7.8)]
    assert any("golden city lights" in s.prompt for s in result.storyboard.shots)
    assert _HeardWords.calls == 1
    again = render(audio, tmp_path / "w.mp4", keyframes="solid", lyrics=words,
                   transcriber="heard", **SMALL)
    assert _HeardWords.calls == 1 and again.stats["transcript_cached"]  # cached like a stage
    timed = tmp_path / "timed.lrc"  # timed lyrics need no transcript
    timed.write_text("[00:01.00]golden city\n", encoding="utf-8")
    render(audio, tmp_path / "x.mp4", keyframes="solid", lyrics=timed, transcriber="heard",
           transcribe=True, **SMALL)
    assert _HeardWords.calls == 1


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory):
    pytest.importorskip("transformers")
    from musicvid.testing.tiny_models import build_tiny_whisper

    return build_tiny_whisper(tmp_path_factory.mktemp("whisper"))


def test_transcribe_runs_the_whole_path_on_a_tiny_whisper(tmp_path, click, fakes,
                                                          tiny_whisper):
    audio, _ = click(duration=12.0)
    out = tmp_path / "heard.mp4"
    result = render(audio, out, keyframes="solid", transcribe=True,
                    whisper_model=str(tiny_whisper), captions="both", **SMALL)
    meta = result.storyboard.meta["lyrics"]
    assert meta["format"] == "transcript" and meta["word_times"]
    lines = lyrics_of(result.storyboard).lines
    assert lines
    starts = [w.start for ln in lines for w in ln.words]
    assert starts == sorted(starts) and 0.0 <= starts[0] and lines[-1].end <= 12.0
    assert out.with_suffix(".srt").is_file() and out.with_suffix(".vtt").is_file()
    assert len(result.sync.captions) == len(lines)
    with av.open(str(out)) as c:
        assert c.streams.subtitles and c.streams.video[0].frames == 360
    again = render(audio, tmp_path / "again.mp4", keyframes="solid", transcribe=True,
                   whisper_model=str(tiny_whisper), **SMALL)
    assert again.stats.get("transcript_cached")
    assert lyrics_of(again.storyboard).lines[0].text == lines[0].text


def test_plain_text_aligned_by_the_tiny_whisper(tmp_path, click, fakes, tiny_whisper):
    audio, _ = click(duration=12.0)
    words = tmp_path / "words.txt"
    words.write_text("Silver rivers under a violet sky\nDancing shadows on the wall\n",
                     encoding="utf-8")
    result = render(audio, tmp_path / "v.mp4", keyframes="solid", lyrics=words,
                    whisper_model=str(tiny_whisper), **SMALL)
    lines = lyrics_of(result.storyboard).lines
    assert [ln.text for ln in lines] == ["Silver rivers under a violet sky",
                                         "Dancing shadows on the wall"]
    assert 0.0 <= lines[0].start <= lines[0].end <= lines[1].start <= lines[1].end <= 12.0
    assert result.storyboard.meta["lyrics"]["format"] == "text"


def test_a_missing_whisper_model_is_a_model_load_error(tmp_path, click, fakes):
    from musicvid import ModelLoadError

    pytest.importorskip("transformers")
    audio, _ = click(duration=3.0)
    with pytest.raises(ModelLoadError, match="--whisper-model"):
        render(audio, tmp_path / "v.mp4", keyframes="solid", transcribe=True,
               whisper_model="openai/whisper-base", **SMALL)


def test_cli_render_and_plan_with_lyrics(tmp_path, click, fakes, capsys):
    import json

    from musicvid.cli import main

    audio, _ = click(duration=10.0)
    lrc = tmp_path / "song.lrc"
    lrc.write_text("[00:01.00]Silver rivers under a violet sky\n[00:05.00]Cold blue rain\n",
                   encoding="utf-8")
    small = ["--width", "320", "--height", "180", "--keyframe-width", "64",
             "--keyframe-height", "32", "--keyframes", "solid"]
    plan_path = tmp_path / "plan.json"
    assert main(["plan", str(audio), "-o", str(plan_path), "--lyrics", str(lrc), *small]) == 0
    data = json.loads(plan_path.read_text(encoding="utf-8"))
    assert [ln["text"] for ln in data["meta"]["lyrics"]["lines"]] == [
        "Silver rivers under a violet sky", "Cold blue rain"]
    assert {s["lyric"] for s in data["shots"]} >= {"Silver rivers under a violet sky"}
    out = tmp_path / "v.mp4"
    assert main(["render", str(audio), "-o", str(out), "-q", "--lyrics", str(lrc),
                 "--captions", "burn", *small]) == 0
    err = capsys.readouterr().err
    assert "2/2 captions within one frame" in err
    assert out.with_suffix(".srt").is_file()
    with av.open(str(out)) as c:
        assert not c.streams.subtitles  # burn only: no soft track
    bad = tmp_path / "bad.lrc"
    bad.write_bytes(b"\x00\x01binary")
    assert main(["render", str(audio), "-o", str(tmp_path / "b.mp4"), "-q", "--lyrics",
                 str(bad), *small]) == 2
    assert "bad.lrc" in capsys.readouterr().err


def test_caption_font_option_takes_a_font_file_and_refuses_anything_else(tmp_path):
    from musicvid import InvalidOptionError
    from musicvid.captions import DEFAULT_FONT

    lyr = parse_lyrics("[00:00.00]Golden city lights\n")
    copy = tmp_path / "My Font.ttf"
    copy.write_bytes(DEFAULT_FONT.read_bytes())
    base = np.full((180, 320, 3), 60, np.uint8)
    own = list(CaptionBurner(lyr, 320, 180, Fraction(10), 5, font=copy).burn(iter([base]), "rgb"))
    default = list(CaptionBurner(lyr, 320, 180, Fraction(10), 5).burn(iter([base]), "rgb"))
    assert np.array_equal(own[0], default[0]) and not np.array_equal(own[0], base)
    bogus = tmp_path / "notes.ttf"
    bogus.write_text("not a font", encoding="utf-8")
    with pytest.raises(InvalidOptionError, match="caption-font"):
        CaptionBurner(lyr, 320, 180, Fraction(10), 5, font=bogus)
    assert RenderConfig.create(caption_font=str(copy)).caption_font == copy


def test_a_storyboard_with_a_malformed_line_field_is_refused():
    from musicvid import StoryboardError

    analysis = _analysis(8.0)
    board = plan(analysis, RenderConfig.create(**SMALL))
    data = board.to_dict()
    data["shots"][0]["lyric_line"] = "first"
    with pytest.raises(StoryboardError, match="lyric_line"):
        Storyboard.from_dict(data)
    data["shots"][0]["lyric_line"] = None
    data["shots"][0]["lyric"] = 7
    with pytest.raises(StoryboardError, match="lyric"):
        Storyboard.from_dict(data)


def test_pipeline_lyrics_before_analyze_says_what_is_missing(fakes):
    from musicvid import MusicVidError, Pipeline

    pipe = Pipeline(RenderConfig.create(transcribe=True, **SMALL))
    try:
        assert Pipeline(RenderConfig.create(**SMALL)).lyrics(_analysis()) is None
        with pytest.raises(MusicVidError, match="call analyze"):
            pipe.lyrics(_analysis())
    finally:
        pipe.close()
