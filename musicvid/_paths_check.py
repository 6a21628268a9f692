"""Checks on the input and output paths of a render, made before any work is done:
a render must never overwrite its own song, write into a directory's name, or find out
after encoding the whole video that the output cannot be written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import AudioError, AudioNotFoundError, OutputError

__all__ = ["check_audio_path", "check_output_path"]


def check_audio_path(audio: Path, stage: str | None = "analyze") -> None:
    """:class:`AudioNotFoundError` when ``audio`` does not exist, :class:`AudioError`
    when it is a directory or another non-file."""
    audio = Path(audio)
    if audio.is_dir():
        raise AudioError(f"the audio {audio} is a directory; name a song file in it",
                         stage=stage)
    if not audio.exists():
        raise AudioNotFoundError(f"audio file not found: {audio}", stage=stage)
    if not audio.is_file():
        raise AudioError(f"the audio {audio} is not a regular file", stage=stage)


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output_path(audio: Path, output: Path) -> None:
    """Raise :class:`OutputError` unless ``output`` is a file name that can be written
    and is not the input ``audio`` (by path, link or hard link). Creates the output's
    folder as the compositor would."""
    audio, output = Path(audio), Path(output)
    if output.is_dir():
        raise OutputError(f"the output {output} is a directory; name a file in it, such as "
                          f"{output / 'video.mp4'}")
    if _same_file(audio, output):
        raise OutputError(f"the output {output} is the input song: writing the video there "
                          "would destroy the song; choose another output name")
    parent = output.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OutputError(f"cannot write {output}: a part of {parent} is a file, not a "
                          "directory") from None
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {parent}: "
                          f"{exc.strerror or exc}") from None
    if not parent.is_dir():
        raise OutputError(f"cannot write {output}: {parent} is not a directory")
    try:  # the only portable test of "can I create a file here"
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".musicvid-probe-"):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write to the output folder {parent}: "
                          f"{exc.strerror or exc}") from None
