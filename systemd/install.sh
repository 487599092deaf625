#!/usr/bin/env bash
# Install this checkout as a managed service on Raspberry Pi OS bookworm or Ubuntu 22.04 / 24.04 (run as root).
#
#   systemd/install.sh [--dry-run]            a kiosk: cage + seatd, user `kiosk`, kiosk.service
#   systemd/install.sh --fleet [--dry-run]    the fleet backend: user `fleet`, fleet.service
#
# The code goes to /opt/kiosk/src and its virtualenv to /opt/kiosk/venv (both root's: the services only read
# them); scripts/setup.sh installs the Python and system packages, so its package lists stay in one place.
# Both roles get the journald drop-in (persistent, size-capped logs). --dry-run prints every step instead.
# Safe to run again: it updates the code, the units and the drop-in, and keeps users and data.
set -euo pipefail

checkout="$(cd "$(dirname "$0")/.." && pwd)"
prefix=/opt/kiosk
role=kiosk
dry_run=false
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=true ;;
    --fleet) role=fleet ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown option '$arg' (use --fleet, --dry-run)" >&2; exit 2 ;;
  esac
done

run() {
  if $dry_run; then
    printf '+'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}

if ! $dry_run && [ "$(id -u)" -ne 0 ]; then
  echo "run as root (sudo $0 $*)" >&2
  exit 1
fi

# shellcheck source=/dev/null
. /etc/os-release
case "${ID:-}:${VERSION_CODENAME:-}" in
  debian:bookworm | debian:trixie | raspbian:bookworm | raspbian:trixie | ubuntu:jammy | ubuntu:noble) ;;
  *) echo "warning: tested on Raspberry Pi OS / Debian bookworm and trixie, Ubuntu 22.04/24.04, not ${PRETTY_NAME:-this system}" >&2 ;;
esac

apt_install() {
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

run apt-get update -qq
# The kiosk runs on Python 3.11 to 3.13 (scripts/setup.sh checks): the system's python3 where it is one of them
# (Debian 12: 3.11, Ubuntu 24.04: 3.12, Debian 13 and Raspberry Pi OS trixie: 3.13), else 3.11 (Ubuntu 22.04
# ships 3.10: from the deadsnakes archive).
python=python3
if ! python3 -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 13) else 1)' 2>/dev/null; then
  python=python3.11
  if ! command -v "$python" >/dev/null 2>&1; then
    if [ "${ID:-}" = ubuntu ]; then
      apt_install software-properties-common
      run add-apt-repository -y ppa:deadsnakes/ppa
    fi
    apt_install python3.11 python3.11-venv
  fi
else
  apt_install python3-venv
fi
# cage: the Wayland kiosk compositor the kiosk draws in; seatd: gives it the display and input devices without a
# login session.
if [ "$role" = kiosk ]; then
  apt_install cage seatd
fi

# System users: no shell, no home outside their state directory.
ensure_user() {
  local user="$1" home="$2"
  shift 2
  getent passwd "$user" >/dev/null ||
    run useradd --system --user-group --home-dir "$home" --no-create-home --shell /usr/sbin/nologin "$user"
  local group
  for group in "$@"; do
    getent group "$group" >/dev/null || run groupadd --system "$group"
    run usermod --append --groups "$group" "$user"
  done
}
if [ "$role" = kiosk ]; then
  # The groups kiosk.service's SupplementaryGroups= names: sound, camera, GPU, touchscreen.
  ensure_user kiosk /var/lib/kiosk audio video render input
else
  ensure_user fleet /var/lib/fleet
fi

# The code and its virtualenv, through scripts/setup.sh run in the installed copy.
run install -d -m 0755 "$prefix" "$prefix/src"
if $dry_run; then
  echo "+ tar -C $checkout (without .git .venv build caches) | tar -C $prefix/src -x"
else
  tar -C "$checkout" --exclude=./.git --exclude=./.venv --exclude=./build --exclude='*.egg-info' \
    --exclude=__pycache__ --exclude='.*_cache' -cf - . | tar -C "$prefix/src" -xf -
fi
run env PYTHON="$python" "$prefix/src/scripts/setup.sh"
run ln -sfn "$prefix/src/.venv" "$prefix/venv"

# Units and the journald drop-in.
run install -m 0644 "$checkout/systemd/$role.service" /etc/systemd/system/
run install -d -m 0755 /etc/systemd/journald.conf.d
run install -m 0644 "$checkout/systemd/journald.conf.d/kiosk.conf" /etc/systemd/journald.conf.d/
run install -d -m 0755 /var/log/journal
run systemctl daemon-reload
run systemctl restart systemd-journald
if [ "$role" = kiosk ]; then
  run systemctl enable seatd.service
fi
run systemctl enable "$role.service"
echo "installed $role.service: systemctl start $role.service; logs: journalctl -u $role.service"
[ "$role" = kiosk ] && echo "check the device: sudo -u kiosk $prefix/venv/bin/kiosk doctor"
exit 0
