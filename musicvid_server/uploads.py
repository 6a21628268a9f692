"""Uploads: multipart bodies streamed to disk under a size cap, audio checked by decoding.

The body is parsed as it arrives (python-multipart's streaming parser): the ``audio``
part goes straight to a file in the server's upload folder, counted byte by byte, and
the request stops with 413 as soon as it passes the cap. Nothing the client names
(file name, field name) is used as a path. Audio is validated by decoding every packet
with PyAV (FFmpeg), which probes the content, never the name; samples are counted, not
kept, so memory stays flat however long the song.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from musicvid.audio import AudioInfo

from .errors import ApiError

__all__ = ["AudioInfo", "FormUpload", "disk_full", "insufficient_storage", "read_form",
           "validate_audio"]

log = logging.getLogger(__name__)

FORM_OVERHEAD = 64 * 1024  # boundaries, part headers and the small fields
MAX_FIELD_BYTES = 1024
MAX_PARTS = 16
SUPPORTED = "mp3, wav, flac or m4a (anything FFmpeg decodes)"


@dataclass
class FormUpload:
    fields: dict[str, str] = field(default_factory=dict)
    blobs: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # name: (filename, data)
    file: Path | None = None
    filename: str = ""
    size: int = 0
    extra: dict[str, list[Path]] = field(default_factory=dict)  # other file fields

    def discard(self) -> None:
        if self.file is not None:
            self.file.unlink(missing_ok=True)
            self.file = None
        for paths in self.extra.values():
            for p in paths:
                p.unlink(missing_ok=True)
        self.extra.clear()


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "too_large",
                    f"the upload is larger than the server's limit of {max_bytes} bytes "
                    f"({max_bytes / 1024 / 1024:.3g} MB)", limit_bytes=max_bytes)


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the user's quota) is full."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
    if isinstance(exc, sqlite3.OperationalError):  # SQLITE_FULL
        return "full" in str(exc).lower()
    return False


def insufficient_storage(detail: str = "") -> ApiError:
    return ApiError(507, "insufficient_storage",
                    "the server is out of disk space; try again later"
                    + (f" ({detail})" if detail else ""),
                    headers={"Retry-After": "300"})


def _too_slow(min_rate: float, grace: float) -> ApiError:
    return ApiError(408, "request_timeout",
                    f"the upload is too slow: send at least {min_rate / 1024:.3g} KiB/s on "
                    f"average after the first {grace:g} s", headers={"Connection": "close"})


def upload_open(path: Path) -> IO[bytes]:
    """A new file only the server's user can read (0600 on POSIX)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    return os.fdopen(fd, "wb")


def _clean_filename(raw: str) -> str:
    """A display name only (never a path): the last path component, printable, short."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:200]


class _FormSink:
    """python-multipart callbacks: small fields to memory, the file part to disk."""

    def __init__(self, upload_dir: Path, file_field: str, allowed: set[str], max_bytes: int,
                 extra_files: dict[str, tuple[int, int]] | None = None,
                 blobs: dict[str, int] | None = None):
        self.blobs = dict(blobs or {})  # small file fields kept in memory: name -> max bytes
        self._blob_name = ""
        self.upload_dir = upload_dir
        self.file_field = file_field
        self.allowed = allowed
        self.max_bytes = max_bytes
        self.extra_files = extra_files or {}  # name -> (how many at most, bytes each)
        self._extra_size = 0
        self.result = FormUpload()
        self.parts = 0
        self._name = ""
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._data = bytearray()
        self._out: IO[bytes] | None = None
        self.ended = False

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise ApiError(422, "too_many_fields", f"at most {MAX_PARTS} form fields")
        self._name, self._disposition, self._data = "", b"", bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]
        if len(self._header_value) > 4096:
            raise ApiError(400, "bad_request", "a multipart header is too long")

    def on_header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self._disposition)
        name = options.get(b"name")
        if name is None:
            raise ApiError(400, "bad_request",
                           "each multipart part needs a Content-Disposition name")
        self._name = name.decode("utf-8", "replace")
        if self._name == self.file_field:
            if self.result.file is not None:
                raise ApiError(422, "invalid_field", f"send one '{self.file_field}' file",
                               field=self.file_field)
            self.upload_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.result.file = self.upload_dir / f"{uuid.uuid4().hex}.part"
            self._out = upload_open(self.result.file)  # closed in on_part_end
            self.result.filename = _clean_filename(
                options.get(b"filename", b"").decode("utf-8", "replace"))
        elif self._name in self.extra_files:
            count, _ = self.extra_files[self._name]
            paths = self.result.extra.setdefault(self._name, [])
            if len(paths) >= count:
                raise ApiError(422, "invalid_field",
                               f"send at most {count} '{self._name}' files", field=self._name)
            self.upload_dir.mkdir(parents=True, exist_ok=True)
            paths.append(self.upload_dir / f"{uuid.uuid4().hex}.part")
            self._extra_size = 0
            self._out = open(paths[-1], "wb")  # noqa: SIM115 - closed in on_part_end
        elif self._name in self.blobs:
            if self._name in self.result.blobs:
                raise ApiError(422, "invalid_field", f"send one '{self._name}' file",
                               field=self._name)
            self._blob_name = _clean_filename(
                options.get(b"filename", b"").decode("utf-8", "replace"))
        elif self._name not in self.allowed:
            raise ApiError(422, "unknown_field", f"unknown form field {self._name[:64]!r}",
                           field=self._name[:64],
                           valid=sorted(self.allowed | {self.file_field} | set(self.blobs)
                                        | set(self.extra_files)))
        elif self._name in self.result.fields:
            raise ApiError(422, "invalid_field", f"the field {self._name!r} was sent twice",
                           field=self._name)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._out is not None and self._name in self.extra_files:
            self._extra_size += end - start
            limit = self.extra_files[self._name][1]
            if self._extra_size > limit:
                raise ApiError(413, "too_large",
                               f"a '{self._name}' file is larger than the limit of {limit} "
                               f"bytes ({limit / 1024 / 1024:.3g} MB)", limit_bytes=limit,
                               field=self._name)
            self._out.write(data[start:end])
        elif self._out is not None:
            self.result.size += end - start
            if self.result.size > self.max_bytes:
                raise _too_large(self.max_bytes)
            self._out.write(data[start:end])
        else:
            self._data += data[start:end]
            limit = self.blobs.get(self._name)
            if limit is not None:
                if len(self._data) > limit:
                    raise ApiError(413, "too_large", f"the '{self._name}' file is larger than "
                                   f"{limit} bytes", field=self._name, limit_bytes=limit)
            elif len(self._data) > MAX_FIELD_BYTES:
                raise ApiError(422, "invalid_field",
                               f"the field {self._name!r} is longer than {MAX_FIELD_BYTES} "
                               "bytes", field=self._name)

    def on_part_end(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        elif self._name in self.blobs:
            self.result.blobs[self._name] = (self._blob_name, bytes(self._data))
        elif self._name:
            try:
                self.result.fields[self._name] = self._data.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(422, "invalid_field", f"the field {self._name!r} is not UTF-8",
                               field=self._name) from None

    def on_end(self) -> None:
        self.ended = True

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


async def read_form(request: Any, upload_dir: Path, *, file_field: str, allowed: set[str],
                    max_bytes: int, min_rate: float = 0.0, grace_s: float = 0.0,
                    extra_files: dict[str, tuple[int, int]] | None = None,
                    blobs: dict[str, int] | None = None) -> FormUpload:
    """Parse a ``multipart/form-data`` request; the file part lands in ``upload_dir``.

    With ``min_rate`` (bytes/s), the body must keep up that average after the first
    ``grace_s`` seconds, else 408: a client trickling bytes does not hold a connection
    and a file open for ever. A full disk answers 507. ``extra_files`` names other file
    fields: ``{name: (how many at most, bytes each)}``; they land in ``upload_dir`` too
    (``FormUpload.extra``) and count toward the request's ``max_bytes``. On any error the
    partial files are deleted and an :class:`ApiError` raised.
    """
    import anyio
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import MultipartParser, parse_options_header

    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise ApiError(415, "unsupported_media_type",
                       f"send multipart/form-data with the song in a '{file_field}' file field",
                       field=file_field)
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_bytes + FORM_OVERHEAD:
        raise _too_large(max_bytes)
    sink = _FormSink(upload_dir, file_field, allowed, max_bytes, extra_files, blobs)
    callbacks: Any = {name: getattr(sink, name) for name in (
        "on_part_begin", "on_part_data", "on_part_end", "on_header_field", "on_header_value",
        "on_header_end", "on_headers_finished", "on_end")}
    try:
        parser = MultipartParser(params[b"boundary"], callbacks)
        received = 0
        chunks = request.stream().__aiter__()
        started = time.monotonic()
        while True:
            try:
                if min_rate > 0:
                    wait = started + grace_s + received / min_rate - time.monotonic()
                    if wait <= 0:
                        raise _too_slow(min_rate, grace_s)
                    with anyio.move_on_after(wait) as scope:
                        chunk = await chunks.__anext__()
                    if scope.cancelled_caught:
                        raise _too_slow(min_rate, grace_s)
                else:
                    chunk = await chunks.__anext__()
            except StopAsyncIteration:
                break
            received += len(chunk)
            if received > max_bytes + FORM_OVERHEAD:
                raise _too_large(max_bytes)
            parser.write(chunk)
        parser.finalize()
        if not sink.ended:  # no closing boundary: a truncated or malformed body
            raise ApiError(400, "bad_request", "the multipart body is incomplete")
    except FormParserError as exc:
        sink.close()
        sink.result.discard()
        raise ApiError(400, "bad_request", f"malformed multipart body: {exc}") from None
    except OSError as exc:
        sink.close()
        sink.result.discard()
        if disk_full(exc):
            log.warning("an upload failed: the disk is full (%s)", exc)
            raise insufficient_storage() from None
        raise
    except BaseException:
        sink.close()
        sink.result.discard()
        raise
    return sink.result


def validate_audio(path: Path, min_duration: float, max_duration: float,
                   min_sample_rate: int = 1) -> AudioInfo:
    """Decode every packet of ``path``'s first audio stream; 415 if it is not audio a
    render can use, 422 if it is audio that is corrupt, too short or too long, or
    sampled below ``min_sample_rate`` (a song at 1 Hz would pass for hours of audio in
    a few kilobytes)."""
    import av

    if path.stat().st_size == 0:
        raise ApiError(415, "unsupported_media_type", f"the file is empty; send {SUPPORTED}")
    try:
        container = av.open(str(path), mode="r")
    except Exception as exc:  # FFmpeg cannot even tell what it is
        log.debug("upload %s does not open: %s", path.name, exc)
        raise ApiError(415, "unsupported_media_type",
                       f"the file is not audio that FFmpeg can read; send {SUPPORTED}") from None
    try:
        if not container.streams.audio:
            raise ApiError(415, "unsupported_media_type",
                           f"the file has no audio stream; send {SUPPORTED}")
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        rate = int(ctx.sample_rate or 0)
        if rate <= 0:
            raise ApiError(422, "invalid_audio", "the audio stream has no sample rate")
        if rate < min_sample_rate:
            raise ApiError(422, "invalid_audio",
                           f"the audio is sampled at {rate} Hz; the server needs at least "
                           f"{min_sample_rate} Hz", limit="min_sample_rate",
                           min_sample_rate=min_sample_rate, sample_rate=rate)
        samples = 0
        try:
            for frame in container.decode(stream):
                samples += frame.samples
                if samples > max_duration * rate:
                    raise ApiError(422, "invalid_audio",
                                   f"the song is longer than the limit of {max_duration:g} s",
                                   limit="max_duration_s", max_duration_s=max_duration)
        except ApiError:
            raise
        except Exception as exc:
            raise ApiError(422, "invalid_audio",
                           f"the audio is corrupt after {samples / rate:.1f} s: {exc}") from None
        duration = samples / rate
        if duration < min_duration:
            raise ApiError(422, "invalid_audio",
                           f"the song is {duration:.2f} s long; send at least "
                           f"{min_duration:g} s of audio", limit="min_duration_s",
                           min_duration_s=min_duration)
        return AudioInfo(duration, rate, int(getattr(ctx, "channels", 0) or 0), ctx.name)
    finally:
        container.close()


def move_into(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)
