"""The default transcriber: Whisper through transformers, with word timestamps.

Model: ``whisper_model`` (``--whisper-model``, env ``MUSICVID_WHISPER_MODEL``): any hub
id or local folder. Unset, the ``gpu`` profile uses :data:`GPU_MODEL`
(``openai/whisper-large-v3-turbo``, 809 M parameters, ~1.6 GB in float16) and ``cpu``
uses :data:`CPU_MODEL` (``openai/whisper-base``, 74 M, ~290 MB); both MIT-licensed and
downloaded on first use. Word times come from the cross-attention alignment heads
(``return_timestamps="word"``), 30-second windows.

The words are grouped into lines at pauses longer than :data:`LINE_GAP` seconds, at
sentence punctuation, or every :data:`MAX_LINE_WORDS` words.

Stage options (``--option KEY=VALUE``): ``whisper_language`` (e.g. ``en``; default:
detected), ``whisper_batch`` (windows per forward pass, default 4 on GPU, 1 on CPU).
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._options import positive_int, stage_option
from .._torch import require_torch, resolve_device, torch_dtype
from ..errors import MissingDependencyError
from ..hookspecs import hookimpl
from ..lyrics.types import LyricLine, Lyrics, Word
from ..protocols import StageContext
from ..stages import TranscriberBase, stage_options_key
from .sdxl_keyframes import model_load_error

__all__ = ["CPU_MODEL", "GPU_MODEL", "WhisperTranscriber", "group_lines"]

log = logging.getLogger(__name__)

GPU_MODEL = "openai/whisper-large-v3-turbo"
CPU_MODEL = "openai/whisper-base"
SAMPLE_RATE = 16000
LINE_GAP = 0.6
MAX_LINE_WORDS = 10

_lock = threading.Lock()
_loaded: dict[tuple[str, str, str], Any] = {}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def model_for(config: Any) -> str:
    if getattr(config, "whisper_model", None):
        return str(config.whisper_model)
    return GPU_MODEL if str(getattr(config.profile, "value", config.profile)) == "gpu" else CPU_MODEL


def group_lines(words: list[Word], source: str = "transcript") -> Lyrics:
    """Words in time order -> lines (see the module docstring)."""
    lines: list[LyricLine] = []
    current: list[Word] = []

    def flush() -> None:
        if current:
            lines.append(LyricLine(" ".join(w.text for w in current), current[0].start,
                                   max(current[-1].end, current[0].start + 0.1),
                                   list(current), len(lines) + 1))
            current.clear()

    for w in words:
        if current and (w.start - current[-1].end > LINE_GAP or len(current) >= MAX_LINE_WORDS
                        or current[-1].text[-1:] in ".!?;"):
            flush()
        current.append(w)
    flush()
    return Lyrics(lines, "transcript", True, source)


class WhisperTranscriber(TranscriberBase):
    """Whisper (transformers' speech-recognition pipeline) with word timestamps."""

    name = "whisper"
    version = 1

    @dataclass(frozen=True)
    class Options:
        language: str | None = stage_option(None, str, "a language code such as en",
                                            help="the sung language; default: detected")
        batch: int | None = stage_option(None, positive_int,
                                         "a positive number of 30-second windows", key=False,
                                         help="30-second windows per forward pass")

    def preflight(self, ctx: StageContext) -> None:
        require_torch("transcribe", self.name)
        try:
            import transformers  # noqa: F401
        except ImportError:
            raise MissingDependencyError(
                "transcription needs transformers: pip install 'musicvid[models]'",
                stage="transcribe", plugin=self.name) from None
        stage_options_key(self, ctx)

    def cache_key_parts(self, ctx: StageContext) -> dict[str, Any]:
        return {"model": model_for(ctx.config)}

    def _pipeline(self, model: str, device: str, dtype: str) -> Any:
        key = (model, device, dtype)
        with _lock:
            if key not in _loaded:
                from transformers import pipeline

                torch_dt = torch_dtype(dtype, device)
                try:
                    asr = pipeline("automatic-speech-recognition", model=model,
                                   dtype=torch_dt, device=device)
                except Exception as exc:  # hub, file system and config errors
                    err = model_load_error(model, "Whisper", "--whisper-model",
                                           "MUSICVID_WHISPER_MODEL", exc)
                    err.stage, err.plugin = "transcribe", self.name
                    raise err from exc
                _loaded.clear()  # one model at a time
                _loaded[key] = asr
            return _loaded[key]

    def transcribe(self, audio: Path, ctx: StageContext) -> Lyrics:
        from ..audio import load_audio

        c = ctx.config
        opts = self.options(ctx)
        device = resolve_device(c.device)
        model = model_for(c)
        ctx.progress(0, 2, f"loading {model}")
        asr = self._pipeline(model, device, c.dtype)
        ctx.check_cancelled()
        samples, _ = load_audio(audio, sr=SAMPLE_RATE, mono=True)
        duration = len(samples) / SAMPLE_RATE
        ctx.progress(1, 2, f"transcribing {duration:.0f} s")
        gen: dict[str, Any] = {"task": "transcribe"}
        if opts.language:
            gen["language"] = opts.language
        batch = opts.batch or (4 if device.startswith("cuda") else 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # transformers' own deprecation chatter
            result = asr({"raw": samples, "sampling_rate": SAMPLE_RATE},
                         return_timestamps="word", chunk_length_s=30, batch_size=batch,
                         generate_kwargs=gen)
        words: list[Word] = []
        for chunk in result.get("chunks", []):
            text = _CONTROL.sub("", str(chunk.get("text", ""))).strip()
            ts = chunk.get("timestamp") or (None, None)
            if not text or ts[0] is None:
                continue
            start = min(max(0.0, float(ts[0])), duration)
            end = float(ts[1]) if ts[1] is not None else start + 0.3
            end = min(max(end, start), duration)
            if words and start < words[-1].start:
                start = words[-1].start
            words.append(Word(text, round(start, 3), round(max(end, start), 3)))
        ctx.progress(2, 2, f"{len(words)} words")
        log.info("transcribed %d words with %s", len(words), model)
        return group_lines(words, f"{Path(audio).name} ({model})")


@hookimpl
def register_transcribers(register):  # type: ignore[no-untyped-def]
    register(WhisperTranscriber)
