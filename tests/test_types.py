import json
from fractions import Fraction

import numpy as np
import pytest

from musicvid import Clip, OutputError, Shot, Storyboard, StoryboardError, frame_count_for


def board(fps=Fraction(30), bounds=(0, 45, 90)):
    shots = [Shot(index=i, start_frame=a, end_frame=b, prompt=f"p{i}", seed=i)
             for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]
    return Storyboard(fps=fps, frame_count=bounds[-1], shots=shots)


def test_frame_count_rounds():
    assert frame_count_for(20.0, Fraction(30)) == 600
    assert frame_count_for(10.0, Fraction(30000, 1001)) == 300  # 299.7 -> 300
    assert frame_count_for(1.02, Fraction(24)) == 24


def test_storyboard_json_round_trip():
    b = board(Fraction(30000, 1001))
    data = json.loads(b.to_json())
    assert isinstance(data["fps"], float) and abs(data["fps"] - 29.97) < 0.01
    assert data["shots"][1]["start"] == pytest.approx(45 * 1001 / 30000)
    back = Storyboard.from_dict(data)
    assert back.fps == Fraction(30000, 1001)
    assert [s.prompt for s in back.shots] == ["p0", "p1"]
    assert back.frame_count == 90


def test_storyboard_rejects_gaps_and_overlaps():
    with pytest.raises(StoryboardError, match="must start at frame 45"):
        board(bounds=(0, 45, 90)).__class__(fps=30, frame_count=90, shots=[
            Shot(0, 0, 45, "a", 0), Shot(1, 50, 90, "b", 1)]).validate()
    with pytest.raises(StoryboardError, match="song has 100 frames"):
        Storyboard(fps=30, frame_count=100, shots=board().shots).validate()
    with pytest.raises(StoryboardError, match="shot 0: end_frame is missing"):
        Storyboard.from_dict({"fps": 30, "shots": [{"start_frame": 0}]})


def test_storyboard_load_errors(tmp_path):
    with pytest.raises(StoryboardError, match="not found"):
        Storyboard.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(StoryboardError, match="not valid JSON"):
        Storyboard.load(tmp_path / "bad.json")


def _frames(n, h=4, w=6):
    return lambda: (np.zeros((h, w, 3), np.uint8) for _ in range(n))


def test_clip_is_lazy_replayable_and_exact():
    calls = []

    def frames():
        calls.append(1)
        return (np.full((4, 6, 3), i, np.uint8) for i in range(3))

    clip = Clip(3, 6, 4, frames)
    assert not calls and len(clip) == 3
    assert [int(f[0, 0, 0]) for f in clip] == [0, 1, 2]
    assert len(list(clip)) == 3 and len(calls) == 2


@pytest.mark.parametrize("n, expected", [(2, 3), (4, 3)])
def test_clip_frame_count_mismatch_fails(n, expected):
    with pytest.raises(OutputError, match="frames"):
        list(Clip(expected, 6, 4, _frames(n)))


def test_clip_shape_mismatch_fails():
    with pytest.raises(OutputError, match="shape"):
        list(Clip(1, 8, 4, _frames(1)))


def test_errors_survive_pickling():
    import pickle

    from musicvid import InvalidOptionError, MusicVidError, UnknownStageError

    for err in (UnknownStageError("keyframes", "x", ["a", "b"]),
                InvalidOptionError("genre", "polka", ["pop"]),
                MusicVidError("boom", stage="motion", plugin="svd")):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err)
        assert back.stage == err.stage
