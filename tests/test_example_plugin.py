"""The example third-party plugin (examples/musicvid-plp-analyzer), installed for real.

pip builds and installs it (no network: no dependencies, no build isolation) into a
private folder; musicvid finds it through its ``musicvid`` entry point once
``MUSICVID_LOAD_PLUGINS`` names it, and ``musicvid render --analyzer plp`` uses it.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from musicvid import RenderConfig, StageContext, get_stage
from musicvid.cli import main
from musicvid.plugins import get_plugin_manager, reset_plugin_manager
from musicvid.testing import FakeStagesPlugin

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "musicvid-plp-analyzer"


@pytest.fixture(scope="module")
def installed_plp(tmp_path_factory):
    src = tmp_path_factory.mktemp("plp-source") / "musicvid-plp-analyzer"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__", ".pytest_cache"))  # build in a copy, not the repo
    target = tmp_path_factory.mktemp("plp-site")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--no-index", "--disable-pip-version-check", "--quiet", "--target", str(target),
         str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yield target
    for name in [m for m in sys.modules if m == "musicvid_plp" or m.startswith("musicvid_plp.")]:
        del sys.modules[name]


def test_cli_renders_with_the_installed_plugin(installed_plp, monkeypatch, click, tmp_path,
                                               cache_dir, capsys):
    for name in [m for m in sys.modules if m.startswith("musicvid_plp")]:
        del sys.modules[name]
    monkeypatch.syspath_prepend(str(installed_plp))
    monkeypatch.setenv("MUSICVID_LOAD_PLUGINS", "plp")
    reset_plugin_manager()
    get_plugin_manager().register(FakeStagesPlugin(), name="fakes")  # keyframes without weights

    assert main(["plugins", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"kind": "analyzer", "name": "plp", "plugin": "plp",
            "package": "musicvid-plp-analyzer"} in rows

    audio, _ = click(bpm=120, duration=6.0)
    out = tmp_path / "v.mp4"
    assert main(["render", str(audio), "-o", str(out), "--analyzer", "plp", "--keyframes",
                 "solid", "--width", "160", "--height", "90", "--keyframe-width", "64",
                 "--keyframe-height", "32", "-q"]) == 0
    assert out.is_file()

    plugin = sys.modules["musicvid_plp"]
    assert Path(plugin.__file__).resolve().is_relative_to(installed_plp.resolve())
    assert get_stage("analyzer", "plp").factory is plugin.PLPAnalyzer
    # the analysis the render used is the plugin's: the cached entry carries its descriptor
    # and the very beats the plugin finds, and the sync report counts them
    cached = [json.loads(p.read_text()) for p in (cache_dir / "analysis").rglob("*.json")]
    assert len(cached) == 1 and "plp_downbeat_phase" in cached[0]["descriptors"]
    direct = plugin.PLPAnalyzer().analyze(audio, StageContext(RenderConfig.create()))
    assert cached[0]["beats"] == direct.beats and cached[0]["tempo"] == direct.tempo
    sync = json.loads((tmp_path / "v.sync.json").read_text())
    assert sync["beats"] == len(direct.beats)
    reset_plugin_manager()


def test_the_plugin_stays_off_unless_allowed(installed_plp, monkeypatch):
    monkeypatch.syspath_prepend(str(installed_plp))
    monkeypatch.setenv("MUSICVID_LOAD_PLUGINS", "")
    reset_plugin_manager()
    with pytest.raises(KeyError, match="plp"):
        get_stage("analyzer", "plp")
    reset_plugin_manager()
