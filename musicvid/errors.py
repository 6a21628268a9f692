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
    ├── OutputError                             the written video failed validation
    ├── PluginError                             a plugin registered a broken stage
    └── StageError                              a stage raised something else (wrapped)

Errors carry context where it helps: ``stage`` (analyze/plan/keyframes/motion/composite),
``plugin`` (the stage's registered name) and ``retryable``: whether trying the same job
again can help (out of memory, a lost worker, a transient I/O error: yes; bad input, a
plugin's bug: no). :func:`tagged` is the one place foreign errors are translated.

"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

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
    "PluginError",
    "RenderCancelled",
    "StageError",
    "StoryboardError",
    "UnknownStageError",
    "is_retryable",
    "tagged",
]


class MusicVidError(Exception):
    """Base class of every error musicvid raises on purpose."""

    retryable: bool = False  # bad input does not get better by trying again

    def __init__(self, message: str, *, stage: str | None = None, plugin: str | None = None,
                 retryable: bool | None = None):
        super().__init__(message)
        self.message = message
        self.stage = stage
        self.plugin = plugin
        if retryable is not None:
            self.retryable = retryable

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
        self.hint = hint
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


class PluginError(MusicVidError):
    """A plugin registered a stage that is not one (missing members, not callable)."""


class StageError(MusicVidError):
    """A stage raised an error that is not a :class:`MusicVidError`: the original is the
    ``__cause__``; ``retryable`` says whether the same job may succeed on another try."""


# errors that say the code is wrong, not the moment: retrying cannot help
_BUGS = (AttributeError, TypeError, NameError, KeyError, IndexError, ValueError,
         AssertionError, NotImplementedError, ImportError, RecursionError)
_NOT_TRANSIENT_ERRNOS = {errno.ENOENT, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR,
                         errno.EROFS}


def is_retryable(exc: BaseException) -> bool:
    """Whether another try of the same job can help: out of memory (CUDA or host), a
    lost worker, a transient I/O error, a device error; not bad input or a bug."""
    if isinstance(exc, MusicVidError):
        return exc.retryable
    name = type(exc).__name__
    if isinstance(exc, MemoryError) or name == "OutOfMemoryError" or (
            isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()):
        return True
    if name in ("RayActorError", "ActorDiedError", "WorkerCrashedError", "NodeDiedError",
                "ObjectLostError", "OwnerDiedError", "ActorUnavailableError"):
        return True
    if isinstance(exc, OSError):
        return exc.errno not in _NOT_TRANSIENT_ERRNOS
    if isinstance(exc, _BUGS):
        return False
    return isinstance(exc, RuntimeError)  # device and library failures; anything else: no


@contextmanager
def tagged(stage: str, plugin: str | None) -> Iterator[None]:
    """Run a stage call: a :class:`MusicVidError` gets ``stage``/``plugin`` (where it has
    none); anything else becomes a :class:`StageError` that says whether a retry helps."""
    try:
        yield
    except MusicVidError as exc:
        exc.stage = exc.stage or stage
        exc.plugin = exc.plugin or plugin
        raise
    except Exception as exc:
        raise StageError(f"{type(exc).__name__}: {exc}", stage=stage, plugin=plugin,
                         retryable=is_retryable(exc)) from exc
