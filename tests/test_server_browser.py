"""The web page in Debian's headless Chromium, driven by playwright: a user uploads a
short click track, waits for the video, and plays it.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; never ``playwright install``):
the ``chromium`` fixture in ``conftest.py``. Without it the test is skipped, unless
``MUSICVID_REQUIRE_BROWSER=1`` (set by CI), where a missing browser is a failure.
"""

import contextlib
import http.server
import json
import threading
import urllib.request

import pytest
from server_support import SMALL, open_page, running_server

from musicvid_server import ServerSettings, create_app

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("api_key", [None, "k3y-for-the-page"])
def test_upload_wait_and_play_in_chromium(chromium, fakes, tmp_path, click, api_key):
    song, _ = click(bpm=128, duration=5.0, name="my song.wav")
    settings = ServerSettings(data_dir=tmp_path / "data", api_key=api_key,
                              render_options=dict(SMALL, keyframes="solid"))
    with running_server(create_app(settings)) as url:
        page, errors = open_page(chromium, url)
        assert page.is_visible("#api-key") == (api_key is not None)
        if api_key:
            page.fill("#api-key", api_key)
        page.set_input_files("#audio", str(song))
        page.select_option("#genre", "electronic")
        page.select_option("#style", "futuristic")
        page.select_option("#palette", "cool")
        page.fill("#seed", "42")
        page.click("#submit")

        page.wait_for_selector("#result:not([hidden])", timeout=120_000)
        assert page.text_content("#state") == "succeeded"
        assert page.eval_on_selector("#progress", "e => e.value") == 1
        job_id = page.text_content("#job-id")
        assert page.evaluate("location.hash") == f"#job={job_id}"
        href = page.get_attribute("#download", "href")
        src = page.get_attribute("#video", "src")
        if api_key:  # a signed link for this job: never the key itself
            assert href.startswith(f"/api/generate/result?job_id={job_id}&token=")
            assert href.endswith("&download=1")
            assert api_key not in href + src and "access_token" not in href + src
        else:
            assert href == f"/api/generate/result?job_id={job_id}&download=1"

        page.click("#play")
        page.wait_for_function("() => document.getElementById('video').currentTime > 1.0",
                               timeout=30_000)
        video = page.evaluate("""() => { const v = document.getElementById('video');
            return {paused: v.paused, duration: v.duration, width: v.videoWidth,
                    height: v.videoHeight, error: v.error && v.error.code}; }""")
        assert video["error"] is None and not video["paused"]
        assert abs(video["duration"] - 5.0) < 0.1
        assert (video["width"], video["height"]) == (160, 90)
        assert errors == []

        status = urllib.request.Request(f"{url}/api/generate/status?job_id={job_id}",
                                        headers={"Authorization": f"Bearer {api_key}"})
        with urllib.request.urlopen(status) as r:
            job = json.loads(r.read())
        assert (job["genre"], job["style"], job["palette"], job["seed"]) == (
            "electronic", "futuristic", "cool", 42)
        assert job["filename"] == "my song.wav"


def test_a_rejected_upload_shows_the_servers_message(chromium, fakes, tmp_path):
    bogus = tmp_path / "notes.mp3"
    bogus.write_text("not really an mp3")
    settings = ServerSettings(data_dir=tmp_path / "data",
                              render_options=dict(SMALL, keyframes="solid"))
    with running_server(create_app(settings)) as url:
        page, _ = open_page(chromium, url, "#palette option", 4)
        page.set_input_files("#audio", str(bogus))
        page.click("#submit")
        page.wait_for_selector("#error:not([hidden])")
        assert "not audio" in page.text_content("#error")
        assert page.is_enabled("#submit")


def test_lyrics_file_and_captions_choice_in_chromium(chromium, fakes, tmp_path, click):
    song, _ = click(bpm=120, duration=5.0, name="sung.wav")
    lrc = tmp_path / "sung.lrc"
    lrc.write_text("[00:00.50]Silver rivers under a violet sky\n"
                   "[00:02.50]<00:02.50>Cold <00:03.00>blue <00:03.50>rain <00:04.20>\n",
                   encoding="utf-8")
    bad = tmp_path / "bad.lrc"
    bad.write_text("[00:01.00]fine\n[00:42.00]long after the song\n", encoding="utf-8")
    settings = ServerSettings(data_dir=tmp_path / "data",
                              render_options=dict(SMALL, keyframes="solid"))
    with running_server(create_app(settings)) as url:
        page, errors = open_page(chromium, url, "#captions option", 4)
        assert page.eval_on_selector("#captions", "e => e.value") == "soft"
        page.set_input_files("#audio", str(song))
        page.set_input_files("#lyrics", str(bad))
        page.click("#submit")
        page.wait_for_selector("#error:not([hidden])")
        assert "after the end of the song" in page.text_content("#error")
        assert "line 2" in page.text_content("#error")

        page.set_input_files("#lyrics", str(lrc))
        page.select_option("#captions", "both")
        page.click("#submit")
        page.wait_for_selector("#result:not([hidden])", timeout=120_000)
        assert page.is_hidden("#error")
        page.wait_for_function("() => document.querySelectorAll('#lyrics-lines li').length === 2")
        lines = page.eval_on_selector_all("#lyrics-lines li", "els => els.map(e => e.textContent)")
        assert lines == ["00:00.50 Silver rivers under a violet sky", "00:02.50 Cold blue rain"]
        assert "lrc" in page.text_content("#lyrics-format")
        page.wait_for_function("""() => { const t = document.getElementById('video').textTracks[0];
            return t && t.cues && t.cues.length === 2; }""", timeout=30_000)
        cues = page.evaluate("""() => Array.from(document.getElementById('video').textTracks[0]
            .cues, c => [c.startTime, c.text])""")
        assert [round(c[0], 2) for c in cues] == [0.5, 2.5]
        assert cues[0][1] == "Silver rivers under a violet sky"
        job_id = page.text_content("#job-id")
        with urllib.request.urlopen(f"{url}/api/generate/status?job_id={job_id}") as r:
            assert json.loads(r.read())["state"] == "succeeded"
        assert errors == []


EVIL_PAGE = """<!doctype html><html><body><script>
async function attack(target) {
  const song = await (await fetch('/song.wav')).blob();
  const results = [];
  for (const mode of ['no-cors', 'cors']) {
    const data = new FormData();
    data.append('audio', song, 'song.wav');
    data.append('genre', 'rock'); data.append('style', 'cinematic');
    data.append('palette', 'warm');
    try {
      const r = await fetch(target + '/api/generate/start', {method: 'POST', body: data, mode});
      results.push(mode + ' ' + r.type);
    } catch (e) { results.push(mode + ' blocked'); }
  }
  return results;
}
</script></body></html>"""


@contextlib.contextmanager
def other_origin_site(song):
    """A plain web site on another port: its page tries to start a job on the server."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body, ctype = ((song.read_bytes(), "audio/wav") if self.path == "/song.wav"
                           else (EVIL_PAGE.encode(), "text/html"))
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield site.server_address[1]
    finally:
        site.shutdown()
        site.server_close()


def _jobs_total(url):
    with urllib.request.urlopen(f"{url}/api/jobs") as r:  # like curl: no Origin header
        return json.loads(r.read())["total"]


def test_a_page_on_another_origin_cannot_start_a_job(chromium, fakes, tmp_path, click):
    song, _ = click(bpm=120, duration=3.0, name="song.wav")
    settings = ServerSettings(data_dir=tmp_path / "data",
                              render_options=dict(SMALL, keyframes="solid"))
    with running_server(create_app(settings)) as url, other_origin_site(song) as port:
        page = chromium.new_page()
        # cross-site (localhost is another site than 127.0.0.1) and same-site (another port)
        for evil in (f"http://localhost:{port}/", f"http://127.0.0.1:{port}/"):
            page.goto(evil)
            sent = page.evaluate("(target) => attack(target)", url)
            assert sent[0] == "no-cors opaque", sent  # the browser did send the request
        assert _jobs_total(url) == 0

        # the server's own page, on its own origin, still works
        page.goto(url + "/")
        page.wait_for_function("() => document.querySelectorAll('#genre option').length === 10")
        page.set_input_files("#audio", str(song))
        page.click("#submit")
        page.wait_for_selector("#job:not([hidden])")
        page.wait_for_function("() => document.getElementById('job-id').textContent.length")
        assert page.text_content("#error") == ""
        assert _jobs_total(url) == 1
