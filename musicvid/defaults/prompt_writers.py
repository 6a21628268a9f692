"""The built-in prompt writers: ``template`` (the default) and ``openai-compatible``."""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..planning.writers import TemplateWriter


@hookimpl
def register_prompt_writers(register):  # type: ignore[no-untyped-def]
    from .openai_writer import OpenAICompatibleWriter

    register(TemplateWriter)
    register(OpenAICompatibleWriter)
