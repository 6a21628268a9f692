"""The ``openai-compatible`` prompt writer: a chat-completions endpoint writes the shots.

Any server that speaks OpenAI's ``POST /v1/chat/completions`` works: a local Ollama
(``http://localhost:11434/v1``), a llama.cpp server (``http://localhost:8080/v1``), vLLM,
or a hosted one. URL, model and key come from ``llm_url``/``llm_model``/``llm_api_key``
or ``MUSICVID_LLM_URL``/``MUSICVID_LLM_MODEL``/``MUSICVID_LLM_API_KEY``.

The writer sends the song (tempo, sections), the lyrics if any, the concept and the
planned shots with their template drafts, and asks for JSON: ``{"shots": [{"index": 0,
"prompt": "...", "negative_prompt": "...", "motion": "zoom-in"}, ...]}``, one entry per
shot. The answer is validated (every index once, a non-empty prompt each, a known motion
hint or none); each prompt is fitted to CLIP's 77 tokens and keeps the concept. A failed
request (no server, HTTP error, timeout, malformed JSON, a refusal, a wrong shot list) is
retried once; a second failure falls back to the template prompts with a warning naming
the reason (also in ``storyboard.meta["prompt_writer"]["fallback"]``), so a render never
waits on, or fails because of, the language model. Each request is bounded by
``llm_timeout`` seconds. Good answers are cached on disk under a hash of everything that
was asked, so a re-render asks nothing.

Only the standard library is used for HTTP.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from typing import Any

from ..cache import Cache, cache_key
from ..planning.prompts import MAX_TOKENS
from ..planning.writers import (
    MOTION_HINTS,
    ShotText,
    TemplateWriter,
    WriterRequest,
    fit_parts,
    fit_text,
)

__all__ = ["OpenAICompatibleWriter", "WriterFailed", "parse_answer"]

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 2 * 1024 * 1024
MAX_PROMPT_CHARS = 600
ATTEMPTS = 2  # the first try and one retry

SYSTEM = (
    "You write the shot list of a music video for an image model (Stable Diffusion XL). "
    "For each planned shot, write one vivid, concrete image prompt of at most 50 words: "
    "subject, action, place, light, framing, comma-separated, no sentences, no text or "
    "logos in the image. Keep the same subject and world across every shot so the video "
    "looks like one piece, but let the section roles change what happens, the framing and "
    "the place or light (verses, choruses and bridges must look different). If a concept "
    "is given, it is the subject, world and story of every shot. Answer with JSON only, "
    'exactly: {"shots": [{"index": <int>, "prompt": <string>, "negative_prompt": <string, '
    'optional>, "motion": <optional, one of ' + ", ".join(MOTION_HINTS) + ">}]} with one "
    "entry for each shot index, in order."
)

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["shots"],
    "properties": {"shots": {"type": "array", "items": {
        "type": "object", "required": ["index", "prompt"],
        "properties": {"index": {"type": "integer", "minimum": 0},
                       "prompt": {"type": "string", "minLength": 1,
                                  "maxLength": MAX_PROMPT_CHARS},
                       "negative_prompt": {"type": "string", "maxLength": MAX_PROMPT_CHARS},
                       "motion": {"enum": list(MOTION_HINTS)}}}}},
}


class WriterFailed(Exception):
    """Why an answer could not be used (the message is the reason in the warning)."""


def _endpoint(url: str) -> str:
    url = url.strip().rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    return url + "/chat/completions"


def _post(url: str, body: dict[str, Any], key: str | None, timeout: float) -> Any:
    """POST JSON; the whole exchange (connect, send, read) within ``timeout`` seconds."""
    data = json.dumps(body).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - user's URL
            chunks, size = [], 0
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WriterFailed(f"timed out after {timeout:g} s")
                chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise WriterFailed(f"the answer is larger than {MAX_RESPONSE_BYTES} bytes")
                chunks.append(chunk)
    except WriterFailed:
        raise
    except urllib.error.HTTPError as exc:
        detail = ""
        try:
            detail = exc.read(300).decode("utf-8", "replace").strip()
        except Exception:  # the error body is only a detail
            pass
        raise WriterFailed(f"HTTP {exc.code} from {url}" + (f": {detail}" if detail else "")
                           ) from None
    except (TimeoutError, OSError) as exc:  # URLError is an OSError; socket timeouts too
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError) or "timed out" in str(reason).lower():
            raise WriterFailed(f"timed out after {timeout:g} s") from None
        raise WriterFailed(f"could not reach {url}: {reason}") from None
    try:
        return json.loads(b"".join(chunks).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WriterFailed(f"the server's reply is not JSON: {exc}") from None


def _strip_fences(text: str) -> str:
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        if text.rstrip().endswith("```"):
            text = text.rstrip()[:-3]
    return text.strip()


def parse_answer(reply: Any, n: int) -> list[dict[str, Any]]:
    """The validated shot list from a chat-completions ``reply`` for ``n`` shots
    (sorted by index), or :class:`WriterFailed` saying what is wrong."""
    try:
        message = reply["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise WriterFailed("the reply has no choices[0].message") from None
    if not isinstance(message, dict):
        raise WriterFailed("the reply has no choices[0].message")
    if message.get("refusal"):
        raise WriterFailed(f"the model refused: {str(message['refusal'])[:200]}")
    content = message.get("content")
    if not isinstance(content, str) or not content.strip():
        raise WriterFailed("the model's answer is empty")
    try:
        data = json.loads(_strip_fences(content))
    except json.JSONDecodeError:
        snippet = " ".join(content.split())[:120]
        raise WriterFailed(f"the model did not answer with JSON (it said: {snippet!r})") from None
    if not isinstance(data, dict) or not isinstance(data.get("shots"), list):
        raise WriterFailed('the answer is not an object with a "shots" list')
    shots: dict[int, dict[str, Any]] = {}
    for i, item in enumerate(data["shots"]):
        if not isinstance(item, dict):
            raise WriterFailed(f"shots[{i}] is not an object")
        index = item.get("index")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
            raise WriterFailed(f"shots[{i}] has no index from 0 to {n - 1}")
        if index in shots:
            raise WriterFailed(f"shot {index} is answered twice")
        prompt = item.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise WriterFailed(f"shot {index} has no prompt")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise WriterFailed(f"shot {index}'s prompt is longer than {MAX_PROMPT_CHARS} "
                               "characters")
        neg = item.get("negative_prompt")
        if neg is not None and (not isinstance(neg, str) or len(neg) > MAX_PROMPT_CHARS):
            raise WriterFailed(f"shot {index}'s negative_prompt is not a short string")
        motion = item.get("motion")
        if motion is not None and motion not in MOTION_HINTS:
            motion = None  # an unknown hint is only a hint: the planner chooses
        shots[index] = {"prompt": " ".join(prompt.split()),
                        "negative_prompt": " ".join(neg.split()) if neg else None,
                        "motion": motion}
    missing = [i for i in range(n) if i not in shots]
    if missing:
        raise WriterFailed(f"the answer has {len(shots)} of {n} shots (missing "
                           f"{', '.join(map(str, missing[:8]))})")
    return [shots[i] for i in range(n)]


def _lyrics_payload(lyrics: Any) -> Any:
    if lyrics is None:
        return None
    if isinstance(lyrics, str):
        return lyrics[:4000]
    to_dict = getattr(lyrics, "to_dict", None)
    if callable(to_dict):
        lyrics = to_dict()
    try:
        text = json.dumps(lyrics, default=str)
    except (TypeError, ValueError):
        return str(lyrics)[:4000]
    return json.loads(text) if len(text) <= 8000 else text[:8000]


class OpenAICompatibleWriter:
    """Prompts from a chat-completions endpoint, with the template as a safety net."""

    name = "openai-compatible"
    version = 1

    def messages(self, request: WriterRequest) -> list[dict[str, str]]:
        a = request.analysis
        song = {"duration_s": round(a.duration, 2), "tempo_bpm": round(float(a.tempo), 1),
                "sections": [{"label": s.label, "start_s": round(s.start, 2),
                              "end_s": round(s.end, 2), "energy": round(float(s.energy), 2)}
                             for s in a.sections]}
        c = request.config
        task = {
            "song": song,
            "lyrics": _lyrics_payload(request.lyrics),
            "concept": request.concept,
            "section_prompts": request.section_prompts or None,
            "style": {"genre": c.genre.value, "style": c.style.value,
                      "palette": c.palette.value, "look": request.identity.look,
                      "tone": request.identity.tone},
            "shots": [{"index": b.index, "start_s": round(b.start, 2), "end_s": round(b.end, 2),
                       "section": b.section, "role": b.role, "energy": round(b.energy, 2),
                       "draft": b.draft} for b in request.shots],
        }
        return [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": json.dumps(task, ensure_ascii=False)}]

    def _ask(self, url: str, body: dict[str, Any], key: str | None, timeout: float,
             n: int) -> list[dict[str, Any]]:
        reasons = []
        for attempt in range(ATTEMPTS):
            try:
                return parse_answer(_post(url, body, key, timeout), n)
            except WriterFailed as exc:
                reasons.append(str(exc))
                log.info("prompt writer %s: attempt %d failed: %s", self.name, attempt + 1, exc)
                if str(exc).startswith(("HTTP 400", "HTTP 422")):
                    # some servers do not take response_format: ask once more without it
                    body = {k: v for k, v in body.items() if k != "response_format"}
        raise WriterFailed(reasons[-1] if len(set(reasons)) == 1 else "; then ".join(reasons))

    def write(self, request: WriterRequest) -> list[ShotText]:
        c = request.config
        url = c.llm_url or os.environ.get("MUSICVID_LLM_URL")
        model = c.llm_model or os.environ.get("MUSICVID_LLM_MODEL")
        key = c.llm_api_key or os.environ.get("MUSICVID_LLM_API_KEY") or None
        notes = request.notes
        notes.update({"url": url, "model": model})
        if not request.shots:
            return []
        if not url or not model:
            return self._fallback(request, "no endpoint: set llm_url and llm_model "
                                           "(MUSICVID_LLM_URL, MUSICVID_LLM_MODEL)")
        endpoint = _endpoint(url)
        body = {"model": model, "messages": self.messages(request), "temperature": 0.7,
                "seed": c.seed, "response_format": {"type": "json_object"}}
        cache = Cache(c.cache_root()) if c.use_cache else None
        key_ = cache_key("prompts", {"writer": self.name, "v": self.version,
                                     "endpoint": endpoint, "body": body})
        answer = cache.get_json("prompts", key_) if cache is not None else None
        if answer is not None and len(answer) == len(request.shots):
            notes["cached"] = True
        else:
            try:
                answer = self._ask(endpoint, body, key, c.llm_timeout, len(request.shots))
            except WriterFailed as exc:
                return self._fallback(request, str(exc))
            if cache is not None:
                cache.put_json("prompts", key_, answer)
            notes["cached"] = False
        return [self._finish(request, item) for item in answer]

    def _finish(self, request: WriterRequest, item: dict[str, Any]) -> ShotText:
        """Fit the model's prompt to CLIP's window, keeping the concept in it."""
        prompt = item["prompt"]
        concept = request.concept
        if concept and concept.lower() not in prompt.lower():
            prompt = fit_parts([(0, concept), (1, fit_text(
                prompt, MAX_TOKENS - request.count_tokens(concept) - 1,
                request.count_tokens).text)], request.count_tokens)
        else:
            prompt = fit_text(prompt, MAX_TOKENS, request.count_tokens).text
        neg = item.get("negative_prompt")
        if neg:
            neg = fit_text(neg, MAX_TOKENS, request.count_tokens).text
        return ShotText(prompt, neg or None, item.get("motion"))

    def _fallback(self, request: WriterRequest, reason: str) -> list[ShotText]:
        log.warning("prompt writer %s: %s; using the template prompts", self.name, reason)
        request.notes["fallback"] = reason
        return TemplateWriter().write(request)
