"""Reading lyrics files: LRC (and enhanced LRC with word times), SRT, WebVTT, plain text.

The format is told by the content, not the file name: ``WEBVTT`` on the first line is
WebVTT; a ``-->`` timing line is SRT; ``[mm:ss.xx]`` tags are LRC; anything else is plain
text (one sung line per line; lines wholly in brackets, such as ``[Chorus]``, are
headings and are left out). Every malformed line raises :class:`~musicvid.errors.LyricsError`
naming its line number.

Line ends: SRT and WebVTT give them. In LRC a line lasts until the next timestamp (an
empty ``[mm:ss.xx]`` line ends the one before), at most :data:`MAX_LINE_SECONDS`; with
word times it ends at the trailing word tag if there is one, else a second after its
last word starts.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import LyricsError
from .types import LyricLine, Lyrics, Word

__all__ = ["MAX_BYTES", "MAX_LINE_SECONDS", "decode_text", "detect_format", "load_lyrics",
           "parse_lrc", "parse_lyrics", "parse_plain", "parse_srt", "parse_vtt"]

MAX_BYTES = 1 << 20  # a lyrics file larger than 1 MiB is not a lyrics file
MAX_LINE_SECONDS = 8.0  # an LRC line stays on screen at most this long
LAST_WORD_SECONDS = 1.0  # an untimed last word lasts this long
FORMATS = ("lrc", "srt", "vtt", "text")

_LRC_TAG = re.compile(r"\[([^\[\]]*)\]")
_LRC_TIME = re.compile(r"^\s*(\d{1,3}):(\d{1,2})(?:[.:](\d{1,3}))?\s*$")
_LRC_WORD = re.compile(r"<(\d{1,3}):(\d{1,2})(?:[.:](\d{1,3}))?>")
_CUE_TIME = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{3})$")
_VTT_INLINE = re.compile(r"<((?:\d+:)?\d{1,2}:\d{2}\.\d{3})>")
_MARKUP = re.compile(r"<[^>]*>|\{\\[^}]*\}")


def decode_text(data: bytes, source: str = "lyrics") -> str:
    """``data`` as text (UTF-8, or UTF-16 with a byte-order mark), or :class:`LyricsError`
    for binary data, other encodings, or an empty file."""
    if len(data) > MAX_BYTES:
        raise LyricsError(f"is {len(data)} bytes; a lyrics file is at most {MAX_BYTES}",
                          source=source)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise LyricsError("is not valid UTF-16 text", source=source) from None
    else:
        if b"\x00" in data:
            raise LyricsError("is not a text file (it holds binary data)", source=source)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            raise LyricsError("is not UTF-8 text (save it as UTF-8, or it is not a text "
                              "file)", line=line, source=source) from None
    for n, raw in enumerate(text.splitlines(), 1):
        if any(ord(c) < 32 and c not in "\t\f\v" for c in raw):
            raise LyricsError("holds control characters: this is not a text file",
                              line=n, source=source)
    if not text.strip():
        raise LyricsError("is empty", source=source)
    return text


def detect_format(text: str) -> str:
    """``"vtt"``, ``"srt"``, ``"lrc"`` or ``"text"`` (see the module docstring)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if lines and lines[0].startswith("WEBVTT"):
        return "vtt"
    if any("-->" in ln for ln in lines[:50]):
        return "srt"
    if any(_LRC_TAG.match(ln) and _LRC_TIME.match(_LRC_TAG.match(ln).group(1))  # type: ignore[union-attr]
           for ln in lines[:50]):
        return "lrc"
    return "text"


def _lrc_seconds(m: re.Match[str]) -> float:
    minutes, seconds, frac = m.group(1), m.group(2), m.group(3) or "0"
    if int(seconds) >= 60:
        raise ValueError("seconds past 59")
    return int(minutes) * 60 + int(seconds) + int(frac) / 10 ** len(frac)


def _clean(text: str) -> str:
    return " ".join(_MARKUP.sub("", text).split())


def parse_lrc(text: str, source: str = "lyrics") -> Lyrics:
    """LRC: ``[mm:ss.xx]text`` lines (several time tags on one line repeat it), metadata
    tags such as ``[ar:...]`` and ``[offset:+250]`` (ms, positive shows lines earlier),
    and enhanced LRC's ``<mm:ss.xx>`` word tags."""
    entries: list[tuple[float, str, int, list[tuple[float | None, str]], float | None]] = []
    offset = 0.0
    meta: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        times: list[float] = []
        pos = 0
        while True:
            m = _LRC_TAG.match(line, pos)
            if m is None:
                break
            tag = m.group(1)
            tm = _LRC_TIME.match(tag)
            if tm is not None:
                try:
                    times.append(_lrc_seconds(tm))
                except ValueError:
                    raise LyricsError(f"bad timestamp [{tag}]: seconds must be below 60",
                                      line=n, source=source) from None
            elif re.match(r"^[A-Za-z#][A-Za-z]*:", tag):
                key, _, value = tag.partition(":")
                meta[key.strip().lower()] = value.strip()
                if key.strip().lower() == "offset":
                    try:
                        offset = int(value.strip()) / 1000.0
                    except ValueError:
                        raise LyricsError(f"bad [offset:{value}]: milliseconds expected",
                                          line=n, source=source) from None
            else:
                raise LyricsError(f"bad timestamp [{tag}]: expected [mm:ss.xx]", line=n,
                                  source=source)
            pos = m.end()
        rest = line[pos:]
        if not times:
            if pos:  # metadata only
                continue
            raise LyricsError(f"no [mm:ss.xx] timestamp before {rest[:40]!r}", line=n,
                              source=source)
        words, tail = _lrc_words(rest, n, source)
        body = _clean(_LRC_WORD.sub(" ", rest))
        for t in times:
            entries.append((t, body, n, words, tail))
    if offset:
        entries = [(t - offset, b, n, w and [(None if s is None else s - offset, x)
                                             for s, x in w], None if tl is None else tl - offset)
                   for t, b, n, w, tl in entries]
    entries.sort(key=lambda e: (e[0], e[2]))
    lines: list[LyricLine] = []
    for i, (t, body, n, words, tail) in enumerate(entries):
        if t < 0:
            raise LyricsError(f"the timestamp {t:.2f}s is before the song starts"
                              + (" (after the [offset])" if offset else ""), line=n,
                              source=source)
        if not body:
            continue  # an empty timed line: the line before ends here
        nxt = next((e[0] for e in entries[i + 1:] if e[0] > t), None)
        same = next((e for e in entries[i + 1:] if e[0] == t and e[1]), None)
        if same is not None:
            raise LyricsError(f"overlaps line {n}: both start at {t:.2f}s", line=same[2],
                              source=source)
        end = min(nxt if nxt is not None else t + MAX_LINE_SECONDS, t + MAX_LINE_SECONDS)
        timed_words: list[Word] = []
        if words:
            starts = [t if s is None else s for s, _ in words]
            for k, (s, w) in enumerate(zip(starts, (w for _, w in words), strict=True)):
                if k and s < starts[k - 1]:
                    raise LyricsError(f"the word {w!r} starts before the word before it",
                                      line=n, source=source)
                if nxt is not None and s >= nxt:
                    raise LyricsError(f"the word {w!r} starts after the next line does "
                                      f"({nxt:.2f}s)", line=n, source=source)
            last_end = tail if tail is not None else starts[-1] + LAST_WORD_SECONDS
            if nxt is not None:
                last_end = min(last_end, nxt)
            ends = starts[1:] + [max(last_end, starts[-1])]
            timed_words = [Word(w, s, e) for (_, w), s, e in zip(words, starts, ends, strict=True)]
            end = max(ends[-1], t + 0.1) if tail is not None else min(end, max(ends[-1], t))
        lines.append(LyricLine(body, t, max(end, t + 0.1), timed_words, n))
    if not lines:
        raise LyricsError("has timestamps but no words", source=source)
    return Lyrics(lines, "lrc", True, source, meta)


def _lrc_words(rest: str, n: int, source: str) -> tuple[list[tuple[float | None, str]], float | None]:
    """Enhanced LRC: ``<mm:ss.xx>word <mm:ss.xx>word <mm:ss.xx>`` -> [(start, word)], and
    the trailing tag's time (the last word's end) if there is one."""
    if not _LRC_WORD.search(rest):
        return [], None
    out: list[tuple[float | None, str]] = []
    pos = 0
    current: float | None = None
    for m in _LRC_WORD.finditer(rest):
        for w in _clean(rest[pos:m.start()]).split():
            out.append((current, w))
        try:
            current = _lrc_seconds(m)
        except ValueError:
            raise LyricsError(f"bad word timestamp {m.group(0)}", line=n,
                              source=source) from None
        pos = m.end()
    after = _clean(rest[pos:]).split()
    for w in after:
        out.append((current, w))
    return _dedupe_starts(out), (None if after else current)


def _dedupe_starts(words: list[tuple[float | None, str]]) -> list[tuple[float | None, str]]:
    """Words between two tags share a start: interpolate is not needed for display, so a
    word without its own tag takes the start of the one before."""
    out: list[tuple[float | None, str]] = []
    last: float | None = None
    for s, w in words:
        if s is not None:
            last = s
        out.append((last, w))
    return out


def _cue_seconds(text: str) -> float | None:
    m = _CUE_TIME.match(text.strip())
    if m is None:
        return None
    h, mi, s, ms = m.groups()
    if int(s) >= 60 or int(mi) >= 60 and h is not None:
        return None
    return int(h or 0) * 3600 + int(mi) * 60 + int(s) + int(ms) / 1000.0


def _cues(text: str, source: str, fmt: str) -> Lyrics:
    lines: list[LyricLine] = []
    raw_lines = text.splitlines()
    i = 0
    if fmt == "vtt":
        i = 1
        while i < len(raw_lines) and raw_lines[i].strip():
            i += 1  # header lines
    while i < len(raw_lines):
        ln = raw_lines[i].strip()
        if not ln:
            i += 1
            continue
        if fmt == "vtt" and ln.split(" ", 1)[0] in ("NOTE", "STYLE", "REGION"):
            while i < len(raw_lines) and raw_lines[i].strip():
                i += 1
            continue
        if "-->" not in ln:
            nxt = raw_lines[i + 1].strip() if i + 1 < len(raw_lines) else ""
            if "-->" not in nxt:
                raise LyricsError(f"expected a cue timing 'start --> end', got {ln[:40]!r}",
                                  line=i + 1, source=source)
            i += 1  # a cue number (SRT) or identifier (WebVTT)
            continue
        timing_line = i + 1
        left, _, right = ln.partition("-->")
        start = _cue_seconds(left)
        end = _cue_seconds(right.strip().split()[0] if right.strip() else "")
        if start is None or end is None:
            raise LyricsError(f"bad cue timing {ln[:60]!r}: expected "
                              f"{'00:01:02,500' if fmt == 'srt' else '00:01:02.500'} --> ...",
                              line=timing_line, source=source)
        if end <= start:
            raise LyricsError(f"the cue ends ({end:.3f}s) before it starts ({start:.3f}s)",
                              line=timing_line, source=source)
        i += 1
        body: list[str] = []
        while i < len(raw_lines) and raw_lines[i].strip():
            body.append(raw_lines[i].strip())
            i += 1
        joined = " ".join(body)
        words: list[Word] = []
        if fmt == "vtt" and _VTT_INLINE.search(joined):
            words = _vtt_words(joined, start, end, timing_line, source)
        text_ = _clean(_VTT_INLINE.sub(" ", joined))
        if not text_:
            continue
        if lines and start < lines[-1].end - 1e-3:
            raise LyricsError(f"this cue starts at {start:.3f}s, before the cue at line "
                              f"{lines[-1].source_line} ends ({lines[-1].end:.3f}s): cues "
                              "must not overlap", line=timing_line, source=source)
        lines.append(LyricLine(text_, start, end, words, timing_line))
    if not lines:
        raise LyricsError("has no cues with text", source=source)
    return Lyrics(lines, fmt, True, source)


def _vtt_words(body: str, start: float, end: float, n: int, source: str) -> list[Word]:
    pieces = _VTT_INLINE.split(body)  # text, time, text, time, ...
    timed: list[tuple[float, str]] = []
    t = start
    for k, piece in enumerate(pieces):
        if k % 2:
            s = _cue_seconds(piece)
            if s is None or s < t - 1e-3 or s > end + 1e-3:
                raise LyricsError(f"the word time <{piece}> is outside its cue or out of order",
                                  line=n, source=source)
            t = s
            continue
        for w in _clean(piece).split():
            timed.append((t, w))
    ends = [s for s, _ in timed[1:]] + [end]
    return [Word(w, s, max(s, e)) for (s, w), e in zip(timed, ends, strict=True)]


def parse_srt(text: str, source: str = "lyrics") -> Lyrics:
    """SubRip: numbered cues, ``00:01:02,500 --> 00:01:05,000``, then text lines."""
    return _cues(text, source, "srt")


def parse_vtt(text: str, source: str = "lyrics") -> Lyrics:
    """WebVTT: ``WEBVTT``, then cues (``00:01.500 --> 00:04.000``), with optional
    ``<00:01.900>`` word times inside the cue text."""
    return _cues(text, source, "vtt")


def parse_plain(text: str, source: str = "lyrics") -> Lyrics:
    """Plain text: one sung line per line, untimed until aligned to a transcript."""
    lines = []
    for n, raw in enumerate(text.splitlines(), 1):
        ln = raw.strip()
        if not ln or re.fullmatch(r"\[[^\]]*\]|\([^)]*\)", ln):
            continue
        body = _clean(ln)
        if body:
            lines.append(LyricLine(body, 0.0, 0.0, [], n))
    if not lines:
        raise LyricsError("has no words", source=source)
    return Lyrics(lines, "text", False, source)


def parse_lyrics(text: str, source: str = "lyrics", fmt: str | None = None) -> Lyrics:
    """Parse ``text`` in ``fmt`` (one of lrc, srt, vtt, text), told from the content when
    ``fmt`` is None."""
    fmt = fmt or detect_format(text)
    parser = {"lrc": parse_lrc, "srt": parse_srt, "vtt": parse_vtt, "text": parse_plain}.get(fmt)
    if parser is None:
        raise LyricsError(f"unknown lyrics format {fmt!r}; valid: {', '.join(FORMATS)}",
                          source=source)
    return parser(text, source)


def load_lyrics(path: str | Path, duration: float | None = None) -> Lyrics:
    """Read and parse the lyrics file at ``path``; with ``duration``, also check that its
    timestamps fit the song (:meth:`Lyrics.check`)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise LyricsError("file not found", source=str(p)) from None
    except OSError as exc:
        raise LyricsError(f"cannot be read: {exc.strerror or exc}", source=str(p)) from None
    lyrics = parse_lyrics(decode_text(data, p.name), p.name)
    if duration is not None:
        lyrics.check(duration)
    return lyrics
