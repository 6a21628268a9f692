"""The option schema, stage base classes, stage options, cache-key recipes, the error
and retry policy, and the server's place outside the library."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from fractions import Fraction

import pytest

from musicvid import RenderConfig
from musicvid.cache_keys import analysis_key, clip_key, keyframe_key, stage_parts
from musicvid.cli import build_parser
from musicvid.errors import InvalidOptionError, MusicVidError, StageError, is_retryable, tagged
from musicvid.options import OptionSpec, config_from_args, form_options, iter_options
from musicvid.pipeline import Pipeline
from musicvid.stages import MotionGeneratorBase, stage_option


# -- one option schema ----------------------------------------------------------------------
def test_every_config_field_is_declared_once_in_the_schema():
    specs = {s.name: s for s in iter_options()}
    assert set(specs) == {f.name for f in dataclasses.fields(RenderConfig)}
    assert {n for n, s in specs.items() if s.scope == "job"} == {
        "genre", "style", "palette", "seed",
        "concept", "section_prompts", "reference", "ip_adapter_scale",  # docs/direction.md
        "lyrics", "transcribe", "captions"}  # docs/lyrics.md
    # files come as uploads, never as a text field naming a path on the server
    assert {n for n, s in specs.items() if s.scope == "job" and not s.form} == {"lyrics",
                                                                                 "reference"}
    assert all(isinstance(s, OptionSpec) and s.help for s in specs.values())


def test_the_cli_flags_come_from_the_schema():
    render = build_parser()._subparsers._group_actions[0].choices["render"]
    flags = {f for a in render._actions for f in a.option_strings}
    for spec in iter_options():
        assert (spec.cli_flag in flags) == spec.cli, spec.name
    args = build_parser().parse_args(["render", "a.wav", "-o", "b.mp4", "--genre", "jazz",
                                      "--keyframe-width", "512", "--cpu-offload",
                                      "--time-budget", "12.5", "--option", "kenburns_batch=4"])
    config = config_from_args(args)
    assert (config.genre.value, config.keyframe_width, config.cpu_offload,
            config.time_budget, config.options) == ("jazz", 512, True, 12.5,
                                                    {"kenburns_batch": "4"})
    assert config.steps == RenderConfig.create().steps  # not given: the profile's


def test_integer_options_take_ascii_digits_only():
    parser = build_parser()
    for bad in ("٧", "1_000", "1.5"):
        with pytest.raises(SystemExit):
            parser.parse_args(["render", "a.wav", "-o", "b.mp4", "--seed", bad])


def test_environment_variables_come_from_the_schema(monkeypatch):
    env = {s.env: s.name for s in iter_options() if s.env}
    assert env["MUSICVID_SDXL_MODEL"] == "sdxl_model"
    monkeypatch.setenv("MUSICVID_SDXL_MODEL", "org/fine-tune")
    monkeypatch.setenv("MUSICVID_RAY_ADDRESS", "ray://head:10001")
    config = RenderConfig.create()
    assert (config.sdxl_model, config.ray_address, config.executor) == (
        "org/fine-tune", "ray://head:10001", "ray")
    assert RenderConfig.create(sdxl_model="given/wins").sdxl_model == "given/wins"


def test_the_server_form_and_openapi_read_the_schema():
    from musicvid_server.openapi import job_option_schemas

    assert set(form_options()) == set(job_option_schemas())
    schemas = job_option_schemas()
    assert schemas["genre"]["enum"][:2] == ["pop", "rock"] and schemas["seed"]["type"] == "integer"


# -- the server is a plugin of the command, not a dependency of the library ----------------
def test_the_library_and_its_cli_do_not_import_the_server():
    code = "import sys, musicvid, musicvid.cli; print('musicvid_server' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_serve_comes_from_the_register_commands_hook(monkeypatch):
    import musicvid_server.plugin
    from musicvid.plugins import get_plugin_manager

    # the bundled server's entry point loads even when installed plugins are filtered out
    assert get_plugin_manager().is_registered(musicvid_server.plugin)
    commands = build_parser()._subparsers._group_actions[0].choices
    assert "serve" in commands
    get_plugin_manager().unregister(musicvid_server.plugin)
    assert "serve" not in build_parser()._subparsers._group_actions[0].choices


def test_serve_says_what_to_install_without_the_server_extra(monkeypatch, tmp_path):
    import builtins

    from musicvid.errors import MissingDependencyError
    from musicvid_server.__main__ import serve

    real_import = builtins.__import__

    def no_uvicorn(name, *a, **kw):
        if name == "uvicorn":
            raise ImportError("No module named 'uvicorn'", name="uvicorn")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_uvicorn)
    args = build_parser().parse_args(["serve", "--data-dir", str(tmp_path)])
    with pytest.raises(MissingDependencyError, match=r"musicvid\[server\]"):
        serve(args)


def test_serve_takes_stage_options_of_its_stages(tmp_path):
    from musicvid_server.app import create_app
    from musicvid_server.settings import settings_from_args

    args = build_parser().parse_args(["serve", "--data-dir", str(tmp_path), "--motion", "auto",
                                      "--option", "svd_steps=12"])
    settings = settings_from_args(args)
    assert settings.render_options == {"motion": "auto", "options": {"svd_steps": "12"}}
    create_app(settings)  # the settings are checked here, before the server starts


# -- stage options ----------------------------------------------------------------------------
def _pipe(**kw):
    return Pipeline(RenderConfig.create(**kw))


def test_an_unknown_stage_option_names_the_valid_keys():
    with pytest.raises(InvalidOptionError) as info:
        _pipe(options={"kenburns_bach": "4"}).check_options()
    assert "kenburns_bach" in str(info.value) and "kenburns_batch" in str(info.value)


def test_an_option_of_no_selected_stage_is_an_error():
    with pytest.raises(InvalidOptionError) as info:  # svd is not selected: kenburns is
        _pipe(options={"svd_steps": "12"}).check_options()
    assert "svd_steps" in str(info.value) and "kenburns_backend" in str(info.value)
    _pipe(motion="auto", options={"svd_steps": "12", "kenburns_batch": "2"}).check_options()


def test_stage_options_enter_the_cache_keys_by_construction():
    def identity(**options):
        pipe = _pipe(motion="svd", options=options)
        return pipe.stage_identity("motion", pipe._ctx("motion"))

    base = identity()
    assert base["options"]["svd"]["steps"] == 25
    assert identity(svd_steps="12") != base
    assert identity(svd_offload="sequential") == base  # how, not what: not in the key


def test_a_third_party_stage_gets_typed_options():
    @dataclasses.dataclass(frozen=True)
    class Options:
        amount: float = stage_option(0.5, hint="a number")
        mode: str = stage_option("soft", choices=("soft", "hard"))

    class Wobble(MotionGeneratorBase):
        name = "wobble"

        def animate(self, *a):
            raise AssertionError

    Wobble.Options = Options
    config = RenderConfig.create(options={"wobble_amount": "0.8", "wobble_mode": "hard"})
    ctx = Pipeline(config)._ctx("motion")
    opts = Wobble().options(ctx)
    assert (opts.amount, opts.mode) == (0.8, "hard")
    with pytest.raises(InvalidOptionError, match="soft"):
        Wobble().preflight(Pipeline(RenderConfig.create(options={"wobble_mode": "x"}))._ctx("m"))



def test_a_stage_option_can_alias_a_config_field():
    from musicvid.stages import config_option

    @dataclasses.dataclass(frozen=True)
    class Options:
        steps: int = config_option("steps")
        codec: str = config_option("codec", key=False)

    class Painter(MotionGeneratorBase):
        name = "painter"

        def animate(self, *a):
            raise AssertionError

    Painter.Options = Options

    def ctx(**kw):
        return Pipeline(RenderConfig.create(**kw))._ctx("motion")

    assert Painter().options(ctx(steps=12)).steps == 12  # the flag's field
    assert Painter().options(ctx(steps=12, options={"painter_steps": "30"})).steps == 30
    assert Painter().options(ctx()).codec == "libx264"
    # a given value is checked by RenderConfig's own rules, and the error names the key
    with pytest.raises(InvalidOptionError, match="painter_steps.*1 to 200"):
        Painter().options(ctx(options={"painter_steps": "0"}))
    with pytest.raises(InvalidOptionError, match="painter_steps"):
        Painter().options(ctx(options={"painter_steps": "many"}))
    # keyed by value, whichever way it was set; key=False stays out
    from musicvid.stages import stage_options_key

    assert stage_options_key(Painter(), ctx(steps=12)) == {"painter": {"steps": 12}}
    assert (stage_options_key(Painter(), ctx(options={"painter_steps": "12"}))
            == stage_options_key(Painter(), ctx(steps=12)))


def test_plugins_options_lists_an_aliased_option_with_its_flag():
    from musicvid.cli import _stage_option_rows
    from musicvid.stages import config_option

    @dataclasses.dataclass(frozen=True)
    class Options:
        steps: int = config_option("steps")

    class Painter(MotionGeneratorBase):
        name = "painter"

    Painter.Options = Options
    (row,) = _stage_option_rows(Painter)
    assert row["key"] == "painter_steps"
    assert row["default"] == RenderConfig.__dataclass_fields__["steps"].default
    assert "--steps" in row["help"]

# -- cache-key recipes -------------------------------------------------------------------------
def test_cache_key_recipes_are_pure_and_change_with_each_input():
    stage = stage_parts("sdxl", 2, {}, {"model": "m", "steps": 18})
    assert stage == stage_parts("sdxl", 2, {}, {"steps": 18, "model": "m"})
    k = keyframe_key(stage, {}, "a lighthouse", "blurry", 7)
    assert k == keyframe_key(dict(stage), {}, "a lighthouse", "blurry", 7)
    others = [keyframe_key(stage_parts("sdxl", 3, {}, {"model": "m", "steps": 18}), {},
                           "a lighthouse", "blurry", 7),
              keyframe_key(stage, {"picture": "x"}, "a lighthouse", "blurry", 7),
              keyframe_key(stage, {}, "a lighthouse!", "blurry", 7),
              keyframe_key(stage, {}, "a lighthouse", "", 7),
              keyframe_key(stage, {}, "a lighthouse", "blurry", 8)]
    assert len({k, *others}) == 6
    a = analysis_key("ab" * 32, stage_parts("librosa", 2, {}, {}), Fraction(30))
    assert a != analysis_key("ab" * 32, stage_parts("librosa", 2, {}, {}), Fraction(25))
    clip = dict(keyframe="k", grade=["warm", 1.0], frames=(0, 30), params={}, energy=0.5,
                size=(64, 36), fps=Fraction(30), audio_sha256="a")
    base = clip_key(stage, **clip)
    for change in (dict(frames=(0, 31)), dict(energy=0.6), dict(size=(64, 38)),
                   dict(grade=["cool", 1.0]), dict(audio_sha256="b")):
        assert clip_key(stage, **{**clip, **change}) != base


# -- one error and retry policy ---------------------------------------------------------------
@pytest.mark.parametrize("exc, retry", [
    (RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"), True),
    (MemoryError(), True),
    (type("RayActorError", (Exception,), {})("the actor died"), True),
    (OSError(28, "No space left on device"), True),
    (AttributeError("'NoneType' object has no attribute 'unet'"), False),
    (TypeError("generate() takes 2 positional arguments"), False),
    (FileNotFoundError(2, "No such file"), False),
    (MusicVidError("bad prompt"), False),
    (MusicVidError("busy", retryable=True), True),
])
def test_errors_say_whether_a_retry_can_help(exc, retry):
    assert is_retryable(exc) is retry


def test_tagged_wraps_foreign_errors_and_tags_our_own():
    with pytest.raises(StageError) as info:
        with tagged("keyframes", "sdxl"):
            raise AttributeError("no unet")
    err = info.value
    assert (err.stage, err.plugin, err.retryable) == ("keyframes", "sdxl", False)
    assert isinstance(err.__cause__, AttributeError) and "AttributeError" in str(err)
    with pytest.raises(MusicVidError) as info2:
        with tagged("motion", "svd"):
            raise MusicVidError("gated model", plugin="mine")
    assert (info2.value.stage, info2.value.plugin) == ("motion", "mine")


def test_a_plugin_error_in_a_render_is_tagged_with_its_stage(click, tmp_path):
    import musicvid
    from musicvid import hookimpl
    from musicvid.plugins import get_plugin_manager
    from musicvid.testing import SolidKeyframes

    class Buggy(SolidKeyframes):
        name = "buggy"

        def generate(self, shots, ctx):
            return None.images  # type: ignore[attr-defined]

    class Plugin:
        @hookimpl
        def register_keyframe_generators(self, register):
            register(Buggy)

    get_plugin_manager().register(Plugin(), name="buggy-plugin")
    song, _ = click(duration=3.0)
    with pytest.raises(StageError) as info:
        musicvid.render(song, tmp_path / "out.mp4", keyframes="buggy", width=64, height=36,
                        keyframe_width=64, keyframe_height=32)
    assert (info.value.stage, info.value.plugin, info.value.retryable) == (
        "keyframes", "buggy", False)


def test_a_plugin_adds_a_subcommand(capsys):
    from musicvid import hookimpl
    from musicvid.cli import main
    from musicvid.plugins import get_plugin_manager

    def hello(args):
        print(f"hello {args.who}")
        return 0

    class Plugin:
        @hookimpl
        def register_commands(self, subparsers, parents):
            p = subparsers.add_parser("hello", help="say hello", parents=parents)
            p.add_argument("who")
            p.set_defaults(func=hello)

    get_plugin_manager().register(Plugin(), name="hello-plugin")
    assert main(["hello", "world"]) == 0
    assert capsys.readouterr().out == "hello world\n"
