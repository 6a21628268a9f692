// musicvid web page: upload, follow the job (Server-Sent Events, polling as a fallback),
// play and download. Plain JavaScript, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const FINAL = ["succeeded", "failed", "canceled"];
let current = null; // { id, source, timer }
let board = null; // the storyboard view: { id, complete, busy, last }

function apiKey() {
  return $("api-key").value.trim();
}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (apiKey()) headers.set("Authorization", `Bearer ${apiKey()}`);
  const response = await fetch(path, { ...options, headers });
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) {
    let text = (body && body.message) || `${response.status} ${response.statusText}`;
    if (body && body.valid) text += ` (valid: ${body.valid.join(", ")})`;
    throw new Error(text);
  }
  return body;
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

function fill(select, values, preferred) {
  select.replaceChildren(...values.map((v) => new Option(v, v, false, v === preferred)));
}

async function loadOptions() {
  const opts = await api("/api/options");
  fill($("genre"), opts.genre, "pop");
  fill($("style"), opts.style, "cinematic");
  fill($("palette"), opts.palette, "vibrant");
  fill($("captions"), opts.captions || ["soft"], "soft");
  $("form").dataset.maxLyricsBytes = opts.max_lyrics_bytes || 0;
  $("key-row").hidden = !opts.api_key_required;
  $("form").dataset.maxBytes = opts.max_upload_bytes;
  $("form").dataset.maxReferences = opts.max_references || 0;
}

function formatEta(seconds) {
  if (seconds == null) return "";
  const s = Math.round(seconds);
  return s >= 60 ? `about ${Math.floor(s / 60)} min ${s % 60} s left` : `about ${s} s left`;
}

function clock(seconds) {
  if (seconds == null) return "";
  const m = Math.floor(seconds / 60);
  const s = (seconds - m * 60).toFixed(2).padStart(5, "0");
  return `${String(m).padStart(2, "0")}:${s}`;
}

function showLyrics(lyrics) {
  const lines = (lyrics && lyrics.lines) || [];
  $("lyrics-used").hidden = lines.length === 0;
  $("lyrics-format").textContent = lyrics ? `(${lyrics.format}${lyrics.timed ? "" : ", timed by transcription"})` : "";
  $("lyrics-lines").replaceChildren(...lines.map((line) => {
    const item = document.createElement("li");
    const time = document.createElement("time");
    time.textContent = clock(line.start);
    item.append(time, " ", line.text);
    return item;
  }));
}

function lyricsTrack(video) {
  // a text track cannot be removed from a video: keep one and empty it
  let track = Array.from(video.textTracks).find((t) => t.label === "Lyrics");
  if (!track) track = video.addTextTrack("captions", "Lyrics", "en");
  track.mode = "hidden"; // a disabled track hides its cues from removeCue
  while (track.cues && track.cues.length) track.removeCue(track.cues[0]);
  return track;
}

function loadLyrics(id) {
  api(`/api/generate/lyrics?job_id=${encodeURIComponent(id)}`)
    .then((lyrics) => {
      showLyrics(lyrics);
      if (window.VTTCue) {
        // the lines as the player's caption track (no second request, no key in a URL)
        const track = lyricsTrack($("video"));
        for (const line of lyrics.lines) {
          if (line.start != null && line.end > line.start) {
            track.addCue(new VTTCue(line.start, line.end, line.text));
          }
        }
        track.mode = "showing";
      }
    })
    .catch(() => { /* no lyrics for this video */ });
}

function render(job) {
  $("job").hidden = false;
  $("job-id").textContent = job.job_id;
  $("state").textContent = job.state;
  $("stage").textContent = job.stage && job.state === "running" ? `· ${job.stage}` : "";
  $("queue").textContent = job.queue_position ? `· position ${job.queue_position} in the queue` : "";
  $("progress").value = job.progress;
  $("message").textContent = job.state === "failed" ? "" : job.message;
  $("eta").textContent = job.state === "running" ? formatEta(job.eta_s) : "";
  $("cancel").hidden = FINAL.includes(job.state);
  if (job.state === "failed") showError(`The job failed: ${job.error}`);
  if (job.state === "succeeded" && job.result_url) {
    const video = $("video");
    if (!video.getAttribute("src")) {
      // with an API key the server signs these links: the key never goes into a URL
      video.src = job.result_url;
      $("download").href = `${job.result_url}&download=1`;
      $("result").hidden = false;
      loadLyrics(job.job_id);
    }
  }
  if (["running", "succeeded"].includes(job.state)) refreshStoryboard(job.job_id, job.state);
  if (FINAL.includes(job.state)) {
    stopFollowing();
    $("submit").disabled = false;
  }
}

function shotClock(seconds) {
  const s = Math.floor(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function shotItem(shot) {
  const li = document.createElement("li");
  li.dataset.index = shot.index;
  const pending = document.createElement("div");
  pending.className = "pending";
  const when = document.createElement("div");
  when.className = "when";
  when.textContent = `${shotClock(shot.start)}–${shotClock(shot.end)} · ${shot.section}`;
  const prompt = document.createElement("div");
  prompt.className = "prompt";
  prompt.textContent = shot.prompt;
  li.append(pending, when, prompt);
  return li;
}

function showStoryboard(view) {
  const list = $("shots");
  if (list.dataset.job !== view.job_id) {
    list.replaceChildren(...view.shots.map(shotItem));
    list.dataset.job = view.job_id;
  }
  for (const shot of view.shots) {
    const li = list.children[shot.index];
    if (!li || !shot.keyframe_url || li.querySelector("img")) continue;
    const img = document.createElement("img");
    img.alt = `keyframe of shot ${shot.index + 1}`;
    img.src = shot.keyframe_url; // signed by the server when it has an API key
    li.firstChild.replaceWith(img);
  }
  $("storyboard-count").textContent =
    `${view.shots.length} shots · ${view.keyframes_ready} keyframes made`;
  $("storyboard").hidden = false;
}

function refreshStoryboard(id, state) {
  if (!current || current.id !== id) return; // a job the page no longer follows
  if (!board || board.id !== id) board = { id, complete: false, busy: false, last: 0 };
  if (board.complete || board.busy) return;
  const now = Date.now();
  if (state !== "succeeded" && now - board.last < 1000) {
    // at most once a second while running; the next status update asks again
    setTimeout(() => current && current.id === id && refreshStoryboard(id, state), 1000);
    return;
  }
  board.busy = true;
  board.last = now;
  api(`/api/generate/storyboard?job_id=${encodeURIComponent(id)}`)
    .then((view) => {
      if (!board || board.id !== id || !current || current.id !== id) return;
      showStoryboard(view);
      board.complete = view.keyframes_ready === view.shots.length;
      if (!board.complete && view.state === "running") {
        setTimeout(() => refreshStoryboard(id, view.state), 1000);
      }
    })
    .catch(() => { /* not planned yet: the next status update asks again */ })
    .finally(() => { if (board && board.id === id) board.busy = false; });
}

function stopFollowing() {
  if (!current) return;
  if (current.source) current.source.close();
  if (current.timer) clearTimeout(current.timer);
  current.source = null;
  current.timer = null;
}

function poll(id) {
  api(`/api/generate/status?job_id=${encodeURIComponent(id)}`)
    .then((job) => {
      render(job);
      if (!FINAL.includes(job.state) && current && current.id === id) {
        current.timer = setTimeout(() => poll(id), 1000);
      }
    })
    .catch((err) => showError(err.message));
}

function follow(id) {
  stopFollowing();
  current = { id, source: null, timer: null };
  history.replaceState(null, "", `#job=${id}`);
  if (!window.EventSource) { poll(id); return; }
  // the status carries the events link (signed when the server has an API key)
  api(`/api/generate/status?job_id=${encodeURIComponent(id)}`)
    .then((job) => {
      render(job);
      if (!FINAL.includes(job.state) && current && current.id === id) listen(id, job.events_url);
    })
    .catch((err) => showError(err.message));
}

function listen(id, url) {
  const source = new EventSource(url);
  current.source = source;
  source.addEventListener("status", (event) => render(JSON.parse(event.data)));
  source.addEventListener("end", () => stopFollowing());
  source.onerror = () => {
    // the stream broke (server restart, proxy): fall back to polling
    if (current && current.source === source) {
      source.close();
      current.source = null;
      poll(id);
    }
  };
}

function reset() {
  stopFollowing();
  current = null;
  const video = $("video");
  video.pause();
  video.removeAttribute("src");
  for (const track of Array.from(video.textTracks)) track.mode = "disabled";
  video.load();
  showLyrics(null);
  $("result").hidden = true;
  $("job").hidden = true;
  $("storyboard").hidden = true;
  $("shots").replaceChildren();
  delete $("shots").dataset.job;
  board = null;
  showError("");
  history.replaceState(null, "", location.pathname);
}

async function submit(event) {
  event.preventDefault();
  showError("");
  const file = $("audio").files[0];
  if (!file) { showError("Choose a song first."); return; }
  const max = Number($("form").dataset.maxBytes || 0);
  if (max && file.size > max) {
    showError(`The file is larger than the server's limit of ${Math.round(max / 1048576)} MB.`);
    return;
  }
  const refs = Array.from($("reference").files);
  const maxRefs = Number($("form").dataset.maxReferences || 0);
  if (maxRefs && refs.length > maxRefs) {
    showError(`Choose at most ${maxRefs} reference pictures.`);
    return;
  }
  reset();
  const data = new FormData();
  data.append("audio", file, file.name);
  for (const name of ["genre", "style", "palette"]) data.append(name, $(name).value);
  const concept = $("concept").value.trim();
  if (concept) data.append("concept", concept);
  for (const ref of refs) data.append("reference", ref, ref.name);
  if ($("seed").value.trim() !== "") data.append("seed", $("seed").value.trim());
  const lyrics = $("lyrics").files[0];
  const maxLyrics = Number($("form").dataset.maxLyricsBytes || 0);
  if (lyrics && maxLyrics && lyrics.size > maxLyrics) {
    showError(`The lyrics file is larger than the server's limit of ${Math.round(maxLyrics / 1024)} KB.`);
    return;
  }
  if (lyrics) data.append("lyrics", lyrics, lyrics.name);
  data.append("captions", $("captions").value);
  $("submit").disabled = true;
  try {
    const started = await api("/api/generate/start", { method: "POST", body: data });
    const job_id = started.job_id;
    showLyrics(started.lyrics || null);
    render({ job_id, state: "queued", progress: 0, message: "uploaded", queue_position: null });
    follow(job_id);
  } catch (err) {
    showError(err.message);
    $("submit").disabled = false;
  }
}

async function cancel() {
  if (!current) return;
  try {
    render(await api(`/api/generate/cancel?job_id=${encodeURIComponent(current.id)}`,
                     { method: "POST" }));
  } catch (err) {
    showError(err.message);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("form").addEventListener("submit", submit);
  $("cancel").addEventListener("click", cancel);
  $("again").addEventListener("click", reset);
  $("play").addEventListener("click", () => {
    $("video").play().catch((err) => showError(`Cannot play: ${err.message}`));
  });
  loadOptions().catch((err) => showError(`Cannot reach the server: ${err.message}`));
  const match = location.hash.match(/^#job=([0-9a-f-]{36})$/);
  if (match) follow(match[1]);
});
