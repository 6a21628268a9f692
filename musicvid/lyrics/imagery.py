"""The imagery of a sung line: the words a picture can show.

The rule, deterministic and the same on every machine (no tagger, no model):

1. Lower-case the line and split it into words of letters (an apostrophe joins, so
   ``don't`` is one word); drop words of fewer than three letters.
2. Drop :data:`STOP_WORDS`: articles, pronouns, prepositions, conjunctions, auxiliary
   and common verbs (be, have, go, know, want, feel...), adverbs of time and degree, and
   vocables (oh, yeah, la, na...). What is left is nearly always the line's nouns and
   adjectives ("city", "lights", "golden", "fire"), with the odd vivid verb.
3. Drop words ending in ``ly`` (adverbs) and contractions.
4. Keep the first :data:`MAX_IMAGERY_WORDS` distinct words in sung order.

The words join with spaces (``"city lights burning bright"``) and go into the shot's
prompt right after the video's look, so they outrank the section's framing and lens when
the prompt must shrink to CLIP's 77 tokens.
"""

from __future__ import annotations

import re

__all__ = ["MAX_IMAGERY_WORDS", "STOP_WORDS", "imagery", "imagery_words", "line_key"]

MAX_IMAGERY_WORDS = 8

STOP_WORDS: frozenset[str] = frozenset("""
a about above across after again against ago all almost alone along already also always am
among an and another any anybody anyone anything anyway are around as at away back be
became because become been before began begin behind being below beside besides best better
between beyond both but by came can cannot could did do does doing done down during each
either else enough even ever every everybody everyone everything far few for from gave get
gets getting give given gives go goes going gone gonna gotta got had has have having he
her here hers herself him himself his how however i if in inside instead into is it its
itself just keep kept knew know known knows least less let lets like made make makes many
may maybe me might mine more most much must my myself near need needs never next no nobody
none nor not nothing now of off often on once one only onto or other others our ours
ourselves out outside over own put quite rather really said same saw say says see seem
seen she should since so some somebody someone something sometimes soon still such take
taken takes tell than that the their theirs them themselves then there these they thing
things think this those though through thus till to told too took toward towards try
under until up upon us very via want wanna wants was way we well went were what whatever
when where whether which while who whole whom whose why will with within without won
would yet you your yours yourself yourselves
feel feels felt come comes coming call calls called look looks looking find found
let's i'm you're we're they're it's that's don't can't won't ain't
oh ooh ah uh yeah yea hey whoa woah mmm hmm na la da doo ooo ohh yeah-yeah baby
tonight today tomorrow yesterday again forever ever anymore
""".split())

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")


def imagery_words(line: str, limit: int = MAX_IMAGERY_WORDS) -> list[str]:
    """The words of ``line`` a picture can show (see the module docstring)."""
    out: list[str] = []
    for w in _WORD.findall(line.lower().replace("’", "'")):
        if len(w) < 3 or w in STOP_WORDS or "'" in w or w.endswith("ly"):
            continue
        if w not in out:
            out.append(w)
        if len(out) >= limit:
            break
    return out


def imagery(line: str, limit: int = MAX_IMAGERY_WORDS) -> str:
    """:func:`imagery_words` joined with spaces (empty when none)."""
    return " ".join(imagery_words(line, limit))


def line_key(line: str) -> str:
    """What makes two sung lines "the same line": lower-case letters and digits only."""
    return " ".join(re.findall(r"[^\W_]+", line.lower().replace("’", "'")))
