"""The page's concept field, reference upload and storyboard view, in headless Chromium:
the storyboard (times, sections, prompts) shows while the keyframes are still being
made, and each thumbnail appears as its keyframe is made."""

import pytest
from PIL import Image
from server_support import SMALL, open_page, running_server

from musicvid_server import ServerSettings, create_app

pytestmark = pytest.mark.browser

CONCEPT = "a lighthouse keeper in a storm"


def test_concept_reference_and_storyboard_in_chromium(chromium, server_stages, tmp_path, click):
    song, _ = click(bpm=120, duration=8.0, name="song.wav")
    face = tmp_path / "face.png"
    Image.new("RGB", (64, 64), (200, 150, 120)).save(face)
    settings = ServerSettings(data_dir=tmp_path / "data", api_key="k3y",
                              render_options=dict(SMALL, keyframes="gated"))
    with running_server(create_app(settings)) as url:
        page, errors = open_page(chromium, url)
        page.fill("#api-key", "k3y")
        page.set_input_files("#audio", str(song))
        page.fill("#concept", CONCEPT)
        page.set_input_files("#reference", str(face))
        page.click("#submit")

        # planned, keyframes not made yet: the storyboard is already there
        page.wait_for_selector("#storyboard:not([hidden]) #shots li", timeout=60_000)
        assert page.text_content("#state") == "running"
        items = page.query_selector_all("#shots li")
        assert len(items) >= 2
        for li in items:
            text = li.text_content()
            assert CONCEPT in text and "·" in text
        assert page.query_selector_all("#shots img") == []
        first = items[0].query_selector(".when").text_content()
        assert first.startswith("0:00–")

        server_stages.gate.set()  # the keyframes are made now
        page.wait_for_function(
            "() => { const imgs = document.querySelectorAll('#shots img');"
            " return imgs.length === document.querySelectorAll('#shots li').length"
            " && [...imgs].every(i => i.complete && i.naturalWidth > 0); }", timeout=60_000)
        page.wait_for_selector("#result:not([hidden])", timeout=120_000)
        assert page.text_content("#state") == "succeeded"
        src = page.get_attribute("#shots img", "src")
        assert src.startswith("/api/generate/keyframe?job_id=") and "&token=" in src
        assert "k3y" not in src  # a signed link: the key never goes into a URL
        assert "keyframes made" in page.text_content("#storyboard-count")
        assert errors == []

        page.click("#again")
        assert page.is_hidden("#storyboard")
