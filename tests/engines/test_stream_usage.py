"""The usage chunk added for engines that do not send one (TGI), on a stream shaped like TGI's
own chat stream (text-generation-inference docs, "Consuming TGI" / Messages API: one token per
`chat.completion.chunk` event, then `data: [DONE]`, no usage)."""

from __future__ import annotations

import orjson

from comox.engines.adapters import ADAPTERS, OpenAIAdapter, for_engine
from comox.engines.stream_usage import CountedUsage, estimate_prompt_tokens


def tgi_event(content: str, finish: str | None = None) -> bytes:
    chunk = {
        "object": "chat.completion.chunk",
        "id": "",
        "created": 1725000000,
        "model": "tgi",
        "system_fingerprint": "2.2.0-native",
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": content},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
    }
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


TOKENS = ["Deep", " learning", " is", " a", " subset", "."]
STREAM = [tgi_event(t, "stop" if i == len(TOKENS) - 1 else None) for i, t in enumerate(TOKENS)] + [
    b"data: [DONE]\n\n"
]


def events(data: bytes) -> list[bytes]:
    return [e for e in data.split(b"\n\n") if e]


def test_a_usage_chunk_is_added_before_done_with_the_tokens_counted():
    codec = CountedUsage("chat", "tgi", prompt_tokens=7)
    out = b"".join(codec.feed(read) for read in STREAM) + codec.flush()
    sent = events(out)
    assert sent[: len(TOKENS)] == [e.rstrip() for e in STREAM[:-1]]
    assert sent[-1] == b"data: [DONE]"
    usage_chunk = orjson.loads(sent[-2][len(b"data: ") :])
    assert usage_chunk["choices"] == [] and usage_chunk["object"] == "chat.completion.chunk"
    assert usage_chunk["usage"] == {
        "prompt_tokens": 7,
        "completion_tokens": 6,
        "total_tokens": 13,
        "estimated": True,
    }


def test_reads_holding_many_events_count_the_same():
    codec = CountedUsage("chat", "tgi", prompt_tokens=1)
    out = codec.feed(b"".join(STREAM)) + codec.flush()
    assert orjson.loads(events(out)[-2][6:])["usage"]["completion_tokens"] == len(TOKENS)


def test_an_engine_that_reports_usage_after_all_is_believed():
    own = b'data: {"object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":6,"total_tokens":9}}\n\n'
    codec = CountedUsage("chat", "tgi", prompt_tokens=99)
    out = b"".join(codec.feed(read) for read in [*STREAM[:-1], own, STREAM[-1]]) + codec.flush()
    assert out.count(b'"usage"') == 1 and events(out)[-1] == b"data: [DONE]"


def test_a_stream_cut_before_done_still_gets_its_usage_but_no_done():
    codec = CountedUsage("completions", "tgi", prompt_tokens=2)
    out = b"".join(codec.feed(read) for read in STREAM[:3]) + codec.flush()
    last = orjson.loads(events(out)[-1][6:])
    assert last["object"] == "text_completion" and last["usage"]["completion_tokens"] == 3
    assert b"[DONE]" not in out


def test_prompt_tokens_are_estimated_from_characters():
    chat = {
        "messages": [
            {"role": "user", "content": "x" * 400},
            {"role": "user", "content": [{"type": "text", "text": "y" * 40}]},
        ]
    }
    assert estimate_prompt_tokens(chat) == (400 + 40 + 2 * 16) // 4
    assert estimate_prompt_tokens({"prompt": "z" * 80}) == 20
    assert estimate_prompt_tokens({}) == 1


class Call:
    def __init__(self, payload: dict, stream: bool) -> None:
        self.payload, self.stream, self.front, self.api, self.model = payload, stream, None, "chat", "m"
        self.payload_changed = False


def test_tgi_streams_go_without_include_usage_and_come_back_counted():
    adapter = for_engine("tgi")
    assert adapter is ADAPTERS["tgi"] and not adapter.stream_usage and not adapter.translates
    payload = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True, "continuous_usage_stats": False},
    }
    upstream = adapter.request(Call(payload, True), "engine-m", b"/v1/chat/completions")
    sent = orjson.loads(upstream.body)
    assert sent["stream_options"] == {"continuous_usage_stats": False} and sent["model"] == "engine-m"
    assert isinstance(upstream.decode, CountedUsage)
    whole = adapter.request(Call({**payload, "stream": False}, False), "engine-m", b"/v1/chat/completions")
    assert whole.decode is None
    assert for_engine("vllm").stream_usage and isinstance(for_engine("vllm"), OpenAIAdapter)
