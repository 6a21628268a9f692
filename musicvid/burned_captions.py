"""Burned-in lyric captions: when each line shows, how it is laid out, drawn and blended.

Line by line: each line is laid out once (centred, wrapped to at most three rows inside
the title-safe area: 10% in from every edge, so the same rule holds for 16:9, 9:16 and
1:1), drawn with a dark outline and a soft shadow, and when the lyrics have word times
the words already sung turn :data:`HIGHLIGHT` one by one. Each state of a line (which
word is being sung) is rendered once, as a small sprite, when it first shows; every
frame then only blends that sprite into its own rectangle of the frame, in the encoder's
I420 layout or in RGB. Frames without a caption pass untouched.

A line shows from frame ``round(start × fps)`` to frame ``round(end × fps)`` (so every
on-time is within half a frame of its timestamp): :func:`caption_events`, which the sync
report lists too. :mod:`musicvid.captions` decides whether captions are burned at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InvalidOptionError
from .lyrics.types import Lyrics

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["DEFAULT_FONT", "HIGHLIGHT", "CaptionBurner", "CaptionEvent", "caption_events"]

DEFAULT_FONT = Path(__file__).parent / "fonts" / "DejaVuSans-Bold.ttf"
TEXT = (255, 255, 255)
HIGHLIGHT = (255, 210, 60)
OUTLINE = (0, 0, 0)
SAFE = 0.10  # title-safe margin on every side, as a fraction of width/height
FONT_SCALE = 0.055  # font size as a fraction of the frame's short side
MAX_ROWS = 3


def _frame(t: float, fps: Fraction, n: int) -> int:
    return min(n, max(0, int(round(Fraction(t) * fps))))


@dataclass(frozen=True)
class CaptionEvent:
    """Frames [start, end) show line ``line`` with its first ``sung`` words highlighted."""

    start: int
    end: int
    line: int
    sung: int


def caption_events(lyrics: Lyrics, fps: Fraction, n_frames: int) -> list[CaptionEvent]:
    """When each line (and each word of it) shows, in frames; sorted, never overlapping."""
    out: list[CaptionEvent] = []
    for i, line in enumerate(lyrics.lines):
        a, b = _frame(line.start, fps, n_frames), _frame(line.end, fps, n_frames)
        if out and a < out[-1].end:
            a = out[-1].end
        if b <= a:
            continue
        cuts = [(a, 0)]
        for k, w in enumerate(line.words):
            f = _frame(w.start, fps, n_frames)
            cuts.append((min(max(f, a), b), k + 1))
        for (f0, sung), (f1, _) in zip(cuts, [*cuts[1:], (b, -1)], strict=True):
            if f1 > f0:
                out.append(CaptionEvent(f0, f1, i, sung))
    return out


# -- layout, line art and sprites ------------------------------------------------------------
@dataclass
class _Layout:
    rows: list[list[tuple[int, int, int]]]  # per row: (word index, x, y) in the sprite
    width: int
    height: int
    x: int
    y: int
    font: Any = None


class _Coverage:
    """What every highlight state of one line shares: its alpha, at full and half size."""

    def __init__(self, alpha: np.ndarray, x: int, y: int):
        import numpy as np

        self.x, self.y = x, y
        self.h, self.w = alpha.shape
        self.alpha = alpha
        self.inv = 255 - alpha
        self.alpha3 = np.repeat(alpha[..., None], 3, axis=2)
        self.inv3 = 255 - self.alpha3
        h2, w2 = self.h // 2, self.w // 2
        self.alpha2 = ((alpha.reshape(h2, 2, w2, 2).astype(np.uint16).sum(axis=(1, 3)) + 2)
                       >> 2).astype(np.uint8)
        self.inv2 = 255 - self.alpha2
        rows = np.nonzero(alpha.max(axis=1))[0]  # blend only the rows with ink
        self.r0: int = int(rows[0]) & ~1 if len(rows) else 0
        self.r1: int = min(self.h, (int(rows[-1]) + 2) & ~1) if len(rows) else 0


def _over(region: np.ndarray, pre: np.ndarray, inv: np.ndarray) -> None:
    """``region = region × (255 − α)/255 + colour × α/255``, in place (OpenCV, uint8)."""
    import cv2

    cv2.add(cv2.multiply(region, inv, scale=1 / 255.0), pre, dst=region)


class _Sprite:
    """One caption state: its colour premultiplied by the line's alpha, in the layouts
    asked for (computed on first use), and where it goes in the frame."""

    def __init__(self, rgb: np.ndarray, cov: _Coverage):
        self.cov = cov
        self.rgb = rgb
        self._rgb_pre: np.ndarray | None = None
        self._yuv_pre: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def blend_rgb(self, frame: np.ndarray) -> None:
        import cv2

        c = self.cov
        if self._rgb_pre is None:
            self._rgb_pre = cv2.multiply(self.rgb, c.alpha3, scale=1 / 255.0)
        r0, r1 = c.r0, c.r1
        _over(frame[c.y + r0:c.y + r1, c.x:c.x + c.w], self._rgb_pre[r0:r1], c.inv3[r0:r1])

    def blend_i420(self, frame: np.ndarray, width: int, height: int) -> None:
        import cv2
        import numpy as np

        from ._video import i420_planes, rgb_to_i420

        c = self.cov
        if self._yuv_pre is None:
            flat = rgb_to_i420(np.ascontiguousarray(self.rgb)).reshape(-1)
            n, q = c.h * c.w, (c.h // 2) * (c.w // 2)
            half = (c.h // 2, c.w // 2)
            self._yuv_pre = (
                cv2.multiply(flat[:n].reshape(c.h, c.w), c.alpha, scale=1 / 255.0),
                cv2.multiply(flat[n:n + q].reshape(half), c.alpha2, scale=1 / 255.0),
                cv2.multiply(flat[n + q:n + 2 * q].reshape(half), c.alpha2, scale=1 / 255.0))
        y_pre, u_pre, v_pre = self._yuv_pre
        yp, up, vp = i420_planes(frame, width, height)
        r0, r1 = c.r0, c.r1
        _over(yp[c.y + r0:c.y + r1, c.x:c.x + c.w], y_pre[r0:r1], c.inv[r0:r1])
        c0, c1, cy, cx, cw = r0 // 2, r1 // 2, c.y // 2, c.x // 2, c.w // 2
        _over(up[cy + c0:cy + c1, cx:cx + cw], u_pre[c0:c1], c.inv2[c0:c1])
        _over(vp[cy + c0:cy + c1, cx:cx + cw], v_pre[c0:c1], c.inv2[c0:c1])


class CaptionBurner:
    """Draws ``lyrics`` into frames of ``width``×``height`` (see the module docstring)."""

    def __init__(self, lyrics: Lyrics, width: int, height: int, fps: Fraction, n_frames: int,
                 font: str | Path | None = None):
        from PIL import ImageFont

        self.lyrics = lyrics
        self.width, self.height = width, height
        self.events = caption_events(lyrics, fps, n_frames)
        path = Path(font) if font else DEFAULT_FONT
        try:
            self.size = max(10, int(round(min(width, height) * FONT_SCALE)))
            self._font_path = path
            self.font = ImageFont.truetype(str(path), self.size)
        except OSError as exc:
            raise InvalidOptionError("caption-font", str(path),
                                     hint=f"not a TrueType/OpenType font file ({exc})") from None
        self.stroke = max(2, self.size // 12)
        self.shadow = max(1, self.size // 16)
        self._layouts: dict[int, _Layout] = {}
        self._sprites: dict[tuple[int, int], _Sprite] = {}
        self._line_art: tuple[int, Any] | None = None
        self.sprites_drawn = 0

    # layout ------------------------------------------------------------------------------
    def _fit(self, words: list[str], font: Any, max_w: float) -> list[list[int]] | None:
        space = font.getlength(" ")
        rows: list[list[int]] = [[]]
        width = 0.0
        for k, w in enumerate(words):
            wl = font.getlength(w)
            if rows[-1] and width + space + wl > max_w:
                rows.append([])
                width = 0.0
            if wl > max_w:
                return None
            width += (space if rows[-1] else 0.0) + wl
            rows[-1].append(k)
        return rows if len(rows) <= MAX_ROWS else None

    def layout(self, index: int) -> _Layout:
        """Where line ``index``'s words go (computed once per line)."""
        if index in self._layouts:
            return self._layouts[index]
        from PIL import ImageFont

        words = self.lyrics.lines[index].text.split()
        max_w = self.width * (1 - 2 * SAFE)
        font = self.font
        rows = self._fit(words, font, max_w)
        size = self.size
        while rows is None and size > 8:
            size = int(size * 0.85)
            font = ImageFont.truetype(str(self._font_path), size)
            rows = self._fit(words, font, max_w)
        if rows is None:
            rows = [list(range(len(words)))]
        ascent, descent = font.getmetrics()
        line_h = int((ascent + descent) * 1.15)
        pad = self.stroke + self.shadow + 2
        space = font.getlength(" ")
        widths = [sum(font.getlength(words[k]) for k in r) + space * (len(r) - 1) for r in rows]
        box_w = int(max(widths)) + 2 * pad
        box_h = line_h * len(rows) + 2 * pad
        box_w += box_w % 2
        box_h += box_h % 2
        placed: list[list[tuple[int, int, int]]] = []
        for r, (row, rw) in enumerate(zip(rows, widths, strict=True)):
            x = pad + (box_w - 2 * pad - rw) / 2
            cells = []
            for k in row:
                cells.append((k, int(round(x)), pad + r * line_h))
                x += font.getlength(words[k]) + space
            placed.append(cells)
        bottom = int(self.height * (1 - SAFE))
        x0 = max(0, (self.width - box_w) // 2) & ~1
        y0 = max(0, bottom - box_h) & ~1
        box_w, box_h = min(box_w, self.width - x0), min(box_h, self.height - y0)
        box_w -= box_w % 2
        box_h -= box_h % 2
        lay = _Layout(placed, box_w, box_h, x0, y0, font)
        self._layouts[index] = lay
        return lay

    def _art(self, index: int) -> tuple[_Coverage, Any, list[tuple[int, int, int, int]]]:
        """Line ``index`` drawn once: its coverage (outline, shadow and text), the text's
        own coverage, and each word's box: the same for every highlight state."""
        if self._line_art is not None and self._line_art[0] == index:
            return self._line_art[1]  # type: ignore[no-any-return]
        import numpy as np
        from PIL import Image, ImageDraw, ImageFilter

        lay = self.layout(index)
        font = lay.font
        words = self.lyrics.lines[index].text.split()
        size = (lay.width, lay.height)
        outline = Image.new("L", size, 0)
        ink = Image.new("L", size, 0)
        d_out, d_ink = ImageDraw.Draw(outline), ImageDraw.Draw(ink)
        boxes = [(0, 0, 0, 0)] * len(words)
        for row in lay.rows:
            for k, x, y in row:
                d_out.text((x, y), words[k], font=font, fill=255, stroke_width=self.stroke,
                           stroke_fill=255)
                d_ink.text((x, y), words[k], font=font, fill=255)
                x0, y0, x1, y1 = d_ink.textbbox((x, y), words[k], font=font)
                boxes[k] = (max(0, int(x0) - 1), max(0, int(y0) - 1), int(x1) + 2, int(y1) + 2)
        shadow = outline.filter(ImageFilter.GaussianBlur(self.shadow))
        s = np.asarray(shadow, np.uint16) * 3 // 5  # 60% opaque
        s = np.roll(np.roll(s, self.shadow, 0), self.shadow, 1)
        alpha = np.maximum(np.asarray(outline, np.uint16), s).astype(np.uint8)
        ink8 = np.asarray(ink, np.uint8)
        art = (_Coverage(alpha, lay.x, lay.y), np.repeat(ink8[..., None], 3, axis=2), boxes)
        self._line_art = (index, art)
        return art

    def sprite(self, index: int, sung: int) -> _Sprite:
        """The sprite of line ``index`` with its first ``sung`` words highlighted."""
        key = (index, sung)
        if key in self._sprites:
            return self._sprites[key]
        import cv2
        import numpy as np

        cov, ink3, boxes = self._art(index)
        # the outline colour where there is no text, the fill colour where there is
        fill = np.empty((cov.h, cov.w, 3), np.uint8)
        fill[:] = TEXT
        for x0, y0, x1, y1 in boxes[:sung]:
            fill[y0:y1, x0:x1] = HIGHLIGHT
        rgb = cv2.multiply(fill, ink3, scale=1 / 255.0)
        if OUTLINE != (0, 0, 0):
            edge = np.empty_like(fill)
            edge[:] = OUTLINE
            rgb = cv2.add(rgb, cv2.multiply(edge, 255 - ink3, scale=1 / 255.0))
        sp = _Sprite(rgb, cov)
        if self._sprites and next(iter(self._sprites))[0] != index:
            self._sprites.clear()  # one line's sprites at a time: memory stays flat
        self._sprites[key] = sp
        self.sprites_drawn += 1
        return sp

    def burn(self, frames: Iterator[np.ndarray], layout: str) -> Iterator[np.ndarray]:
        """``frames`` (in ``layout``: "i420" or "rgb") with the captions blended in."""
        events = self.events
        e = 0
        for n, frame in enumerate(frames):
            while e < len(events) and events[e].end <= n:
                e += 1
            if e < len(events) and events[e].start <= n:
                ev = events[e]
                sp = self.sprite(ev.line, ev.sung)
                frame = frame.copy()
                if layout == "i420":
                    sp.blend_i420(frame, self.width, self.height)
                else:
                    sp.blend_rgb(frame)
            yield frame

