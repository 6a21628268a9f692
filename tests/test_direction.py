"""The user's direction: a concept in every prompt, per-section prompts, the writer hook."""

import json
import logging

import pytest
from test_planning import SONG, click_analysis

from musicvid import InvalidOptionError, MusicVidError, RenderConfig, hookimpl, plan
from musicvid.planning import prompts as P
from musicvid.planning.writers import (
    CONCEPT_MAX_TOKENS,
    ROLE_SETTINGS,
    ShotText,
    fit_parts,
    fit_text,
    token_counter,
)
from musicvid.plugins import get_plugin_manager, list_stages
from musicvid.testing.tiny_models import write_tiny_tokenizer

SONG_WITH_BRIDGE = [("intro", 0, 0.2), ("verse", 1, 0.45), ("chorus", 2, 0.9),
                    ("bridge", 3, 0.5), ("chorus", 2, 0.9), ("outro", 4, 0.25)]
CONCEPT = "a lighthouse keeper in a storm"


def board_for(layout=SONG, **options):
    analysis, _ = click_analysis(120, 48.0, layout)
    return plan(analysis, RenderConfig.create(fps=30, seed=4, **options))


def test_a_concept_is_in_every_prompt_and_replaces_subject_and_world():
    cfg = RenderConfig.create(seed=4)
    ident = P.choose_identity(cfg)
    board = board_for(SONG_WITH_BRIDGE, concept=CONCEPT)
    assert len(board.shots) > 6
    for s in board.shots:
        assert CONCEPT in s.prompt
        assert ident.subject not in s.prompt and ident.world not in s.prompt
        assert P.estimate_clip_tokens(s.prompt) <= P.MAX_TOKENS
    assert board.meta["concept"] == {"text": CONCEPT, "used": CONCEPT, "cut": "",
                                     "tokens": P.estimate_clip_tokens(CONCEPT)}
    # the section roles still vary the action and the framing
    for role in ("verse", "chorus", "bridge"):
        shots = [s for s in board.shots if s.section == role]
        assert all(P.ROLES[role][0] in s.prompt for s in shots)
    chorus = [s.prompt for s in board.shots if s.section == "chorus"]
    assert len(set(chorus)) > 1


def test_a_long_concept_is_cut_at_a_word_and_the_cut_is_reported(caplog):
    words = ("an old lighthouse keeper with a grey beard and a yellow raincoat climbs the "
             "spiral stairs of a crumbling stone tower while enormous waves crash against "
             "the rocks below and seagulls circle in the torn clouds above the harbour town "
             "where his daughter waits by the window with a lantern")
    with caplog.at_level(logging.WARNING):
        board = board_for(concept=words)
    meta = board.meta["concept"]
    assert meta["cut"] and words == f"{meta['used']} {meta['cut']}"
    assert meta["tokens"] <= CONCEPT_MAX_TOKENS
    assert P.estimate_clip_tokens(meta["used"] + " " + meta["cut"].split()[0]) > CONCEPT_MAX_TOKENS
    assert meta["cut"][:30] in caplog.text
    for s in board.shots:
        assert meta["used"] in s.prompt and meta["cut"] not in s.prompt
        assert P.estimate_clip_tokens(s.prompt) <= P.MAX_TOKENS


def test_prompts_are_counted_with_the_models_clip_tokenizer_when_it_is_on_disk(tmp_path):
    (tmp_path / "sdxl" / "tokenizer").mkdir(parents=True)
    write_tiny_tokenizer(tmp_path / "sdxl" / "tokenizer")
    count, kind = token_counter(RenderConfig.create(sdxl_model=str(tmp_path / "sdxl")))
    assert kind == "clip"
    # the tiny vocabulary is byte-level with few merges: about a token per letter
    assert count("storm") > P.estimate_clip_tokens("storm")
    board = board_for(concept=CONCEPT, sdxl_model=str(tmp_path / "sdxl"))
    assert board.meta["prompt_tokens"] == "clip"
    for s in board.shots:
        assert count(s.prompt) <= P.MAX_TOKENS
    assert token_counter(RenderConfig.create())[1] == "estimate"
    # the SDXL stage's own option names the model as well as the flag does
    given = RenderConfig.create(options={"sdxl_model": str(tmp_path / "sdxl")})
    assert token_counter(given)[1] == "clip"


def test_fit_text_and_fit_parts():
    fitted = fit_text("one two three four five", 3)
    assert (fitted.text, fitted.cut, fitted.tokens) == ("one two three", "four five", 3)
    assert fit_text("  short   text ", 10).text == "short text"
    text = fit_parts([(0, "keep " * 80), (1, "drop me")])
    assert "drop" not in text and text == ", ".join(["keep " * 80]).strip()
    text = fit_parts([(0, "keep"), (2, "last " * 40), (1, "second " * 20)])
    assert text == "keep, " + ("second " * 20).strip()


def test_section_prompts_replace_a_sections_action_and_setting():
    board = board_for(SONG_WITH_BRIDGE, concept=CONCEPT,
                      section_prompts={"chorus": "dancing on the rocks in the rain"})
    for s in board.shots:
        assert CONCEPT in s.prompt
        if s.section == "chorus":
            assert "dancing on the rocks in the rain" in s.prompt
            assert P.ROLES["chorus"][0] not in s.prompt
            assert ROLE_SETTINGS["chorus"] not in s.prompt
        else:
            assert "dancing" not in s.prompt
    # by role too: "refrain" is a chorus
    analysis, _ = click_analysis(120, 24.0, [("verse", 0, 0.4), ("refrain", 1, 0.9)])
    b = plan(analysis, RenderConfig.create(section_prompts={"chorus": "a crowd sings along"}))
    assert all(("a crowd sings along" in s.prompt) == (s.section == "refrain") for s in b.shots)


def test_section_prompt_option_parsing():
    cfg = RenderConfig.create(section_prompts=['chorus="dancing in the rain"', "Bridge=alone"])
    assert cfg.section_prompts == {"chorus": "dancing in the rain", "bridge": "alone"}
    with pytest.raises(InvalidOptionError, match="section-prompt"):
        RenderConfig.create(section_prompts=["chorus"])
    with pytest.raises(InvalidOptionError, match="ip-adapter-scale"):
        RenderConfig.create(ip_adapter_scale=3)


def test_sections_differ_in_light_and_place_while_identity_holds():
    cfg = RenderConfig.create(seed=4, palette="warm")
    ident = P.choose_identity(cfg)
    board = board_for(SONG_WITH_BRIDGE, palette="warm")
    by_role = {}
    for s in board.shots:
        by_role.setdefault(s.section, []).append(s.prompt)
    light = {role: {x for x in P.LIGHTING["warm"] if any(x in p for p in prompts)}
             for role, prompts in by_role.items()}
    assert light["verse"] == {ident.lighting}
    assert light["chorus"] != light["verse"] and light["bridge"] != light["verse"]
    assert light["chorus"] != light["bridge"]
    assert all(ROLE_SETTINGS["bridge"] in p for p in by_role["bridge"])
    for prompts in by_role.values():
        for p in prompts:
            assert ident.subject in p and ident.look in p and ident.tone in p


def test_the_writers_are_registered_like_stages():
    names = {(e.kind, e.name): e.plugin for e in list_stages("prompt_writer")}
    assert names == {("prompt_writer", "template"): "musicvid.defaults.prompt_writers",
                     ("prompt_writer", "openai-compatible"): "musicvid.defaults.prompt_writers"}


def test_a_plugin_writer_gets_everything_and_writes_the_shots():
    seen = {}

    class Poet:
        name = "poet"

        def write(self, request):
            seen["request"] = request
            return [ShotText(f"poem {b.index} for {b.section}", negative_prompt="no rhyme",
                             motion="zoom-out") for b in request.shots]

    class Plugin:
        @hookimpl
        def register_prompt_writers(self, register):
            register(Poet)

    get_plugin_manager().register(Plugin(), name="poet-plugin")
    analysis, _ = click_analysis(120, 48.0, SONG)
    cfg = RenderConfig.create(fps=30, seed=4, prompt_writer="poet", concept=CONCEPT)
    board = plan(analysis, cfg, lyrics="row row row your boat")
    req = seen["request"]
    assert req.analysis is analysis and req.lyrics == "row row row your boat"
    assert req.concept == CONCEPT and req.config is cfg
    # one brief per distinct keyframe, with the template draft to start from
    distinct = {(s.prompt, s.seed) for s in board.shots}
    assert len(req.shots) == len(distinct) < len(board.shots)
    assert all(CONCEPT in b.draft for b in req.shots)
    covered = sorted(i for b in req.shots for i in b.shots)
    assert covered == [s.index for s in board.shots]
    for s in board.shots:
        brief = next(b for b in req.shots if s.index in b.shots)
        assert s.prompt == f"poem {brief.index} for {s.section}"
        assert s.negative_prompt == "no rhyme" and s.motion["hint"] == "zoom-out"
        assert s.motion["zoom_in"] is False  # what the Ken Burns stage reads
    assert board.meta["prompt_writer"]["name"] == "poet"


def test_a_writer_that_answers_wrongly_is_an_error():
    class Lazy:
        name = "lazy"

        def write(self, request):
            return [ShotText("only one")]

    class Plugin:
        @hookimpl
        def register_prompt_writers(self, register):
            register(Lazy)

    get_plugin_manager().register(Plugin(), name="lazy-plugin")
    with pytest.raises(MusicVidError, match="lazy"):
        board_for(prompt_writer="lazy")
    with pytest.raises(MusicVidError, match="nobody"):
        board_for(prompt_writer="nobody")


def test_cli_plan_with_a_concept_and_section_prompts(tmp_path, click):
    from musicvid.cli import main

    audio, _ = click(duration=8.0)
    out = tmp_path / "plan.json"
    rc = main(["plan", str(audio), "-o", str(out), "--concept", CONCEPT,
               "--section-prompt", 'verse="mending the great lamp"'])
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["shots"] and all(CONCEPT in s["prompt"] for s in data["shots"])
    verses = [s for s in data["shots"] if s["section"] == "verse"]
    assert all("mending the great lamp" in s["prompt"] for s in verses)
    assert data["meta"]["concept"]["used"] == CONCEPT


def test_another_family_of_a_role_does_not_repeat_the_first_ones_prompts():
    layout = [("verse", 0, 0.45), ("chorus", 1, 0.9), ("verse", 2, 0.45), ("chorus", 1, 0.9)]
    analysis, _ = click_analysis(120, 48.0, layout)
    board = plan(analysis, RenderConfig.create(fps=30, seed=4))
    first = [s.prompt for s in board.shots if s.section == "verse" and s.group == 0]
    other = [s.prompt for s in board.shots if s.section == "verse" and s.group == 2]
    assert first and other and not set(first) & set(other)
    # the second family goes on where the first one's framings end
    framings = P.ROLES["verse"][1]
    assert [f for f in framings if any(f in p for p in first)] == list(framings[:len(first)])
    assert framings[len(first)] in other[0]
    # once the framings have come round, the light moves on (within the palette)
    ident = P.choose_identity(RenderConfig.create(seed=4))
    from musicvid.planning.writers import template_prompt

    n = len(framings)
    lights = [next(x for x in P.LIGHTING["vibrant"] if x in template_prompt(ident, "verse", v))
              for v in (0, n, 2 * n)]
    assert lights[0] == ident.lighting and len(set(lights)) == 3
    # repeats of one family still share theirs
    choruses = [[s.prompt for s in board.shots if s.section_index == i]
                for i in sorted({s.section_index for s in board.shots if s.section == "chorus"})]
    assert len(choruses) == 2 and choruses[0][:2] == choruses[1][:2]
