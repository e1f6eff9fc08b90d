#!/bin/sh
# Prepares the model-parity test: exports the generated models (skipped when up to date) and
# checks that the npm tooling (onnxruntime-node, @ricky0123/vad-web) is installed.
# Usage: tests/models/prepare.sh   (env TANDEM_PYTHON overrides /usr/bin/python3)
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
python=${TANDEM_PYTHON:-/usr/bin/python3}

missing=""
for pkg in onnxruntime-node @ricky0123/vad-web; do
  [ -f "$repo/node_modules/$pkg/package.json" ] || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "model parity: npm packages missing:$missing" >&2
  echo "  install them with: (cd $repo && npm ci --ignore-scripts)" >&2
  echo "  (--ignore-scripts matters: onnxruntime-node's install script downloads from an unreachable host;" >&2
  echo "   the CPU binary is already inside the package)" >&2
  exit 1
fi

# export_models.py says what to install if torch/torchvision/onnx are missing.
"$python" "$repo/scripts/export_models.py"
# The seed MLP (README's main job) joins the parity run as an extra model.
mkdir -p "$repo/tests/models/generated"
exec "$python" "$repo/scripts/make_seed_mlp.py" "$repo/tests/models/generated/seed_mlp.onnx"
