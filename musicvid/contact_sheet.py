"""A contact sheet: every shot's keyframe in a grid, with its time, section and prompt.

Shots whose keyframe does not exist yet (``musicvid plan --contact-sheet`` before any
render) get a grey placeholder, so the sheet always shows the whole plan.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import OutputError
from .types import Storyboard

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = ["draw_contact_sheet", "format_time", "write_contact_sheet"]

log = logging.getLogger(__name__)

PAD = 10
BACKGROUND = (24, 24, 28)
TEXT = (235, 235, 235)
MUTED = (160, 160, 170)
PLACEHOLDER = (70, 70, 78)
SECTION_COLOURS = {
    "intro": (110, 170, 255), "verse": (120, 220, 140), "chorus": (255, 120, 90),
    "bridge": (200, 140, 255), "breakdown": (120, 220, 220), "outro": (240, 200, 90),
}


def format_time(seconds: float) -> str:
    """``75.5`` -> ``"1:15.50"``."""
    m, s = divmod(max(0.0, seconds), 60.0)
    return f"{int(m)}:{s:05.2f}"


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _wrap(text: str, font: Any, width: int, lines: int) -> list[str]:
    words = text.split()
    out: list[str] = []
    while words and len(out) < lines:
        line = words.pop(0)
        while words and font.getlength(f"{line} {words[0]}") <= width:
            line = f"{line} {words.pop(0)}"
        out.append(line)
    if words and out:
        last = out[-1]
        while last and font.getlength(last + "…") > width:
            last = last[:-1]
        out[-1] = last.rstrip(" ,") + "…"
    return out


def draw_contact_sheet(storyboard: Storyboard, images: Sequence[Image.Image | None], *,
                       columns: int | None = None, thumb_width: int = 320,
                       prompt_lines: int = 3) -> Image.Image:
    """The sheet for ``storyboard``: ``images[i]`` is shot i's keyframe, or None."""
    from PIL import Image, ImageDraw, ImageOps

    shots = storyboard.shots
    if len(images) != len(shots):
        raise ValueError(f"{len(images)} images for {len(shots)} shots")
    cols = columns or max(1, min(5, len(shots)))
    rows = -(-len(shots) // cols)
    tw = thumb_width
    th = max(1, round(tw * storyboard.height / storyboard.width))
    font, small = _font(14), _font(12)
    line_h = 17
    caption_h = line_h * (2 + prompt_lines) + 4
    title_h = 2 * line_h + PAD
    cell_w, cell_h = tw + PAD, th + caption_h + PAD
    sheet = Image.new("RGB", (PAD + cols * cell_w, title_h + PAD + rows * cell_h), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    meta = storyboard.meta
    fps = storyboard.fps
    duration = float(Fraction(storyboard.frame_count) / fps)
    title = " · ".join(str(meta[k]) for k in ("genre", "style", "palette") if k in meta)
    draw.text((PAD, PAD), f"{title or 'storyboard'}  seed {meta.get('seed', '?')}",
              fill=TEXT, font=font)
    tempo = meta.get("tempo")
    draw.text((PAD, PAD + line_h),
              f"{len(shots)} shots, {format_time(duration)} at {float(fps):g} fps"
              + (f", {float(tempo):.1f} BPM" if tempo else ""), fill=MUTED, font=small)
    thumbs: dict[int, Image.Image] = {}
    for i, (shot, image) in enumerate(zip(shots, images)):
        x = PAD + (i % cols) * cell_w
        y = title_h + PAD + (i // cols) * cell_h
        if image is None:
            draw.rectangle([x, y, x + tw - 1, y + th - 1], fill=PLACEHOLDER)
            draw.text((x + 8, y + th // 2 - 8), "no keyframe yet", fill=MUTED, font=small)
        else:
            key = id(image)
            if key not in thumbs:
                thumbs[key] = ImageOps.fit(image.convert("RGB"), (tw, th),
                                           Image.Resampling.LANCZOS)
            sheet.paste(thumbs[key], (x, y))
        colour = SECTION_COLOURS.get(shot.section, MUTED)
        draw.rectangle([x, y + th, x + tw - 1, y + th + 2], fill=colour)
        t0 = float(Fraction(shot.start_frame) / fps)
        t1 = float(Fraction(shot.end_frame) / fps)
        ty = y + th + 5
        draw.text((x, ty), f"#{shot.index + 1}  {format_time(t0)} - {format_time(t1)}"
                  f"  ({shot.frame_count} f)", fill=TEXT, font=small)
        label = f"{shot.section} (group {shot.group})"
        if shot.transition != "cut":
            label += f"  {shot.transition} {shot.transition_frames} f"
        draw.text((x, ty + line_h), label, fill=colour, font=small)
        for k, line in enumerate(_wrap(shot.prompt, small, tw, prompt_lines)):
            draw.text((x, ty + line_h * (2 + k)), line, fill=MUTED, font=small)
    return sheet


def write_contact_sheet(storyboard: Storyboard, images: Sequence[Image.Image | None],
                        path: str | Path, **kw: Any) -> Path:
    """Draw the sheet and save it (the format follows the suffix; PNG is the usual)."""
    p = Path(path)
    sheet = draw_contact_sheet(storyboard, images, **kw)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(p)
    except (OSError, ValueError) as exc:
        raise OutputError(f"could not write the contact sheet {p}: {exc}") from None
    log.info("wrote contact sheet %s (%d shots)", p, len(storyboard.shots))
    return p
