"""The documentation and the public surface stay true to the code.

Like datasette's: a hook without a section in docs/plugins.md, or without a test that
implements it, fails here; so does a public name missing from ``musicvid.__all__``, a CLI
option missing from docs/cli.md (or one documented there that does not exist), a config
field or environment variable missing from docs/configuration.md, and a docs page that is
not in the mkdocs nav or links outside docs/.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import re
import types
from pathlib import Path

import pytest

import musicvid
from musicvid import errors, hookspecs, protocols
from musicvid.cli import build_parser
from musicvid.config import RenderConfig
from musicvid.plugins import DEFAULT_PLUGINS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TESTS = ROOT / "tests"


def sections(path: Path, level: int = 2) -> dict[str, str]:
    """Heading text -> the text under it, up to the next heading of ``level`` or higher."""
    out: dict[str, str] = {}
    title = None
    body: list[str] = []
    fence = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fence = not fence
        m = None if fence else re.match(rf"(#{{1,{level}}}) (.*)", line)
        if m:
            if title is not None:
                out[title] = "\n".join(body)
            title, body = m.group(2).strip(), []
        elif title is not None:
            body.append(line)
    if title is not None:
        out[title] = "\n".join(body)
    return out


def section_for(secs: dict[str, str], name: str) -> str | None:
    """The body of the section whose heading names ``name`` as a word."""
    pattern = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
    hits = [body for title, body in secs.items() if pattern.search(title)]
    return hits[0] if hits else None


def mentions(text: str, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


# -- hooks --------------------------------------------------------------------------------

HOOKS = sorted(name for name, obj in vars(hookspecs).items()
               if callable(obj) and hasattr(obj, "musicvid_spec"))


def test_there_are_hooks_to_check():
    assert "register_analyzers" in HOOKS and "adjust_storyboard" in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook):
    body = section_for(sections(DOCS / "plugins.md"), hook)
    assert body is not None, f"docs/plugins.md has no '## ... {hook} ...' section"
    for param in inspect.signature(getattr(hookspecs, hook)).parameters:
        assert mentions(body, param), f"the {hook} section does not describe {param!r}"
    assert "```python" in body, f"the {hook} section has no example"
    for module in DEFAULT_PLUGINS:
        if hasattr(importlib.import_module(module), hook):
            assert module in body, f"the {hook} section does not name its default {module}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_exercised_by_a_test(hook):
    impl = re.compile(rf"def\s+{hook}\s*\(")
    files = [p.name for p in TESTS.glob("test_*.py")
             if p.name != "test_docs.py" and impl.search(p.read_text(encoding="utf-8"))]
    assert files, f"no test in tests/ implements the {hook} hook"


def test_the_hook_examples_in_the_guide_run(tmp_path, click):
    """Each hook section's example, loaded as one plugin, renders a video."""
    from musicvid.plugins import get_plugin_manager, reset_plugin_manager

    secs = sections(DOCS / "plugins.md")
    plugin = types.ModuleType("guide_examples")
    for hook in HOOKS:
        blocks = re.findall(r"```python\n(.*?)```", section_for(secs, hook) or "", re.S)
        runnable = [b for b in blocks if "import" in b and "@hookimpl" in b]
        assert len(runnable) == 1, f"the {hook} section needs one complete example"
        namespace: dict = {}
        exec(compile(runnable[0], f"plugins.md:{hook}", "exec"), namespace)
        setattr(plugin, hook, namespace[hook])
    reset_plugin_manager()
    get_plugin_manager().register(plugin, name="guide")
    audio, _ = click(duration=3.0)
    out = tmp_path / "frames"
    result = musicvid.render(audio, out, analyzer="grid128", keyframes="poster",
                             motion="still", compositor="png-frames", width=64, height=36,
                             keyframe_width=64, keyframe_height=36)
    assert result.analysis.tempo == 128.0
    assert len(list(out.glob("*.png"))) == result.composite.frame_count == 90
    assert result.stats["keyframes_generated"] >= 1
    reset_plugin_manager()


# -- stage protocols ----------------------------------------------------------------------

PROTOCOLS = {name: obj for name, obj in vars(protocols).items()
             if inspect.isclass(obj) and getattr(obj, "_is_protocol", False)
             and obj.__module__ == protocols.__name__}


def protocol_members(cls: type) -> set[str]:
    own = {n for n, v in vars(cls).items() if callable(v) and not n.startswith("_")}
    return own | set(getattr(cls, "__annotations__", {}))


def optional_members() -> set[str]:
    """Attributes the pipeline and executors look up with ``getattr(stage, "name")``
    (musicvid.stages reads the base-class members from any stage)."""
    found: set[str] = set()
    for path in [ROOT / "musicvid" / "pipeline.py", *(ROOT / "musicvid").glob("_*_phase.py"),
                 ROOT / "musicvid" / "stages.py", ROOT / "musicvid" / "budget.py",
                 *(ROOT / "musicvid" / "executors").glob("*.py")]:
        found |= set(re.findall(r'getattr\(\w+, "(\w+)"', path.read_text(encoding="utf-8")))
    return found


def test_every_stage_protocol_and_member_is_documented():
    assert set(PROTOCOLS) >= {"Analyzer", "KeyframeGenerator", "MotionGenerator", "Compositor"}
    secs = sections(DOCS / "plugins.md", level=3)
    for name, cls in PROTOCOLS.items():
        body = section_for(secs, name)
        assert body is not None, f"docs/plugins.md has no section for the {name} protocol"
        for member in protocol_members(cls):
            assert mentions(body, member), f"the {name} section does not describe {member}"
    text = (DOCS / "plugins.md").read_text(encoding="utf-8")
    opt = optional_members()
    assert {"preflight", "shot_key_parts", "calibrate", "cacheable"} <= opt
    for member in opt:
        assert mentions(text, member), f"docs/plugins.md does not describe optional {member}"


def test_plugin_guide_covers_the_switches_and_testing_kit():
    text = (DOCS / "plugins.md").read_text(encoding="utf-8")
    from musicvid.testing import __all__ as testing_all
    from musicvid.testing import pytest_plugin

    fixtures = [n for n in vars(pytest_plugin) if n.startswith("musicvid_")]
    assert {"musicvid_tiny_models", "musicvid_click_track", "musicvid_isolated"} <= set(fixtures)
    for word in ["MUSICVID_LOAD_PLUGINS", "MUSICVID_TRACE_HOOKS", "python -m musicvid.testing",
                 "tiny-models", "click-track", *fixtures,
                 *[n for n in testing_all if not n.startswith("build_")]]:
        assert word in text, f"docs/plugins.md does not mention {word}"


# -- the public API -----------------------------------------------------------------------

# Public names of the flat modules that stay in their module on purpose (import them from
# there); anything else public there must be re-exported from musicvid.
SUBMODULE_ONLY = {
    "FEW_STEP_PRESETS": "musicvid.config: sampler presets behind --few-step",
    "default_cache_dir": "musicvid.config: RenderConfig.cache_root() is the public way",
    "DEFAULT_IP_ADAPTER": "musicvid.config: the default of RenderConfig.ip_adapter_model",
    "parse_section_prompts": "musicvid.config: RenderConfig parses section_prompts itself",
    "section_prompt_value": "musicvid.config: the parser behind --section-prompt",
    "MAX_CONCEPT_CHARS": "musicvid.config: the longest concept RenderConfig takes",
    "DEFAULT_PLUGINS": "musicvid.plugins: plugin machinery",
    "STAGE_KINDS": "musicvid.plugins: plugin machinery",
    "reset_plugin_manager": "musicvid.plugins: for tests (musicvid_isolated uses it)",
    "tagged": "musicvid.errors: the pipeline's one wrapper around stage calls",
    "is_retryable": "musicvid.errors: the retry policy, for job runners",
    "create_stage": "musicvid.pipeline: the default stage factory of a Pipeline",
    "StageFactory": "musicvid.pipeline: the type of Pipeline(stage_factory=...)",
}
FLAT_MODULES = ["config", "errors", "pipeline", "plugins", "protocols", "types"]


def test_all_names_exist_and_are_unique():
    assert len(musicvid.__all__) == len(set(musicvid.__all__))
    for name in musicvid.__all__:
        assert hasattr(musicvid, name), f"musicvid.__all__ lists {name}, which does not exist"


def test_every_error_and_protocol_is_exported():
    errs = [n for n, v in vars(errors).items()
            if inspect.isclass(v) and issubclass(v, errors.MusicVidError)]
    assert len(errs) >= 11
    for name in errs + list(PROTOCOLS):
        assert name in musicvid.__all__, f"{name} is not in musicvid.__all__"


@pytest.mark.parametrize("modname", FLAT_MODULES)
def test_public_names_of_reexported_modules_are_exported(modname):
    mod = importlib.import_module(f"musicvid.{modname}")
    defined = {n for n, v in vars(mod).items()
               if not n.startswith("_") and (inspect.isclass(v) or inspect.isfunction(v))
               and getattr(v, "__module__", None) == mod.__name__}
    missing_from_module = defined - set(mod.__all__)
    assert not missing_from_module, f"musicvid.{modname} defines public {missing_from_module} " \
                                    "outside its __all__"
    for name in mod.__all__:
        assert name in musicvid.__all__ or name in SUBMODULE_ONLY, (
            f"musicvid.{modname}.{name} is public but not exported from musicvid "
            "(export it, or list it in SUBMODULE_ONLY with a reason)")


def test_every_public_name_is_in_the_python_api_page():
    text = (DOCS / "python-api.md").read_text(encoding="utf-8")
    for name in musicvid.__all__:
        assert mentions(text, name), f"docs/python-api.md does not mention {name}"


def test_planning_exports_plan():
    assert musicvid.plan is importlib.import_module("musicvid.planning").plan


def resolve(dotted: str) -> bool:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def test_names_in_the_docs_exist():
    pattern = re.compile(r"(?<![\w/.-])musicvid(?:\.[A-Za-z_]\w*)+")
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for dotted in sorted(set(pattern.findall(text))):
            dotted = dotted.rstrip(".")
            if dotted.endswith((".md", ".json", ".py", ".toml", ".yml")):
                continue
            assert resolve(dotted), f"{page.name} mentions {dotted}, which does not exist"


# -- the command line ---------------------------------------------------------------------

def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def options(parser: argparse.ArgumentParser) -> list[str]:
    return [s for a in parser._actions for s in a.option_strings if s not in ("-h", "--help")]


COMMON = "Common options"  # the cli.md section for options several subcommands share


def test_every_subcommand_and_option_is_in_cli_md():
    secs = sections(DOCS / "cli.md")
    common = section_for(secs, COMMON) or ""
    cmds = subcommands()
    assert {"render", "plan", "analyze", "plugins"} <= set(cmds)
    # the options every command that takes AUDIO accepts (the render options, -v)
    takes_audio = [p for p in cmds.values() if any(a.dest == "audio" for a in p._actions)]
    shared = set.intersection(*(set(options(p)) for p in takes_audio))
    assert {"--genre", "--verbose", "--analyzer"} <= shared and "--output" not in shared
    for opt in shared:
        assert mentions(common, opt), f"docs/cli.md: {COMMON} does not list {opt}"
    for name, parser in cmds.items():
        body = section_for(secs, f"musicvid {name}")
        assert body is not None, f"docs/cli.md has no section for `musicvid {name}`"
        if any(o in shared for o in options(parser)):
            assert "(#common-options)" in body, f"`musicvid {name}` does not link {COMMON}"
        for opt in options(parser):
            where = common if opt in shared else body
            assert mentions(where, opt), f"docs/cli.md: `musicvid {name}` does not list {opt}"
        for action in parser._actions:
            if not action.option_strings and action.dest != "help":
                assert mentions(body, action.dest.upper()), \
                    f"docs/cli.md: `musicvid {name}` does not describe {action.dest.upper()}"
            for choice in action.choices or []:
                where = common if set(action.option_strings) & shared else body
                assert mentions(where, str(choice)), \
                    f"docs/cli.md does not list {action.dest} {choice!r}"
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    for opt in options(build_parser()):
        assert mentions(text, opt)


def test_cli_md_documents_no_option_that_does_not_exist():
    real = set(options(build_parser())) | {"-h", "--help"}
    for parser in subcommands().values():
        real |= set(options(parser))
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    written = set(re.findall(r"(?<![\w-])--?[a-z][a-z0-9-]*", text))
    assert not written - real, f"docs/cli.md mentions options that do not exist: {written - real}"


# -- configuration ------------------------------------------------------------------------

ENV_READ = re.compile(r'(?:os\.environ\.get\(|os\.environ\[|os\.getenv\(|_env_flag\()\s*"([A-Z][A-Z0-9_]+)"')
# read by libraries musicvid drives, not by musicvid's own code
ENV_THIRD_PARTY = ["HF_TOKEN", "HF_HUB_OFFLINE", "NUMBA_CACHE_DIR"]


def env_vars_read() -> set[str]:
    from musicvid.options import iter_options

    names: set[str] = {spec.env for spec in iter_options() if spec.env}  # the schema's
    for pkg in ("musicvid", "musicvid_server"):
        for path in (ROOT / pkg).rglob("*.py"):
            names |= set(ENV_READ.findall(path.read_text(encoding="utf-8")))
    return names


def test_every_environment_variable_is_in_configuration_md():
    found = env_vars_read()
    assert {"SOTA_CPU_ONLY", "MUSICVID_LOAD_PLUGINS", "MUSICVID_MAX_LOADED_PIPELINES",
            "MUSICVID_SDXL_MODEL"} <= found
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for name in sorted(found | set(ENV_THIRD_PARTY)):
        assert mentions(text, name), f"docs/configuration.md does not describe {name}"


def test_every_render_config_field_is_in_configuration_md():
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for f in dataclasses.fields(RenderConfig):
        assert f"`{f.name}`" in text, f"docs/configuration.md does not describe {f.name}"
    for profile in ("cpu", "gpu"):
        assert mentions(text, profile)


# -- the site -----------------------------------------------------------------------------

def test_every_page_is_in_the_mkdocs_nav_and_every_nav_entry_exists():
    nav = set(re.findall(r"([\w/-]+\.md)", (ROOT / "mkdocs.yml").read_text(encoding="utf-8")))
    pages = {p.name for p in DOCS.glob("*.md")}
    assert pages == nav, f"not in the nav: {pages - nav}; missing files: {nav - pages}"


LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_links_stay_inside_docs_and_resolve(page):
    text = (DOCS / page).read_text(encoding="utf-8")
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (DOCS / target.split("#")[0]).resolve()
        assert path.is_relative_to(DOCS.resolve()), f"{page} links outside docs/: {target}"
        assert path.is_file(), f"{page} links to a missing file: {target}"
