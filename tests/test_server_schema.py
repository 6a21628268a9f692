"""schemathesis against the served /openapi.json: generated requests (valid and invalid)
to every operation; no 5xx, and every response matches the schema."""

import subprocess
import sys

import pytest
from server_support import SMALL, running_server

from musicvid_server import ServerSettings, create_app

pytest.importorskip("schemathesis")

# The form's `audio` is a binary string in the schema; whether its bytes decode as audio
# is something a schema cannot say, so a schema-valid upload being refused (415/422) is
# correct there. Every other operation must accept every schema-valid request.
CONFIG = """
[checks]
enabled = true

[[operations]]
include-path = "/api/generate/start"
checks = { positive_data_acceptance = { enabled = false } }
"""


def test_schemathesis_finds_no_server_errors(tmp_path, fakes):
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    settings = ServerSettings(data_dir=tmp_path / "data",
                              render_options=dict(SMALL, keyframes="solid"))
    with running_server(create_app(settings)) as url:
        proc = subprocess.run(
            [sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()",
             "--config-file", str(config), "run", f"{url}/openapi.json",
             "--max-examples", "25", "--request-timeout", "20", "--workers", "1",
             "--generation-database", "none", "--no-color"],
            capture_output=True, text=True, cwd=tmp_path, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "Tested: 12" in out and "5xx" not in out.split("SUMMARY")[-1]
