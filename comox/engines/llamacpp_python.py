"""llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`), the engine of
the embedded local model (`comox demo --local`). It differs from llama.cpp's own server:

- it loads its model before it listens: while loading, its port refuses connections (the
  gateway's `/ready` then answers 503), and once it listens the model is loaded;
- it has no /health, /metrics or /slots, and its /v1/models waits behind the generation in
  progress (it takes the model lock), so health is read from /docs, the FastAPI page that
  answers even mid-generation;
- it serves one request at a time: others wait for the model lock (run it with
  `--interrupt_requests false`, as comox.local.engine does: by default a new request cuts
  the stream in progress short);
- it ignores `stream_options.include_usage`: its streams carry no usage, so the gateway adds
  a counted one (comox.engines.stream_usage); whole answers carry the engine's own;
- it answers 400 to an `x-request-id` that is not a UUID, so the gateway sends it none.
"""

from comox.engines.profile import EngineProfile

PROFILE = EngineProfile(name="llama-cpp-python", health_path=b"/docs", include_usage=False, request_id=False)
