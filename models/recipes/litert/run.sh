#!/usr/bin/env bash
# Convert the shipped int8 ONNX models to int8 .tflite (convert.py, in a Python 3.12+ environment of its own),
# then measure them against OpenVINO and register them in models/int8/manifest.json (parity.py, in the kiosk's
# .venv from `scripts/setup.sh train`, which reads ../shared/data).
#
#   models/recipes/litert/run.sh [NAME ...]      PYTHON312=/path/to/python3.12 to pick the converter's Python
set -euo pipefail
cd "$(dirname "$0")/../../.."
python="${PYTHON312:-python3.12}"
venv=.venv-litert-convert
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/pip" install --quiet -r requirements/litert-convert.txt
"$venv/bin/pip" install --quiet --no-deps onnx2tf==2.6.9  # see requirements/litert-convert.txt
(cd models/recipes/litert && "../../../$venv/bin/python" convert.py "$@")
.venv/bin/python models/recipes/litert/parity.py "$@"
