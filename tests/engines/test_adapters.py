"""Engine adapters: what each engine family is sent, and how its errors read to the client."""

from __future__ import annotations

import orjson

from comox.api.anthropic.errors import SHAPE as ANTHROPIC
from comox.api.call import Call, Front
from comox.api.responses.errors import SHAPE as RESPONSES
from comox.engines.adapters import for_engine
from comox.server.request import Request
from comox.translate.stream_openai_from_anthropic import AnthropicToChat


def _call(payload: dict, front: Front | None = None) -> Call:
    request = Request(b"POST", b"/v1/x", b"", {}, orjson.dumps(payload), "")
    return Call(request, "chat", payload, payload["model"], False, front=front)


def _responses_front(native: dict) -> Front:
    return Front("responses", native, b"/v1/responses", lambda: None, RESPONSES)


def test_openai_cloud_gets_responses_requests_untouched_unless_a_stage_changed_them():
    native = {"model": "pub", "input": "hi", "store": False}
    call = _call({"model": "pub", "messages": [{"role": "user", "content": "hi"}]}, _responses_front(native))
    upstream = for_engine("openai").request(call, "gpt-x", b"/v1/chat/completions")
    assert (upstream.path, upstream.native) == (b"/v1/responses", True)
    assert orjson.loads(upstream.body) == {**native, "model": "gpt-x"}
    call.payload_changed = True  # e.g. redacted: the translated payload is the one to send
    upstream = for_engine("openai").request(call, "gpt-x", b"/v1/chat/completions")
    assert (upstream.path, upstream.native) == (b"/v1/chat/completions", False)


def test_local_engines_get_chat_for_responses_requests():
    call = _call({"model": "pub", "messages": [{"role": "user", "content": "hi"}]}, _responses_front({}))
    upstream = for_engine("vllm").request(call, "llama", b"/v1/chat/completions")
    assert upstream.path == b"/v1/chat/completions" and not upstream.native
    assert orjson.loads(upstream.body)["model"] == "llama"
    assert not for_engine("vllm").translates


def test_anthropic_adapter_sends_messages_with_its_own_auth_headers():
    adapter = for_engine("anthropic")
    call = _call(
        {
            "model": "pub",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    upstream = adapter.request(call, "claude-3", b"/v1/chat/completions")
    assert upstream.path == b"/v1/messages"
    assert orjson.loads(upstream.body)["model"] == "claude-3"
    assert isinstance(upstream.decode, AnthropicToChat) and upstream.decode.include_usage
    assert adapter.auth_headers("sk") == ["anthropic-version: 2023-06-01", "x-api-key: sk"]
    assert for_engine("vllm").auth_headers("sk") == ["authorization: Bearer sk"]


def test_anthropic_errors_keep_type_and_message_and_render_in_either_family():
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    exc = for_engine("anthropic").error("a", 529, body)
    assert (exc.status, exc.type, exc.message) == (529, "overloaded_error", "Overloaded")
    assert orjson.loads(exc.body())["error"]["type"] == "overloaded_error"
    exc.shape = ANTHROPIC
    assert orjson.loads(exc.body()) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    assert exc.sse_event().startswith(b"event: error\ndata: ")


def test_openai_engine_errors_read_into_anthropic_shape_by_status():
    exc = for_engine("vllm").error(
        "gpu", 400, b'{"error":{"message":"too long","type":"BadRequestError","code":400}}'
    )
    exc.shape = ANTHROPIC
    assert orjson.loads(exc.body())["error"] == {"type": "invalid_request_error", "message": "too long"}
    opaque = for_engine("vllm").error("gpu", 502, b"<html>bad gateway</html>")
    opaque.shape = ANTHROPIC
    assert orjson.loads(opaque.body())["error"]["type"] == "api_error" and "gpu" in opaque.message
