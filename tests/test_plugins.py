import sys
import textwrap

import pytest

from musicvid import UnknownStageError, hookimpl, list_stages
from musicvid.plugins import get_plugin_manager, get_stage, reset_plugin_manager


def test_defaults_are_registered_like_plugins():
    names = {(e.kind, e.name): e.plugin for e in list_stages()}
    assert names[("analyzer", "librosa")] == "musicvid.defaults.librosa_analyzer"
    assert names[("keyframes", "sdxl")] == "musicvid.defaults.sdxl_keyframes"
    assert names[("motion", "kenburns")] == "musicvid.defaults.kenburns_motion"
    assert names[("compositor", "pyav")] == "musicvid.defaults.pyav_compositor"
    pm = get_plugin_manager()
    assert pm.get_plugin("musicvid.defaults.sdxl_keyframes") is not None


def test_unknown_stage_lists_available():
    with pytest.raises(UnknownStageError) as info:
        get_stage("keyframes", "dalle")
    assert "dalle" in str(info.value) and "sdxl" in str(info.value)
    assert isinstance(info.value, KeyError)


def test_registered_plugin_object_overrides_default_name():
    from musicvid.stages import MotionGeneratorBase

    class Better(MotionGeneratorBase):
        name = "kenburns"

        def animate(self, keyframe, shot, storyboard, analysis, ctx):
            raise AssertionError("not called")

    class Plugin:
        @hookimpl
        def register_motion_generators(self, register):
            register(Better)

    assert get_stage("motion", "kenburns").factory is not Better  # looked up before
    get_plugin_manager().register(Plugin(), name="better")  # seen by the next lookup
    entry = get_stage("motion", "kenburns")
    assert entry.factory is Better and entry.plugin == "better"
    get_plugin_manager().unregister(name="better")
    assert get_stage("motion", "kenburns").factory is not Better


@pytest.mark.parametrize("broken, missing", [
    (type("NoAnimate", (), {"name": "wobble", "cache_key_parts": lambda self, ctx: {}}),
     "animate"),
    (type("NoName", (), {"animate": lambda *a: None, "cache_key_parts": lambda *a: {}}), "name"),
    (type("NotCallable", (), {"name": "wobble", "animate": 3,
                              "cache_key_parts": lambda *a: {}}), "not callable"),
])
def test_a_broken_stage_class_fails_naming_its_plugin(broken, missing):
    from musicvid.errors import PluginError

    class Plugin:
        @hookimpl
        def register_motion_generators(self, register):
            register(broken, name=None if missing == "name" else "wobble")

    get_plugin_manager().register(Plugin(), name="shoddy-plugin")
    with pytest.raises(PluginError, match="shoddy-plugin") as info:
        get_stage("motion", "kenburns")
    assert missing in str(info.value)
    get_plugin_manager().unregister(name="shoddy-plugin")


def test_a_factory_returning_a_broken_stage_fails_when_created(click, tmp_path):
    import musicvid
    from musicvid.errors import PluginError

    class Plugin:
        @hookimpl
        def register_analyzers(self, register):
            register(lambda: object(), name="hollow")

    get_plugin_manager().register(Plugin(), name="hollow-plugin")
    with pytest.raises(PluginError, match="hollow-plugin.*analyze"):
        musicvid.analyze(click(bpm=120, duration=4.0)[0], analyzer="hollow")


def _install_fake_distribution(root, dist="mv-entry-plugin", module="mv_entry_plugin"):
    """A package plus its .dist-info (with entry points), as pip would install it."""
    pkg = root / module
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent('''
        from musicvid import hookimpl

        class Painted:
            name = "painted"
            batch_size = 2
            calls = 0

            def cache_key_parts(self, ctx):
                return {"v": 1}

            def generate(self, shots, ctx):
                from PIL import Image
                type(self).calls += len(shots)
                return [Image.new("RGB", (ctx.config.keyframe_width, ctx.config.keyframe_height),
                                  (200, 40, 40)) for _ in shots]

        @hookimpl
        def register_keyframe_generators(register):
            register(Painted)
    '''))
    info = root / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[musicvid]\npainted = {module}\n")
    return module


def test_entry_point_plugin_loads_only_when_allowed(tmp_path, monkeypatch):
    module = _install_fake_distribution(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    # tests default to loading no installed plugins
    reset_plugin_manager()
    assert "painted" not in {e.name for e in list_stages("keyframes")}
    monkeypatch.setenv("MUSICVID_LOAD_PLUGINS", "painted")
    reset_plugin_manager()
    entry = get_stage("keyframes", "painted")
    assert entry.plugin == "painted" and entry.distribution == "mv-entry-plugin"
    monkeypatch.setenv("MUSICVID_LOAD_PLUGINS", "something-else")
    reset_plugin_manager()
    assert "painted" not in {e.name for e in list_stages("keyframes")}
    sys.modules.pop(module, None)


def test_render_uses_an_entry_point_keyframe_generator(tmp_path, monkeypatch, click):
    import av

    from musicvid import render

    module = _install_fake_distribution(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("MUSICVID_LOAD_PLUGINS", "painted")
    reset_plugin_manager()
    audio, _ = click(duration=4.0)
    out = tmp_path / "out.mp4"
    render(audio, out, keyframes="painted", width=160, height=90, keyframe_width=64,
           keyframe_height=32)
    gen = sys.modules[module].Painted
    assert gen.calls >= 1
    with av.open(str(out)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24")
    r, g, b = frame[45, 80]
    assert r > 150 and g < 90 and b < 90  # the plugin's red keyframe is on screen
    sys.modules.pop(module, None)


def test_hook_tracing_logs_calls(monkeypatch, caplog):
    monkeypatch.setenv("MUSICVID_TRACE_HOOKS", "1")
    reset_plugin_manager()
    with caplog.at_level("INFO", logger="musicvid.plugins"):
        list_stages()
    assert any("register_analyzers" in r.getMessage() for r in caplog.records)
