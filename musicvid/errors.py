"""Errors raised by musicvid.

Every error a user can cause is a :class:`MusicVidError` with a message that says what
to do about it::

    MusicVidError
    ├── InvalidOptionError (also ValueError)   an unknown genre/style/palette/profile/...
    ├── UnknownStageError (also KeyError)      no stage registered under that name
    ├── AudioError
    │   ├── AudioNotFoundError                  the file does not exist
    │   └── AudioDecodeError                    empty, not audio, or undecodable
    ├── StoryboardError                         a storyboard file that does not fit the song
    ├── LyricsError                             a lyrics file that cannot be read or used
    ├── MissingDependencyError                  an optional extra (torch, ray...) is missing
    ├── ModelLoadError                          weights not found / gated / offline
    ├── RenderCancelled                         the caller asked to stop
    └── OutputError                             the written video failed validation

Errors carry context where it helps: ``stage`` (analyze/plan/keyframes/motion/composite)
and ``plugin`` (the stage's registered name).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "AudioDecodeError",
    "AudioError",
    "AudioNotFoundError",
    "InvalidOptionError",
    "LyricsError",
    "MissingDependencyError",
    "ModelLoadError",
    "MusicVidError",
    "OutputError",
    "RenderCancelled",
    "StoryboardError",
    "UnknownStageError",
]


class MusicVidError(Exception):
    """Base class of every error musicvid raises on purpose."""

    def __init__(self, message: str, *, stage: str | None = None, plugin: str | None = None):
        super().__init__(message)
        self.message = message
        self.stage = stage
        self.plugin = plugin

    def __str__(self) -> str:
        where = "/".join(p for p in (self.stage, self.plugin) if p)
        return f"[{where}] {self.message}" if where else self.message

    def __reduce__(self) -> tuple[object, ...]:
        # subclasses take other constructor arguments: rebuild from the state instead, so
        # errors survive pickling (worker processes, Ray)
        return (_restore, (type(self), self.args, self.__dict__))


def _restore(cls: type[MusicVidError], args: tuple[object, ...],
             state: dict[str, object]) -> MusicVidError:
    err = Exception.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


class InvalidOptionError(MusicVidError, ValueError):
    """An option value outside the allowed set; the message lists the valid ones."""

    def __init__(self, option: str, value: object, valid: Iterable[str] | None = None,
                 *, hint: str | None = None):
        self.option = option
        self.value = value
        self.valid = list(valid) if valid is not None else None
        msg = f"invalid {option}: {value!r}"
        if self.valid is not None:
            msg += f"; valid values: {', '.join(self.valid)}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)


class UnknownStageError(MusicVidError, KeyError):
    """No stage of that kind is registered under that name."""

    def __init__(self, kind: str, name: str, available: Iterable[str]):
        self.kind = kind
        self.name = name
        self.available = sorted(available)
        super().__init__(
            f"no {kind} named {name!r}; available: {', '.join(self.available) or '(none)'}"
            " (run `musicvid plugins` to see where each comes from)"
        )

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return MusicVidError.__str__(self)


class AudioError(MusicVidError):
    """The input audio cannot be used."""


class AudioNotFoundError(AudioError, FileNotFoundError):
    """The audio file does not exist."""


class AudioDecodeError(AudioError):
    """The file is empty, is not audio, or could not be decoded."""


class StoryboardError(MusicVidError):
    """A storyboard that is malformed or does not fit the song."""


class LyricsError(MusicVidError):
    """A lyrics file that is not text, is empty, is malformed (the message names the
    line) or does not fit the song."""

    def __init__(self, message: str, *, line: int | None = None, source: str | None = None,
                 stage: str | None = None, plugin: str | None = None):
        self.line = line
        self.source = source
        where = source or "lyrics"
        if line is not None:
            where += f", line {line}"
        super().__init__(f"{where}: {message}", stage=stage, plugin=plugin)


class MissingDependencyError(MusicVidError, ImportError):
    """An optional dependency is not installed; the message says how to install it."""


class ModelLoadError(MusicVidError):
    """Model weights could not be loaded (missing offline, gated, bad directory)."""


class RenderCancelled(MusicVidError):
    """The render was cancelled by its caller between two units of work."""


class OutputError(MusicVidError):
    """The output could not be written, or failed validation after writing."""
