#!/usr/bin/env bash
# A smoke run on another Python than CI's: install the kiosk with its test tools into .venv-X.Y (beside .venv,
# which it leaves alone), run the demo, and run a fast subset of the tests (wire, dialogue, tickets, the store,
# sync through a real Mosquitto broker, the kiosk and fleet CLIs). About 1 minute of install on a warm pip
# cache and 1 minute of tests on 2 cores.
#
#   scripts/smoke.sh                  Python 3.13: python3.13 on the PATH, else pyenv's (what .ci/run does)
#   scripts/smoke.sh /root/.pyenv/versions/3.12.1/bin/python3.12
set -euo pipefail
cd "$(dirname "$0")/.."

works() { [ -n "$1" ] && "$1" -c 'import sys, venv' >/dev/null 2>&1; }  # a pyenv shim may exist and not run
python="${1:-}"
if [ -z "$python" ]; then
  for candidate in "$(command -v python3.13 || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13; do
    if works "$candidate"; then python="$candidate"; break; fi
  done
fi
if [ -z "$python" ] && [ -z "${1:-}" ]; then
  # The README's test command ends here: a machine with only its own Python (a Pi) has nothing more to smoke.
  echo "smoke: skipped, no Python 3.13 on this machine (scripts/smoke.sh /path/to/python3.x runs one)"
  exit 0
fi
if ! works "$python"; then
  echo "smoke: $python does not run; pass the path of a working Python: scripts/smoke.sh /path/to/python3.x" >&2
  exit 1
fi
version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
venv=".venv-$version"

start=$SECONDS
PYTHON="$python" VENV="$venv" scripts/setup.sh test
echo "smoke $version: installed in $((SECONDS - start)) s"

start=$SECONDS
"$venv/bin/kiosk" demo > "$venv/demo.log"
grep -q "^Tickets filed in this demo: KB-" "$venv/demo.log"
echo "smoke $version: kiosk demo ran in $((SECONDS - start)) s ($(wc -l < "$venv/demo.log") lines, $venv/demo.log)"

start=$SECONDS
"$venv/bin/python" -m pytest -q -p no:cacheprovider \
  tests/test_sync_wire.py tests/test_wire_poison.py tests/test_dialogue.py tests/test_nlu.py tests/test_tickets.py \
  tests/test_store.py tests/test_sync_outbox.py tests/test_sync_broker.py tests/test_cli.py tests/test_fleet_cli.py \
  tests/test_docs.py
echo "smoke $version: tests ran in $((SECONDS - start)) s"
