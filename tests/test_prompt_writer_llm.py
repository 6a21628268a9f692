"""The openai-compatible prompt writer against a small local chat-completions server."""

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_planning import SONG, click_analysis

from musicvid import RenderConfig, plan
from musicvid.defaults.openai_writer import WriterFailed, parse_answer
from musicvid.planning import prompts as P

CONCEPT = "a lighthouse keeper in a storm"


class FakeLLM:
    """Answers from a queue: ("shots", fn(task) -> list), ("content", text),
    ("reply", obj), ("status", code), ("hang", None), ("refuse", text)."""

    def __init__(self):
        self.queue = []
        self.requests = []
        self.release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "body": body,
                                      "auth": self.headers.get("Authorization")})
                kind, arg = fake.queue.pop(0) if fake.queue else ("shots", fake.good)
                if kind == "hang":
                    fake.release.wait(30)
                    return
                if kind == "status":
                    self.send_response(arg)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"error": {"message": "model not found"}}')
                    return
                task = json.loads(body["messages"][-1]["content"])
                if kind == "shots":
                    message = {"role": "assistant",
                               "content": json.dumps({"shots": arg(task)})}
                elif kind == "content":
                    message = {"role": "assistant", "content": arg}
                elif kind == "refuse":
                    message = {"role": "assistant", "content": None, "refusal": arg}
                reply = arg if kind == "reply" else {"choices": [{"message": message}]}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def good(task):
        return [{"index": s["index"], "prompt": f"storm shot {s['index']}, {s['section']}, "
                 "waves over the rocks", "negative_prompt": "calm sea", "motion": "zoom-in"}
                for s in task["shots"]]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def llm():
    fake = FakeLLM()
    yield fake
    fake.close()


def plan_with(url, concept=CONCEPT, **options):
    analysis, _ = click_analysis(120, 48.0, SONG)
    cfg = RenderConfig.create(fps=30, seed=4, prompt_writer="openai-compatible", llm_url=url,
                              llm_model="tiny-llm", concept=concept, **options)
    return plan(analysis, cfg, lyrics="the light goes round and round")


def test_a_good_answer_writes_every_shot_and_is_cached(llm, monkeypatch):
    monkeypatch.setenv("MUSICVID_LLM_API_KEY", "sekret")
    board = plan_with(llm.url)
    assert len(llm.requests) == 1
    req = llm.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sekret"
    assert req["body"]["model"] == "tiny-llm"
    task = json.loads(req["body"]["messages"][-1]["content"])
    assert task["concept"] == CONCEPT and task["lyrics"] == "the light goes round and round"
    assert [s["label"] for s in task["song"]["sections"]] == [x[0] for x in SONG]
    assert all(CONCEPT in s["draft"] for s in task["shots"])
    distinct = {(s.prompt, s.seed) for s in board.shots}
    assert len(task["shots"]) == len(distinct)
    for s in board.shots:
        # the model left the concept out: it is put first; the model's words follow
        assert s.prompt.startswith(CONCEPT + ", storm shot ")
        assert s.section in s.prompt and s.negative_prompt == "calm sea"
        assert s.motion["hint"] == "zoom-in"
        assert P.estimate_clip_tokens(s.prompt) <= P.MAX_TOKENS
    meta = board.meta["prompt_writer"]
    assert meta["name"] == "openai-compatible" and meta["cached"] is False
    assert "fallback" not in meta and "sekret" not in json.dumps(board.to_dict())
    cfg = RenderConfig.create()
    assert cfg.llm_api_key == "sekret"  # from the environment, and kept out of sight:
    assert "sekret" not in repr(cfg) and cfg.to_dict()["llm_api_key"] is None
    # a re-plan asks nothing: the answer comes from the cache
    again = plan_with(llm.url)
    assert len(llm.requests) == 1
    assert again.meta["prompt_writer"]["cached"] is True
    assert [s.prompt for s in again.shots] == [s.prompt for s in board.shots]
    # other inputs, another question
    plan_with(llm.url, concept="a fox in the snow")
    assert len(llm.requests) == 2
    # without the cache, every plan asks
    plan_with(llm.url, use_cache=False)
    assert len(llm.requests) == 3


def test_the_concept_already_in_the_answer_is_not_repeated(llm):
    llm.queue.append(("shots", lambda task: [
        {"index": s["index"], "prompt": f"{CONCEPT}, climbing the tower, shot {s['index']}"}
        for s in task["shots"]]))
    board = plan_with(llm.url)
    for s in board.shots:
        assert s.prompt.count(CONCEPT) == 1 and s.prompt.startswith(CONCEPT + ", climbing")
        assert s.negative_prompt == board.shots[0].negative_prompt  # the planner's
        assert "hint" not in s.motion


def template_prompts(concept=CONCEPT):
    analysis, _ = click_analysis(120, 48.0, SONG)
    return [s.prompt for s in plan(analysis, RenderConfig.create(fps=30, seed=4,
                                                                 concept=concept)).shots]


@pytest.mark.parametrize("answers, reason", [
    ([("content", "Sure! Here are your shots: 1. a storm")] * 2, "did not answer with JSON"),
    ([("content", '{"shots": [{"index": 0, "prompt": "only one"}]}')] * 2, "missing"),
    ([("content", '{"scenes": []}')] * 2, '"shots" list'),
    ([("refuse", "I can't help with that.")] * 2, "refused"),
    ([("reply", {"error": "overloaded"})] * 2, "no choices"),
    ([("status", 404)] * 2, "HTTP 404"),
    ([("hang", None)] * 2, "timed out"),
])
def test_a_failed_answer_is_retried_once_then_templates_with_the_reason(
        llm, caplog, answers, reason):
    llm.queue.extend(answers)
    with caplog.at_level(logging.WARNING):
        board = plan_with(llm.url, llm_timeout=0.5)
    assert len(llm.requests) == 2  # the first try and one retry, no more
    meta = board.meta["prompt_writer"]
    assert reason in meta["fallback"] and reason in caplog.text
    assert "template" in caplog.text
    assert [s.prompt for s in board.shots] == template_prompts()
    assert all(CONCEPT in s.prompt for s in board.shots)
    # a failure is not cached: the next plan asks again (and now gets a good answer)
    again = plan_with(llm.url, llm_timeout=0.5)
    assert len(llm.requests) == 3
    assert all("storm shot" in s.prompt for s in again.shots)


def test_the_retry_can_succeed(llm):
    llm.queue.append(("content", "not json at all"))
    board = plan_with(llm.url)
    assert len(llm.requests) == 2
    assert "fallback" not in board.meta["prompt_writer"]
    assert all("storm shot" in s.prompt for s in board.shots)
    assert all(r["body"]["response_format"] == {"type": "json_object"} for r in llm.requests)


def test_a_server_that_rejects_response_format_is_asked_without_it(llm):
    llm.queue.append(("status", 400))
    board = plan_with(llm.url, concept="a fox in the snow")
    assert len(llm.requests) == 2 and "fallback" not in board.meta["prompt_writer"]
    assert "response_format" in llm.requests[0]["body"]
    assert "response_format" not in llm.requests[1]["body"]


def test_no_server_or_no_endpoint_falls_back_without_waiting(caplog):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    board = plan_with(f"http://127.0.0.1:{port}/v1", llm_timeout=2)
    assert "could not reach" in board.meta["prompt_writer"]["fallback"]
    assert [s.prompt for s in board.shots] == template_prompts()
    analysis, _ = click_analysis(120, 48.0, SONG)
    b = plan(analysis, RenderConfig.create(prompt_writer="openai-compatible"))
    assert "no endpoint" in b.meta["prompt_writer"]["fallback"]
    assert "MUSICVID_LLM_URL" in b.meta["prompt_writer"]["fallback"]


def test_url_and_model_come_from_the_environment(llm, monkeypatch):
    monkeypatch.setenv("MUSICVID_LLM_URL", llm.url + "/chat/completions")
    monkeypatch.setenv("MUSICVID_LLM_MODEL", "env-model")
    monkeypatch.setenv("MUSICVID_PROMPT_WRITER", "openai-compatible")
    cfg = RenderConfig.create()
    assert (cfg.llm_url, cfg.llm_model, cfg.prompt_writer) == (
        llm.url + "/chat/completions", "env-model", "openai-compatible")
    analysis, _ = click_analysis(120, 24.0, SONG[:3])
    board = plan(analysis, cfg)
    assert llm.requests[0]["path"] == "/v1/chat/completions"
    assert llm.requests[0]["body"]["model"] == "env-model"
    assert all("storm shot" in s.prompt for s in board.shots)


def test_parse_answer_validates_the_schema():
    def reply(content):
        return {"choices": [{"message": {"content": content}}]}

    good = '```json\n{"shots": [{"index": 1, "prompt": "b"}, {"index": 0, "prompt": "a", ' \
           '"motion": "spin"}]}\n```'
    assert parse_answer(reply(good), 2) == [
        {"prompt": "a", "negative_prompt": None, "motion": None},
        {"prompt": "b", "negative_prompt": None, "motion": None}]
    bad = [
        ('{"shots": [{"index": 0, "prompt": "a"}, {"index": 0, "prompt": "b"}]}', "twice"),
        ('{"shots": [{"index": 0, "prompt": ""}, {"index": 1, "prompt": "b"}]}', "no prompt"),
        ('{"shots": [{"index": 5, "prompt": "a"}]}', "no index"),
        ('{"shots": [{"index": 0, "prompt": "' + "x" * 700 + '"}]}', "longer than"),
        ('{"shots": [{"index": true, "prompt": "a"}]}', "no index"),
        ("", "empty"),
    ]
    for content, why in bad:
        with pytest.raises(WriterFailed, match=why):
            parse_answer(reply(content), 2 if "index\": 1" in content else 1)


def test_a_render_with_a_hanging_writer_still_finishes(llm, tmp_path, click, fakes):
    from musicvid import render

    llm.queue.extend([("hang", None)] * 2)
    audio, _ = click(duration=4.0)
    result = render(audio, tmp_path / "a.mp4", keyframes="solid", width=160, height=90,
                    keyframe_width=64, keyframe_height=32, concept=CONCEPT,
                    prompt_writer="openai-compatible", llm_url=llm.url, llm_model="m",
                    llm_timeout=0.5)
    assert result.output.is_file() and len(llm.requests) == 2
    assert "timed out" in result.storyboard.meta["prompt_writer"]["fallback"]
    assert all(CONCEPT in s.prompt for s in result.storyboard.shots)
