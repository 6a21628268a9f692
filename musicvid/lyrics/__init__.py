"""The song's words: lyrics files, alignment to a transcript, imagery for prompts.

See docs/lyrics.md. :func:`load_lyrics` reads LRC (with enhanced word times), SRT,
WebVTT or plain text; :func:`align_lyrics` times plain text from a transcript;
:func:`apply_lyrics` puts the lines into a storyboard.
"""

from __future__ import annotations

from .align import align_lyrics
from .formats import decode_text, detect_format, load_lyrics, parse_lyrics
from .imagery import STOP_WORDS, imagery, imagery_words, line_key
from .storyboard import apply_lyrics, lyric_prompt, lyrics_of, record_lyrics
from .types import LyricLine, Lyrics, Word, format_time

__all__ = ["STOP_WORDS", "LyricLine", "Lyrics", "Word", "align_lyrics", "apply_lyrics",
           "decode_text", "detect_format", "format_time", "imagery", "imagery_words",
           "line_key", "load_lyrics", "lyric_prompt", "lyrics_of", "parse_lyrics",
           "record_lyrics"]
