"""Server benchmarks, one command:  python -m benchmarks.server [--jobs 12 --upload-mb 150]

1. uploads: receive and validate one large WAV over HTTP. musicvid_server's way (the
   multipart body streamed to disk under the size cap, then every packet decoded and
   counted with PyAV) against the straightforward way (Starlette's ``request.form()``,
   then ``musicvid.audio.probe_audio``, which decodes the whole song into memory). Each
   runs in its own uvicorn process; we report the wall time and the process's peak RSS.
2. jobs: the same songs rendered (tiny random SDXL, librosa, Ken Burns, PyAV) by one warm
   ``python -m musicvid_server`` one after another, against one ``musicvid render``
   process per song (what a job costs without a long-lived server). We report time per
   job and the server's RSS after every job.

Linux only (reads /proc). Torch runs on one thread in both arms. Writes JSON to
benchmarks/results/server.json and prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def proc_kib(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    m = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) if m else 0


class Server:
    """A server subprocess that logs 'Uvicorn running on http://127.0.0.1:PORT'."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     text=True, env=env)
        self.url: str | None = None
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 180
        while self.url is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start:\n" + "".join(self.log))
            time.sleep(0.05)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            m = re.search(r"running on (http://127\.0\.0\.1:\d+)", line)
            if m:
                self.url = m.group(1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


def multipart_file(path: Path, fields: dict[str, str]) -> tuple[Any, int, str]:
    """A streaming multipart body (file object) for urllib, its length and content type."""
    boundary = uuid.uuid4().hex
    head = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'
                    f"{v}\r\n".encode() for k, v in fields.items())
    head += (f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; '
             f'filename="{path.name}"\r\nContent-Type: audio/wav\r\n\r\n').encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    class Body:
        def __init__(self) -> None:
            self.parts = [head, path.open("rb"), tail]

        def read(self, n: int = -1) -> bytes:
            while self.parts:
                part = self.parts[0]
                if isinstance(part, bytes):
                    self.parts.pop(0)
                    return part
                chunk = part.read(n if n > 0 else 1 << 20)
                if chunk:
                    return chunk
                part.close()
                self.parts.pop(0)
            return b""

    size = len(head) + path.stat().st_size + len(tail)
    return Body(), size, f"multipart/form-data; boundary={boundary}"


def post(url: str, path: Path, fields: dict[str, str]) -> tuple[int, dict[str, Any]]:
    body, size, ctype = multipart_file(path, fields)
    req = urllib.request.Request(url, data=body, method="POST",  # type: ignore[arg-type]
                                 headers={"Content-Type": ctype, "Content-Length": str(size)})
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


# -- the upload servers -------------------------------------------------------------------
def upload_app(kind: str, data_dir: Path) -> Any:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def ours(request: Request) -> JSONResponse:
        from musicvid_server.uploads import read_form, validate_audio

        form = await read_form(request, data_dir, file_field="audio", allowed={"genre"},
                               max_bytes=200 * 1024 * 1024)
        assert form.file is not None
        info = await run_in_threadpool(validate_audio, form.file, 1.0, 3600.0)
        form.discard()
        return JSONResponse({"duration": info.duration})

    async def baseline(request: Request) -> JSONResponse:
        import shutil

        from musicvid.audio import probe_audio

        form = await request.form(max_part_size=1024 * 1024)
        upload = form["audio"]
        path = data_dir / f"{uuid.uuid4().hex}.wav"
        with path.open("wb") as out:
            shutil.copyfileobj(upload.file, out)  # type: ignore[union-attr]
        await form.close()
        info = await run_in_threadpool(probe_audio, path)
        path.unlink()
        return JSONResponse({"duration": info.duration})

    return Starlette(routes=[Route("/upload", ours if kind == "ours" else baseline,
                                   methods=["POST"])])


def serve_upload(kind: str, data_dir: str) -> None:
    import uvicorn

    uvicorn.run(upload_app(kind, Path(data_dir)), host="127.0.0.1", port=0,
                log_level="info")


def bench_uploads(song: Path, env: dict[str, str], tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"file_mb": round(song.stat().st_size / 1e6, 1)}
    for kind in ("ours", "baseline"):
        server = Server([sys.executable, "-m", "benchmarks.server", "_serve-upload", kind,
                         str(tmp)], env)
        try:
            before = proc_kib(server.proc.pid, "VmRSS")
            t0 = time.perf_counter()
            code, body = post(server.url + "/upload", song, {"genre": "pop"})  # type: ignore[operator]
            dt = time.perf_counter() - t0
            assert code == 200, body
            out[kind] = {"seconds": round(dt, 2), "rss_idle_mb": round(before / 1024, 1),
                         "peak_rss_mb": round(proc_kib(server.proc.pid, "VmHWM") / 1024, 1),
                         "duration_s": round(body["duration"], 2)}
        finally:
            server.stop()
        print(f"upload {kind}: {out[kind]}", flush=True)
    return out


# -- jobs -----------------------------------------------------------------------------------
def bench_jobs(n: int, cold: int, env: dict[str, str], tmp: Path) -> dict[str, Any]:
    from musicvid.testing import write_click_track, write_tiny_models

    models = write_tiny_models(tmp / "models")
    songs = []
    for i in range(n):
        p = tmp / f"song{i}.wav"
        write_click_track(p, bpm=100 + 3 * i, duration=12.0)
        songs.append(p)
    render = ["--sdxl-model", str(models["sdxl"]), "--width", "256", "--height", "144",
              "--keyframe-width", "256", "--keyframe-height", "144", "--steps", "4"]
    out: dict[str, Any] = {"jobs": n, "song_s": 12.0, "settings": " ".join(render[2:])}

    server = Server([sys.executable, "-m", "musicvid_server", "--port", "0", "--data-dir",
                     str(tmp / "server-data"), "--cache-dir", str(tmp / "server-cache"),
                     *render], env)
    warm: list[dict[str, Any]] = []
    try:
        for i, song in enumerate(songs):
            t0 = time.perf_counter()
            code, body = post(server.url + "/api/generate/start", song,  # type: ignore[operator]
                              {"genre": "rock", "style": "cinematic", "palette": "warm",
                               "seed": str(i)})
            assert code == 200, body
            while True:
                with urllib.request.urlopen(
                        f"{server.url}/api/generate/status?job_id={body['job_id']}") as r:
                    job = json.loads(r.read())
                if job["state"] in ("succeeded", "failed", "canceled"):
                    break
                time.sleep(0.05)
            assert job["state"] == "succeeded", job
            warm.append({"seconds": round(time.perf_counter() - t0, 2),
                         "rss_mb": round(proc_kib(server.proc.pid, "VmRSS") / 1024, 1),
                         "keyframes": job["stats"]["keyframes_generated"]})
            print(f"server job {i + 1}: {warm[-1]}", flush=True)
    finally:
        server.stop()
    out["server"] = warm

    cli: list[dict[str, Any]] = []
    for i, song in enumerate(songs[:cold]):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "musicvid", "render", str(song), "-o",
                               str(tmp / f"cli{i}.mp4"), "-q", "--genre", "rock", "--style",
                               "cinematic", "--palette", "warm", "--seed", str(i),
                               "--cache-dir", str(tmp / "cli-cache"), *render],
                              env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        cli.append({"seconds": round(time.perf_counter() - t0, 2)})
        print(f"cli render {i + 1}: {cli[-1]}", flush=True)
    out["cli"] = cli
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_serve-upload"]:
        serve_upload(argv[1], argv[2])
        return 0
    p = argparse.ArgumentParser(prog="python -m benchmarks.server")
    p.add_argument("--jobs", type=int, default=12)
    p.add_argument("--cold", type=int, default=3, help="musicvid render runs to compare")
    p.add_argument("--upload-mb", type=float, default=150.0)
    args = p.parse_args(argv)
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", MUSICVID_LOAD_PLUGINS="",
               TRANSFORMERS_VERBOSITY="error", PYTHONPATH=str(Path(__file__).parents[1]))
    env.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "numba-cache"))
    load = os.getloadavg()
    results: dict[str, Any] = {"machine": platform.platform(), "cpus": os.cpu_count(),
                               "load_before": [round(x, 2) for x in load]}
    with tempfile.TemporaryDirectory(prefix="musicvid-bench-") as tmpdir:
        tmp = Path(tmpdir)
        from musicvid.testing import write_click_track

        big = tmp / "big.wav"
        # 44.1 kHz mono 16-bit: 88.2 kB/s
        write_click_track(big, 120, args.upload_mb * 1e6 / 88200, sr=44100)
        results["uploads"] = bench_uploads(big, env, tmp)
        big.unlink()
        results["jobs"] = bench_jobs(args.jobs, args.cold, env, tmp)
    results["load_after"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "server.json").write_text(json.dumps(results, indent=2) + "\n")

    up, jobs = results["uploads"], results["jobs"]
    warm = jobs["server"]
    rest = warm[1:]
    print(f"\nload average {results['load_before']} -> {results['load_after']}")
    print(f"\n| upload + validate, {up['file_mb']} MB WAV | time | peak RSS |\n|---|---|---|")
    for kind, label in (("ours", "musicvid_server (streamed, decoded and counted)"),
                        ("baseline", "request.form() + probe_audio")):
        print(f"| {label} | {up[kind]['seconds']} s | {up[kind]['peak_rss_mb']} MB |")
    print(f"\n| {jobs['jobs']} songs of {jobs['song_s']:g} s | per job |\n|---|---|")
    print(f"| server, first job (loads models) | {warm[0]['seconds']} s |")
    print(f"| server, jobs 2-{len(warm)} (mean) | "
          f"{sum(j['seconds'] for j in rest) / max(1, len(rest)):.2f} s |")
    print(f"| `musicvid render` per song (mean of {len(jobs['cli'])}) | "
          f"{sum(j['seconds'] for j in jobs['cli']) / max(1, len(jobs['cli'])):.2f} s |")
    print("\nserver RSS after each job (MB): " + ", ".join(str(j["rss_mb"]) for j in warm))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
